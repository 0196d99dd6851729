"""What the terminal shows for a cell whose code raised: each distinct error once, briefly.

A broken metric or editor raises in every cell that uses it: 240 cells of one metric, 195
of one VAE. pytest's own report of each is its whole traceback, with the image arrays and
objects in the frames' arguments (measured, a newcomer's trial: 26,117 lines for a metric
that raised, 62,232 for a missing VAE). The error's record already holds what a reader
needs (core.tracebacks.describe: the message, its type and the user frame), so here:

- an error of the suite's own kind (core.errors.AuditError: its message names what was
  wrong, what was expected and the fix) is that message and where it was raised; when it
  wraps the user's own exception (a metric's ValueError under a ScoreError), the first
  cell to show it adds the user's frames of that exception's traceback, short style;
- any other exception (a fault in iqa-audit itself) keeps pytest's traceback the first
  time, which is what a bug report needs;
- every later cell with the same error (type, message, frame) is one line naming the
  first cell that showed it.

Per process: under xdist each worker shows each distinct error once. An explicit
`--tb` other than auto, or `--full-trace`, keeps pytest's reports untouched.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field

import pytest

from iqa_audit.core.errors import AuditError
from iqa_audit.core.tracebacks import describe, first_cause, is_user_file

MAX_FRAMES = 6  # the user's frames shown, innermost last (a deeper stack is cut at the top)


@dataclass(eq=False)
class ShownErrors:
    """The errors this process has shown: (type, message, frame) -> the first cell's id."""

    first: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def shorten(self, item: pytest.Item, call: pytest.CallInfo, report: pytest.TestReport) -> None:
        """Replace a failed audit cell's report text with the brief form (module doc).
        Leaves a failed verdict (an assertion, pytest.fail) and a passing report alone."""
        if not report.failed or call.excinfo is None or not _brief_wanted(item.config):
            return
        exc = call.excinfo.value
        if isinstance(exc, (AssertionError, pytest.fail.Exception)):
            return
        fields = describe(exc)
        where = fields.error_where or "?"
        key = (fields.error_type, fields.error, where)
        seen = self.first.get(key)
        if seen is not None:
            report.longrepr = f"{where}: {fields.error} (the same error as {seen})"
            return
        self.first[key] = item.nodeid
        if isinstance(exc, AuditError):
            report.longrepr = _with_user_frames(fields.error, where, exc)


def _brief_wanted(config: pytest.Config) -> bool:
    return config.getoption("tbstyle", "auto") == "auto" and not config.getoption("fulltrace", False)


def _with_user_frames(message: str, where: str, exc: BaseException) -> str:
    """The suite's message, then the user's own frames of the exception it wraps, if any."""
    cause = first_cause(exc)
    frames = [f for f in traceback.extract_tb(cause.__traceback__) if is_user_file(f.filename)] if cause is not exc else []
    if not frames:
        return f"{where}: {message}"
    shown = "".join(traceback.format_list(frames[-MAX_FRAMES:])).rstrip()
    return f"{where}: {message}\n\nYour code raised it (innermost last):\n{shown}\n{type(cause).__name__}: {cause}"
