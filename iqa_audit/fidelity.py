"""Editor fidelity checks: did the editor keep what it was asked to keep?

The study saw editors fail in ways no IQA metric is needed to see: the aspect ratio
changed on step 1 (5632x3072 -> 2816x1504 by cropping), apples stopped being added at
about 7, 4 eye colours became 2 within 5 steps, a green tint crept in, and a "replica"
drifted away from its source. Each check here is a pure function

    (reference image, output image, parameters) -> Finding

with the numbers, a verdict against a tolerance, and a one-line message a failing test
prints. The reference is whatever the output should match: the seed for replication, or
the seed transformed as the task asks (mirrored, rotated) — the caller decides.

When reference and output differ in size, `align_to_reference` finds which part of the
reference the output shows (editors crop and rescale) so tint, colour and similarity are
measured on the same scene content rather than on misregistered pixels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
from PIL import Image as PILImage

from .counting import ObjectCounter
from .errors import BadImageError, ConfigError, explain
from .images import Image

CHECKS = ("aspect_ratio", "object_count", "colours", "tint", "replication")


# --------------------------------------------------------------------------------------
# The result type
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One check's outcome.

    `value` is the headline number and `tolerance` its limit; for every check but
    replication `passed` means |value| <= tolerance, for replication value >= tolerance
    (a minimum SSIM). `details` is read-only and holds only JSON-able numbers, strings,
    tuples and mappings; `to_dict()` gives a plain dict for `json.dumps`.
    """

    check: str
    passed: bool
    value: float
    tolerance: float
    details: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    message: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "details", _freeze(self.details))
        object.__setattr__(self, "value", float(self.value))
        object.__setattr__(self, "tolerance", float(self.tolerance))
        object.__setattr__(self, "passed", bool(self.passed))

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "passed": self.passed,
            "value": self.value,
            "tolerance": self.tolerance,
            "details": _thaw(self.details),
            "message": self.message,
        }


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): _freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.ndarray):
        return tuple(_freeze(v) for v in value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if value is None or isinstance(value, str):
        return value
    raise ConfigError(
        explain(
            "Finding.details value",
            expected="numbers, strings, lists or mappings",
            got=type(value).__name__,
            fix="Convert it before building the Finding.",
        )
    )


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


# --------------------------------------------------------------------------------------
# Aspect ratio
# --------------------------------------------------------------------------------------


def check_aspect_ratio(
    reference: Image, output: Image, *, tolerance: float = 0.005
) -> Finding:
    """Relative change of height/width. 5632x3072 -> 2816x1504 is -2.08 %.

    The 0.5 % default sits far above rounding (a 5632x3072 image resized to 1024 px
    wide rounds its height by at most 0.1 %) and far below the crops the study saw.
    """
    ref, out = _image(reference, "reference"), _image(output, "output")
    _non_negative(tolerance, "tolerance")
    change = out.aspect_ratio / ref.aspect_ratio - 1.0
    passed = abs(change) <= tolerance + 1e-12
    message = (
        f"aspect ratio {ref.aspect_ratio:.4f} -> {out.aspect_ratio:.4f} ({change * 100:+.2f} %), "
        f"tolerance {tolerance * 100:g} %; output {out.width}x{out.height} from {ref.width}x{ref.height}"
    )
    details = {
        "reference_size": (ref.width, ref.height),
        "output_size": (out.width, out.height),
        "reference_aspect_ratio": ref.aspect_ratio,
        "output_aspect_ratio": out.aspect_ratio,
        "scale_x": out.width / ref.width,
        "scale_y": out.height / ref.height,
    }
    return Finding("aspect_ratio", passed, change, tolerance, details, message)


# --------------------------------------------------------------------------------------
# Object count
# --------------------------------------------------------------------------------------


def check_object_count(
    output: Image, expected: int, *, counter: ObjectCounter, tolerance: int = 0
) -> Finding:
    """Counted minus expected objects (add-apples: step k should show k apples)."""
    out = _image(output, "output")
    if (
        isinstance(expected, bool)
        or not isinstance(expected, (int, np.integer))
        or expected < 0
    ):
        raise ConfigError(
            explain(
                "expected object count",
                expected="an integer >= 0",
                got=repr(expected),
                fix="Pass the number the task expects at this step.",
            )
        )
    _non_negative(tolerance, "tolerance")
    if not isinstance(counter, ObjectCounter):
        raise ConfigError(
            explain(
                "counter",
                expected="an ObjectCounter (id, count(image))",
                got=type(counter).__name__,
                fix="Pass BlobCounter() or VLMCounter(model=...).",
            )
        )
    counted = int(counter.count(out))
    difference = counted - int(expected)
    passed = abs(difference) <= tolerance
    counter_id = str(getattr(counter, "id", type(counter).__name__))
    message = f"counted {counted} objects with {counter_id}, expected {expected} ({difference:+d}), tolerance ±{tolerance:g}"
    details = {
        "counted": counted,
        "expected": int(expected),
        "counter": counter_id,
        "output_size": (out.width, out.height),
    }
    return Finding("object_count", passed, difference, tolerance, details, message)


# --------------------------------------------------------------------------------------
# Palette and colours
# --------------------------------------------------------------------------------------

# Palettes are computed on an area-averaged copy at most this long: 256 px keeps an eye
# colour covering 0.5 % of the image at ~300 samples, and k-means on 65k points takes
# ~0.1 s. Averaging blurs region rims but not region interiors, which carry the colour.
PALETTE_LONG_SIDE = 256
# ...then a median of this width, per channel: a palette is the colours of regions, not
# of texture. It removes what is 1 px wide at 256 px (noise grains, scatter specks,
# the brick-to-brick variation of a wall: the replication check's business) and keeps
# every region 2 px or more across, edges in place: an eye at 256 px is ~8 px across.
PALETTE_MEDIAN = 3
# A pixel further than this (CIE76) from every bulk colour is badly represented by the
# bulk palette; the accent pass clusters exactly those pixels (see dominant_palette).
ACCENT_RESIDUAL = 12.0
# Palette colours closer than this (CIEDE2000) are one colour (2-3 just-noticeable
# differences): fragments of one colour that k-means split, not two colours.
MERGE_DELTA_E = 5.0
KMEANS_SAMPLE = 16384
# A reference colour is lost when the output keeps less than this fraction of the
# reference's pixels near it. 0.25: shrinking is not losing; vanishing is.
KEPT_FRACTION = 0.25


@dataclass(frozen=True)
class PaletteColour:
    lab: tuple[float, float, float]
    rgb: tuple[int, int, int]
    share: float  # fraction of the image's pixels nearest to this colour

    @property
    def chroma(self) -> float:
        return math.hypot(self.lab[1], self.lab[2])

    @property
    def hex(self) -> str:
        return "#{:02x}{:02x}{:02x}".format(*self.rgb)


def dominant_palette(
    image: Image | np.ndarray, k: int = 8, *, min_share: float = 0.01, seed: int = 0
) -> tuple[PaletteColour, ...]:
    """Up to 2k colours covering at least `min_share` of the image each, largest first.

    Small colours are the point: the study's eye-colour seed has 4 eye hues of 0.5-2 %
    of the image each, and plain k-means with k=8 spends its clusters on the large
    skin/hair/background regions and averages the eyes away. So there are two passes in
    CIELAB, both seeded k-means++ (deterministic for a given `seed`):

    1. bulk: k clusters over all pixels;
    2. accent: k clusters over the pixels that the bulk colours represent badly (further
       than ACCENT_RESIDUAL from every bulk colour). Small distinct colours are exactly
       those pixels, so they get their own clusters however small they are.

    Every pixel is then assigned to its nearest candidate colour, colours below
    `min_share` are dropped (their pixels reassigned), and near-duplicates
    (< MERGE_DELTA_E CIEDE2000) are merged. The pixels are those of the image reduced
    to PALETTE_LONG_SIDE and median-filtered (PALETTE_MEDIAN): region colours, not
    texture.
    """
    _check_palette_args(k, min_share)
    pixels = (
        image.pixels if isinstance(image, Image) else _array(image, "palette image")
    )
    return _palette(_palette_points(pixels), int(k), float(min_share), int(seed))


def _check_palette_args(k: Any, min_share: Any) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(
            explain(
                "palette k",
                expected="an integer >= 1",
                got=repr(k),
                fix="Use e.g. k=8.",
            )
        )
    if (
        isinstance(min_share, bool)
        or not isinstance(min_share, (int, float, np.integer, np.floating))
        or not 0.0 <= min_share < 1.0
    ):
        raise ConfigError(
            explain(
                "palette min_share",
                expected="a fraction in [0, 1)",
                got=repr(min_share),
                fix="Use e.g. 0.01.",
            )
        )


def _palette(
    lab: np.ndarray, k: int, min_share: float, seed: int
) -> tuple[PaletteColour, ...]:
    rng = np.random.default_rng(seed)
    # Fit the bulk on a sample (k-means cost is linear in points; 16k points place 8
    # centres as well as 65k do), then judge every pixel against it.
    sample = (
        lab
        if len(lab) <= KMEANS_SAMPLE
        else lab[rng.choice(len(lab), KMEANS_SAMPLE, replace=False)]
    )
    bulk = _kmeans(sample, k, rng)
    residual = np.sqrt(_sq_distances(lab, bulk).min(axis=1))
    outliers = lab[residual > ACCENT_RESIDUAL]
    centres = bulk
    if len(outliers) >= max(k, 8):
        centres = np.vstack([bulk, _kmeans(outliers, k, rng)])

    # k-means splits one small colour into several fragments when it has more centres
    # than distinct colours; each fragment alone may fall under min_share. So merge
    # near-duplicates first (pixel-count weighted), then drop small colours.
    labels = np.argmin(_sq_distances(lab, centres), axis=1)
    counts = np.bincount(labels, minlength=len(centres))
    present = np.flatnonzero(counts)
    means = np.array([lab[labels == i].mean(axis=0) for i in present])
    counts = counts[present]
    # Pairwise CIEDE2000 between the candidates, in one call.
    n = len(means)
    pairwise = _delta_e(np.repeat(means, n, axis=0), np.tile(means, (n, 1))).reshape(
        n, n
    )
    groups: list[list[int]] = []  # each group: candidate indices, the largest first
    for i in np.argsort(-counts, kind="stable"):
        for group in groups:
            if pairwise[group[0], i] < MERGE_DELTA_E:
                group.append(int(i))
                break
        else:
            groups.append([int(i)])
    groups_centres = [
        (np.average(means[g], axis=0, weights=counts[g]), int(counts[g].sum()))
        for g in groups
    ]
    kept = [c for c, n in groups_centres if n >= min_share * len(lab)] or [
        groups_centres[0][0]
    ]
    centres = np.array(kept)
    shares = np.bincount(
        np.argmin(_sq_distances(lab, centres), axis=1), minlength=len(centres)
    ) / len(lab)
    order = np.argsort(-shares, kind="stable")
    return tuple(
        PaletteColour(
            lab=tuple(float(v) for v in centres[i]),
            rgb=_lab_to_rgb(centres[i]),
            share=float(shares[i]),
        )
        for i in order
    )


def check_colours(
    reference: Image,
    output: Image,
    *,
    k: int = 8,
    delta_e_tolerance: float = 10.0,
    min_share: float = 0.005,
    max_lost: int = 0,
    remove_cast: bool = True,
) -> Finding:
    """How many of the reference's palette colours the output lost.

    Each reference colour (share >= `min_share`) is matched to the nearest output
    palette colour by CIEDE2000. It is lost when that match is further than
    `delta_e_tolerance` AND the output keeps less than KEPT_FRACTION of the reference's
    pixels within `delta_e_tolerance` of it. The second condition guards against k-means
    splitting a gradient differently in the two images: a colour still covering a
    similar area of the output is not lost, whatever the clustering says. The output
    palette uses min_share/4, so a colour that shrank is still found.
    Sizes that differ are aligned first (see align_to_reference).

    This check is about the palette's structure: which colours exist. A global colour
    cast is the tint check's finding, and counting it here too would make one failure
    (the study's green tint) fail two checks: a cast of Δa* -8, Δb* +6 moves a grey
    or dark colour more than ΔE2000 10 although every region keeps its own colour. So
    with `remove_cast` the output's a*b* are first shifted back by the global cast,
    measured the way check_tint measures it (the median per-pixel Δa*, Δb* of the
    aligned pair, here on the palette's pixels), and reported in the details. A median
    is untouched by a change confined to less than half the pixels, so repainting some
    colours (the study's 4 eye colours becoming 2) is never mistaken for a cast and
    still counts as lost. A repaint of more than half the image does read as a cast:
    the tint check fails, and this one reports the colours the repaint did not touch
    as lost (the flat-cartoon sky repainted: 12 of 14). Lightness is not shifted back:
    a global lightening is no tint.

    For the same reason both palettes are of regions, not texture (see
    dominant_palette): a colour that exists only as 1 px grains at the working
    resolution (the darker bricks of a brick wall, noise, specks) is texture, and its
    loss is the replication check's finding (texture simplification), not a lost colour.
    """
    ref, out = _image(reference, "reference"), _image(output, "output")
    _non_negative(delta_e_tolerance, "delta_e_tolerance")
    _non_negative(max_lost, "max_lost")
    ref_px, out_px, alignment = _aligned_or_same(ref, out)
    _check_palette_args(k, min_share)
    ref_lab, out_lab = _palette_points(ref_px), _palette_points(out_px)
    cast = np.zeros(3)
    if remove_cast:
        cast[1:] = np.median(out_lab[:, 1:] - ref_lab[:, 1:], axis=0)
        out_lab = out_lab - cast
    ref_palette = _palette(ref_lab, int(k), float(min_share), 0)
    out_palette = _palette(out_lab, int(k), float(min_share) / 4, 0)
    out_centres = np.array([c.lab for c in out_palette])

    matches = []
    lost = 0
    for colour in ref_palette:
        centre = np.array(colour.lab)
        distances = _delta_e(out_centres, centre)
        best = int(np.argmin(distances))
        ref_cover = _coverage(ref_lab, centre, delta_e_tolerance)
        out_cover = _coverage(out_lab, centre, delta_e_tolerance)
        is_lost = bool(
            distances[best] > delta_e_tolerance
            and out_cover < KEPT_FRACTION * ref_cover
        )
        lost += is_lost
        matches.append(
            {
                "reference_rgb": colour.rgb,
                "reference_share": colour.share,
                # The output colour as it is, cast included.
                "match_rgb": _lab_to_rgb(np.asarray(out_palette[best].lab) + cast),
                "match_share": out_palette[best].share,
                "delta_e": float(distances[best]),
                "reference_coverage": ref_cover,
                "output_coverage": out_cover,
                "lost": is_lost,
            }
        )
    max_delta_e = max((m["delta_e"] for m in matches), default=0.0)
    lost_hex = [
        "#{:02x}{:02x}{:02x}".format(*m["reference_rgb"]) for m in matches if m["lost"]
    ]
    message = (
        f"{lost} of {len(ref_palette)} reference colours lost (ΔE2000 > {delta_e_tolerance:g}, allowed {max_lost})"
        + (f": {', '.join(lost_hex)}" if lost_hex else "")
        + f"; max ΔE2000 to the nearest output colour {max_delta_e:.1f}"
        + (
            f" after removing a global cast of Δa* {cast[1]:+.2f}, Δb* {cast[2]:+.2f} (the tint check's finding)"
            if math.hypot(cast[1], cast[2]) >= 0.5
            else ""
        )
    )
    details = {
        "delta_e_tolerance": delta_e_tolerance,
        "cast_removed": {"delta_a": float(cast[1]), "delta_b": float(cast[2])},
        "max_delta_e": max_delta_e,
        "reference_colours": len(ref_palette),
        "output_colours": len(out_palette),
        "matches": matches,
        "alignment": alignment,
    }
    return Finding("colours", lost <= max_lost, lost, max_lost, details, message)


def _coverage(lab: np.ndarray, centre: np.ndarray, radius: float) -> float:
    """Fraction of pixels within `radius` CIEDE2000 of `centre`.

    CIEDE2000 is slow (~0.5 us a pixel), so pixels that cannot be within the radius are
    ruled out with CIE76 first. CIEDE2000 divides lightness differences by at most 1.75
    and chroma/hue differences by at most 1 + 0.045 x the pair's mean chroma, so
    CIE76 <= radius x max(1.75, 1 + 0.045 C) (x 1.2 for the blue-region rotation term)
    keeps every pixel that can be inside.
    """
    chroma_mean = 0.5 * (
        np.hypot(lab[:, 1], lab[:, 2]) + math.hypot(centre[1], centre[2])
    )
    bound = radius * 1.2 * np.maximum(1.75, 1.0 + 0.045 * chroma_mean)
    near = np.sum((lab - centre) ** 2, axis=1) <= bound**2
    if not near.any():
        return 0.0
    return float(np.count_nonzero(_delta_e(lab[near], centre) <= radius)) / len(lab)


# --------------------------------------------------------------------------------------
# Tint
# --------------------------------------------------------------------------------------

TINT_LONG_SIDE = (
    512  # a mean needs no more pixels; both images are reduced the same way
)


def check_tint(reference: Image, output: Image, *, tolerance: float = 2.0) -> Finding:
    """Global colour cast: the shift of a*, b* (output - reference) in CIELAB.

    The shift is the median over pixels of the per-pixel difference of the aligned
    images, not the difference of the means: a global cast moves every pixel, so the
    median is the cast; an editor that adds 12 red apples (the add-apples task, ~4 % of
    the image) moves the mean a* by ~2 units without any cast, and the median by ~0.
    The means are in the details too. value = hypot(Δa*, Δb*). The 2.0 default is about
    one just-noticeable difference; adding 6 to the green channel of a grey image moves
    a* by -3.4 and b* by +2.5. Direction: the larger axis names it — Δa* < 0 green,
    > 0 magenta, Δb* > 0 yellow, < 0 blue ('none' for no shift at all).
    """
    ref, out = _image(reference, "reference"), _image(output, "output")
    _non_negative(tolerance, "tolerance")
    ref_px, out_px, alignment = _aligned_or_same(ref, out)
    difference = _lab_points(out_px, TINT_LONG_SIDE) - _lab_points(
        ref_px, TINT_LONG_SIDE
    )
    delta_l, delta_a, delta_b = np.median(difference, axis=0).tolist()
    mean_l, mean_a, mean_b = difference.mean(axis=0).tolist()
    magnitude = math.hypot(delta_a, delta_b)
    if abs(delta_a) >= abs(delta_b):
        direction = "green" if delta_a < 0 else "magenta"
    else:
        direction = "yellow" if delta_b > 0 else "blue"
    if magnitude == 0.0:
        direction = "none"
    passed = magnitude <= tolerance
    message = f"tint Δa* {delta_a:+.2f}, Δb* {delta_b:+.2f} ({direction}), magnitude {magnitude:.2f}, tolerance {tolerance:g}"
    details = {
        "delta_a": delta_a,
        "delta_b": delta_b,
        "delta_l": delta_l,
        "mean_delta_a": mean_a,
        "mean_delta_b": mean_b,
        "mean_delta_l": mean_l,
        "direction": direction,
        "alignment": alignment,
    }
    return Finding("tint", passed, magnitude, tolerance, details, message)


# --------------------------------------------------------------------------------------
# Replication (similarity after alignment)
# --------------------------------------------------------------------------------------

# SSIM is computed twice and the lower value is the verdict:
# - on the whole aligned image reduced to at most GLOBAL_LONG_SIDE px: sees structural
#   changes anywhere (duplicated objects, warps, lost texture);
# - on a native-resolution centre crop of at most DETAIL_SIDE x DETAIL_SIDE px: sees
#   pixel-level noise, which area-averaging for the global view would wash out (noise of
#   sigma 10 at 1024 px becomes sigma 5 at 512 px).
GLOBAL_LONG_SIDE = 512
DETAIL_SIDE = 512


def check_replication(
    reference: Image, output: Image, *, min_ssim: float = 0.90
) -> Finding:
    """SSIM between the reference and the output after aligning crops and scale."""
    ref, out = _image(reference, "reference"), _image(output, "output")
    if not 0.0 <= min_ssim <= 1.0:
        raise ConfigError(
            explain(
                "min_ssim",
                expected="a value in [0, 1]",
                got=repr(min_ssim),
                fix="Use e.g. 0.90.",
            )
        )
    ref_px, out_px, alignment = _aligned_or_same(ref, out)
    global_ref, global_out = (
        _reduce(ref_px, GLOBAL_LONG_SIDE),
        _reduce(out_px, GLOBAL_LONG_SIDE),
    )
    ssim_global = _ssim(global_ref, global_out)
    if global_ref.shape == ref_px.shape:
        ssim_detail = (
            ssim_global  # the image is small enough that the global view is native
        )
        detail_shape = ref_px.shape
    else:
        detail_ref, detail_out = (
            _centre_crop(ref_px, DETAIL_SIDE),
            _centre_crop(out_px, DETAIL_SIDE),
        )
        ssim_detail = _ssim(detail_ref, detail_out)
        detail_shape = detail_ref.shape
    value = min(ssim_global, ssim_detail)
    passed = value >= min_ssim
    message = (
        f"SSIM {value:.4f} (whole image at {global_ref.shape[1]}x{global_ref.shape[0]}: {ssim_global:.4f}, "
        f"native-resolution centre {detail_shape[1]}x{detail_shape[0]}: {ssim_detail:.4f}), minimum {min_ssim:g}; "
        f"alignment {alignment['method']} (NCC {alignment['ncc']:.3f})"
    )
    details = {
        "ssim_global": ssim_global,
        "ssim_detail": ssim_detail,
        "global_size": (global_ref.shape[1], global_ref.shape[0]),
        "detail_size": (detail_shape[1], detail_shape[0]),
        "alignment": alignment,
    }
    return Finding("replication", passed, value, min_ssim, details, message)


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    side = min(a.shape[0], a.shape[1])
    win = min(7, side if side % 2 else side - 1)
    if win < 3:
        raise BadImageError(
            explain(
                "replication check",
                expected="aligned images at least 3x3 px",
                got=f"{a.shape[1]}x{a.shape[0]}",
                fix="SSIM needs a 3x3 window: check the images are not tiny and that the output shows the reference's scene.",
            )
        )
    return float(
        structural_similarity(a, b, channel_axis=2, data_range=255, win_size=win)
    )


def _centre_crop(pixels: np.ndarray, side: int) -> np.ndarray:
    h, w = pixels.shape[:2]
    top, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return pixels[top : top + side, left : left + side]


# --------------------------------------------------------------------------------------
# Alignment
# --------------------------------------------------------------------------------------
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
PATCH_CENTRES = (
    (0.5, 0.5),
    (1 / 6, 1 / 6),
    (5 / 6, 1 / 6),
    (1 / 6, 5 / 6),
    (5 / 6, 5 / 6),
)
# Same size: a zoomed alignment must beat pixel-for-pixel by this much NCC to be used.
IDENTITY_MARGIN = 0.02
# A crop that correlates worse than this is chance, not an alignment (unrelated images
# still have a best-correlating box); then the images are compared as they are
# (identity, or a stretch to the same size).
MIN_ALIGNMENT_NCC = 0.5


def align_to_reference(
    reference: Image, output: Image
) -> tuple[np.ndarray, np.ndarray, Mapping[str, Any]]:
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
            _resize_grey(ref_grey, _coarse_size(ref_px.shape)),
            _resize_grey(out_grey, _coarse_size(out_px.shape)),
        )
        # A zoom can only win by IDENTITY_MARGIN if identity leaves that much room.
        zoomed = None
        if identity_ncc < 1.0 - IDENTITY_MARGIN:
            zoomed = _coarse_search(
                ref_grey, out_grey, np.linspace(1.0, MAX_ZOOM, ZOOM_STEPS)[1:]
            )
        if zoomed is None or zoomed.ncc <= max(
            identity_ncc + IDENTITY_MARGIN, MIN_ALIGNMENT_NCC
        ):
            box = (0.0, 0.0, float(ref.width), float(ref.height))
            return (
                ref_px,
                out_px,
                _info("identity", box, 1.0, identity_ncc, ref_px.shape),
            )
        return _crop_pair(ref_px, out_px, _refine(ref_grey, out_grey, zoomed), "crop")

    candidates = [("crop", _coarse_search(ref_grey, out_grey))]
    if (
        candidates[0][1] is None or candidates[0][1].ncc < 0.9
    ):  # outpainting is rare: look only when a crop fits badly
        candidates.append(("outpaint", _coarse_search(out_grey, ref_grey)))
    method, coarse = max(
        candidates, key=lambda item: -2.0 if item[1] is None else item[1].ncc
    )
    stretch_ncc = _ncc(
        _resize_grey(ref_grey, _coarse_size(out_px.shape)),
        _resize_grey(out_grey, _coarse_size(out_px.shape)),
    )
    if coarse is None or coarse.ncc < MIN_ALIGNMENT_NCC:
        return _stretch_pair(ref_px, out_px, stretch_ncc)
    big, small = (ref_grey, out_grey) if method == "crop" else (out_grey, ref_grey)
    placement = _refine(big, small, coarse)
    # The coarse search moves the box in whole coarse pixels (3 px of a 384 px image),
    # and on a fine periodic texture (a brick wall with windows) a third of a period
    # off costs it more NCC than a 2 % stretch does, while the stretch is resampled
    # exactly. So the stretch is judged against the refined box, resampled the same way.
    if (
        stretch_ncc > coarse.ncc + 0.01
        and stretch_ncc > _box_ncc(big, small, placement) + 0.01
    ):
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
    region = np.asarray(
        PILImage.fromarray(big).resize(size, PILImage.Resampling.BOX, box=box)
    )
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


