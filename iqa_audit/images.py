"""One image type through the whole flow: decode, validate, normalise, encode, hash.

`Image` is an 8-bit RGB pixel array plus, when it came from a file or an editor, the
exact bytes it was decoded from. The store keeps those exact bytes, so step k of a chain
is always computed from step k-1's bytes, never from a re-encoding of them.

Conversions applied on decode (documented, never silent data loss of the 8-bit content):
- palette, greyscale, CMYK, YCbCr, LAB, 1-bit -> RGB (greyscale replicated to 3 channels);
- RGBA / LA / palette with transparency -> RGB composited over white, because every
  editor and metric the study used sees an opaque image;
- 16-bit and 32-bit integer/float greyscale -> 8-bit by scaling the full range of the
  mode (I;16 by 1/257, I by 1/65793 clipped, F assumed in [0, 1]), since IQA metrics
  expect 8-bit input;
- EXIF orientation is applied, so what is audited is what a viewer shows.
Refused with a `BadImageError` naming the file: missing, empty, not an image, truncated,
larger than `MAX_PIXELS` (decompression bomb), zero-sized.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from .errors import BadImageError, explain

# 8K x 8K: the study's largest output (4K: 5632x3072) fits with room; anything above is
# far more likely a decompression bomb than a real editor output.
MAX_PIXELS = 8192 * 8192

# PNG level 1: ~5x faster than the default 6 on 2K images for ~15 % more bytes; chain
# building writes every step, so speed wins.
PNG_COMPRESS_LEVEL = 1


@dataclass(frozen=True, eq=False)
class Image:
    """An 8-bit RGB image. `pixels` is read-only (H, W, 3) uint8.

    `encoded` holds the exact bytes the image was decoded from (a PNG or JPEG an editor
    returned, a file on disk), or None for an image computed in memory; `data()` then
    produces a deterministic PNG.
    """

    pixels: np.ndarray
    encoded: bytes | None = field(default=None, repr=False)

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
        """From any (H, W[, C]) array; floats are taken as [0, 1]."""
        a = np.asarray(array)
        if a.ndim == 2:
            a = np.repeat(a[:, :, None], 3, axis=2)
        if a.ndim == 3 and a.shape[2] == 4:
            a = a[:, :, :3]
        if np.issubdtype(a.dtype, np.floating):
            a = np.clip(np.round(a * 255.0), 0, 255).astype(np.uint8)
        elif a.dtype != np.uint8:
            a = np.clip(a, 0, 255).astype(np.uint8)
        return cls(np.ascontiguousarray(a))

    @classmethod
    def from_pil(cls, pil: PILImage.Image, *, encoded: bytes | None = None, source: str = "<memory>") -> "Image":
        return cls(_pil_to_rgb_array(pil, source), encoded=encoded)

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


def decode_image(data: bytes, *, source: str = "<bytes>") -> Image:
    """Decode bytes into an Image, keeping the bytes; errors name `source`."""
    if not data:
        raise BadImageError(
            explain(f"{source}", expected="image bytes", got="an empty file (0 bytes)", fix="Re-export or re-download the file.")
        )
    with warnings.catch_warnings():
        # Pillow warns between MAX_IMAGE_PIXELS and 2x; we enforce our own limit below.
        warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
        try:
            pil = PILImage.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise BadImageError(
                explain(
                    f"{source}",
                    expected="a PNG, JPEG, WebP, TIFF, BMP or GIF image",
                    got=f"{len(data)} bytes that no image decoder recognises",  # never echo content: it may be a secret
                    fix="Check the file is an image and not an HTML error page or a text file.",
                )
            ) from None
        except PILImage.DecompressionBombError as e:
            raise _bomb_error(source, str(e)) from None
        except (OSError, SyntaxError, ValueError) as e:  # a valid header followed by garbage
            raise BadImageError(
                explain(f"{source}", expected="a readable image file", got=f"a header that fails to parse ({e})",
                        fix="The file is probably truncated or corrupt: re-download or re-export it.")
            ) from None
        w, h = pil.size
        if w == 0 or h == 0:
            raise BadImageError(explain(f"{source}", expected="a non-empty image", got=f"{w}x{h} pixels", fix="Re-export the file."))
        if w * h > MAX_PIXELS:
            raise _bomb_error(source, f"{w}x{h} = {w * h} pixels")
        try:
            pil.load()
        except PILImage.DecompressionBombError as e:
            raise _bomb_error(source, str(e)) from None
        except (OSError, SyntaxError, ValueError) as e:
            raise BadImageError(
                explain(
                    f"{source}",
                    expected="a complete image file",
                    got=f"a file that fails to decode ({e})",
                    fix="The file is probably truncated: re-download or re-export it.",
                )
            ) from None
    return Image.from_pil(pil, encoded=data, source=source)


def load_image(path: str | Path) -> Image:
    """Read and decode an image file, with errors that name the file."""
    p = Path(path)
    if not p.exists():
        raise BadImageError(explain(f"{p}", expected="an existing image file", got="no such file", fix="Check the path."))
    if p.is_dir():
        raise BadImageError(explain(f"{p}", expected="an image file", got="a directory", fix="Point at a file inside it."))
    try:
        data = p.read_bytes()
    except OSError as e:
        raise BadImageError(explain(f"{p}", expected="a readable file", got=str(e), fix="Check permissions.")) from None
    return decode_image(data, source=str(p))


def _bomb_error(source: str, detail: str) -> BadImageError:
    return BadImageError(
        explain(
            f"{source}",
            expected=f"at most {MAX_PIXELS} pixels",
            got=detail,
            fix="This looks like a decompression bomb; resize the image below 8192x8192 if it is genuine.",
        )
    )


def _pil_to_rgb_array(pil: PILImage.Image, source: str) -> np.ndarray:
    try:
        pil = ImageOps.exif_transpose(pil)
    except Exception:  # a broken EXIF block must not make a valid image unusable
        pass
    mode = pil.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        a = np.asarray(pil, dtype=np.uint16).astype(np.float64) / 257.0
        return _grey_to_rgb(np.round(a).astype(np.uint8))
    if mode == "I":
        a = np.asarray(pil, dtype=np.int64)
        # 32-bit PNG/TIFF greyscale is nearly always 16-bit data in a wider container.
        scale = 257.0 if a.max(initial=0) <= 65535 else 65793.0 * 256
        return _grey_to_rgb(np.clip(np.round(a / scale), 0, 255).astype(np.uint8))
    if mode == "F":
        a = np.asarray(pil, dtype=np.float64)
        return _grey_to_rgb(np.clip(np.round(a * 255.0), 0, 255).astype(np.uint8))
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in pil.info)
    if has_alpha:
        rgba = pil.convert("RGBA")
        white = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
        pil = PILImage.alpha_composite(white, rgba)
    if pil.mode != "RGB":
        try:
            pil = pil.convert("RGB")
        except (ValueError, OSError) as e:
            raise BadImageError(
                explain(f"{source}", expected="an image convertible to RGB", got=f"mode {mode} ({e})", fix="Convert it to 8-bit RGB PNG.")
            ) from None
    return np.array(pil, dtype=np.uint8)


def _grey_to_rgb(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(a[:, :, None], 3, axis=2))
