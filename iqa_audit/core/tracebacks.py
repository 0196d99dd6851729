"""What a cell's record says when the code it ran raised: the error's type, message and
the frame that raised it, and for an error building a chain the chain and step.

Pure functions of an exception, so the pytest plugin (which sees every exception a cell's
test raised, wherever it came from) and `verdicts` (which records the errors it expects,
such as a NaN score) describe errors the same way.

"The user frame" is the innermost traceback frame of the user's own code: not iqa-audit,
not the standard library, not an installed package (numpy, torch, pytest). An error raised
inside numpy from a user's metric is reported at the line of the metric that called numpy.
The suite wraps a user's exception in its own (ScoreError `from` ValueError), so the frame
and type are looked for in the chain of causes first, from the first raised.
"""

from __future__ import annotations

import os
import sysconfig
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from iqa_audit.core.errors import AuditError, EditorStepError

_PACKAGE = str(Path(__file__).resolve().parents[1]) + os.sep
_TEST_RUNNER = frozenset({"_pytest", "pluggy", "xdist", "pytest"})  # their packages' folder names
# The standard library and installed packages: never the user's frame (an editable install
# of the user's own package is not under these, so its frames count as the user's).
_LIBRARIES = tuple(
    str(Path(p).resolve()) + os.sep
    for p in {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    if p
)


@dataclass(frozen=True)
class ErrorFields:
    """The error fields of a record (records.py): message, type, frame, chain, step."""

    error: str
    error_type: str
    error_where: str | None = None
    error_chain: str | None = None
    error_step: int | None = None

    def as_record_fields(self) -> dict[str, object]:
        return {
            "error": self.error,
            "error_type": self.error_type,
            "error_where": self.error_where,
            "error_chain": self.error_chain,
            "error_step": self.error_step,
        }


def describe(exc: BaseException) -> ErrorFields:
    """The record's error fields for `exc`: its message (an AuditError's already says what
    was wrong, expected, got and the fix; any other error is prefixed with its type), the
    type of the first exception in its chain of causes, the user frame that raised, and
    the chain and step of an editor error (errors.EditorStepError, raised by chains)."""
    step = _step_error(exc)
    return ErrorFields(
        error=message(exc),
        error_type=type(first_cause(exc)).__name__,
        error_where=(step.user_frame if step is not None else None) or user_frame(exc),
        error_chain=step.chain if step is not None else None,
        error_step=step.step if step is not None else None,
    )


def message(exc: BaseException) -> str:
    """The text a reader needs: an AuditError's own message (it names the fix), else
    'TypeName: message' (a bare message like 'image under 100 px' says too little)."""

    text = str(exc)
    if isinstance(exc, AuditError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def causes(exc: BaseException) -> list[BaseException]:
    """`exc` and the exceptions it was raised from or while handling, outermost first
    (cycles and suppressed context, `raise ... from None`, are not followed)."""
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and all(cur is not seen for seen in out):
        out.append(cur)
        cur = cur.__cause__ or (None if cur.__suppress_context__ else cur.__context__)
    return out


def first_cause(exc: BaseException) -> BaseException:
    """The first exception raised in `exc`'s chain (the user's ValueError under a ScoreError)."""
    return causes(exc)[-1]


def user_frame(exc: BaseException) -> str | None:
    """'file.py:LINE in function' of the innermost user frame in `exc`'s chain of causes,
    looked for from the first raised; failing that the innermost frame that is not the test
    runner's (iqa-audit's own raise, or the library that raised), then the innermost frame
    there is; None when no exception in the chain has a traceback."""
    chain = list(reversed(causes(exc)))
    for wanted in (is_user_file, _not_test_runner, lambda _path: True):
        for e in chain:
            frames = _frames(e.__traceback__)
            for f in reversed(frames):
                if wanted(f.filename):
                    return f"{shown_path(f.filename)}:{f.lineno} in {f.name}"
    return None


def is_user_file(path: str) -> bool:
    """Whether a traceback frame's file is the user's code: a real file, not iqa-audit's,
    not the standard library's or an installed package's."""
    if not path or path.startswith("<"):
        return False
    full = str(Path(path).resolve())
    return not full.startswith(_PACKAGE) and not full.startswith(_LIBRARIES) and "site-packages" not in full


def _not_test_runner(path: str) -> bool:
    """Not pytest's, pluggy's or xdist's frame: a setup error raised by iqa-audit itself was
    otherwise placed at pytest's fixture call, the innermost frame outside iqa-audit."""
    return bool(path) and not any(part in _TEST_RUNNER for part in Path(path).parts)


def _frames(tb: TracebackType | None) -> list[traceback.FrameSummary]:
    return list(traceback.extract_tb(tb)) if tb is not None else []


def shown_path(path: str) -> str:
    """A frame's file relative to the working folder when it is inside it (as pytest shows it)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path


def _step_error(exc: BaseException):
    """The EditorStepError in `exc`'s chain (an editor failed making a step), or None."""

    return next((e for e in causes(exc) if isinstance(e, EditorStepError)), None)
