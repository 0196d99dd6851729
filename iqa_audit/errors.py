"""The one exception family the suite raises on purpose.

Every message follows the same shape so a user can act on it without reading code:
what was wrong (file or value), what was expected, what was found, and what to do.
"""

from __future__ import annotations


class AuditError(Exception):
    """Base for every error iqa-audit raises deliberately."""


class BadImageError(AuditError):
    """An input file is missing, unreadable, or not an image we can audit."""


class ConfigError(AuditError):
    """An option, profile, registry name or declaration is wrong."""


class StoreError(AuditError):
    """The chain store is inconsistent (corrupt file, paid step missing, ...)."""


class EditorError(AuditError):
    """An editor could not produce a step (network, refusal, malformed reply)."""


def explain(what: str, *, expected: str, got: str, fix: str) -> str:
    """Format the four parts every user-facing error carries."""
    return f"{what}: expected {expected}, got {got}. {fix}"
