"""Thumbnails and crops of the store's photographs kept on disk, so a report whose inputs
did not change costs file reads instead of decoding images and encoding JPEG/PNG.

The figures (heatmaps, curves) are not kept: they are inline SVG written in about a
millisecond each, less than hashing their inputs and reading an entry back would cost.

Layout: `<store root>/figures/<key[:2]>/<key>.bin` (the encoded bytes of one or more
pictures, back to back) next to `<key>.json` (their lengths, the bin's sha256, and the
picture's width, height and clickable cells). JSON, never pickle: the cache sits in a
folder others can write to, and reading it must not run code.

The key is the sha256 of
  - a kind tag ("thumbnail", "strip", ...),
  - a canonical JSON of everything the picture is made from (the store's
    content-addressed image name and the size parameters),
  - the code's version: the bytes of figures.py (DRAWING_MODULES), which encodes the
    pictures, plus the Pillow version, so editing that code or upgrading Pillow makes
    every picture again.
Equal keys therefore mean equal bytes, which is what makes sharing the folder between
xdist workers and the controller safe: every file is written to a temporary name and
moved into place with os.replace, and whoever wins a race wrote the same content.

Never an error: an unreadable, truncated or mismatching entry is a miss (and is then
rewritten), a folder we cannot write to just means no caching. A store root that does not
exist is not created: a report must not conjure a store where there is none.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

from iqa_audit.core.files import write_file_atomic
from iqa_audit.core.keys import digest
from iqa_audit.report import figures

FORMAT = 1  # bump when the entry layout below changes
FOLDER = "figures"
DRAWING_MODULES = (figures,)  # its source keys every picture
T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    """What one key holds: one or more encoded pictures and JSON-able facts about them."""

    parts: tuple[bytes, ...]
    meta: Mapping[str, Any]


# ----- keys ------------------------------------------------------------------------------
@functools.cache
def code_version() -> str:
    """sha256 of the code that encodes the pictures and of the library that does it."""

    h = hashlib.sha256()
    for module in DRAWING_MODULES:
        h.update(Path(module.__file__).read_bytes())
    h.update(f"\0Pillow {version('Pillow')}\0format {FORMAT}".encode())
    return h.hexdigest()


def cache_key(kind: str, inputs: Any) -> str:
    """sha256 hex of (kind, drawing code version, inputs) as canonical JSON (keys.digest:
    dataclasses tagged with their class name, floats exact, NaN allowed). TypeError for
    inputs without one JSON form."""
    return digest([kind, code_version(), inputs])


# ----- the cache -------------------------------------------------------------------------
class FigureCache:
    """A figure cache under `<root>/figures/`. `FigureCache(None)` (or a root that is not an
    existing folder) caches nothing: `get_or_make` then just calls `make`."""

    def __init__(self, root: str | Path | None):
        root = Path(root) if root else None
        self.folder = root / FOLDER if root is not None and root.is_dir() else None

    @property
    def enabled(self) -> bool:
        return self.folder is not None

    def _paths(self, key: str) -> tuple[Path, Path]:
        base = self.folder / key[:2] / key
        return base.with_suffix(".bin"), base.with_suffix(".json")

    def load(self, key: str) -> Entry | None:
        """The entry, or None when it is missing or damaged in any way."""
        if self.folder is None:
            return None
        bin_path, meta_path = self._paths(key)
        try:
            sidecar = json.loads(meta_path.read_text(encoding="utf-8"))
            data = bin_path.read_bytes()
            sizes = [int(n) for n in sidecar["sizes"]]
            if (
                sidecar.get("format") != FORMAT
                or sum(sizes) != len(data)
                or any(n < 0 for n in sizes)
                or hashlib.sha256(data).hexdigest() != sidecar["sha256"]
            ):
                return None
            meta = sidecar["meta"]
            if not isinstance(meta, dict):
                return None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        parts, at = [], 0
        for n in sizes:
            parts.append(data[at : at + n])
            at += n
        return Entry(tuple(parts), meta)

    def save(self, key: str, entry: Entry) -> None:
        """Store the entry; the bin first, so a sidecar never points at nothing for long
        (and if it does, `load` sees the mismatch and calls it a miss)."""
        if self.folder is None:
            return
        bin_path, meta_path = self._paths(key)
        data = b"".join(entry.parts)
        sidecar = {
            "format": FORMAT,
            "sizes": [len(p) for p in entry.parts],
            "sha256": hashlib.sha256(data).hexdigest(),
            "meta": dict(entry.meta),
        }
        try:
            bin_path.parent.mkdir(parents=True, exist_ok=True)
            write_file_atomic(bin_path, data)
            write_file_atomic(meta_path, json.dumps(sidecar, sort_keys=True, allow_nan=True).encode("utf-8"))
        except OSError:
            pass  # a read-only or full disk: the report is still right, only slower next time

    def get_or_make(
        self, kind: str, inputs: Any, make: Callable[[], T | None], *, encode: Callable[[T], Entry], decode: Callable[[Entry], T]
    ) -> T | None:
        """The value for (kind, inputs) read back from disk, else `make()`'s, stored for next
        time. `make` may return None (e.g. the image is missing); that is not stored. An
        entry `decode` cannot read (written by other code, damaged) is a miss."""
        if self.folder is None:
            return make()
        key = cache_key(kind, inputs)
        got = self.load(key)
        if got is not None:
            try:
                return decode(got)
            except (KeyError, IndexError, TypeError, ValueError):
                pass
        value = make()
        if value is not None:
            self.save(key, encode(value))
        return value


# ----- conversions -----------------------------------------------------------------------
def picture_entry(encoded: tuple[bytes, int, int]) -> Entry:
    """(bytes, width, height), as thumbnail_jpeg / centre_crop_png return them."""
    data, w, h = encoded
    return Entry((data,), {"width": w, "height": h})


def entry_picture(entry: Entry) -> tuple[bytes, int, int]:
    return entry.parts[0], int(entry.meta["width"]), int(entry.meta["height"])
