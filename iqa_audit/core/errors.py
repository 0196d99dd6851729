"""The one exception family the suite raises on purpose.

Every message follows the same shape so a user can act on it without reading code:
what was wrong (file or value), what was expected, what was found, and what to do.
"""

from __future__ import annotations

import difflib
from typing import Any, Iterable, Mapping

from iqa_audit.core.urls import redact_text


class AuditError(Exception):
    """Base for every error iqa-audit raises deliberately."""


class BadImageError(AuditError):
    """An input file is missing, unreadable, or not an image we can audit."""


class ConfigError(AuditError):
    """An option, profile, registry name or declaration is wrong."""


class StoreError(AuditError):
    """The chain store is inconsistent (corrupt file, paid step missing, ...)."""


class RecordError(AuditError):
    """A cell record (a results.json `cells` entry, or one shipped from an xdist worker)
    does not match the schema in records.py."""


class EditorError(AuditError):
    """An editor could not produce a step (network, refusal, malformed reply)."""


class EditorStepError(EditorError):
    """An editor failed while making one step of a chain: its `edit()` raised something
    that is not a step outcome (EditRefused, UnusableReply, OutcomeUnknown), or returned
    something that is not an EditResult. Names the editor, the chain
    ("<setting>/<seed>/run <run>") and the step, so a cell's record can too
    (cell_errors.describe); `user_frame` is "file:LINE in function" of the editor's code
    when the suite knows it better than the traceback does (a wrong return type raises
    nothing in the user's code)."""

    def __init__(self, message: str, *, editor: str, chain: str, step: int, user_frame: str | None = None):
        super().__init__(message)
        self.editor = editor
        self.chain = chain
        self.step = step
        self.user_frame = user_frame


class EditRefused(EditorError):
    """The editor answered but gave no image (safety block, NO_IMAGE, ...).

    The chain stores the step as failed with `reason` and stops: re-asking a paid model
    the same thing would cost money for the same refusal.
    """

    def __init__(self, reason: str, meta: Mapping[str, Any] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.meta = dict(meta or {})


class OutcomeUnknown(EditorError):
    """A paid request was sent and no reply came back (read timeout, connection dropped
    after sending): the provider may have done, and billed, the work. The chain stores the
    step as 'unknown' and stops; it is sent again only when the user allows it
    (--resend-unknown), never by a retry loop."""

    def __init__(self, reason: str, meta: Mapping[str, Any] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.meta = dict(meta or {})


class UnusableReply(EditorError):
    """A paid reply arrived but cannot be used (its image does not decode, is over the pixel
    limit, or the body is not the API's shape). The chain stores the step as 'failed' with
    `data` (the raw bytes, when there are any) as evidence and `reason`, and stops: asking
    again would pay again for what may be the same broken answer."""

    def __init__(self, reason: str, data: bytes | None = None, meta: Mapping[str, Any] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.data = data
        self.meta = dict(meta or {})


def explain(what: str, *, expected: str, got: str, fix: str) -> str:
    """Format the four parts every user-facing error carries. URLs in it lose their user
    info and query (urls.redact_text): an error quoting an editor spec shows no password."""
    return redact_text(f"{what}: expected {expected}, got {got}. {fix}")


def close_names(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Up to `n` of `known` that look like `name`, closest first (difflib's ratio ≥ 0.6,
    its own default cutoff), for an error's "did you mean"."""
    return difflib.get_close_matches(str(name), sorted(known), n=n, cutoff=0.6)


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """'Did you mean a, b? ' (close_names), or '' when nothing is close: the start of an
    error's fix."""
    close = close_names(name, known)
    return ("Did you mean " + ", ".join(close) + "? ") if close else ""
