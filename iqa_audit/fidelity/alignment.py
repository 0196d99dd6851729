"""Alignment: which part of the reference an output shows, so checks compare like with like.

Editors crop and rescale (the study's 5632x3072 -> 2816x1504 on step 1); comparing such an
output pixel for pixel with its reference would measure misregistration, not fidelity.
`align_to_reference` finds the shared region and returns both images cut and resampled to
it. Cost: ~0.3-0.6 s of CPU for a 2K pair (the search runs at 128 px).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
from PIL import Image as PILImage

from iqa_audit.core.images import Image
from iqa_audit.fidelity.finding import _image
from iqa_audit.fidelity.pixels import _grey, _resize, _resize_grey, _scaled

# The output is modelled as a resized crop of the reference: the editor kept one box of
# the scene. Zoom 1 is the largest box with the output's aspect ratio (one dimension
# spans the whole reference: the study's crop); larger zooms are tighter boxes. The
# reverse (the reference is a crop of the output: outpainting) and a plain stretch
# (non-uniform resize) are candidates too; normalized cross-correlation (NCC) decides.
MAX_ZOOM = 1.2
ZOOM_STEPS = 17  # coarse zoom grid: steps of 0.0125
COARSE_LONG_SIDE = 128
PATCH_SIDE = 128  # refinement patches, in output pixels
# Where the refinement registers patches, as fractions of the output's width and height:
# the centre (what the native-resolution SSIM looks at) and four corners (zoom).
PATCH_CENTRES = ((0.5, 0.5), (1 / 6, 1 / 6), (5 / 6, 1 / 6), (1 / 6, 5 / 6), (5 / 6, 5 / 6))
# Same size: a zoomed alignment must beat pixel-for-pixel by this much NCC to be used.
IDENTITY_MARGIN = 0.02
# A crop that correlates worse than this is chance, not an alignment (unrelated images
# still have a best-correlating box); then the images are compared as they are
# (identity, or a stretch to the same size).
MIN_ALIGNMENT_NCC = 0.5


def align_to_reference(reference: Image, output: Image) -> tuple[np.ndarray, np.ndarray, Mapping[str, Any]]:
    """Two same-shape uint8 arrays showing the same scene content, and how they were found.

    The result is at the lower of the two native resolutions of the shared region (never
    upsampled beyond what either image has). Info: method ('identity'; 'crop': the output
    is a crop of the reference; 'outpaint': the reference is a crop of the output;
    'stretch': non-uniform resize), box (x0, y0, x1, y1) of the shared region in the image
    that was cropped, zoom, ncc (grey normalized cross-correlation of the alignment), size.

    Same-size images stay pixel for pixel (no resampling, so identity gives SSIM 1)
    unless a zoomed crop correlates clearly better. Cost: ~0.3-0.6 s of CPU for a 2K
    pair, nearly independent of size (the search runs at 128 px and on five 128 px
    patches); a same-size pair that correlates at >= 0.98 skips the search.
    """
    ref, out = _image(reference, "reference"), _image(output, "output")
    ref_px, out_px = np.asarray(ref.pixels), np.asarray(out.pixels)
    ref_grey, out_grey = _grey(ref_px), _grey(out_px)
    if ref_px.shape == out_px.shape:
        identity_ncc = _ncc(
            _resize_grey(ref_grey, _coarse_size(ref_px.shape)), _resize_grey(out_grey, _coarse_size(out_px.shape))
        )
        # A zoom can only win by IDENTITY_MARGIN if identity leaves that much room.
        zoomed = None
        if identity_ncc < 1.0 - IDENTITY_MARGIN:
            zoomed = _coarse_search(ref_grey, out_grey, np.linspace(1.0, MAX_ZOOM, ZOOM_STEPS)[1:])
        if zoomed is None or zoomed.ncc <= max(identity_ncc + IDENTITY_MARGIN, MIN_ALIGNMENT_NCC):
            box = (0.0, 0.0, float(ref.width), float(ref.height))
            return (ref_px, out_px, _info("identity", box, 1.0, identity_ncc, ref_px.shape))
        return _crop_pair(ref_px, out_px, _refine(ref_grey, out_grey, zoomed), "crop")

    candidates = [("crop", _coarse_search(ref_grey, out_grey))]
    if candidates[0][1] is None or candidates[0][1].ncc < 0.9:  # outpainting is rare: look only when a crop fits badly
        candidates.append(("outpaint", _coarse_search(out_grey, ref_grey)))
    method, coarse = max(candidates, key=lambda item: -2.0 if item[1] is None else item[1].ncc)
    stretch_ncc = _ncc(_resize_grey(ref_grey, _coarse_size(out_px.shape)), _resize_grey(out_grey, _coarse_size(out_px.shape)))
    if coarse is None or coarse.ncc < MIN_ALIGNMENT_NCC:
        return _stretch_pair(ref_px, out_px, stretch_ncc)
    big, small = (ref_grey, out_grey) if method == "crop" else (out_grey, ref_grey)
    placement = _refine(big, small, coarse)
    # The coarse search moves the box in whole coarse pixels (3 px of a 384 px image),
    # and on a fine periodic texture (a brick wall with windows) a third of a period
    # off costs it more NCC than a 2 % stretch does, while the stretch is resampled
    # exactly. So the stretch is judged against the refined box, resampled the same way.
    if stretch_ncc > coarse.ncc + 0.01 and stretch_ncc > _box_ncc(big, small, placement) + 0.01:
        return _stretch_pair(ref_px, out_px, stretch_ncc)
    if method == "crop":
        return _crop_pair(ref_px, out_px, placement, "crop")
    out_aligned, ref_aligned, info = _crop_pair(out_px, ref_px, placement, "outpaint")
    return ref_aligned, out_aligned, info


def _box_ncc(big: np.ndarray, small: np.ndarray, where: _Placement) -> float:
    """NCC of `small` with the box `where` of `big`, both at small's coarse size (as the stretch is judged)."""
    size = _coarse_size(small.shape)
    hb, wb = big.shape
    box = (
        max(0.0, where.x0),
        max(0.0, where.y0),
        min(float(wb), where.x0 + where.width),
        min(float(hb), where.y0 + where.height),
    )
    if box[2] - box[0] < 1 or box[3] - box[1] < 1:
        return -1.0
    region = np.asarray(PILImage.fromarray(big).resize(size, PILImage.Resampling.BOX, box=box))
    return _ncc(region, _resize_grey(small, size))


