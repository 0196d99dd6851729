"""Gaps and verdicts, exactly as the study: Δi = mean over runs of the normalised score
at step i − the same mean at step 1. A metric notices the degradation of a seed when every
Δi is < 0. Step 1, not 0, is the reference because editors crop on their first step.

Two guards the study got from a human looking at the images: both means are over the
same runs (a run without step 1 or step i is left out, and named), and a cell where no
run changed visibly between step 1 and step i is inconclusive, not a verdict
(evidence.py). Each gap carries its per-run gaps and their spread, which comparisons
between two runs of the audit use (band.py); the verdict itself is the sign rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from iqa_audit.analysis import band
from iqa_audit.analysis.evidence import RunEvidence, describe_none_visible
from iqa_audit.core.errors import AuditError, explain
from iqa_audit.metrics.base import NonFiniteScore

# The study's reference step: Δi is measured against step 1, not the seed (step 0),
# because editors crop on their first step.
REFERENCE_STEP = 1


@dataclass(frozen=True)
class Series:
    """One metric's scores on one (setting, seed): raw and normalised, per run and step.

    raw: {run: {step: score}} in the metric's own units; normalised: the same in points on
    0–100, 100 the metric's best typical value (iqa_audit.metrics.normalise; unclamped). runs: the
    run numbers (from 0), sorted; steps: the steps scored (0 = the seed), sorted. A run
    lacks a step its chain did not reach or whose score is NaN/±inf (see `unusable`)."""

    metric_id: str
    metric_version: str
    setting: str
    seed: str
    runs: tuple[int, ...]
    steps: tuple[int, ...]
    raw: Mapping[int, Mapping[int, float]]  # run -> step -> raw score
    normalised: Mapping[int, Mapping[int, float]]  # run -> step -> normalised score
    # run -> step -> why that step has no score (the metric returned NaN or ±inf for its
    # image); such steps are absent from raw and normalised, and gap() refuses to use them.
    unusable: Mapping[int, Mapping[int, str]] = field(default_factory=dict)

    def unusable_for(self, *steps: int) -> tuple[str, ...]:
        """Why each (run, step) among `steps` that has no usable score has none, in run order."""
        return tuple(self.unusable[r][k] for r in sorted(self.unusable) for k in dict.fromkeys(steps) if k in self.unusable[r])

    def at(self, step: int, *, normalised: bool = True) -> tuple[float, ...]:
        """Per-run scores at `step`, in run order (runs lacking that step are left out):
        normalised points, or the metric's raw units with normalised=False."""
        table = self.normalised if normalised else self.raw
        return tuple(table[r][step] for r in self.runs if step in table[r])

    def mean(self, step: int) -> float:
        """Mean over runs of the normalised score at `step`, in points. Raises AuditError
        when no run has a score at `step`."""
        values = self.at(step)
        if not values:
            raise AuditError(
                explain(
                    f"{self.setting}/{self.seed}",
                    expected=f"scores at step {step}",
                    got="none in any run",
                    fix="Build the chains to at least that step.",
                )
            )
        return float(np.mean(values))

    def spread(self, step: int) -> float:
        """Standard deviation over runs (ddof=0, unlike Gap.spread) of the normalised score
        at `step`, in points; 0 for fewer than two runs."""
        values = self.at(step)
        return float(np.std(values)) if len(values) > 1 else 0.0


@dataclass(frozen=True)
class Gap:
    """Δ = mean normalised score at step `delta_step` − at step 1, over the *paired* runs:
    those with a score at both steps, so both means are over the same runs. Runs left out
    are named in `left_out` as (run, why). `gap` is None when no run is paired.

    Per-run tuples (`*_runs`, `raw_*`, `per_run_gaps`) follow the order of `runs`. Units:
    normalised points on [0, 100] (raw: the metric's own). delta_step counts from step 0 =
    the seed; reference_mean and step_mean are None when `gap` is."""

    metric_id: str
    metric_version: str
    setting: str
    seed: str
    delta_step: int
    gap: float | None
    reference_mean: float | None
    step_mean: float | None
    reference_runs: tuple[float, ...]
    step_runs: tuple[float, ...]
    raw_reference: tuple[float, ...]
    raw_step: tuple[float, ...]
    runs: tuple[int, ...] = ()
    left_out: tuple[tuple[int, str], ...] = ()

    @property
    def noticed(self) -> bool:
        """The metric scored the degraded step worse than step 1 (the study's sign rule)."""
        return self.gap is not None and self.gap < 0

    @property
    def per_run_gaps(self) -> tuple[float, ...]:
        """Per paired run, normalised score at step Δ minus at step 1, in points."""
        return tuple(b - a for a, b in zip(self.reference_runs, self.step_runs))

    @property
    def spread(self) -> float:
        """Standard deviation (ddof=1) of the per-run gaps; 0 for fewer than two runs."""
        return band.spread(self.per_run_gaps)[0]

    @property
    def stderr(self) -> float:
        """Standard error of the gap (the mean of the per-run gaps); 0 for fewer than two runs."""
        return band.spread(self.per_run_gaps)[1]

    def describe_left_out(self) -> str:
        """'run R left out: why; ...' for the unpaired runs; '' when none."""
        return "; ".join(f"run {r} left out: {why}" for r, why in self.left_out)

    def explain(self) -> str:
        """What a test prints about the gap, on several lines: Δ with its sign verdict, runs
        and per-run spread, then the normalised and raw scores at step 1 and step Δ per
        run, and the runs left out (one line when no run is paired)."""
        fmt = lambda xs: "[" + ", ".join(f"{x:.2f}" for x in xs) + "]"  # noqa: E731
        left = f"\n  {self.describe_left_out()}" if self.left_out else ""
        if self.gap is None:
            return f"{self.metric_id} on {self.setting}/{self.seed}: no gap Δ{self.delta_step}: no run has both steps{left}"
        return (
            f"{self.metric_id} on {self.setting}/{self.seed}: gap Δ{self.delta_step} = {self.gap:+.3f} "
            f"({'noticed' if self.noticed else 'NOT noticed'}: needs < 0) over runs {list(self.runs)}, "
            f"per-run spread {self.spread:.3f}\n"
            f"  normalised step {REFERENCE_STEP}: mean {self.reference_mean:.3f} per run {fmt(self.reference_runs)}\n"
            f"  normalised step {self.delta_step}: mean {self.step_mean:.3f} per run {fmt(self.step_runs)}\n"
            f"  raw step {REFERENCE_STEP}: {fmt(self.raw_reference)}   raw step {self.delta_step}: {fmt(self.raw_step)}{left}"
        )


