"""Gap cells: a metric's scores along a chain turned into a verdict and its GapRecord.

For one `GapCell` (metric, setting, seed, Δ): the metric's series on the cell's chains
(`series.SeriesCache`), the gap at Δ over the paired runs (`gaps.gap`), the evidence that
step Δ visibly differs from step 1 (`step_changes.StepChanges`), the study's sign rule
applied where there was something to notice (`gaps.apply_sign_rule`), and the typed
record results.json and the report read (`records.GapRecord`).
"""

from __future__ import annotations

from typing import Any

from iqa_audit.analysis import band
from iqa_audit.analysis.gaps import Gap, GapVerdict, Series, apply_sign_rule, gap
from iqa_audit.analysis.stability import detection_delay
from iqa_audit.audit.cells import GapCell
from iqa_audit.audit.series import SeriesCache, metric_version
from iqa_audit.audit.step_changes import StepChanges
from iqa_audit.chains.chain import Chain
from iqa_audit.chains.service import image_names
from iqa_audit.config.audit_config import AuditConfig
from iqa_audit.core.tracebacks import ErrorFields
from iqa_audit.metrics.base import NonFiniteScore
from iqa_audit.results.records import GapRecord


class GapCells:
    """Gap cells of one process: their series, gaps, verdicts and records."""

    def __init__(self, cfg: AuditConfig, chains, series: SeriesCache, changes: StepChanges):
        self.cfg = cfg
        self.chains = chains  # chains.service.ChainService, or datasets.imported_chains.ImportedChains
        self.series_cache = series
        self.changes = changes

    def _chains(self, cell: GapCell) -> list[Chain]:
        return self.chains.chains(cell.chain_requests(self.cfg)[0])

    def series(self, cell: GapCell) -> Series:
        """cell.metric's Series on (cell.setting, cell.seed): cfg.runs chains built to
        cfg.steps, their cfg.scored_steps (0, 1 and every Δ; every step with every_step)
        scored as one batch; memoised per process for the series' Δ cells. Raises as
        ChainService.chains and Scorer.scores do."""
        key = ("gap", cell.metric, cell.setting.label, cell.seed)
        return self.series_cache.series(
            key, cell.metric, cell.setting.label, cell.seed, self._chains(cell), self.cfg.scored_steps
        )

    def gap(self, cell: GapCell) -> Gap:
        """gaps.gap of the cell's series at Δ: mean normalised score at step Δ minus at step
        1, over the runs that have both, in points (negative: noticed). Raises
        NonFiniteScore when a score it needs is NaN/±inf, and as `series` does."""
        return gap(self.series(cell), cell.delta_step)

    def verdict(self, cell: GapCell) -> GapVerdict:
        """The cell's verdict: its gap, with each paired run's evidence that step Δ visibly
        differs from step 1 (gaps.apply_sign_rule). Raises as `gap` and StepChanges do."""
        g = self.gap(cell)
        return apply_sign_rule(g, self.changes.evidence(self._chains(cell), g.runs, cell.delta_step))

    def record(self, cell: GapCell, verdict: GapVerdict) -> GapRecord:
        """The cell's record, from its verdict (`verdict(cell)`)."""
        g = verdict.gap
        return GapRecord(
            **{**self._fields(cell), "runs": len(g.runs)},  # the paired runs
            value=g.gap,
            reference_mean=g.reference_mean,  # over the paired runs
            step_mean=g.step_mean,
            verdict=verdict.verdict,
            passed=verdict.passed,
            reason=verdict.reason,
            paired_runs=tuple(g.runs),
            left_out=tuple({"run": r, "why": why} for r, why in g.left_out),
            per_run_gaps={str(r): x for r, x in zip(g.runs, g.per_run_gaps)},
            gap_spread=g.spread,
            gap_stderr=g.stderr,
            tolerance=band.tolerance(g.stderr),
            evidence=tuple(ev.to_dict() for ev in verdict.evidence),
        )

    def error_record(self, cell: GapCell, error: ErrorFields, known: BaseException | None = None) -> GapRecord:
        """The record of a cell that reached no verdict: its own fields, `passed` false,
        `value` null, baseline "error" and the error's fields. After a NaN score (`known` a
        NonFiniteScore) the series is computed, and the record keeps its curves and images.
        Never raises for a metric version it cannot learn (then "")."""
        series = self._fields(cell) if isinstance(known, NonFiniteScore) else {}
        fields = {
            "cell": cell.key,
            "metric": cell.metric,
            "metric_id": cell.metric_id,
            "version": metric_version(self.series_cache.scorer, cell.metric),
            "setting": cell.setting.label,
            "editor": cell.setting.editor,
            "task": cell.setting.task,
            "seed": cell.seed,
            "delta_step": cell.delta_step,
            **series,
        }
        return GapRecord(**fields, passed=False, value=None, baseline="error", **error.as_record_fields())

    def _fields(self, cell: GapCell) -> dict[str, Any]:
        """What a gap cell's record says besides its verdict: the metric, the cell, the
        series (GapRecord's fields, by name)."""
        series = self.series(cell)
        identity = self.series_cache.scorer.identity(cell.metric)  # id, version, range: no model load on a warm run
        return {
            "cell": cell.key,
            "metric": cell.metric,
            "metric_id": series.metric_id,
            "version": series.metric_version,
            "range": identity.range.to_dict(),
            "setting": cell.setting.label,
            "editor": cell.setting.editor,
            "task": cell.setting.task,
            "seed": cell.seed,
            "delta_step": cell.delta_step,
            "runs": len(series.runs),
            "mean_normalised": {str(k): series.mean(k) for k in series.steps if series.at(k)},
            "spread_normalised": {str(k): series.spread(k) for k in series.steps if series.at(k)},
            "raw": _by_run(series.raw),
            "normalised": _by_run(series.normalised),
            "images": image_names(self._chains(cell)),
            "detection_delay": _detection_delay(series),
        }


def _by_run(table) -> dict[str, dict[str, float]]:
    """{run: {step: value}} with run and step as strings (JSON object keys)."""
    return {str(r): {str(k): v for k, v in steps.items()} for r, steps in table.items()}


def _detection_delay(series: Series) -> dict[str, Any]:
    """The metric detection delay of one series (analysis.stability.detection_delay), with
    the scored steps it was read at (its resolution)."""
    d = detection_delay(series)
    return {
        "per_run": list(d.steps),
        "mean": d.mean,
        "sd": d.sd,
        "noticed_runs": d.noticed_runs,
        "runs": d.runs,
        "resolution": [k for k in series.steps if k > 1],
    }