def _search(
    big: np.ndarray, small: np.ndarray, level_big: np.ndarray, scale: float, zooms
) -> _Placement | None:
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
    return _search(
        big, small, _resize_grey(big, _scaled(big.shape, scale)), scale, zooms
    )


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
            found = _match_patch(
                big,
                small[py : py + patch, px : px + patch],
                x0 + px / sx,
                y0 + py / sy,
                sx,
                sy,
                margin,
            )
            if found is not None:
                pairs.append((px, py, found[0], found[1], found[2]))
        good = (
            [p for p in pairs if p[4] >= max(0.5, max(q[4] for q in pairs) - 0.2)]
            if pairs
            else []
        )
        if not good:
            break
        x0, sx = _fit_axis([p[0] for p in good], [p[2] for p in good], x0, sx)
        y0, sy = _fit_axis([p[1] for p in good], [p[3] for p in good], y0, sy)
        ncc = float(np.median([p[4] for p in good]))
    return _Placement(
        x0, y0, ws / sx, hs / sy, coarse.zoom * (coarse.width / (ws / sx)), ncc
    )


def _match_patch(big, patch, bx, by, sx, sy, margin):
    """Where `patch` (predicted at big (bx, by)) really is: (big x, big y, ncc) or None."""
    from skimage.feature import match_template

    if (
        patch.std() < 2.0
    ):  # flat: any position matches; 2 grey levels of texture at least
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
    padded = np.pad(
        window,
        ((max(0, -y_lo), max(0, y_hi - hb)), (max(0, -x_lo), max(0, x_hi - wb))),
        mode="edge",
    )
    box = (left - x_lo, top - y_lo, right - x_lo, bottom - y_lo)
    region = np.asarray(
        PILImage.fromarray(padded).resize(size, PILImage.Resampling.BILINEAR, box=box)
    )
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
    best_inliers = (
        np.abs(big_pos - small_pos / scale - np.median(big_pos - small_pos / scale))
        <= tolerance
    )
    for i in range(len(small_pos)):
        for j in range(i + 1, len(small_pos)):
            if small_pos[i] == small_pos[j]:
                continue
            slope = (big_pos[j] - big_pos[i]) / (small_pos[j] - small_pos[i])
            if not (slope > 0 and abs(1.0 / slope / scale - 1.0) < 0.03):
                continue
            inliers = (
                np.abs(big_pos[i] + (small_pos - small_pos[i]) * slope - big_pos)
                <= tolerance
            )
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
    left, centre, right = (
        float(profile[i - 1]),
        float(profile[i]),
        float(profile[i + 1]),
    )
    curvature = left - 2 * centre + right
    if curvature >= 0:
        return 0.0
    offset = 0.5 * (left - right) / curvature
    return float(np.clip(offset, -0.5, 0.5))


