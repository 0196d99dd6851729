"""The one image type of the whole flow: `Image`, its bytes and its hashes.

`Image` is an 8-bit RGB pixel array plus, when it came from a file or an editor, the
exact bytes it was decoded from. The store keeps those exact bytes, so step k of a chain
is always computed from step k-1's bytes, never from a re-encoding of them.

Every way in (a file or bytes: `decode.load_image`/`decode.decode_image`, which imported
chains and editor outputs use; a PIL image: `Image.from_pil`; an array: `Image.from_array`)
turns its input into the input's own samples and hands them to `samples.to_rgb8`, which
applies ONE table, `samples.CONVERSIONS`, so the same data gives the same pixels whichever
way it came. Every Image is sRGB: `colour.py` converts what a file or a PIL image says its
samples mean to sRGB.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image as PILImage

from iqa_audit.core.colour import colour_of
from iqa_audit.core.errors import BadImageError, explain
from iqa_audit.core.samples import _pil_to_rgb_array, to_rgb8

# PNG level 1: ~5x faster than the default 6 on 2K images for ~15 % more bytes; chain
# building writes every step, so speed wins.
PNG_COMPRESS_LEVEL = 1


@dataclass(frozen=True, eq=False)
class Image:
    """An 8-bit sRGB image. `pixels` is read-only (H, W, 3) uint8.

    `encoded` holds the exact bytes the image was decoded from (a PNG or JPEG an editor
    returned, a file on disk), or None for an image computed in memory; `data()` then
    produces a deterministic PNG. `colour` says how the decoded samples were converted to
    sRGB ("Display P3 (embedded ICC profile) -> sRGB, perceptual"), None when they were
    sRGB already (no profile, or an sRGB one).
    """

    pixels: np.ndarray
    encoded: bytes | None = field(default=None, repr=False)
    colour: str | None = None

    def __post_init__(self) -> None:
        px = self.pixels
        if not isinstance(px, np.ndarray) or px.ndim != 3 or px.shape[2] != 3:
            raise BadImageError(
                explain(
                    "Image pixels",
                    expected="an (H, W, 3) array",
                    got=f"{type(px).__name__} of shape {getattr(px, 'shape', None)}",
                    fix="Build images with Image.from_array or load_image.",
                )
            )
        if px.dtype != np.uint8:
            raise BadImageError(
                explain(
                    "Image pixels",
                    expected="dtype uint8",
                    got=str(px.dtype),
                    fix="Convert with np.clip(x, 0, 255).astype(np.uint8) first.",
                )
            )
        if px.shape[0] == 0 or px.shape[1] == 0:
            raise BadImageError(
                explain("Image pixels", expected="a non-empty image", got=f"{px.shape}", fix="Check the editor output.")
            )
        if px.flags.writeable:
            px = px.copy()
            px.flags.writeable = False
            object.__setattr__(self, "pixels", px)

    # ----- shape -------------------------------------------------------------------
    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), Pillow's order."""
        return (self.width, self.height)

    @property
    def aspect_ratio(self) -> float:
        """height / width, the study's convention (5632x3072 -> 0.545)."""
        return self.height / self.width

    # ----- construction ---------------------------------------------------------------
    @classmethod
    def from_array(cls, array: np.ndarray) -> "Image":
        """From an (H, W), (H, W, 1), (H, W, 2), (H, W, 3) or (H, W, 4) array of bool,
        uint8, uint16, other integers or floats, by the conversion table
        (`samples.CONVERSIONS`): the same samples a file holds give the same pixels as the file.

        Raises BadImageError for another shape or dtype, and for an ambiguous range
        (floats outside [0, 1], integers wider than 16 bits or all within 1..255)."""
        return cls(to_rgb8(array, source="Image.from_array"))

    @classmethod
    def from_pil(cls, pil: PILImage.Image, *, encoded: bytes | None = None, source: str = "<memory>") -> "Image":
        """From a loaded PIL image of any mode, by the same table (EXIF orientation applied),
        colour-managed to sRGB by its `info` (icc_profile, PNG gamma/chromaticity/srgb)."""
        colour = colour_of(pil, source, strict=False)
        return cls(_pil_to_rgb_array(pil, source, colour=colour), encoded=encoded, colour=colour.note if colour else None)

    def to_pil(self) -> PILImage.Image:
        return PILImage.fromarray(np.asarray(self.pixels))

    # ----- bytes ----------------------------------------------------------------------
    def data(self) -> bytes:
        """The bytes the store keeps: the original encoding, or a deterministic PNG."""
        if self.encoded is not None:
            return self.encoded
        return encode_png(self.pixels)

    @property
    def format(self) -> str:
        """File extension of `data()`: png, jpeg, webp, ..."""
        return sniff_format(self.data())

    def digest(self) -> str:
        """sha256 of `data()`: the content address in the store and the score cache."""
        return hashlib.sha256(self.data()).hexdigest()

    def pixel_digest(self) -> str:
        """sha256 of the decoded pixels, independent of the encoding."""
        h = hashlib.sha256(f"{self.width}x{self.height}".encode())
        h.update(self.pixels.tobytes())
        return h.hexdigest()

    def to_float(self) -> np.ndarray:
        """(H, W, 3) float32 in [0, 1]."""
        return self.pixels.astype(np.float32) / 255.0


def encode_png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    PILImage.fromarray(np.asarray(pixels)).save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()


_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF8", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
)


def sniff_format(data: bytes) -> str:
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return "bin"
