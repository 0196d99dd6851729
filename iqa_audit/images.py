"""One image type through the whole flow: decode, validate, normalise, encode, hash.

`Image` is an 8-bit RGB pixel array plus, when it came from a file or an editor, the
exact bytes it was decoded from. The store keeps those exact bytes, so step k of a chain
is always computed from step k-1's bytes, never from a re-encoding of them.

Every way in (a file or bytes: `load_image`/`decode_image`, which imported chains and
editor outputs use; a PIL image: `Image.from_pil`; an array: `Image.from_array`) turns its
input into the input's own samples and hands them to `to_rgb8`, which applies ONE table,
`CONVERSIONS`, so the same data gives the same pixels whichever way it came. Its rows:

Sample values -> 8-bit levels (`CONVERSIONS`), then channels -> RGB:
- bool / mode 1:          False -> 0, True -> 255.
- uint8 / L, RGB, ...:    unchanged.
- uint16 / I;16, 16-bit PNG or TIFF (grey or colour): round(v / 257), the inverse of
  the v * 257 by which PNG widens 8-bit samples (65535 -> 255). 16-bit colour files,
  which Pillow truncates to their high byte, are read at full depth with OpenCV first.
- other integers / mode I (32-bit): read as 16-bit levels 0..65535 (round(v / 257)), the depth
  that 32-bit greyscale files nearly always hold. Refused, with the fix, when negative or
  above 65535, and when every value is within 1..255: then 8-bit levels and a nearly
  black 16-bit image are equally likely (cast to uint8 or uint16 to say which).
- floats / mode F: levels in [0, 1] -> round(v * 255). Refused, with the fix, when any
  value is NaN, infinite or outside [0, 1]: floats holding 0..255 would otherwise
  saturate silently (divide by 255), and overshoot needs an explicit clip.
- channels: (H, W) and (H, W, 1) are grey, replicated to R, G, B; (H, W, 2) grey +
  alpha; (H, W, 3) RGB; (H, W, 4) RGBA. Palette (P) images are expanded by Pillow;
  CMYK, YCbCr, LAB, HSV and RGBX are converted to RGB by Pillow; premultiplied RGBa/La
  and PA become RGBA first.
- alpha: composited over white (after the levels above), because every editor and
  metric the study used sees an opaque image. A tRNS colour key (PNG RGB, L, I;16 and 1
  images; palette transparency is alpha) makes the pixels equal to the key, compared at
  the file's own bit depth, transparent: white.
- EXIF orientation is applied (files), so what is audited is what a viewer shows.
Refused with a `BadImageError` naming the file: missing, empty, not an image, truncated,
larger than `MAX_PIXELS` (decompression bomb), zero-sized, or an ambiguous range above.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

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
        """From an (H, W), (H, W, 1), (H, W, 2), (H, W, 3) or (H, W, 4) array of bool,
        uint8, uint16, other integers or floats, by the module's conversion table
        (`CONVERSIONS`): the same samples a file holds give the same pixels as the file.

        Raises BadImageError for another shape or dtype, and for an ambiguous range
        (floats outside [0, 1], integers wider than 16 bits or all within 1..255)."""
        return cls(to_rgb8(array, source="Image.from_array"))

    @classmethod
    def from_pil(cls, pil: PILImage.Image, *, encoded: bytes | None = None, source: str = "<memory>") -> "Image":
        """From a loaded PIL image of any mode, by the same table (EXIF orientation applied)."""
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
                explain(
                    f"{source}",
                    expected="a readable image file",
                    got=f"a header that fails to parse ({e})",
                    fix="The file is probably truncated or corrupt: re-download or re-export it.",
                )
            ) from None
        w, h = pil.size
        rawmode = _rawmode(pil)  # how the file stores its samples; gone once the image is loaded
        if w == 0 or h == 0:
            raise BadImageError(
                explain(f"{source}", expected="a non-empty image", got=f"{w}x{h} pixels", fix="Re-export the file.")
            )
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
    if rawmode in _WIDE_COLOUR_RAWMODES:
        return Image(
            to_rgb8(_wide_colour_samples(data, pil, source), source=source, key=pil.info.get("transparency")), encoded=data
        )
    return Image(_pil_to_rgb_array(pil, source, rawmode=rawmode), encoded=data)


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


# ----- the conversion table -------------------------------------------------------------


@dataclass(frozen=True)
class Conversion:
    """One row of the conversion table: which samples, the rule, and the function applying it.

    `convert(samples, source)` takes an array of this kind (any shape) and returns uint8
    levels of the same shape, or raises BadImageError naming `source`."""

    kind: str
    inputs: str
    rule: str
    convert: Callable[[np.ndarray, str], np.ndarray]


def _bool_levels(a: np.ndarray, source: str) -> np.ndarray:
    return np.where(a, np.uint8(255), np.uint8(0))


def _uint8_levels(a: np.ndarray, source: str) -> np.ndarray:
    return a


def _uint16_levels(a: np.ndarray, source: str) -> np.ndarray:
    # (v + 128) // 257 == round(v / 257) for every integer v (257 is odd: no ties).
    return ((a.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _wide_int_levels(a: np.ndarray, source: str) -> np.ndarray:
    lo, hi = int(a.min()), int(a.max())
    if lo < 0 or hi > 65535:
        raise BadImageError(
            explain(
                f"{source}",
                expected="integer samples within 0..65535 (16-bit levels; 32-bit images are read as 16-bit data)",
                got=f"{a.dtype} samples from {lo} to {hi}",
                fix="Scale them to 0..65535 and cast with .astype(np.uint16), or to 0..255 with .astype(np.uint8); "
                "for a file, save it as an 8-bit or 16-bit PNG.",
            )
        )
    if 0 < hi <= 255:
        raise BadImageError(
            explain(
                f"{source}",
                expected="integer samples whose bit depth is clear",
                got=f"{a.dtype} samples from {lo} to {hi}: 8-bit levels, or a 16-bit image darker than 0.4 %",
                fix="Say which: cast with .astype(np.uint8) for 8-bit levels or .astype(np.uint16) for 16-bit levels; "
                "for a file, save it as an 8-bit or 16-bit PNG.",
            )
        )
    return _uint16_levels(a, source)


def _float_levels(a: np.ndarray, source: str) -> np.ndarray:
    finite = np.isfinite(a)
    if not finite.all():
        raise BadImageError(
            explain(
                f"{source}",
                expected="finite float samples in [0, 1]",
                got=f"{int((~finite).sum())} NaN or infinite sample(s)",
                fix="Replace them (np.nan_to_num) before making an image.",
            )
        )
    lo, hi = float(a.min()), float(a.max())
    if lo < 0.0 or hi > 1.0:
        raise BadImageError(
            explain(
                f"{source}",
                expected="float samples in [0, 1]",
                got=f"{a.dtype} samples from {lo:g} to {hi:g}",
                fix="Floats are read as levels in [0, 1]: if they are 0..255 levels divide by 255 (or save the file as 8-bit); "
                "if they overshoot [0, 1], clip them with np.clip(x, 0, 1).",
            )
        )
    return np.round(a.astype(np.float64) * 255.0).astype(np.uint8)


# Sample type -> 8-bit level: the whole table, in the order of the module docstring.
CONVERSIONS: tuple[Conversion, ...] = (
    Conversion("bool", "bool arrays, mode 1", "False -> 0, True -> 255", _bool_levels),
    Conversion("uint8", "uint8 arrays, modes L, LA, P, RGB, RGBA, ...", "unchanged", _uint8_levels),
    Conversion("uint16", "uint16 arrays, mode I;16, 16-bit PNG/TIFF (grey or colour)", "round(v / 257)", _uint16_levels),
    Conversion(
        "int",
        "other integer arrays, mode I (32-bit)",
        "round(v / 257) for 16-bit levels 0..65535; refused when negative, above 65535 or all within 1..255",
        _wide_int_levels,
    ),
    Conversion(
        "float",
        "float arrays, mode F",
        "round(v * 255) for v in [0, 1]; refused when NaN, infinite or outside [0, 1]",
        _float_levels,
    ),
)
_BY_KIND = {c.kind: c for c in CONVERSIONS}


def sample_kind(dtype: np.dtype) -> str | None:
    """The CONVERSIONS row for a numpy dtype ('bool', 'uint8', 'uint16', 'int', 'float'), None if none."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return "bool"
    if dtype == np.uint8:
        return "uint8"
    if dtype == np.uint16:
        return "uint16"
    if np.issubdtype(dtype, np.integer):
        return "int"
    if np.issubdtype(dtype, np.floating):
        return "float"
    return None