def _crop_pair(
    big_px: np.ndarray, small_px: np.ndarray, where: _Placement, method: str
):
    """Cut `where` out of big and bring both to the lower resolution of the two."""
    hb, wb = big_px.shape[:2]
    width, height = min(where.width, wb), min(where.height, hb)
    x0, y0 = (
        float(np.clip(where.x0, 0.0, wb - width)),
        float(np.clip(where.y0, 0.0, hb - height)),
    )
    box = (x0, y0, x0 + width, y0 + height)
    # Snap to whole pixels when within 0.1 px: a plain crop then copies pixels exactly.
    box = tuple(round(v) if abs(v - round(v)) < 0.1 else v for v in box)
    hs, ws = small_px.shape[:2]
    if width * height >= ws * hs:
        big_aligned, small_aligned = _resize(big_px, (ws, hs), box=box), small_px
    else:
        size = (max(1, round(width)), max(1, round(height)))
        big_aligned, small_aligned = (
            _resize(big_px, size, box=box),
            _resize(small_px, size),
        )
    return (
        big_aligned,
        small_aligned,
        _info(method, box, where.zoom, where.ncc, big_aligned.shape),
    )


def _stretch_pair(ref_px: np.ndarray, out_px: np.ndarray, ncc: float):
    if ref_px.shape[0] * ref_px.shape[1] >= out_px.shape[0] * out_px.shape[1]:
        ref_aligned, out_aligned = (
            _resize(ref_px, (out_px.shape[1], out_px.shape[0])),
            out_px,
        )
    else:
        ref_aligned, out_aligned = (
            ref_px,
            _resize(out_px, (ref_px.shape[1], ref_px.shape[0])),
        )
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


