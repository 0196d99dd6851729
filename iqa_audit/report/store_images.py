"""The store's pictures as the report shows them: read read-only from the store named in
results.json, checked against their names (sha256), and encoded small (JPEG thumbnails,
PNG crops) through the figure cache, so a report drawn again does not decode them again.

Used by the editor table (editors_html), the image strips (strips_html) and the pytest-html
extras (audit.pytest_html).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image as PILImage

from iqa_audit.core.errors import BadImageError
from iqa_audit.report import figures
from iqa_audit.report.figure_cache import Entry, FigureCache, entry_picture, picture_entry
from iqa_audit.report.markup import e
from iqa_audit.store.decoded import decoded_file

T = TypeVar("T")


class ImageSource:
    """Reads chain images from the store folder named in results.json.

    Read-only on purpose: opening `Store` would create folders and a database where the
    store is missing, and a report must never change the store it describes. The path
    layout is the store's own (`Store.object_path`)."""

    def __init__(self, root: str | Path | None):
        self.root = Path(root) if root else None

    def path(self, image: str) -> Path | None:
        if self.root is None or "." not in image:
            return None
        digest, ext = image.split(".", 1)
        return self.root / "objects" / digest[:2] / f"{digest}.{ext}"

    def get(self, image: str) -> PILImage.Image | None:
        """The decoded picture, or None when it is missing, unreadable or not the bytes its
        name (their sha256) says: a file the disk altered is shown as missing, never as the
        chain's image. Decoded by images.decode_image, so the report shows the sRGB pixels
        the metrics scored (colour profile, EXIF orientation and alpha applied). Not cached:
        the callers keep the small encodings they make, never the (up to 4K) pixels."""
        path = self.path(image)
        if path is None or not path.is_file():
            return None
        try:
            return decoded_file(path, image.split(".", 1)[0], keep=False).to_pil()  # reuses a decode of this process
        except (OSError, BadImageError):  # a damaged file shows as missing, it does not stop the report
            return None


def missing_image(image: str, why: str = "not in the store") -> str:
    """The grey box shown where a picture is missing: `why` in words, the name's first 12
    characters, the whole name on hover."""
    return f'<div class="missing" title="{e(image)}">image {e(why)}<br><code>{e(image[:12])}…</code></div>'


def encode_picture(
    images: ImageSource,
    cache: FigureCache,
    image: str,
    kind: str,
    params: Mapping[str, Any],
    encode: Callable[[PILImage.Image], T],
    *,
    to_entry: Callable[[T], Entry],
    from_entry: Callable[[Entry], T],
) -> T | None:
    """encode(the decoded picture), or None when it is missing; read from `cache` when this
    picture was encoded with these parameters before (no decoding then). The key is the
    image's name, which is its content's sha256, plus its file size as a guard against a
    damaged store file; `params` are the sizes the encoding uses."""
    path = images.path(image)
    if path is None:
        return None
    try:
        size = path.stat().st_size
    except OSError:
        return None  # missing: not cached, the store may get it later

    def make() -> T | None:
        im = images.get(image)
        return None if im is None else encode(im)

    return cache.get_or_make(kind, {"image": image, "bytes": size, **params}, make, encode=to_entry, decode=from_entry)


def thumbnail(images: ImageSource, cache: FigureCache, image: str, long_side: int) -> tuple[bytes, int, int] | None:
    """figures.thumbnail_jpeg of a store image, through the cache."""
    return encode_picture(
        images,
        cache,
        image,
        "thumbnail",
        {"long_side": long_side, "quality": figures.JPEG_QUALITY},
        lambda im: figures.thumbnail_jpeg(im, long_side),
        to_entry=picture_entry,
        from_entry=entry_picture,
    )


def encode_all(wanted: Iterable[str], fetch: Callable[[str], T | None]) -> dict[str, T | None]:
    """{image: fetch(image)}, each image once, on two threads: PIL releases the GIL while it
    decodes and encodes, and this is a large share of the report's time when the figure
    cache is cold."""
    todo = list(dict.fromkeys(wanted))
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(todo, pool.map(fetch, todo)))
