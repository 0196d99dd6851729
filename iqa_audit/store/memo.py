"""Memoised findings: a derived result kept in the store's memo table under a key made of
everything that produced it, so a warm run reads it back instead of computing it again.

`memo_key(*parts)` is that key (keys.digest over the parts as canonical JSON), and
`memoised` the one read-or-compute-and-keep step every kind of memo goes through (the
evidence of change, sanity checks, fidelity findings). Include in the parts the source of
the code that computes the result (keys.code_digest): editing that code then makes every
memo of that kind stale instead of read back.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from iqa_audit.core.keys import digest
from iqa_audit.store.store import Store

T = TypeVar("T")


def memo_key(*parts: Any) -> str:
    """sha256 hex of the parts as canonical JSON (keys.digest). TypeError for a part
    without one JSON form (keys.canonical)."""
    return digest(list(parts))


def memoised(
    store: Store, kind: str, key: str, compute: Callable[[], T], *, dump: Callable[[T], Any], load: Callable[[Any], T]
) -> T:
    """The memo (kind, key) read back through `load` (from its JSON value), or `compute()`
    kept as JSON of `dump(value)` (not kept on a read-only store: store.put_memo)."""
    memo = store.get_memo(kind, key)
    if memo is not None:
        return load(json.loads(memo))
    value = compute()
    store.put_memo(kind, key, json.dumps(dump(value), sort_keys=True))
    return value