def _aligned_or_same(
    ref: Image, out: Image
) -> tuple[np.ndarray, np.ndarray, Mapping[str, Any]]:
    """The checks' entry to alignment (same-size images stay pixel for pixel unless zoomed)."""
    return align_to_reference(ref, out)


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denominator = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def _image(value: Any, name: str) -> Image:
    if isinstance(value, Image):
        return value
    fix = (
        "Wrap arrays with Image.from_array(...)."
        if isinstance(value, np.ndarray)
        else "Load it with load_image(path) or decode_image(bytes)."
    )
    raise BadImageError(
        explain(
            f"{name} image",
            expected="an iqa_audit.images.Image",
            got=type(value).__name__,
            fix=fix,
        )
    )


def _array(value: Any, name: str) -> np.ndarray:
    a = np.asarray(value)
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8 or 0 in a.shape:
        raise BadImageError(
            explain(
                name,
                expected="an (H, W, 3) uint8 array or an Image",
                got=f"{a.dtype} array of shape {a.shape}",
                fix="Use Image.from_array.",
            )
        )
    return a


def _non_negative(value: Any, name: str) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not value >= 0
    ):
        raise ConfigError(
            explain(
                name,
                expected="a number >= 0",
                got=repr(value),
                fix="Pass a non-negative tolerance.",
            )
        )


