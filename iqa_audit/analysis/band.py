"""The noise band: what counts as a *change* of a gap between two runs of the audit.

A cell's verdict is the study's sign rule and nothing else (gaps.py). But comparing two
runs of the audit (a baseline in CI, `--compare` in the report) on the sign alone gates
on noise: a gap of −0.001 that becomes +0.001 flips the verdict while saying nothing, and
a gap that shrinks from −55 to −0.01 keeps its verdict while saying a lot. So each gap
carries its per-run gaps, and comparisons use:

- tolerance(stderr) = max(NOISE_FLOOR_POINTS, STDERR_MULTIPLIER × standard error of the
  mean of the per-run gaps). Two standard errors is the usual ~95 % band of a mean; the
  floor of 0.5 normalised points (0.5 % of a metric's typical range) keeps a single-run
  cell, which has no standard error, from gating on differences smaller than that.
- unstable: the verdict flipped, but the gaps on both sides lie within their own
  tolerance of 0 — the sign is noise. Shown, never a regression.
- weaker: the metric noticed on both sides, but the gap lost more than WEAKER_SHARE of
  its size, by more than the tolerance — the metric is closer to missing. Shown.

Pure functions over floats; no imports from the rest of the suite.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

NOISE_FLOOR_POINTS = 0.5  # normalised points (the scale is [0, 100])
STDERR_MULTIPLIER = 2.0  # ~95 % band of a mean
WEAKER_SHARE = 0.5  # a noticed gap that lost more than half its size is "weaker"


def spread(per_run: Sequence[float]) -> tuple[float, float]:
    """(standard deviation with ddof=1, standard error of the mean) of per-run gaps, in
    normalised points; (0, 0) for fewer than two runs (nothing to estimate them from)."""
    n = len(per_run)
    if n < 2:
        return 0.0, 0.0
    mean = sum(per_run) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in per_run) / (n - 1))
    return sd, sd / math.sqrt(n)


def tolerance(stderr: float | None) -> float:
    """Half-width of the noise band around 0 of one gap, in normalised points."""
    se = stderr if stderr is not None and math.isfinite(stderr) else 0.0
    return max(NOISE_FLOOR_POINTS, STDERR_MULTIPLIER * se)


def within_noise(gap: float, stderr: float | None) -> bool:
    return abs(gap) <= tolerance(stderr)


def unstable_flip(old_gap: float, old_stderr: float | None, new_gap: float, new_stderr: float | None) -> bool:
    """The sign verdict flipped and both gaps are inside their noise band."""
    flipped = (old_gap < 0) != (new_gap < 0)
    return flipped and within_noise(old_gap, old_stderr) and within_noise(new_gap, new_stderr)


def weaker(old_gap: float, old_stderr: float | None, new_gap: float, new_stderr: float | None) -> bool:
    """Noticed on both sides (gap < 0), and the gap lost more than WEAKER_SHARE of its
    size by more than the larger of the two tolerances."""
    if not (old_gap < 0 and new_gap < 0):
        return False
    lost = abs(old_gap) - abs(new_gap)
    return lost > WEAKER_SHARE * abs(old_gap) and lost > max(tolerance(old_stderr), tolerance(new_stderr))


def describe() -> str:
    return (
        f"tolerance = max({NOISE_FLOOR_POINTS:g} normalised points, {STDERR_MULTIPLIER:g} standard errors of the "
        f"per-run gaps); a flip with both gaps inside it is unstable; a noticed gap that lost more than "
        f"{100 * WEAKER_SHARE:g} % of its size is weaker"
    )
