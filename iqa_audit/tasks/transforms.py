"""The pixel edits a faithful editor makes: monochrome, colourisation, colour patches, an edge drawing."""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image as PILImage
from PIL import ImageFilter

from iqa_audit.core.images import Image


def monochrome(pixels: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma replicated to three channels (Pillow's 'L' weights).

    Integer arithmetic with rounding, so a grey pixel maps to itself and the function
    is idempotent.
    """
    p = pixels.astype(np.int32)
    luma = (299 * p[..., 0] + 587 * p[..., 1] + 114 * p[..., 2] + 500) // 1000
    return np.ascontiguousarray(np.repeat(luma.astype(np.uint8)[..., None], 3, axis=2))


# Chroma of the fixed colourisation (CIELAB C*ab at mid lightness, 0 at black and white)
# and its hues at black and at white: cool shadows, warm highlights (hand-tinting's
# convention). 30 units is clearly coloured: a just-noticeable difference is 2.3.
COLOURISE_CHROMA = 30.0
COLOURISE_HUES = (250.0, 70.0)  # degrees, at L* = 0 and L* = 100
# An input whose channels differ by at most this many levels anywhere is grey (a codec's
# rounding of a grey image stays within it).
GREY_LEVELS = 2


def colourise(pixels: np.ndarray) -> np.ndarray:
    """A grey image coloured by its lightness; a coloured image unchanged. (H, W, 3) uint8.

    Each grey level g maps to the CIELAB colour with the L* of (g, g, g), chroma
    COLOURISE_CHROMA x sin(pi L*/100) and a hue moving linearly from COLOURISE_HUES[0] at
    black to [1] at white, clipped into sRGB: deterministic, lightness kept (to rounding
    and the gamut), and visibly coloured everywhere but near black and white.
    """
    p = np.asarray(pixels)
    if int((p.max(axis=2).astype(np.int16) - p.min(axis=2)).max()) > GREY_LEVELS:
        return np.ascontiguousarray(p)  # already coloured: nothing to colourise
    return np.ascontiguousarray(_colourise_lut()[p[..., 1]])


@functools.cache
def _colourise_lut() -> np.ndarray:
    from skimage.color import lab2rgb, rgb2lab

    grey = np.repeat(np.arange(256, dtype=np.float64)[:, None], 3, axis=1) / 255.0
    lightness = rgb2lab(grey.reshape(1, 256, 3))[0, :, 0]
    hue = np.deg2rad(COLOURISE_HUES[0] + (COLOURISE_HUES[1] - COLOURISE_HUES[0]) * lightness / 100.0)
    chroma = COLOURISE_CHROMA * np.sin(np.pi * np.clip(lightness, 0, 100) / 100.0)
    lab = np.stack([lightness, chroma * np.cos(hue), chroma * np.sin(hue)], axis=1)
    rgb = lab2rgb(lab.reshape(1, 256, 3))[0]
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)


# Colour patches: a median filter of this width (fraction of the short side, at least 3 px)
# removes texture, then an adaptive palette of PATCH_COLOURS colours flattens regions.
PATCH_MEDIAN_FRACTION = 1 / 100
PATCH_COLOURS = 8
# Edges: Pillow's FIND_EDGES (a 3x3 Laplacian) on the grey image, above this many levels.
EDGE_LEVELS = 32


def colour_patches(pixels: np.ndarray) -> np.ndarray:
    """Flat colour regions: median-filtered, then quantised to PATCH_COLOURS colours
    (Pillow's median cut, no dithering: deterministic). (H, W, 3) uint8."""

    pil = Image(np.ascontiguousarray(pixels)).to_pil()
    size = max(3, 2 * int(min(pil.size) * PATCH_MEDIAN_FRACTION / 2) + 1)
    smooth = pil.filter(ImageFilter.MedianFilter(size))
    flat = smooth.quantize(colors=PATCH_COLOURS, method=PILImage.Quantize.MEDIANCUT, dither=PILImage.Dither.NONE)
    return np.asarray(flat.convert("RGB"), dtype=np.uint8)


def edge_drawing(pixels: np.ndarray) -> np.ndarray:
    """Black edges on white: where the grey image's Laplacian exceeds EDGE_LEVELS. (H, W, 3) uint8."""

    grey = Image(np.ascontiguousarray(pixels)).to_pil().convert("L")
    edges = np.asarray(grey.filter(ImageFilter.FIND_EDGES)) > EDGE_LEVELS
    return np.ascontiguousarray(np.repeat(np.where(edges, 0, 255).astype(np.uint8)[..., None], 3, axis=2))


__all__ = ["colour_patches", "colourise", "edge_drawing", "monochrome"]
