"""The `iqa-audit` command as a user can type it here, for every message and help text.

pip installs the console script `iqa-audit` ([project.scripts] in pyproject.toml) next to
the Python that runs this code. Whether a bare `iqa-audit` works depends on PATH (an
activated venv, a pip --user bin folder), so messages print the form that runs as written
from the current folder:

- `iqa-audit ...` when that name on PATH is this installation's script;
- `.venv/bin/iqa-audit ...` (the script's path, relative when under the current folder)
  when it is installed but not on PATH, e.g. a fresh clone after `bin/setup`;
- `<python> -m iqa_audit ...` when no script is installed (running from a source tree).
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

SCRIPT = "iqa-audit"


def _short(path: Path) -> str:
    """`path` relative to the current folder when it is under it (it still runs as typed:
    it holds a slash), else absolute."""
    try:
        rel = path.relative_to(Path.cwd())
    except ValueError:
        return str(path)
    return str(rel) if rel.parts and "/" in str(rel) else f"./{rel}"


def cli_prefix() -> str:
    """The words that start an `iqa-audit` command here (see the module docstring)."""
    exe = Path(sys.executable)
    script = exe.parent / SCRIPT
    if script.is_file() and os.access(script, os.X_OK):
        found = shutil.which(SCRIPT)
        if found and Path(found).resolve() == script.resolve():
            return SCRIPT
        return shlex.quote(_short(exe.parent.absolute() / SCRIPT))
    return f"{python_prefix()} -m iqa_audit"


def python_prefix() -> str:
    """This Python as a command that runs from the current folder ('.venv/bin/python')."""
    exe = Path(sys.executable)
    return shlex.quote(_short(exe.absolute())) if exe.is_absolute() else str(exe)


def pytest_command(*args: str) -> str:
    """A pytest command line with this Python, e.g. '.venv/bin/python -m pytest tests_metrics'
    (a bare `pytest` is not on PATH in a fresh clone's venv)."""
    return " ".join([python_prefix(), "-m", "pytest", *(shlex.quote(a) for a in args)])


def cli_command(*args: str) -> str:
    """A whole command line, e.g. cli_command("list") -> '.venv/bin/iqa-audit list'."""
    return " ".join([cli_prefix(), *(shlex.quote(a) if a and not a.startswith("<") else a for a in args)])