def to_rgb8(samples: np.ndarray, *, source: str, key: int | float | tuple | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB from an image's own samples, by `CONVERSIONS`.

    `samples`: (H, W) or (H, W, 1) grey, (H, W, 2) grey + alpha, (H, W, 3) RGB or
    (H, W, 4) RGBA, of a dtype the table knows. `key`: a tRNS colour key (one value for
    grey, three for RGB) in the samples' own units; pixels equal to it become
    transparent. Alpha is composited over white after the levels are converted.
    Raises BadImageError naming `source` for another shape or dtype or an ambiguous range.
    """
    a = np.asarray(samples)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    kind = sample_kind(a.dtype)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (2, 3, 4)) or kind is None:
        raise BadImageError(
            explain(
                f"{source}",
                expected="an (H, W), (H, W, 1), (H, W, 2), (H, W, 3) or (H, W, 4) array of bool, integers or floats",
                got=f"{type(samples).__name__} of shape {getattr(a, 'shape', None)} and dtype {getattr(a, 'dtype', None)}",
                fix="Pass grey, grey + alpha, RGB or RGBA pixels, e.g. np.asarray(pil_image).",
            )
        )
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise BadImageError(explain(f"{source}", expected="a non-empty image", got=f"shape {a.shape}", fix="Check the image."))
    colour = a if a.ndim == 2 or a.shape[2] == 3 else a[:, :, :-1]
    keyed = None if key is None else _matches_key(colour, key)
    levels = _BY_KIND[kind].convert(a, source)
    if levels.ndim == 2:
        levels = levels[:, :, None]
    rgb = np.repeat(levels[:, :, :1], 3, axis=2) if levels.shape[2] in (1, 2) else levels[:, :, :3]
    alpha = levels[:, :, -1] if levels.shape[2] in (2, 4) else None
    if keyed is not None and keyed.any():
        alpha = np.where(keyed, np.uint8(0), np.uint8(255) if alpha is None else alpha)
    if alpha is None:
        return np.ascontiguousarray(rgb)
    return _over_white(rgb, alpha)


def _matches_key(colour: np.ndarray, key: int | float | tuple) -> np.ndarray:
    """Where the colour samples equal a tRNS key: (H, W) bool."""
    want = np.asarray(key, dtype=np.float64).reshape(-1)
    if colour.ndim == 2:
        return colour == want[0]
    if want.size != colour.shape[2]:
        return np.zeros(colour.shape[:2], bool)
    return np.all(colour == want, axis=2)


def _over_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    # Pillow's alpha_composite, so decoding a file and converting its array agree to the bit.
    rgba = PILImage.fromarray(np.ascontiguousarray(np.dstack([rgb, alpha])), "RGBA")
    white = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
    return np.ascontiguousarray(np.asarray(PILImage.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8))


# ----- files and PIL images -> samples -------------------------------------------------------

# Modes whose samples numpy reads directly (np.asarray gives the table's dtype and channels).
_DIRECT_MODES = {
    "1": np.bool_,
    "L": np.uint8,
    "LA": np.uint8,
    "RGB": np.uint8,
    "RGBA": np.uint8,
    "I;16": np.uint16,
    "I;16B": np.uint16,
    "I;16L": np.uint16,
    "I;16N": np.uint16,
    "I": np.int32,
    "F": np.float32,
}
# Modes Pillow converts first: alpha kept (RGBA), or plain colour (RGB).
_TO_RGBA = ("PA", "RGBa", "La")
# Modes whose PNG tRNS chunk is a colour key (palette transparency is alpha; Pillow expands it).
_KEYED_MODES = ("1", "L", "I;16", "RGB")
# PNG grey samples below 8 bits: Pillow widens them to L by these factors, but keeps the
# tRNS key in the file's own units.
_LOW_BIT_GREY = {"L;2": 85, "L;4": 17}
# 16-bit colour that Pillow can only hold as 8-bit (by dropping the low byte): read at
# full depth with OpenCV instead, so a 16-bit file and its uint16 array agree.
_WIDE_COLOUR_RAWMODES = frozenset({"RGB;16B", "RGB;16L", "RGB;16N", "RGBA;16B", "RGBA;16L", "RGBA;16N", "LA;16B"})
# EXIF orientation -> the numpy equivalent of ImageOps.exif_transpose.
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


def _rawmode(pil: PILImage.Image) -> str | None:
    tile = getattr(pil, "tile", None) or ()
    if not tile:
        return None
    args = tile[0][3] if len(tile[0]) > 3 else None
    raw = args[0] if isinstance(args, tuple) and args else args
    return raw if isinstance(raw, str) else None


def _pil_to_rgb_array(pil: PILImage.Image, source: str, *, rawmode: str | None = None) -> np.ndarray:
    try:
        pil = ImageOps.exif_transpose(pil)
    except Exception:  # a broken EXIF block must not make a valid image unusable
        pass
    samples, key = _pil_samples(pil, source, rawmode)
    return to_rgb8(samples, source=source, key=key)


def _pil_samples(pil: PILImage.Image, source: str, rawmode: str | None) -> tuple[np.ndarray, object]:
    """The image's own samples as an array for `to_rgb8`, and its tRNS colour key (or None)."""
    mode = pil.mode
    key = pil.info.get("transparency") if mode in _KEYED_MODES else None
    if isinstance(key, bytes):  # not a colour key
        key = None
    if mode == "1" and key is not None:
        key = bool(key)
    if mode == "L" and key is not None and rawmode in _LOW_BIT_GREY:
        key = int(key) * _LOW_BIT_GREY[rawmode]
    if mode in _DIRECT_MODES:
        return np.asarray(pil).astype(_DIRECT_MODES[mode], copy=False), key
    target = "RGBA" if mode in _TO_RGBA or (mode == "P" and "transparency" in pil.info) else "RGB"
    try:
        if mode == "La":  # Pillow converts premultiplied La only to LA
            return np.asarray(pil.convert("LA")), None
        return np.asarray(pil.convert(target)), None
    except (ValueError, OSError) as e:
        raise BadImageError(
            explain(
                f"{source}", expected="an image convertible to RGB", got=f"mode {mode} ({e})", fix="Convert it to 8-bit RGB PNG."
            )
        ) from None


def _wide_colour_samples(data: bytes, pil: PILImage.Image, source: str) -> np.ndarray:
    """A 16-bit colour PNG/TIFF's samples at full depth: (H, W, 3|4) uint16, RGB order, EXIF orientation applied."""
    import cv2  # opencv-python-headless: pyiqa's own dependency; only 16-bit colour files need it

    a = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if a is None or a.ndim != 3 or a.dtype != np.uint16 or a.shape[2] not in (3, 4):
        raise BadImageError(
            explain(
                f"{source}",
                expected="a 16-bit colour image OpenCV can read at full depth",
                got="no readable samples" if a is None else f"{a.dtype} samples of shape {a.shape}",
                fix="Re-save it as an 8-bit or 16-bit PNG.",
            )
        )
    a = a[:, :, [2, 1, 0, 3][: a.shape[2]]]  # OpenCV's BGR(A) -> RGB(A)
    try:
        orientation = int(pil.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block must not make a valid image unusable
        orientation = 1
    return np.ascontiguousarray(_ORIENT.get(orientation, lambda x: x)(a))
