"""Palette and colours: the dominant colours of an image, and which of them an output lost.

The study's eye-colour seed lost 2 of its 4 eye colours within 5 steps; `check_colours`
finds that, and `dominant_palette` finds small colours (0.5-2 % of the image) that plain
k-means would average away. All colour distances are in CIELAB (CIE76 for clustering,
CIEDE2000 for verdicts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from iqa_audit.core.errors import ConfigError, explain
from iqa_audit.core.images import Image
from iqa_audit.fidelity.alignment import _aligned_or_same
from iqa_audit.fidelity.finding import Finding, _array, _image, _non_negative
from iqa_audit.fidelity.pixels import _reduce

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
    pixels = image.pixels if isinstance(image, Image) else _array(image, "palette image")
    return _palette(_palette_points(pixels), int(k), float(min_share), int(seed))


def _check_palette_args(k: Any, min_share: Any) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(explain("palette k", expected="an integer >= 1", got=repr(k), fix="Use e.g. k=8."))
    if (
        isinstance(min_share, bool)
        or not isinstance(min_share, (int, float, np.integer, np.floating))
        or not 0.0 <= min_share < 1.0
    ):
        raise ConfigError(
            explain("palette min_share", expected="a fraction in [0, 1)", got=repr(min_share), fix="Use e.g. 0.01.")
        )


def _palette(lab: np.ndarray, k: int, min_share: float, seed: int) -> tuple[PaletteColour, ...]:
    rng = np.random.default_rng(seed)
    # Fit the bulk on a sample (k-means cost is linear in points; 16k points place 8
    # centres as well as 65k do), then judge every pixel against it.
    sample = lab if len(lab) <= KMEANS_SAMPLE else lab[rng.choice(len(lab), KMEANS_SAMPLE, replace=False)]
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
    pairwise = _delta_e(np.repeat(means, n, axis=0), np.tile(means, (n, 1))).reshape(n, n)
    groups: list[list[int]] = []  # each group: candidate indices, the largest first
    for i in np.argsort(-counts, kind="stable"):
        for group in groups:
            if pairwise[group[0], i] < MERGE_DELTA_E:
                group.append(int(i))
                break
        else:
            groups.append([int(i)])
    groups_centres = [(np.average(means[g], axis=0, weights=counts[g]), int(counts[g].sum())) for g in groups]
    kept = [c for c, n in groups_centres if n >= min_share * len(lab)] or [groups_centres[0][0]]
    centres = np.array(kept)
    shares = np.bincount(np.argmin(_sq_distances(lab, centres), axis=1), minlength=len(centres)) / len(lab)
    order = np.argsort(-shares, kind="stable")
    return tuple(
        PaletteColour(lab=tuple(float(v) for v in centres[i]), rgb=_lab_to_rgb(centres[i]), share=float(shares[i])) for i in order
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
        is_lost = bool(distances[best] > delta_e_tolerance and out_cover < KEPT_FRACTION * ref_cover)
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
    lost_hex = ["#{:02x}{:02x}{:02x}".format(*m["reference_rgb"]) for m in matches if m["lost"]]
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
    chroma_mean = 0.5 * (np.hypot(lab[:, 1], lab[:, 2]) + math.hypot(centre[1], centre[2]))
    bound = radius * 1.2 * np.maximum(1.75, 1.0 + 0.045 * chroma_mean)
    near = np.sum((lab - centre) ** 2, axis=1) <= bound**2
    if not near.any():
        return 0.0
    return float(np.count_nonzero(_delta_e(lab[near], centre) <= radius)) / len(lab)


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
        small = np.stack([ndi.median_filter(small[..., c], size=PALETTE_MEDIAN, mode="nearest") for c in range(3)], axis=-1)
    return rgb2lab(small.astype(np.float32) / 255.0).reshape(-1, 3).astype(np.float64)


def _lab_to_rgb(lab: np.ndarray) -> tuple[int, int, int]:
    from skimage.color import lab2rgb

    rgb = lab2rgb(np.asarray(lab, dtype=np.float64).reshape(1, 1, 3)).reshape(3)
    return tuple(int(v) for v in np.clip(np.round(rgb * 255.0), 0, 255))


def _delta_e(lab: np.ndarray, other: np.ndarray) -> np.ndarray:
    """CIEDE2000 between rows of `lab` and `other` (one colour, or as many rows)."""
    from skimage.color import deltaE_ciede2000

    lab = np.atleast_2d(lab)
    return deltaE_ciede2000(lab, np.broadcast_to(np.asarray(other, dtype=np.float64), lab.shape))


def _sq_distances(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(n, k) squared Euclidean distances, as |p|^2 - 2 p.c + |c|^2 (no (n, k, 3) temporary)."""
    d = (points * points).sum(axis=1)[:, None] - 2.0 * points @ centres.T + (centres * centres).sum(axis=1)[None, :]
    return np.maximum(d, 0.0)


def _kmeans(points: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 20) -> np.ndarray:
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
        sums = np.stack([np.bincount(labels, weights=points[:, c], minlength=len(centres_arr)) for c in range(3)], axis=1)
        # An emptied cluster keeps its centre rather than vanishing.
        updated = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], centres_arr)
        if np.allclose(updated, centres_arr, atol=1e-3):
            break
        centres_arr = updated
    return centres_arr