@dataclass(frozen=True)
class _Placement:
    """Where `small` sits in `big`: a box in big's pixels (floats), and how well it fits."""

    x0: float
    y0: float
    width: float
    height: float
    zoom: float
    ncc: float


def _box_size(big_shape, small_shape, zoom: float) -> tuple[float, float]:
    """(width, height) in big px of the box that `small` shows at `zoom`."""
    hb, wb = big_shape[:2]
    hs, ws = small_shape[:2]
    base = max(ws / wb, hs / hb)  # small px per big px when one dimension spans fully
    return ws / (base * zoom), hs / (base * zoom)


def _search(big: np.ndarray, small: np.ndarray, level_big: np.ndarray, scale: float, zooms) -> _Placement | None:
    """Best NCC over `zooms` and all translations of `small` inside `level_big` (= big x scale)."""
    from skimage.feature import match_template

    best: _Placement | None = None
    for zoom in zooms:
        if zoom < 1.0 - 1e-9:
            continue  # the box would not fit in big
        bw, bh = _box_size(big.shape, small.shape, zoom)
        tw, th = round(bw * scale), round(bh * scale)
        if th > level_big.shape[0] or tw > level_big.shape[1] or tw < 4 or th < 4:
            continue
        template = _resize_grey(small, (tw, th))
        if template.std() < 1e-6:
            continue
        scores = match_template(level_big, template)
        iy, ix = np.unravel_index(int(np.argmax(scores)), scores.shape)
        score = float(scores[iy, ix])
        if best is None or score > best.ncc:
            best = _Placement(ix / scale, iy / scale, bw, bh, float(zoom), score)
    return best


def _coarse_search(big: np.ndarray, small: np.ndarray, zooms=None) -> _Placement | None:
    """Every zoom in [1, MAX_ZOOM], every translation, with big reduced to 128 px.

    None when `small` cannot be a crop of `big` in that zoom range, or either is flat.
    """
    if big.std() < 1e-6 or small.std() < 1e-6:
        return None
    zooms = np.linspace(1.0, MAX_ZOOM, ZOOM_STEPS) if zooms is None else zooms
    scale = min(1.0, COARSE_LONG_SIDE / max(big.shape))
    return _search(big, small, _resize_grey(big, _scaled(big.shape, scale)), scale, zooms)


