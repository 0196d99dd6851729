"""Bytes and files -> Image: decoding, with every refusal naming the file and the fix.

Pillow decodes the file (16-bit colour files: OpenCV, at full depth), the conversion table
(`samples.py`) turns its samples into 8-bit levels, and `colour.py` converts them to sRGB.

Frames: a file holding several pictures (animated GIF, APNG or WebP, a multi-page TIFF, an
MPO) is refused with the count and the fix (extract the frame into its own file): Pillow
would silently take the first, which may be a title card. The store keeps a file's exact
bytes and decodes them again wherever they are used, so a frame cannot be picked on the
way in. Frames that are previews of the first (MPO large thumbnails, TIFF reduced-resolution
pages) are not pictures of their own and are ignored.

Refused with a `BadImageError` naming the file: missing, empty, not an image, truncated,
larger than `MAX_PIXELS` (decompression bomb), a header declaring zero width or height,
PNG metadata decompressing past `MAX_PNG_CHUNK_BYTES`, several frames, an unusable colour
profile, or an ambiguous range of samples (`samples.py`).
"""

from __future__ import annotations

import io
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import PngImagePlugin, UnidentifiedImageError

from iqa_audit.core.colour import colour_of
from iqa_audit.core.errors import BadImageError, explain
from iqa_audit.core.images import Image, sniff_format
from iqa_audit.core.samples import _pil_to_rgb_array, to_rgb8

# 8K x 8K: the study's largest output (4K: 5632x3072) fits with room; anything above is
# far more likely a decompression bomb than a real editor output.
MAX_PIXELS = 8192 * 8192

# Decompressed size allowed for one PNG metadata chunk (iCCP profile, zTXt/iTXt text).
# Pillow's 1 MiB default refuses valid files: LUT-based ICC profiles and the workflow JSON
# that image generators (ComfyUI) embed run to several MiB. 16 MiB keeps the protection
# against a zlib bomb in a text chunk (at most 16 MiB per chunk, and Pillow's total text
# cap, 64 MiB, stays) while reading every such file seen in practice. Pillow reads these
# limits from its module at decode time, so they are raised once here, never lowered.
MAX_PNG_CHUNK_BYTES = 16 * 1024 * 1024
PngImagePlugin.MAX_TEXT_CHUNK = max(PngImagePlugin.MAX_TEXT_CHUNK, MAX_PNG_CHUNK_BYTES)
PngImagePlugin.MAX_TEXT_MEMORY = max(PngImagePlugin.MAX_TEXT_MEMORY, 4 * MAX_PNG_CHUNK_BYTES)


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


# ----- 16-bit colour files: read at full depth ---------------------------------------------------------

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
