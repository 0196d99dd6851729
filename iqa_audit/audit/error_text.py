"""What the terminal shows for a failure: each distinct error of a cell once, briefly, and
no report with a URL's credentials.

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
  first cell that showed it;
- a failed verdict keeps pytest's report, whose short-summary line is its first line
  (the gap and its sign) without the evidence lines under it.

Per process: under xdist each worker shows each distinct error once. An explicit
`--tb` other than auto, or `--full-trace`, keeps pytest's reports untouched.

The brief text is handed to pytest as its own exception report (the text as a native
traceback, its first line as the crash message), not as a plain string: the short test
summary prints a string report whole on CI (pytest's `running_on_ci`: $CI or
$BUILD_NUMBER set) and under -vv, which would show the user's frames a second time per
cell, and junit's failure message is the crash line either way.
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass, field

import pytest
from _pytest._code.code import ReprExceptionInfo, ReprFileLocation, ReprTracebackNative

from iqa_audit.core.errors import AuditError
from iqa_audit.core.tracebacks import describe, first_cause, is_user_file
from iqa_audit.core.urls import redact_text

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
            _summary_first_line(report)  # a verdict: its evidence lines stay in the failure's section
            return
        fields = describe(exc)
        where = fields.error_where or "?"
        key = (fields.error_type, fields.error, where)
        seen = self.first.get(key)
        if seen is not None:
            report.longrepr = _as_report(f"{where}: {fields.error} (the same error as {seen})", *_location(where))
            return
        self.first[key] = item.nodeid
        if isinstance(exc, AuditError):
            report.longrepr = _as_report(_with_user_frames(fields.error, where, exc), *_location(where))


def _summary_first_line(report: pytest.TestReport) -> None:
    """The short summary's line of a report is its crash message's first line, on CI too."""
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and crash.message:
        crash.message = crash.message.splitlines()[0]


def _brief_wanted(config: pytest.Config) -> bool:
    return config.getoption("tbstyle", "auto") == "auto" and not config.getoption("fulltrace", False)


def redact_failure(report: pytest.TestReport) -> None:
    """A report's text (pytest's terminal, junit, pytest-html) may quote an endpoint with
    credentials (an SDK error names the URL it called): URLs lose user info and query
    (core.urls), in the report and in its captured output. The report keeps its form: a
    skip its (path, line, reason), which pytest's summary requires, an exception report
    its crash line for the short summary."""
    report.sections = [(title, redact_text(text)) for title, text in report.sections]
    longrepr = report.longrepr
    if longrepr is None or "://" not in str(longrepr):
        return
    if isinstance(longrepr, str):
        report.longrepr = redact_text(longrepr)
    elif isinstance(longrepr, tuple):
        path, line, reason = longrepr
        report.longrepr = (path, line, redact_text(reason))
    elif redact_text(str(longrepr)) != str(longrepr):
        crash = getattr(longrepr, "reprcrash", None)
        where = (crash.path, crash.lineno) if crash is not None else ("", 0)
        report.longrepr = _as_report(str(longrepr), *where, crash.message if crash is not None else None)


def _as_report(text: str, path: str, line: int, crash: str | None = None) -> ReprExceptionInfo:
    """`text` (credentials redacted) as pytest's report of an exception raised at
    path:line: the failure's section shows all of it, the short summary and junit's
    message `crash` (default: the text's first line; module doc). xdist sends it to the
    controller as it sends pytest's own reports."""
    text = redact_text(text)
    return ReprExceptionInfo(
        reprtraceback=ReprTracebackNative([text + "\n"]),
        reprcrash=ReprFileLocation(path, line, redact_text(crash) if crash is not None else text.splitlines()[0]),
    )


def _location(where: str) -> tuple[str, int]:
    """("path", line) of a frame named "path:line in function" (core.tracebacks)."""
    at = re.match(r"(.*):(\d+) in ", where)
    return (at.group(1), int(at.group(2))) if at else (where, 0)


def _with_user_frames(message: str, where: str, exc: BaseException) -> str:
    """The suite's message, then the user's own frames of the exception it wraps, if any."""
    cause = first_cause(exc)
    frames = [f for f in traceback.extract_tb(cause.__traceback__) if is_user_file(f.filename)] if cause is not exc else []
    if not frames:
        return f"{where}: {message}"
    shown = "".join(traceback.format_list(frames[-MAX_FRAMES:])).rstrip()
    return f"{where}: {message}\n\nYour code raised it (innermost last):\n{shown}\n{type(cause).__name__}: {cause}"
