"""The study's Figure 7 as the report draws it: per (add task, seed), one panel per metric
with its add and replicate chains' mean normalised score per step and the case's verdict.

Pure functions over typed stability records (results/records.py), as report/model.py is
for the gap audit: nothing here reads files or recomputes a spread.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from iqa_audit.report.model import finite
from iqa_audit.results.records import Record, StabilityRecord


def stability_records(cells: Iterable[Record]) -> list[StabilityRecord]:
    return [c for c in cells if isinstance(c, StabilityRecord)]


@dataclass(frozen=True)
class StabilityPanel:
    """One metric on one (add task, seed): its mean normalised score per step over runs on
    the add chain and on the replicate chain, and the case's verdict."""

    metric_id: str
    cell: str
    passed: bool
    outcome: str | None
    ratio: float | None
    add_spread: float | None
    replicate_spread: float | None
    add: tuple[tuple[int, float], ...]
    replicate: tuple[tuple[int, float], ...]
    error_type: str | None = None  # the cell raised: no ratio, no verdict

    @property
    def verdict(self) -> str:
        """'stable', 'UNSTABLE', or 'error: <type>' for a cell whose code raised (not a measured instability)."""
        if self.error_type is not None:
            return f"error: {self.error_type}"
        return "stable" if self.passed else "UNSTABLE"


@dataclass(frozen=True)
class StabilityFigure:
    """The study's Figure 7 for one (add task, seed): one panel per metric."""

    task: str
    seed: str
    editor: str
    add_setting: str
    replicate_setting: str
    bound: float | None
    panels: tuple[StabilityPanel, ...]


def _mean_curve(runs: Mapping[str, Mapping[str, Any]] | None) -> tuple[tuple[int, float], ...]:
    by_step: dict[int, list[float]] = {}
    for steps in (runs or {}).values():
        for k, v in (steps or {}).items():
            if finite(v) is not None:
                by_step.setdefault(int(k), []).append(float(v))
    return tuple((k, sum(vs) / len(vs)) for k, vs in sorted(by_step.items()))


def stability_figures(cells: Iterable[Record]) -> list[StabilityFigure]:
    """One figure per (add task, seed), panels by metric id, sorted."""
    recs = stability_records(cells)
    out = []
    for task, seed in sorted({(r.task, r.seed) for r in recs}):
        mine = sorted((r for r in recs if r.task == task and r.seed == seed), key=lambda r: r.metric_id)
        first = mine[0]
        panels = tuple(
            StabilityPanel(
                r.metric_id,
                r.cell,
                r.passed,
                r.outcome,
                finite(r.value),
                finite(r.add_spread),
                finite(r.replicate_spread),
                _mean_curve(r.curves.get("add")),
                _mean_curve(r.curves.get("replicate")),
                (r.error_type or "error") if r.error else None,
            )
            for r in mine
        )
        bound = next((finite(r.tolerance) for r in mine if finite(r.tolerance) is not None), None)  # an errored cell has none
        out.append(StabilityFigure(task, seed, first.editor, first.setting, first.replicate_setting, bound, panels))
    return out
