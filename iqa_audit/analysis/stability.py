"""Metric stability under content change, and metric detection delay: pure functions on series.

Stability (the study's Figure 7: a VLM metric whose score spikes when fruits are added).
On an add-objects chain the content changes every step on purpose while the quality
degrades as on a replication chain; a metric that measures quality should move on the add
chain about as much as on the replication chain of the same seed and editor. Per chain,
the step-to-step differences of the normalised score d_k = s_k - s_(k-1) for k >= 2 (step 1
is the reference: editors crop on their first step) are pooled over runs, and their
robust spread about no change is 1.4826 x median |d_k| (the median absolute deviation
about 0, scaled to equal the standard deviation for normal d with mean 0; Rousseeuw &
Croux 1993). About 0, not about the median: a score that rises by the same jump at every
added fruit moves as much as one that jumps erratically. One outlier step does not decide
it. The finding is the ratio add spread / replicate spread.

Detection delay (the metric's analogue of the editor's self-evaluation delay). Per run,
the first step k >= 2 from which the normalised score stays below its step-1 value at
every later scored step; mean ± sd over runs as `self_eval.summarise_delays` does for the
editors. The resolution is the series' scored steps: every step with `every_step = true`,
else the Δ steps (a delay of 5 then means "by step 5").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from iqa_audit.analysis.gaps import REFERENCE_STEP, Series
from iqa_audit.metrics.base import NonFiniteScore
from iqa_audit.vlm.self_eval import DelaySummary, summarise_delays

# The case passes when the add chain's spread is at most STABILITY_BOUND times the
# replicate chain's. 3: for two chains of 18 differences each (the default 10 steps x 2
# runs) drawn from one normal distribution, the ratio exceeds 3 in 0.3 % of draws (99th
# percentile 2.45; mean 0, the widest case; tests/test_stability.py simulates it), so a
# ratio above 3 is content moving the score, not chance.
STABILITY_BOUND = 3.0
# Spreads below this many normalised points (on the 0-100 scale) are not told apart: a
# replicate spread is floored at it (a converged chain has spread 0, and any jump would
# be an infinite ratio), and an add spread at or below it passes whatever the ratio.
MIN_SPREAD = 0.5


@dataclass(frozen=True)
class Stability:
    """One (metric, add task, seed) case: spreads in normalised points, ratio, verdict."""

    metric_id: str
    metric_version: str
    add_setting: str
    replicate_setting: str
    seed: str
    add_spread: float
    replicate_spread: float
    ratio: float  # add_spread / max(replicate_spread, MIN_SPREAD)
    bound: float
    differences: int  # step-to-step differences pooled per chain (the smaller of the two)

    @property
    def passed(self) -> bool:
        return self.add_spread <= MIN_SPREAD or self.ratio <= self.bound

    def explain(self) -> str:
        verdict = "stable" if self.passed else "UNSTABLE"
        return (
            f"{self.metric_id} on {self.add_setting}/{self.seed}: robust spread of step-to-step differences "
            f"{self.add_spread:.3f} vs {self.replicate_spread:.3f} on {self.replicate_setting} "
            f"(normalised points): ratio {self.ratio:.2f}, bound {self.bound:g} ({verdict}; spreads up to "
            f"{MIN_SPREAD:g} always pass)"
        )


def step_differences(series: Series, *, start: int = REFERENCE_STEP) -> np.ndarray:
    """d_k = s_k - s_(k-1) of the normalised score for consecutive scored steps from `start`
    on, pooled over runs (a gap in a run's steps is skipped, not bridged)."""
    out = []
    for run in series.runs:
        scores = series.normalised[run]
        out.extend(scores[k] - scores[k - 1] for k in sorted(scores) if k - 1 >= start and k - 1 in scores)
    return np.asarray(out, dtype=float)


SPREAD_SCALE = 1.4826  # 1 / Phi^-1(3/4): median |d| of a N(0, s) sample estimates 0.6745 s


def robust_spread(differences: Sequence[float] | np.ndarray) -> float:
    """1.4826 x median |d| (the sd of normal differences about 0); 0 for fewer than two."""
    d = np.asarray(differences, dtype=float)
    return float(SPREAD_SCALE * np.median(np.abs(d))) if d.size >= 2 else 0.0


def stability(add: Series, replicate: Series, *, bound: float = STABILITY_BOUND) -> Stability:
    """Compare the add chain's and the replicate chain's step-to-step spread (same metric and seed).

    Raises ValueError for series of two metrics or seeds, and NonFiniteScore (naming each
    image) when a step's score is NaN/±inf."""
    if add.metric_id != replicate.metric_id or add.seed != replicate.seed:
        raise ValueError(
            f"stability compares one metric on one seed: got {add.metric_id}/{add.seed} "
            f"and {replicate.metric_id}/{replicate.seed}"
        )
    # Every step counts here (the spread is over all step-to-step differences): a score the
    # metric could not give is an error naming the image, never a silently skipped step.
    why = add.unusable_for(*add.steps) + replicate.unusable_for(*replicate.steps)
    if why:
        raise NonFiniteScore(
            f"{add.metric_id} stability on {add.setting} vs {replicate.setting}/{add.seed} needs the score of every "
            "step, and the metric could not give these:\n" + "\n".join(why)
        )
    da, dr = step_differences(add), step_differences(replicate)
    sa, sr = robust_spread(da), robust_spread(dr)
    return Stability(
        add.metric_id,
        add.metric_version,
        add.setting,
        replicate.setting,
        add.seed,
        sa,
        sr,
        sa / max(sr, MIN_SPREAD),
        bound,
        int(min(da.size, dr.size)),
    )


def first_lasting_drop(scores: Mapping[int, float], *, reference: int = REFERENCE_STEP) -> int | None:
    """The first scored step k > `reference` from which every scored step is below the
    reference step's score; None when the last scored step is not below it (or is the reference)."""
    if reference not in scores:
        return None
    ref = scores[reference]
    later = sorted(k for k in scores if k > reference)
    first = None
    for k in later:
        if scores[k] < ref:
            first = k if first is None else first
        else:
            first = None
    return first


def detection_delay(series: Series) -> DelaySummary:
    """Per run the first lasting drop below step 1 (see `first_lasting_drop`), summarised
    over runs (mean ± sd of the runs that dropped; the others count as never)."""
    return summarise_delays(first_lasting_drop(series.normalised[r]) for r in series.runs)
