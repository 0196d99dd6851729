"""Object counts kept in the store: a paid VLM is asked about each image once.

`CachedCounter` wraps a counter (vlm.counting.BlobCounter or VLMCounter) and keeps its
counts in the store's score table, keyed by the counter (its id and parameters), the
source of the module that defines it, and the image hash: across workers and runs each
image is counted once, and an edited counter counts again instead of re-reading what the
old code counted.
"""

from __future__ import annotations

import sys

from iqa_audit.core.images import Image
from iqa_audit.core.keys import code_digest, digest
from iqa_audit.store.store import Store


class CachedCounter:
    """`inner`'s counts of `noun` through the store (see the module doc)."""

    def __init__(self, store: Store, inner, noun: str):
        self.store, self.inner = store, inner
        self.id = f"{inner.id}"
        self._key = f"count:{inner.id}:{noun}"
        self._version = counter_version(inner)

    def count(self, image: Image) -> int:
        """How many objects `image` shows: read from the score table under
        ('count:<counter id>:<noun>', counter_version, the image's sha256), else counted by
        the inner counter (a VLM request for a VLMCounter) and stored. Raises what the inner
        counter raises, StoreError when a new count cannot be stored (read-only store)."""
        image_hash = image.digest()
        have = self.store.get_scores(self._key, self._version, [image_hash])
        if image_hash not in have:
            have[image_hash] = float(self.inner.count(image))
            self.store.put_scores(self._key, self._version, have)
        return int(have[image_hash])


def counter_version(counter) -> str:
    """The score-table version of a counter's counts: a digest of its parameters (repr of
    the frozen dataclass) and of the source of the module that defines its class
    (keys.code_digest; a class with no module file: its qualified name)."""
    try:
        code = code_digest(sys.modules.get(type(counter).__module__))
    except (TypeError, ValueError):
        code = type(counter).__qualname__
    return "code-" + digest([repr(counter), code])[:16]