def gap(series: Series, delta_step: int) -> Gap:
    """The gap over the runs that have both step 1 and step `delta_step` (see Gap), in
    normalised points. Raises NonFiniteScore when a run's score at step 1 or `delta_step`
    is NaN/±inf: leaving that run out would hide it (a run without the step is left out)."""
    why = series.unusable_for(REFERENCE_STEP, delta_step)
    if why:
        raise NonFiniteScore(
            f"{series.metric_id} on {series.setting}/{series.seed}: gap Δ{delta_step} needs scores the "
            f"metric could not give (steps {REFERENCE_STEP} and {delta_step} of every run):\n" + "\n".join(why)
        )
    paired, left_out = [], []
    for r in series.runs:
        have = series.normalised[r]
        missing = [k for k in (REFERENCE_STEP, delta_step) if k not in have]
        if missing:
            left_out.append((r, "no step " + " and no step ".join(map(str, missing))))
        else:
            paired.append(r)
    ref = tuple(series.normalised[r][REFERENCE_STEP] for r in paired)
    cur = tuple(series.normalised[r][delta_step] for r in paired)
    ref_mean = float(np.mean(ref)) if paired else None
    cur_mean = float(np.mean(cur)) if paired else None
    return Gap(
        metric_id=series.metric_id,
        metric_version=series.metric_version,
        setting=series.setting,
        seed=series.seed,
        delta_step=delta_step,
        gap=None if not paired else cur_mean - ref_mean,
        reference_mean=ref_mean,
        step_mean=cur_mean,
        reference_runs=ref,
        step_runs=cur,
        raw_reference=tuple(series.raw[r][REFERENCE_STEP] for r in paired),
        raw_step=tuple(series.raw[r][delta_step] for r in paired),
        runs=tuple(paired),
        left_out=tuple(left_out),
    )


VERDICTS = ("pass", "fail", "inconclusive")  # every GapVerdict.verdict


@dataclass(frozen=True)
class GapVerdict:
    """A gap cell's verdict: 'pass' (noticed: gap < 0), 'fail' (missed) or 'inconclusive'
    (no paired run, or no paired run changed visibly: nothing to notice), with the
    per-run evidence it rests on and, for 'inconclusive', why."""

    verdict: str
    gap: Gap
    evidence: tuple[RunEvidence, ...]
    reason: str = ""

    @property
    def passed(self) -> bool:
        """True for 'pass': the metric noticed (gap < 0) a visible change."""
        return self.verdict == "pass"

    @property
    def conclusive(self) -> bool:
        """True for 'pass' and 'fail'; False for 'inconclusive' (nothing visible to notice,
        or no paired run)."""
        return self.verdict != "inconclusive"

    def explain(self) -> str:
        """What a test prints: an inconclusive cell in one line (why, with every run's
        numbers; the gap it did not judge), a judged one with its gap and evidence."""
        g = self.gap
        if self.verdict == "inconclusive":
            unjudged = "" if g.gap is None else f"; gap Δ{g.delta_step} = {g.gap:+.3f} over runs {list(g.runs)}, not judged"
            left = f"; {g.describe_left_out()}" if g.left_out and g.runs else ""
            return f"INCONCLUSIVE: {g.metric_id} on {g.setting}/{g.seed}: {self.reason}{unjudged}{left}"  # names its cell: -rs lists only the file
        return g.explain() + "\n  evidence: " + "; ".join(ev.describe() for ev in self.evidence)


def apply_sign_rule(g: Gap, evidence: Sequence[RunEvidence]) -> GapVerdict:
    """The study's sign rule, applied only where there was something to notice.

    `evidence`: one RunEvidence per paired run of `g` (step Δ against step 1). Inconclusive
    when no run is paired, or when no paired run changed visibly (evidence.py gives the
    measure and threshold); otherwise 'pass' when the gap is < 0, else 'fail'."""
    ev = tuple(e for e in evidence if e.run in g.runs)
    if not g.runs:
        why = g.describe_left_out() or "no runs"
        return GapVerdict("inconclusive", g, (), f"no run has both step {REFERENCE_STEP} and step {g.delta_step} ({why})")
    missing = sorted(set(g.runs) - {e.run for e in ev})
    if missing:
        raise AuditError(
            explain(
                f"gap Δ{g.delta_step} of {g.metric_id} on {g.setting}/{g.seed}",
                expected="evidence for every paired run",
                got=f"none for runs {missing}",
                fix="This is a bug in iqa-audit (audit/gap_cells.py): report it.",
            )
        )
    if not any(e.visible for e in ev):
        return GapVerdict("inconclusive", g, ev, describe_none_visible(ev))
    return GapVerdict("pass" if g.noticed else "fail", g, ev)


def seed_passes(gaps: Sequence[Gap]) -> bool:
    """The study's verdict for one (metric, seed): every gap negative."""
    return bool(gaps) and all(g.noticed for g in gaps)