def _refine(big: np.ndarray, small: np.ndarray, coarse: _Placement) -> _Placement:
    """Sub-pixel box from 5 patches of `small` registered at small's native scale.

    The coarse box is off by up to a coarse pixel (16 px of a 2K image) and its zoom by
    half a grid step; a native-resolution SSIM needs better than a pixel. Each patch
    (centre and four corners) is matched in the region of `big` where the current box
    puts it, resampled to small's scale; a parabola through the NCC peak gives the
    fractional offset. Then, per axis, big = origin + small / scale is fitted through
    the patch positions, correcting translation and zoom at once (and a slight stretch).
    Two rounds, the second with a 4 px search margin. Patches on flat areas (no texture
    to match) are ignored; with none left, the coarse box stands.

    Limitation: on a strictly periodic texture (a regular grid seed) with a period under
    ~2 coarse pixels, every patch may agree on the neighbouring period; the NCC in the
    alignment info is then still high and the SSIM low.
    """
    hs, ws = small.shape
    x0, y0 = coarse.x0, coarse.y0
    sx, sy = ws / coarse.width, hs / coarse.height  # small px per big px
    coarse_scale = min(1.0, COARSE_LONG_SIDE / max(big.shape))
    first_margin = math.ceil(2.0 * max(sx, sy) / coarse_scale + 0.01 * max(hs, ws)) + 4
    patch = max(16, min(PATCH_SIDE, hs // 3, ws // 3))
    ncc = coarse.ncc
    for margin in (first_margin, 4):
        pairs = []  # (small x, small y, big x, big y, ncc)
        for fx, fy in PATCH_CENTRES:
            py = min(max(round(fy * hs - patch / 2), 0), hs - patch)
            px = min(max(round(fx * ws - patch / 2), 0), ws - patch)
            found = _match_patch(big, small[py : py + patch, px : px + patch], x0 + px / sx, y0 + py / sy, sx, sy, margin)
            if found is not None:
                pairs.append((px, py, found[0], found[1], found[2]))
        good = [p for p in pairs if p[4] >= max(0.5, max(q[4] for q in pairs) - 0.2)] if pairs else []
        if not good:
            break
        x0, sx = _fit_axis([p[0] for p in good], [p[2] for p in good], x0, sx)
        y0, sy = _fit_axis([p[1] for p in good], [p[3] for p in good], y0, sy)
        ncc = float(np.median([p[4] for p in good]))
    return _Placement(x0, y0, ws / sx, hs / sy, coarse.zoom * (coarse.width / (ws / sx)), ncc)


def _match_patch(big, patch, bx, by, sx, sy, margin):
    """Where `patch` (predicted at big (bx, by)) really is: (big x, big y, ncc) or None."""
    from skimage.feature import match_template

    if patch.std() < 2.0:  # flat: any position matches; 2 grey levels of texture at least
        return None
    size = patch.shape[1] + 2 * margin, patch.shape[0] + 2 * margin
    left, top = bx - margin / sx, by - margin / sy
    right, bottom = left + size[0] / sx, top + size[1] / sy
    # Cut the window out of big (2 px spare for the filter). Pillow refuses boxes outside
    # the image, so a window hanging over the border is padded with edge pixels: the true
    # position is inside the image, its surroundings need not be.
    x_lo, y_lo = math.floor(left) - 2, math.floor(top) - 2
    x_hi, y_hi = math.ceil(right) + 2, math.ceil(bottom) + 2
    hb, wb = big.shape
    if x_lo >= wb or y_lo >= hb or x_hi <= 0 or y_hi <= 0:
        return None  # the prediction is off the image
    window = big[max(0, y_lo) : min(hb, y_hi), max(0, x_lo) : min(wb, x_hi)]
    padded = np.pad(window, ((max(0, -y_lo), max(0, y_hi - hb)), (max(0, -x_lo), max(0, x_hi - wb))), mode="edge")
    box = (left - x_lo, top - y_lo, right - x_lo, bottom - y_lo)
    region = np.asarray(PILImage.fromarray(padded).resize(size, PILImage.Resampling.BILINEAR, box=box))
    scores = match_template(region, patch)
    iy, ix = np.unravel_index(int(np.argmax(scores)), scores.shape)
    dx = ix + _parabolic_offset(scores[iy, :], ix)
    dy = iy + _parabolic_offset(scores[:, ix], iy)
    return left + dx / sx, top + dy / sy, float(scores[iy, ix])


def _fit_axis(small_pos, big_pos, origin: float, scale: float) -> tuple[float, float]:
    """Fit big = origin + small / scale robustly; (origin, scale).

    A patch on a periodic texture (stripes, a grid, wood grain) can lock onto the
    neighbouring period with an NCC nearly as high as the right one, so the line is
    chosen by consensus: the line through the pair of patches that most others agree
    with (within 1 px of small's scale), then a least-squares fit on those. A line whose
    scale differs from the coarse one by more than 3 % is implausible (refinement
    corrects half a zoom step, 0.6 %), and only the translation is updated.
    """
    small_pos, big_pos = np.asarray(small_pos, float), np.asarray(big_pos, float)
    tolerance = 1.0 / scale  # one small pixel, in big pixels
    best_inliers = np.abs(big_pos - small_pos / scale - np.median(big_pos - small_pos / scale)) <= tolerance
    for i in range(len(small_pos)):
        for j in range(i + 1, len(small_pos)):
            if small_pos[i] == small_pos[j]:
                continue
            slope = (big_pos[j] - big_pos[i]) / (small_pos[j] - small_pos[i])
            if not (slope > 0 and abs(1.0 / slope / scale - 1.0) < 0.03):
                continue
            inliers = np.abs(big_pos[i] + (small_pos - small_pos[i]) * slope - big_pos) <= tolerance
            if inliers.sum() > best_inliers.sum():
                best_inliers = inliers
    if not best_inliers.any():
        return origin, scale
    xs, ys = small_pos[best_inliers], big_pos[best_inliers]
    if len(set(xs.tolist())) >= 2:
        slope, intercept = np.polyfit(xs, ys, 1)
        if slope > 0 and abs(1.0 / slope / scale - 1.0) < 0.03:
            return float(intercept), float(1.0 / slope)
    return float(np.median(ys - xs / scale)), scale


def _parabolic_offset(profile: np.ndarray, i: int) -> float:
    if i <= 0 or i >= len(profile) - 1:
        return 0.0
    left, centre, right = (float(profile[i - 1]), float(profile[i]), float(profile[i + 1]))
    curvature = left - 2 * centre + right
    if curvature >= 0:
        return 0.0
    offset = 0.5 * (left - right) / curvature
    return float(np.clip(offset, -0.5, 0.5))


def _crop_pair(big_px: np.ndarray, small_px: np.ndarray, where: _Placement, method: str):
    """Cut `where` out of big and bring both to the lower resolution of the two."""
    hb, wb = big_px.shape[:2]
    width, height = min(where.width, wb), min(where.height, hb)
    x0, y0 = (float(np.clip(where.x0, 0.0, wb - width)), float(np.clip(where.y0, 0.0, hb - height)))
    box = (x0, y0, x0 + width, y0 + height)
    # Snap to whole pixels when within 0.1 px: a plain crop then copies pixels exactly.
    box = tuple(round(v) if abs(v - round(v)) < 0.1 else v for v in box)
    hs, ws = small_px.shape[:2]
    if width * height >= ws * hs:
        big_aligned, small_aligned = _resize(big_px, (ws, hs), box=box), small_px
    else:
        size = (max(1, round(width)), max(1, round(height)))
        big_aligned, small_aligned = (_resize(big_px, size, box=box), _resize(small_px, size))
    return (big_aligned, small_aligned, _info(method, box, where.zoom, where.ncc, big_aligned.shape))


def _stretch_pair(ref_px: np.ndarray, out_px: np.ndarray, ncc: float):
    if ref_px.shape[0] * ref_px.shape[1] >= out_px.shape[0] * out_px.shape[1]:
        ref_aligned, out_aligned = (_resize(ref_px, (out_px.shape[1], out_px.shape[0])), out_px)
    else:
        ref_aligned, out_aligned = (ref_px, _resize(out_px, (ref_px.shape[1], ref_px.shape[0])))
    box = (0.0, 0.0, float(ref_px.shape[1]), float(ref_px.shape[0]))
    return ref_aligned, out_aligned, _info("stretch", box, 1.0, ncc, ref_aligned.shape)


def _info(method: str, box, zoom: float, ncc: float, shape) -> Mapping[str, Any]:
    return MappingProxyType(
        {
            "method": method,
            "box": tuple(float(v) for v in box),
            "zoom": float(zoom),
            "ncc": float(ncc),
            "size": (int(shape[1]), int(shape[0])),
        }
    )


def _aligned_or_same(ref: Image, out: Image) -> tuple[np.ndarray, np.ndarray, Mapping[str, Any]]:
    """The checks' entry to alignment (same-size images stay pixel for pixel unless zoomed)."""
    return align_to_reference(ref, out)


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denominator = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0


def _coarse_size(shape: tuple[int, ...]) -> tuple[int, int]:
    return _scaled(shape, min(1.0, COARSE_LONG_SIDE / max(shape[0], shape[1])))
