"""Gaps and verdicts, exactly as the study: Δi = mean over runs of the normalised score
at step i − the same mean at step 1. A metric notices the degradation of a seed when every
Δi is < 0. Step 1, not 0, is the reference because editors crop on their first step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from .errors import AuditError, explain
from .metrics.base import NonFiniteScore

REFERENCE_STEP = 1


@dataclass(frozen=True)
class Series:
    """One metric's scores on one (setting, seed): raw and normalised, per run and step."""

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
        return tuple(self.unusable[r][k] for r in sorted(self.unusable) for k in dict.fromkeys(steps)
                     if k in self.unusable[r])

    def at(self, step: int, *, normalised: bool = True) -> tuple[float, ...]:
        """Per-run scores at `step` (runs lacking that step are left out)."""
        table = self.normalised if normalised else self.raw
        return tuple(table[r][step] for r in self.runs if step in table[r])

    def mean(self, step: int) -> float:
        values = self.at(step)
        if not values:
            raise AuditError(explain(f"{self.setting}/{self.seed}", expected=f"scores at step {step}", got="none in any run",
                                     fix="Build the chains to at least that step."))
        return float(np.mean(values))

    def spread(self, step: int) -> float:
        values = self.at(step)
        return float(np.std(values)) if len(values) > 1 else 0.0


@dataclass(frozen=True)
class Gap:
    metric_id: str
    metric_version: str
    setting: str
    seed: str
    delta_step: int
    gap: float
    reference_mean: float
    step_mean: float
    reference_runs: tuple[float, ...]
    step_runs: tuple[float, ...]
    raw_reference: tuple[float, ...]
    raw_step: tuple[float, ...]

    @property
    def noticed(self) -> bool:
        """The metric scored the degraded step worse than step 1."""
        return self.gap < 0

    @property
    def cell_id(self) -> str:
        return f"{self.metric_id}-{self.setting}-{self.seed}-d{self.delta_step}"

    def explain(self) -> str:
        fmt = lambda xs: "[" + ", ".join(f"{x:.2f}" for x in xs) + "]"  # noqa: E731
        return (
            f"{self.metric_id} on {self.setting}/{self.seed}: gap Δ{self.delta_step} = {self.gap:+.3f} "
            f"({'noticed' if self.noticed else 'NOT noticed'}: needs < 0)\n"
            f"  normalised step {REFERENCE_STEP}: mean {self.reference_mean:.3f} per run {fmt(self.reference_runs)}\n"
            f"  normalised step {self.delta_step}: mean {self.step_mean:.3f} per run {fmt(self.step_runs)}\n"
            f"  raw step {REFERENCE_STEP}: {fmt(self.raw_reference)}   raw step {self.delta_step}: {fmt(self.raw_step)}"
        )


def gap(series: Series, delta_step: int) -> Gap:
    """Δ at `delta_step` (normalised points). Raises NonFiniteScore when a run's score at
    step 1 or `delta_step` is NaN/±inf: a mean over the other runs would hide it."""
    why = series.unusable_for(REFERENCE_STEP, delta_step)
    if why:
        raise NonFiniteScore(f"{series.metric_id} on {series.setting}/{series.seed}: gap Δ{delta_step} needs scores the "
                             f"metric could not give (steps {REFERENCE_STEP} and {delta_step} of every run):\n" + "\n".join(why))
    ref, cur = series.mean(REFERENCE_STEP), series.mean(delta_step)
    return Gap(
        metric_id=series.metric_id,
        metric_version=series.metric_version,
        setting=series.setting,
        seed=series.seed,
        delta_step=delta_step,
        gap=cur - ref,
        reference_mean=ref,
        step_mean=cur,
        reference_runs=series.at(REFERENCE_STEP),
        step_runs=series.at(delta_step),
        raw_reference=series.at(REFERENCE_STEP, normalised=False),
        raw_step=series.at(delta_step, normalised=False),
    )


def seed_passes(gaps: Sequence[Gap]) -> bool:
    """The study's verdict for one (metric, seed): every gap negative."""
    return bool(gaps) and all(g.noticed for g in gaps)