def _scaled(shape: tuple[int, ...], scale: float) -> tuple[int, int]:
    return max(1, round(shape[1] * scale)), max(1, round(shape[0] * scale))


def _coarse_size(shape: tuple[int, ...]) -> tuple[int, int]:
    return _scaled(shape, min(1.0, COARSE_LONG_SIDE / max(shape[0], shape[1])))


def _reduce(pixels: np.ndarray, long_side: int) -> np.ndarray:
    """Area-average down to at most `long_side` px; never upsample."""
    size = _scaled(
        pixels.shape, min(1.0, long_side / max(pixels.shape[0], pixels.shape[1]))
    )
    if size == (pixels.shape[1], pixels.shape[0]):
        return np.asarray(pixels)
    return _resize(pixels, size, resample=PILImage.Resampling.BOX)


def _resize(
    pixels: np.ndarray,
    size: tuple[int, int],
    *,
    box=None,
    resample=PILImage.Resampling.LANCZOS,
) -> np.ndarray:
    pil = PILImage.fromarray(np.asarray(pixels))
    if box is None and size == pil.size:
        return np.asarray(pixels)
    if (
        box is not None
        and all(float(v).is_integer() for v in box)
        and (box[2] - box[0], box[3] - box[1]) == size
    ):
        return np.asarray(pixels)[int(box[1]) : int(box[3]), int(box[0]) : int(box[2])]
    return np.asarray(pil.resize(size, resample, box=box))


