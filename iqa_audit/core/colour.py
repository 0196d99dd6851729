"""Colour management: every Image is sRGB, converted from what its file says its samples mean.

Colour: every Image is sRGB (`COLOUR_SOURCES`, in this order, first match wins). Files and
PIL images carrying a colour description are converted to sRGB by littlecms (Pillow's
ImageCms), after the levels of `samples.CONVERSIONS` and before alpha is composited (so
over sRGB white):
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
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import Image as PILImage
from PIL import ImageCms

from iqa_audit.core import icc
from iqa_audit.core.errors import BadImageError, explain

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
