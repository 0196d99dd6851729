"""`iqa-audit audit [--metrics-only | --editors-only] [pytest options]`: the audit as one command.

Runs the audit's test modules, which ship in the package (iqa_audit/suite), through
`pytest.main` in this process with `--pyargs`, from whatever folder it is called in: a
checkout is not needed. Every other argument is pytest's to parse, so the plugin's options
(one table, config/options.py: --metric, --editor, --profile, --baseline, ...), pytest's own
(-k, -x, -n, --html) and other plugins' mean what they mean under `pytest`, declared once.
Its own switches, --metrics-only and --editors-only, are rows of the same table
(config/switches.py). With -n and no --dist it adds `--dist loadgroup`, so the cells of one
series run on one xdist worker (audit/scheduling.py), as this checkout's pyproject.toml
does for `pytest -n`. Unless told (--rootdir, -c) it roots the run at the project it runs
in, the folder of the nearest pyproject.toml (`project_root`): pytest would otherwise root
a `--pyargs` run at a folder an option value names.

The run ends on the report's path (the plugin's last line) and exits with pytest's exit
code: 0 every cell passed, 1 a cell failed, 4 a usage error (a bad option: one `ERROR:`
line before anything runs), 2 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import pytest

from iqa_audit.config.audit_config import find_pyproject
from iqa_audit.config.option_definition import FLAG
from iqa_audit.config.options import options_for
from iqa_audit.config.switches import AUDIT_COMMAND
from iqa_audit.core.errors import ConfigError, explain
from iqa_audit.core.urls import redact_text
from iqa_audit.suite import AUDITS

HELP = "run the metric and editor audits through pytest (every pytest option works too)"
PLUGIN = "iqa_audit.pytest_plugin"  # the pytest11 entry point's name: named again, pytest loads it once
ROOT_FLAGS = ("--rootdir", "-c", "--config-file", "--inifile")  # the user roots the run: leave it to pytest
PYTEST_ARGS = "pytest_args"  # the namespace attribute holding what goes to pytest
USAGE = "%(prog)s [--metrics-only | --editors-only] [--metric NAME ...] [PYTEST OPTIONS ...]"
DESCRIPTION = """\
Run the audit's test modules, shipped in the package (iqa_audit.suite), with pytest, from any
folder. Every option below, and every other pytest option (-k, -x, -n, --html, ...: see
python -m pytest --help), goes to pytest; with -n and no --dist it adds --dist loadgroup.
Ends on the report's path; exits with pytest's code (0 passed, 1 a cell failed, 2
interrupted, 4 a bad option)."""
# (arguments, comment) printed under --help, after the command as it runs here.
EXAMPLES = (
    ("-n auto", "the default metrics and editors (quick profile); ends on the report's path"),
    ("--metrics-only --metric mypkg.metrics:sharpness -n auto --baseline none", "your metric, raw verdicts"),
    ("--metrics-only --metric path/to/my_metrics.py:sharpness --seed-dir my_images", ""),
    ("--editors-only -k tint", "the editor audit's tint check alone"),
    ("--profile paper --run-name nightly -x", ""),
)


def add_audit_parser(sub, prog: str) -> argparse.ArgumentParser:
    """The `audit` subcommand. Its help lists its switches and every option the plugin has
    (from the one table); parsing takes the switches out and keeps the rest, unread and in
    order, for pytest (`split_args`)."""
    lines = [f"{prog} audit {a}" for a, _ in EXAMPLES]
    width = max(len(x) for x in lines) + 2
    epilog = "examples:\n" + "\n".join(f"  {x.ljust(width)}# {c}" if c else f"  {x}" for x, (_, c) in zip(lines, EXAMPLES))
    p = sub.add_parser(
        AUDIT_COMMAND,
        help=HELP,
        description=DESCRIPTION,
        epilog=epilog,
        usage=USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        passthrough=split_args,
    )
    add_options(p, AUDIT_COMMAND)
    shown = p.add_argument_group("the audit's options (the pytest plugin's, read by pytest)")
    add_options(shown, "pytest")
    return p


def add_options(target, command: str) -> None:
    """`command`'s rows of the options table on `target` (a parser or an argument group)."""
    for o in options_for(command):
        target.add_argument(o.flag, **o.argparse_kwargs())