def _resize_grey(grey: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if size == (grey.shape[1], grey.shape[0]):
        return grey
    return np.asarray(
        PILImage.fromarray(grey).resize(
            size,
            PILImage.Resampling.BOX
            if size[0] < grey.shape[1]
            else PILImage.Resampling.BILINEAR,
        )
    )


def _grey(pixels: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(
        np.asarray(pixels, dtype=np.float32)
        @ np.array([0.299, 0.587, 0.114], np.float32)
    )


def _lab_points(pixels: np.ndarray, long_side: int = PALETTE_LONG_SIDE) -> np.ndarray:
    from skimage.color import rgb2lab

    small = _reduce(pixels, long_side)
    return rgb2lab(small.astype(np.float32) / 255.0).reshape(-1, 3).astype(np.float64)


def _palette_points(pixels: np.ndarray) -> np.ndarray:
    """CIELAB pixels a palette is taken from: reduced, then median-filtered (see PALETTE_MEDIAN)."""
    from scipy import ndimage as ndi
    from skimage.color import rgb2lab

    small = _reduce(pixels, PALETTE_LONG_SIDE)
    if min(small.shape[:2]) >= PALETTE_MEDIAN:
        small = np.stack(
            [
                ndi.median_filter(small[..., c], size=PALETTE_MEDIAN, mode="nearest")
                for c in range(3)
            ],
            axis=-1,
        )
    return rgb2lab(small.astype(np.float32) / 255.0).reshape(-1, 3).astype(np.float64)


def _lab_to_rgb(lab: np.ndarray) -> tuple[int, int, int]:
    from skimage.color import lab2rgb

    rgb = lab2rgb(np.asarray(lab, dtype=np.float64).reshape(1, 1, 3)).reshape(3)
    return tuple(int(v) for v in np.clip(np.round(rgb * 255.0), 0, 255))


def _delta_e(lab: np.ndarray, other: np.ndarray) -> np.ndarray:
    """CIEDE2000 between rows of `lab` and `other` (one colour, or as many rows)."""
    from skimage.color import deltaE_ciede2000

    lab = np.atleast_2d(lab)
    return deltaE_ciede2000(
        lab, np.broadcast_to(np.asarray(other, dtype=np.float64), lab.shape)
    )


def _sq_distances(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(n, k) squared Euclidean distances, as |p|^2 - 2 p.c + |c|^2 (no (n, k, 3) temporary)."""
    d = (
        (points * points).sum(axis=1)[:, None]
        - 2.0 * points @ centres.T
        + (centres * centres).sum(axis=1)[None, :]
    )
    return np.maximum(d, 0.0)


def _kmeans(
    points: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 20
) -> np.ndarray:
    """Plain Lloyd k-means with k-means++ seeding (CIE76 distance in CIELAB)."""
    n = len(points)
    first = points[int(rng.integers(n))]
    centres = [first]
    nearest = ((points - first) ** 2).sum(axis=1)
    for _ in range(1, min(k, n)):
        total = nearest.sum()
        if total <= 0:
            break  # fewer distinct colours than k
        chosen = points[int(rng.choice(n, p=nearest / total))]
        centres.append(chosen)
        nearest = np.minimum(nearest, ((points - chosen) ** 2).sum(axis=1))
    centres_arr = np.array(centres)
    for _ in range(iterations):
        labels = np.argmin(_sq_distances(points, centres_arr), axis=1)
        counts = np.bincount(labels, minlength=len(centres_arr))
        sums = np.stack(
            [
                np.bincount(labels, weights=points[:, c], minlength=len(centres_arr))
                for c in range(3)
            ],
            axis=1,
        )
        # An emptied cluster keeps its centre rather than vanishing.
        updated = np.where(
            counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], centres_arr
        )
        if np.allclose(updated, centres_arr, atol=1e-3):
            break
        centres_arr = updated
    return centres_arr
