"""Credentials out of every output: URLs lose their user info, query and fragment.

An editor spec may carry an endpoint with credentials in it
(`gemini:base_url=http://user:PASSWORD@proxy/?key=SECRET`). The request itself needs the
full URL; nothing else does. `redact_urls` is applied where text leaves the program —
every error message (errors.explain), the CLI's output, the store's rows, results.json, the
HTML report and pytest's failure reports — so the rule lives in one place:

- `scheme://user:password@host:port/path?query#fragment` becomes `scheme://host:port/path`.
- A URL runs until whitespace, a quote or an angle bracket. Commas are part of it (they are
  legal in a query), so text after a comma inside a query is dropped too: over-redacting
  is the safe direction.

Stdlib only and imported by errors.py: it must stay a leaf module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

# scheme ":" "//" then anything up to whitespace, quotes, angle brackets or a backslash
# (RFC 3986 scheme syntax; the stop characters are those that end a URL in prose and repr()).
URL_PATTERN = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>\\`]+")


def safe_url(url: str | None) -> str | None:
    """The URL without user info, query or fragment ('' and None come back unchanged).

    >>> safe_url("http://u:p@host:8080/v1/?key=s#x")
    'http://host:8080/v1'
    """
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:  # an unparsable netloc (unbalanced brackets): keep only the scheme
        return url.split("://", 1)[0] + "://[unparsable address removed]"
    host = parts.netloc.rpartition("@")[2]  # host[:port] as written (its case kept)
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def _has_secrets(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return True
    return "@" in parts.netloc or bool(parts.query) or bool(parts.fragment) or url.rstrip().endswith(("?", "#"))


def redact_text(text: str) -> str:
    """`text` with every URL that carries user info, a query or a fragment passed through
    safe_url; other URLs are left exactly as written."""
    if "://" not in text:
        return text
    return URL_PATTERN.sub(lambda m: safe_url(m.group(0)) if _has_secrets(m.group(0)) else m.group(0), text)


def redact_urls(value: Any) -> Any:
    """`value` with every URL inside it made safe: strings, and the strings (keys included)
    of dicts, lists and tuples, recursively; a copy when anything changed. Other values
    (numbers, None, bytes) come back as they are."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {redact_urls(k): redact_urls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_urls(v) for v in value]
    if isinstance(value, tuple):
        return tuple(redact_urls(v) for v in value)
    return value