def split_args(parser: argparse.ArgumentParser, args: Sequence[str] | None, namespace: Any = None):
    """argparse's `parse_known_args` for `audit`: the audit's own switches (flags of the
    table's "audit" rows) are taken out wherever they stand before a `--`; everything
    else, in its order, is kept for pytest in `namespace.pytest_args`. -h/--help prints the
    subcommand's help."""
    ns = namespace if namespace is not None else argparse.Namespace()
    own = {o.flag: o for o in options_for(AUDIT_COMMAND) if o.kind == FLAG}
    for o in own.values():
        setattr(ns, o.dest, False)
    rest: list[str] = []
    args = list(sys.argv[1:] if args is None else args)
    for i, arg in enumerate(args):
        if arg == "--":
            rest += args[i:]
            break
        if arg in ("-h", "--help"):
            parser.print_help()
            parser.exit()
        if arg in own:
            setattr(ns, own[arg].dest, True)
        else:
            rest.append(arg)
    setattr(ns, PYTEST_ARGS, rest)
    return ns, []


def pytest_args(args, cwd: Path | None = None) -> list[str]:
    """The arguments `pytest.main` gets for the parsed `audit` command `args`, run in `cwd`
    (default: the current folder)."""
    if args.metrics_only and args.editors_only:
        raise ConfigError(
            explain(
                "--metrics-only --editors-only",
                expected="at most one of them",
                got="both",
                fix="Drop one: without either, the metric audit and the editor audit both run.",
            )
        )
    picked = [AUDITS["metrics"]] if args.metrics_only else [AUDITS["editors"]] if args.editors_only else list(AUDITS.values())
    rest = list(getattr(args, PYTEST_ARGS))
    if args.editors_only:
        rest = editors_to_audit(rest)
    options = rest[: rest.index("--")] if "--" in rest else rest
    extra = ["--dist", "loadgroup"] if _numprocesses(options) and not _dist(options) else []
    if not any(a.startswith(ROOT_FLAGS) for a in options):
        # The project is the folder the command runs in (its nearest pyproject.toml, as every
        # iqa-audit command finds it): with --pyargs pytest has no path of the project, and
        # would root the run at a folder an option names (--store /elsewhere) instead,
        # reading neither the project's [tool.iqa_audit] nor writing reports/ beside it.
        extra += ["--rootdir", str(project_root(cwd))]
    # The packages before the user's arguments: an option with an optional value (--cov)
    # at the end of those cannot take one of them for its value.
    return ["-p", PLUGIN, *extra, "--pyargs", *picked, *rest]


def editors_to_audit(args: Sequence[str]) -> list[str]:
    """With --editors-only no metric audit runs, so --editor can only mean the editor to
    audit: each `--editor SPEC` (or `--editor=SPEC`) becomes `--audit-editor SPEC`, which
    replaces the audit_editors setting. Arguments after `--` are left as they are."""
    out, i = [], 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return out + list(args[i:])
        if arg == "--editor" and i + 1 < len(args):
            out += ["--audit-editor", args[i + 1]]
            i += 2
            continue
        out.append("--audit-editor=" + arg.removeprefix("--editor=") if arg.startswith("--editor=") else arg)
        i += 1
    return out


def project_root(cwd: Path | None = None) -> Path:
    """The folder of the nearest pyproject.toml from `cwd` up, else `cwd` itself."""
    here = Path.cwd() if cwd is None else cwd
    found = find_pyproject(here)
    return found.parent if found is not None else here.resolve()


def _numprocesses(args: Sequence[str]) -> bool:
    """-n N / -nN / --numprocesses[=]N given (xdist's spellings)."""
    return any((a.startswith("-n") and not a.startswith("--")) or a.startswith("--numprocesses") for a in args)


def _dist(args: Sequence[str]) -> bool:
    return any(a == "-d" or a.startswith("--dist") for a in args)


def cmd_audit(args) -> int:
    """Run pytest on the audit's modules; pytest's exit code. An error of this command's own
    switches is a usage error, worded and numbered as pytest words and numbers its own."""
    try:
        argv = pytest_args(args)
    except ConfigError as e:
        print(f"ERROR: {redact_text(str(e))}", file=sys.stderr)
        return int(pytest.ExitCode.USAGE_ERROR)
    importable_from_here()
    return int(pytest.main(argv))


def importable_from_here() -> None:
    """Make modules in the current folder importable, as `python -m pytest` does: a console
    script's sys.path starts at its own folder, so `--metric my_metrics:sharpness` would not
    find my_metrics.py beside the user. PYTHONPATH carries it to xdist's workers."""
    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
