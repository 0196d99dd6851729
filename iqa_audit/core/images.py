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

Colour: every Image is sRGB (`COLOUR_SOURCES`, in this order, first match wins). Files and
PIL images carrying a colour description are converted to sRGB by littlecms (Pillow's
ImageCms), after the levels above and before alpha is composited (so over sRGB white):
- an embedded ICC profile (PNG iCCP, JPEG APP2, WebP ICCP, TIFF tag 34675), RGB, grey,
  CMYK or Lab, with the rendering intent its header names (perceptual when littlecms
  cannot use that one). Grey samples under an RGB profile are that space's neutrals
  (R = G = B). A profile whose conversion moves no 8-bit colour by more than one level is
  sRGB already: pixels unchanged. 16-bit data is converted after the 1/257 rule (ImageCms
  works on 8-bit RGB), so within about one level of a 16-bit conversion.
- PNG sRGB chunk: sRGB, unchanged.
- PNG gAMA and/or cHRM without iCCP or sRGB: the profile they describe (`icc.rgb_profile`;
  grey images use gAMA alone). gAMA 1/2.2 with sRGB or no primaries is the PNG
  specification's stand-in for sRGB: unchanged.
- nothing: sRGB assumed (CMYK without a profile: Pillow's naive inversion, as browsers do).
`Image.colour` says what was converted (None: the pixels were sRGB already); imported
steps and user seeds record it. A profile littlecms cannot read, one that does not fit the
pixels (a grey profile on RGB pixels, an XYZ or device-link profile) or one that cannot be
decompressed is refused with the fix, never ignored.

Frames: a file holding several pictures (animated GIF, APNG or WebP, a multi-page TIFF, an
MPO) is refused with the count and the fix (extract the frame into its own file): Pillow
would silently take the first, which may be a title card. The store keeps a file's exact
bytes and decodes them again wherever they are used, so a frame cannot be picked on the
way in. Frames that are previews of the first (MPO large thumbnails, TIFF reduced-resolution
pages) are not pictures of their own and are ignored.

Refused with a `BadImageError` naming the file: missing, empty, not an image, truncated,
larger than `MAX_PIXELS` (decompression bomb), a header declaring zero width or height,
PNG metadata decompressing past `MAX_PNG_CHUNK_BYTES`, several frames, an unusable colour
profile, or an ambiguous range above.
"""

from __future__ import annotations

import functools
import hashlib
import io
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image as PILImage
from PIL import ImageCms, ImageOps, PngImagePlugin, UnidentifiedImageError

from iqa_audit.core import icc
from iqa_audit.core.errors import BadImageError, explain

# 8K x 8K: the study's largest output (4K: 5632x3072) fits with room; anything above is
# far more likely a decompression bomb than a real editor output.
MAX_PIXELS = 8192 * 8192

# PNG level 1: ~5x faster than the default 6 on 2K images for ~15 % more bytes; chain
# building writes every step, so speed wins.
PNG_COMPRESS_LEVEL = 1

# Decompressed size allowed for one PNG metadata chunk (iCCP profile, zTXt/iTXt text).
# Pillow's 1 MiB default refuses valid files: LUT-based ICC profiles and the workflow JSON
# that image generators (ComfyUI) embed run to several MiB. 16 MiB keeps the protection
# against a zlib bomb in a text chunk (at most 16 MiB per chunk, and Pillow's total text
# cap, 64 MiB, stays) while reading every such file seen in practice. Pillow reads these
# limits from its module at decode time, so they are raised once here, never lowered.
MAX_PNG_CHUNK_BYTES = 16 * 1024 * 1024
PngImagePlugin.MAX_TEXT_CHUNK = max(PngImagePlugin.MAX_TEXT_CHUNK, MAX_PNG_CHUNK_BYTES)
PngImagePlugin.MAX_TEXT_MEMORY = max(PngImagePlugin.MAX_TEXT_MEMORY, 4 * MAX_PNG_CHUNK_BYTES)


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
        uint8, uint16, other integers or floats, by the module's conversion table
        (`CONVERSIONS`): the same samples a file holds give the same pixels as the file.

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


def decode_image(data: bytes, *, source: str = "<bytes>") -> Image:
    """Decode bytes into an sRGB Image, keeping the bytes; errors name `source`."""
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
            raise _unreadable(data, source, None) from None
        except PILImage.DecompressionBombError as e:
            raise _bomb_error(source, str(e)) from None
        except (OSError, SyntaxError, ValueError) as e:  # a valid header followed by garbage
            raise _unreadable(data, source, e) from None
        w, h = pil.size
        rawmode = _rawmode(pil)  # how the file stores its samples; gone once the image is loaded
        if w == 0 or h == 0:
            raise _zero_size(source, pil.format or sniff_format(data).upper(), w, h)
        if w * h > MAX_PIXELS:
            raise _bomb_error(source, f"{w}x{h} = {w * h} pixels")
        _refuse_frames(pil, source)
        try:
            pil.load()
        except PILImage.DecompressionBombError as e:
            raise _bomb_error(source, str(e)) from None
        except (OSError, SyntaxError, ValueError) as e:
            raise _unreadable(data, source, e, loading=True) from None
    colour = colour_of(pil, source, strict=True)
    note = colour.note if colour else None
    if rawmode in _WIDE_COLOUR_RAWMODES:
        samples = _wide_colour_samples(data, pil, source)
        return Image(to_rgb8(samples, source=source, key=pil.info.get("transparency"), colour=colour), encoded=data, colour=note)
    return Image(_pil_to_rgb_array(pil, source, rawmode=rawmode, colour=colour), encoded=data, colour=note)


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


def _unreadable(data: bytes, source: str, error: Exception | None, *, loading: bool = False) -> BadImageError:
    """Why Pillow could not open or decode `data`, in the user's terms: a header declaring
    zero pixels, PNG metadata over the chunk limit, a known format's damaged header, or
    bytes no decoder knows (perhaps an HTML error page saved under an image's name)."""
    header = header_size(data)
    if header is not None and (header[1] == 0 or header[2] == 0):
        return _zero_size(source, *header)
    text = str(error or "")
    if "MAX_TEXT_CHUNK" in text or "MAX_TEXT_MEMORY" in text:
        return BadImageError(
            explain(
                f"{source}",
                expected=f"PNG metadata chunks (iCCP profile, zTXt/iTXt text) decompressing to at most "
                f"{MAX_PNG_CHUNK_BYTES // (1024 * 1024)} MiB each",
                got=f"a larger one ({error})",
                fix="The limit guards against decompression bombs. If the file is genuine, strip its metadata "
                "(exiftool -all= FILE, or re-save the pixels as a new PNG) and use that copy.",
            )
        )
    fmt = sniff_format(data)
    if error is None and fmt == "bin":
        return BadImageError(
            explain(
                f"{source}",
                expected="a PNG, JPEG, WebP, TIFF, BMP or GIF image",
                got=f"{len(data)} bytes that no image decoder recognises",  # never echo content: it may be a secret
                fix="Check the file is an image and not an HTML error page or a text file.",
            )
        )
    if error is None:
        return BadImageError(
            explain(
                f"{source}",
                expected=f"a readable {fmt.upper()} image",
                got=f"a {fmt.upper()} signature followed by a header no decoder accepts ({len(data)} bytes)",
                fix="The file is damaged or cut short: re-download or re-export it.",
            )
        )
    if loading:
        return BadImageError(
            explain(
                f"{source}",
                expected="a complete image file",
                got=f"a file that fails to decode ({error})",
                fix="The file is probably truncated: re-download or re-export it.",
            )
        )
    return BadImageError(
        explain(
            f"{source}",
            expected="a readable image file",
            got=f"a header that fails to parse ({error})",
            fix="The file is probably truncated or corrupt: re-download or re-export it.",
        )
    )


def _zero_size(source: str, fmt: str, w: int, h: int) -> BadImageError:
    side = " and ".join(n for n, v in (("width", w), ("height", h)) if v == 0)
    return BadImageError(
        explain(
            f"{source}",
            expected="an image of at least 1x1 pixel",
            got=f"a {fmt} header declaring {w}x{h} pixels (zero {side}): an image with no pixels",
            fix="Whatever wrote it saved an empty picture; re-export or re-download the image.",
        )
    )


def header_size(data: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) from the header alone, for PNG, GIF, BMP, JPEG, WebP and TIFF;
    None when the header is not one of those or is cut short. Used to say what is wrong
    with a file Pillow refuses (a zero width is not "an unrecognised file")."""
    try:
        return _header_size(data)
    except (struct.error, IndexError, ValueError):
        return None


def _header_size(data: bytes) -> tuple[str, int, int] | None:
    fmt = sniff_format(data)
    if fmt == "png" and data[12:16] == b"IHDR":
        w, h = struct.unpack(">II", data[16:24])
        return "PNG", w, h
    if fmt == "gif":
        w, h = struct.unpack("<HH", data[6:10])
        return "GIF", w, h
    if fmt == "bmp":
        if struct.unpack("<I", data[14:18])[0] == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
            w, h = struct.unpack("<HH", data[18:22])
        else:
            w, h = struct.unpack("<ii", data[18:26])
        return "BMP", abs(w), abs(h)  # a negative height means rows stored top-down
    if fmt == "jpeg":
        i = 2
        while i + 9 <= len(data):
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            if marker == 0xFF:  # fill byte
                i += 1
                continue
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start-of-frame
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                return "JPEG", w, h
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
                i += 2
                continue
            i += 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]
        return None
    if fmt == "webp":
        kind = data[12:16]
        if kind == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
            w, h = struct.unpack("<HH", data[26:30])
            return "WebP", w & 0x3FFF, h & 0x3FFF
        if kind == b"VP8L" and data[20] == 0x2F:  # sizes stored minus one: never zero
            bits = int.from_bytes(data[21:25], "little")
            return "WebP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if kind == b"VP8X":
            return "WebP", int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
        return None
    if fmt == "tiff":
        order = "<" if data[:2] == b"II" else ">"
        ifd = struct.unpack(order + "I", data[4:8])[0]
        count = struct.unpack(order + "H", data[ifd : ifd + 2])[0]
        size: dict[int, int] = {}
        for k in range(count):
            e = ifd + 2 + 12 * k
            tag, kind = struct.unpack(order + "HH", data[e : e + 4])
            if tag in (256, 257):  # ImageWidth, ImageLength: SHORT or LONG
                size[tag] = struct.unpack(order + ("H" if kind == 3 else "I"), data[e + 8 : e + (10 if kind == 3 else 12)])[0]
        if len(size) == 2:
            return "TIFF", size[256], size[257]
    return None


# ----- frames: one picture per file ------------------------------------------------------------------

_FRAME_WORDS = {"GIF": "an animated GIF", "PNG": "an animated PNG (APNG)", "WEBP": "an animated WebP"}


def _refuse_frames(pil: PILImage.Image, source: str) -> None:
    """BadImageError when the file holds more than one picture (see the module doc)."""
    n = _pictures(pil)
    if n <= 1:
        return
    fmt = pil.format or "image"
    what = {"TIFF": f"a multi-page TIFF with {n} pages", "MPO": f"an MPO (multi-picture JPEG) with {n} pictures"}.get(
        fmt, f"{_FRAME_WORDS.get(fmt, f'a multi-frame {fmt}')} with {n} frames"
    )
    raise BadImageError(
        explain(
            f"{source}",
            expected="one still picture per file",
            got=what,
            fix="Taking the first frame silently could audit the wrong picture (a title card, a cover page). "
            "Save the frame you mean as its own file and use that, e.g. "
            "python -c \"from PIL import Image; im = Image.open('FILE'); im.seek(N); im.save('frame-N.png')\" "
            f"with N from 0 to {n - 1}.",
        )
    )


def _pictures(pil: PILImage.Image) -> int:
    """How many pictures of their own the file holds: frames, less previews of the first."""
    n = int(getattr(pil, "n_frames", 1) or 1)
    if n <= 1:
        return 1
    if pil.format == "MPO":  # a camera JPEG often carries a 'Large Thumbnail' of itself
        entries = (getattr(pil, "mpinfo", None) or {}).get(0xB002) or []
        previews = sum(1 for e in entries if str(e.get("Attribute", {}).get("MPType", "")).startswith("Large Thumbnail"))
        return max(1, n - previews)
    if pil.format == "TIFF":  # NewSubfileType bit 0: a reduced-resolution copy of another page
        own = 0
        for k in range(n):
            pil.seek(k)
            own += not (int(pil.tag_v2.get(254, 0)) & 1)
        pil.seek(0)
        return max(1, own)
    return n


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


def to_rgb8(
    samples: np.ndarray, *, source: str, key: int | float | tuple | None = None, colour: "ColourConversion | None" = None
) -> np.ndarray:
    """(H, W, 3) uint8 sRGB from an image's own samples, by `CONVERSIONS`.

    `samples`: (H, W) or (H, W, 1) grey, (H, W, 2) grey + alpha, (H, W, 3) RGB or
    (H, W, 4) RGBA, of a dtype the table knows. `key`: a tRNS colour key (one value for
    grey, three for RGB) in the samples' own units; pixels equal to it become
    transparent. `colour`: the conversion to sRGB `colour_of` found for the file (None:
    the samples are sRGB), applied to the 8-bit levels. Alpha is composited over white
    last. Raises BadImageError naming `source` for another shape or dtype or an ambiguous
    range.
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
    keyable = a if a.ndim == 2 or a.shape[2] == 3 else a[:, :, :-1]
    keyed = None if key is None else _matches_key(keyable, key)
    levels = _BY_KIND[kind].convert(a, source)
    if levels.ndim == 2:
        levels = levels[:, :, None]
    colours = levels[:, :, :1] if levels.shape[2] in (1, 2) else levels[:, :, :3]
    if colour is not None:
        rgb = colour.to_srgb(colours)
    else:
        rgb = np.repeat(colours, 3, axis=2) if colours.shape[2] == 1 else colours
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


def _pil_to_rgb_array(
    pil: PILImage.Image, source: str, *, rawmode: str | None = None, colour: ColourConversion | None = None
) -> np.ndarray:
    try:
        pil = ImageOps.exif_transpose(pil)
    except Exception:  # a broken EXIF block must not make a valid image unusable
        pass
    if colour is not None and colour.space in ("CMYK", "LAB"):
        # littlecms reads these samples itself: no level table applies to them.
        return colour.convert_pil(pil)
    samples, key = _pil_samples(pil, source, rawmode)
    return to_rgb8(samples, source=source, key=key, colour=colour)


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
    if pil.mode == "LA":  # OpenCV widens grey + alpha to four channels; a grey profile needs the grey
        a = a[:, :, [0, 3]]
    try:
        orientation = int(pil.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block must not make a valid image unusable
        orientation = 1
    return np.ascontiguousarray(_ORIENT.get(orientation, lambda x: x)(a))


# ----- colour: every Image is sRGB -------------------------------------------------------------------

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_INTENTS = {0: "perceptual", 1: "relative colorimetric", 2: "saturation", 3: "absolute colorimetric"}
# The pixel model each PIL mode's samples are in, for matching a profile to them.
_GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
# ImageCms modes for a profile's colour space (input side); output is always 8-bit RGB.
_CMS_MODES = {"RGB": "RGB", "GRAY": "L", "CMYK": "CMYK", "LAB": "LAB"}
# A PNG's gAMA/cHRM that are the PNG specification's stand-in for sRGB (what encoders that
# write an sRGB chunk also write for older decoders): (x, y) of white, red, green, blue.
_SRGB_GAMMA = 1 / 2.2
_SRGB_CHROMATICITY = (icc.D65_XY[0], icc.D65_XY[1], *(c for xy in icc.SRGB_PRIMARIES for c in xy))


@dataclass(frozen=True, eq=False)
class ColourConversion:
    """How a picture's samples become sRGB: a littlecms transform from `space` ('RGB',
    'GRAY', 'CMYK' or 'LAB' samples) to 8-bit sRGB, and the `note` Image.colour records."""

    space: str
    transform: ImageCms.ImageCmsTransform = field(repr=False)
    note: str

    def to_srgb(self, levels: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 sRGB from (H, W, 1) grey or (H, W, 3) RGB 8-bit levels. Grey
        samples under an RGB profile are that space's neutrals (R = G = B): `convert_pil`
        widens them to RGB before the transform."""
        mode = "L" if levels.shape[2] == 1 else "RGB"
        return self.convert_pil(PILImage.fromarray(np.ascontiguousarray(levels[:, :, 0] if mode == "L" else levels), mode))

    def convert_pil(self, pil: PILImage.Image) -> np.ndarray:
        out = self.transform.apply(pil if pil.mode == _CMS_MODES[self.space] else pil.convert(_CMS_MODES[self.space]))
        return np.ascontiguousarray(np.asarray(out, dtype=np.uint8))


@dataclass(frozen=True)
class ColourSource:
    """One row of the colour table: where a file says what its samples mean, and the rule.

    `find(pil, source, strict)` returns `NOT_HERE` when the file has no such description,
    else the ColourConversion to apply (None: the samples are sRGB already)."""

    kind: str
    inputs: str
    rule: str
    find: Callable[[PILImage.Image, str, bool], "ColourConversion | None | object"]


NOT_HERE = object()


def colour_of(pil: PILImage.Image, source: str, *, strict: bool) -> ColourConversion | None:
    """The conversion to sRGB that the first matching `COLOUR_SOURCES` row gives (None: sRGB).

    `strict`: a decoded file, where an ICC profile Pillow found but could not assemble
    (a JPEG missing one of its APP2 parts, a PNG iCCP that does not decompress) is an
    error; a PIL image built in memory may carry `icc_profile=None` to mean none."""
    for row in COLOUR_SOURCES:
        found = row.find(pil, source, strict)
        if found is not NOT_HERE:
            return found  # type: ignore[return-value]
    return None


def _pixel_space(mode: str) -> str:
    if mode in _GREY_MODES:
        return "GRAY"
    return mode if mode in ("CMYK", "LAB") else "RGB"


def _from_icc(pil: PILImage.Image, source: str, strict: bool) -> ColourConversion | None | object:
    if "icc_profile" not in pil.info:
        return NOT_HERE
    data = pil.info["icc_profile"]
    if not data:
        if not strict:
            return NOT_HERE
        raise BadImageError(
            explain(
                f"{source}",
                expected="an embedded ICC colour profile that can be read",
                got="one that is incomplete or does not decompress (Pillow could not assemble it)",
                fix=_PROFILE_FIX,
            )
        )
    found = _icc_conversion(bytes(data), _pixel_space(pil.mode), "embedded ICC profile")
    if isinstance(found, tuple):
        expected, got, fix = found
        raise BadImageError(explain(f"{source}", expected=expected, got=got, fix=fix))
    return found


_PROFILE_FIX = (
    "Without a usable profile the colours are unknown. Re-export the image with its profile (or converted to "
    "sRGB); if you know its pixels are sRGB, strip the profile losslessly with `exiftool -icc_profile= FILE`."
)


@functools.lru_cache(maxsize=64)
def _icc_conversion(profile: bytes, pixels: str, origin: str) -> ColourConversion | None | tuple[str, str, str]:
    """The conversion of `pixels` ('RGB', 'GRAY', 'CMYK', 'LAB' samples) by an ICC profile:
    None when it is sRGB already, or (expected, got, fix) for the error. Cached: a folder
    of photographs shares a handful of profiles."""
    try:
        prof = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    except (OSError, ImageCms.PyCMSError) as e:
        return "an embedded ICC colour profile littlecms can read", f"{len(profile)} bytes it cannot parse ({e})", _PROFILE_FIX
    info = prof.profile
    space = (info.xcolor_space or "").strip().upper()
    name = _clean(info.profile_description or info.model or "") or "unnamed"
    usable = (space == pixels) or (space == "RGB" and pixels == "GRAY")
    if not usable or info.device_class in ("link", "nmcl"):  # an abstract Lab profile fits Lab samples
        kind = {"link": "device-link ", "abst": "abstract ", "nmcl": "named-colour "}.get(info.device_class, "")
        return (
            f"an ICC profile for {pixels} samples, as the pixels are",
            f"the {kind}profile {name!r} for {space or 'unknown'} data",
            "A profile that does not describe the pixels leaves their colours unknown. Re-export the image with a "
            "profile of its own colour model (or as sRGB); if its pixels are sRGB, strip the profile losslessly with "
            "`exiftool -icc_profile= FILE`.",
        )
    in_space = "RGB" if space == "RGB" else pixels
    intent = info.rendering_intent if info.rendering_intent in _INTENTS else 0
    if ImageCms.isIntentSupported(prof, intent, ImageCms.Direction.INPUT) != 1:
        intent = 0  # perceptual: what littlecms falls back to for every profile
    try:
        # NOCACHE: imports decode on several threads, and littlecms's one-pixel cache is per transform.
        transform = ImageCms.buildTransform(
            prof, _SRGB, _CMS_MODES[in_space], "RGB", ImageCms.Intent(intent), flags=ImageCms.Flags.NOCACHE
        )
    except ImageCms.PyCMSError as e:
        return (
            "an ICC profile littlecms can convert to sRGB",
            f"the profile {name!r} ({space}, class {info.device_class}), which it cannot ({e})",
            _PROFILE_FIX,
        )
    conversion = ColourConversion(in_space, transform, f"{name} ({origin}, {space}) -> sRGB, {_INTENTS[intent]}")
    return None if _is_srgb(conversion) else conversion


def _is_srgb(conversion: ColourConversion) -> bool:
    """True when the conversion moves no probed colour by more than one 8-bit level: the
    profile is sRGB (or near enough that converting would only add rounding). Probed: every
    grey level and a 52-level cube (every 5th level)."""
    if conversion.space not in ("RGB", "GRAY"):
        return False
    ramp = np.arange(256, dtype=np.uint8)
    if conversion.space == "GRAY":
        probe = ramp[None, :, None]
        want = np.repeat(probe, 3, axis=2)
    else:
        g = np.arange(0, 256, 5, dtype=np.uint8)
        cube = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(1, -1, 3)
        probe = want = np.concatenate([cube, np.repeat(ramp[None, :, None], 3, axis=2)], axis=1)
    got = conversion.to_srgb(probe)
    return int(np.abs(got.astype(np.int16) - want.astype(np.int16)).max()) <= 1


def _from_srgb_chunk(pil: PILImage.Image, source: str, strict: bool) -> None | object:
    return None if "srgb" in pil.info else NOT_HERE


def _from_png_gamma(pil: PILImage.Image, source: str, strict: bool) -> ColourConversion | None | object:
    gamma, chrm = pil.info.get("gamma"), pil.info.get("chromaticity")
    if gamma is None and chrm is None:
        return NOT_HERE
    grey = _pixel_space(pil.mode) == "GRAY"
    if gamma is not None and not 0.0 < float(gamma) <= 100.0:
        raise BadImageError(
            explain(
                f"{source}",
                expected="a PNG gAMA chunk with a positive gamma",
                got=f"gamma {gamma}",
                fix="The chunk is invalid: remove it (or write the right gamma) and re-save the file.",
            )
        )
    srgb_gamma = gamma is None or abs(float(gamma) / _SRGB_GAMMA - 1.0) <= 0.02
    srgb_primaries = grey or chrm is None or all(abs(float(a) - b) <= 0.01 for a, b in zip(chrm, _SRGB_CHROMATICITY))
    if srgb_gamma and srgb_primaries:
        return None
    trc = icc.SRGB_TRC if gamma is None else 1.0 / float(gamma)
    what = " and ".join(
        ([f"gAMA {float(gamma):.5f}"] if gamma is not None else []) + (["cHRM"] if chrm is not None and not grey else [])
    )
    if grey:
        profile = icc.grey_profile(f"PNG {what}", trc)
    else:
        white, primaries = icc.D65_XY, icc.SRGB_PRIMARIES  # gAMA alone: sRGB's primaries
        if chrm is not None:
            white, primaries = (chrm[0], chrm[1]), ((chrm[2], chrm[3]), (chrm[4], chrm[5]), (chrm[6], chrm[7]))
        try:
            profile = icc.rgb_profile(f"PNG {what}", primaries, white, trc)
        except (ValueError, ZeroDivisionError, np.linalg.LinAlgError) as e:
            raise BadImageError(
                explain(
                    f"{source}",
                    expected="a PNG cHRM chunk giving three primaries and a white point",
                    got=f"chromaticities {tuple(chrm)}, which describe no colour space ({e})",
                    fix="The chunk is invalid: remove it (or write the right values) and re-save the file.",
                )
            ) from None
    found = _icc_conversion(profile, _pixel_space(pil.mode), "PNG chunks")
    if isinstance(found, tuple):
        expected, got, fix = found
        raise BadImageError(explain(f"{source}", expected=expected, got=got, fix=fix))
    return found


def _untagged(pil: PILImage.Image, source: str, strict: bool) -> None:
    return None


def _clean(text: str) -> str:
    """A profile's own name, safe to print: printable characters, one line, at most 60."""
    return " ".join("".join(c if c.isprintable() else " " for c in str(text)).split())[:60]


# Where a picture says what its samples mean -> how they become sRGB; first match wins.
COLOUR_SOURCES: tuple[ColourSource, ...] = (
    ColourSource(
        "icc",
        "an embedded ICC profile: PNG iCCP, JPEG APP2, WebP ICCP, TIFF tag 34675",
        "littlecms to sRGB with the profile's intent; an sRGB profile leaves the pixels; unreadable or unfitting: refused",
        _from_icc,
    ),
    ColourSource("srgb-chunk", "a PNG sRGB chunk", "sRGB: unchanged", _from_srgb_chunk),
    ColourSource(
        "png-gamma",
        "a PNG gAMA and/or cHRM chunk",
        "the profile they describe, to sRGB; gAMA 1/2.2 with sRGB or no primaries: unchanged",
        _from_png_gamma,
    ),
    ColourSource("none", "no colour description", "sRGB assumed: unchanged", _untagged),
)
