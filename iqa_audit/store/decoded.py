"""Decoded images kept per process, so one image is decoded once for scoring, the evidence
of change and the report alike.

A cold audit asks for the same stored image several times in one process: each metric's
series scores it, the evidence of a gap cell compares step Δ with step 1, the report draws
its thumbnail. Decoding a 512 px PNG costs ~10-20 ms, so a 120-image audit with two
metrics paid ~4 s for decoding the same files again. `DECODED.get(path, load)` returns
the Image decoded the first time.

Bound: at most MAX_BYTES (256 MiB) of images per process, counted as their pixels plus
the encoded bytes an Image keeps; the least recently used go first, and an image larger
than a quarter of the bound is never kept (one 4K image must not evict every chain). At
the default audit's 512 px that is ~250 images (~1 MiB each with their PNG), enough for
every image of a small audit; a 2K image (~13 MiB of pixels) still fits ~15 of them.

Keyed by the object's path, whose name is the content's sha256, and checked against the
file's stamp (size, mtime, ctime, inode, as Store.verify_many): a file altered or replaced
since it was decoded is a miss, so `load` reads it again and sees the damage (the store's
read_bytes hash-checks every read). Images are immutable (read-only pixels), so handing
the same one to every caller is safe. Thread-safe.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from iqa_audit.core.decode import decode_image
from iqa_audit.core.errors import BadImageError, explain
from iqa_audit.core.images import Image

MAX_BYTES = 256 * 1024 * 1024


def _stamp(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _cost(image: Image) -> int:
    return int(image.pixels.nbytes) + len(image.encoded or b"")


class DecodedImages:
    """A bounded least-recently-used map: object path -> (file stamp, decoded Image)."""

    def __init__(self, max_bytes: int = MAX_BYTES):
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[tuple[int, int, int, int], Image, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, path: Path | str, load: Callable[[], Image], *, keep: bool = True) -> Image:
        """The Image decoded from `path`: kept from an earlier call while the file is
        unchanged, else `load()`'s (which raises as it raises; nothing is kept then),
        kept for later calls unless `keep` is False (a reader that asks once)."""
        key = str(path)
        stamp = _stamp(Path(key))  # before the read: a file changed after it is a miss next time
        with self._lock:
            got = self._items.get(key)
            if got is not None and stamp is not None and got[0] == stamp:
                self._items.move_to_end(key)
                self.hits += 1
                return got[1]
            self.misses += 1
        image = load()
        if keep and stamp is not None:
            self._put(key, stamp, image)
        return image

    def _put(self, key: str, stamp: tuple[int, int, int, int], image: Image) -> None:
        cost = _cost(image)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[2]
            if cost > self.max_bytes // 4:
                return
            self._items[key] = (stamp, image, cost)
            self._bytes += cost
            while self._bytes > self.max_bytes:
                _, (_, _, freed) = self._items.popitem(last=False)
                self._bytes -= freed

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


DECODED = DecodedImages()


def decoded_file(path: Path | str, digest: str, *, keep: bool = True) -> Image:
    """The image in the content-addressed file `path` whose sha256 is `digest`, through
    DECODED (`keep`: as DECODED.get). For readers that must not open a Store (the report
    reads a store read-only). Raises OSError when the file cannot be read, BadImageError
    when its bytes are not `digest`'s or do not decode."""

    def load() -> Image:
        data = Path(path).read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise BadImageError(
                explain(str(path), expected=f"bytes whose sha256 is {digest}", got="other bytes", fix="The file was altered.")
            )
        return decode_image(data, source=str(path))

    return DECODED.get(path, load, keep=keep)
