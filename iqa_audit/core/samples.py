"""Image samples of any type -> 8-bit sRGB pixels, by one conversion table: `CONVERSIONS`.

Files (`decode.py`), PIL images (`Image.from_pil`) and arrays (`Image.from_array`) all
reach `to_rgb8` with their own samples, so the same data gives the same pixels whichever
way it came.

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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps

from iqa_audit.core.colour import ColourConversion
from iqa_audit.core.errors import BadImageError, explain

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
