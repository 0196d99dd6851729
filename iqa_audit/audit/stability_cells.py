"""Stability cells: a metric on an add chain against the replicate chain, as a StabilityRecord.

For one `StabilityCell` (metric, editor, add task, seed): the metric's series on the add
chains and on the replicate chains of the same editor and seed (`series.SeriesCache`, at
the stability chains' shape), the robust spreads of their step-to-step differences and
their ratio (`analysis.stability.stability`), and the typed record results.json and the
report read (`records.StabilityRecord`).
"""

from __future__ import annotations

from iqa_audit.analysis.gaps import Series
from iqa_audit.analysis.stability import Stability, stability
from iqa_audit.audit.cells import StabilityCell, stability_chains
from iqa_audit.audit.series import SeriesCache, metric_version
from iqa_audit.chains.plan import Setting
from iqa_audit.chains.service import image_names
from iqa_audit.config.audit_config import AuditConfig
from iqa_audit.core.tracebacks import ErrorFields
from iqa_audit.results.records import StabilityRecord


class StabilityCells:
    """Stability cells of one process: their series, findings and records."""

    def __init__(self, cfg: AuditConfig, chains, series: SeriesCache):
        self.cfg = cfg
        self.chains = chains  # chains.service.ChainService
        self.series_cache = series

    def series(self, metric: str, setting: Setting, seed: str) -> Series:
        """Every step of the stability chains of (setting, seed) (cells.stability_chains),
        scored by `metric` as one batch, normalised; memoised per process. Raises as
        ChainService.chains and Scorer.scores do."""
        request = stability_chains(self.cfg, setting, seed)
        key = ("stability", metric, setting.label, seed)
        return self.series_cache.series(key, metric, setting.label, seed, self.chains.chains(request), range(request.steps + 1))

    def finding(self, cell: StabilityCell) -> Stability:
        """The cell's add chain against the replicate chain of the same editor and seed:
        robust spreads of step-to-step normalised differences (points) and their ratio.
        Raises NonFiniteScore naming each image without a score, and as `series` does."""
        return stability(
            self.series(cell.metric, cell.add_setting, cell.seed), self.series(cell.metric, cell.replicate_setting, cell.seed)
        )

    def record(self, cell: StabilityCell, s: Stability) -> StabilityRecord:
        """The cell's record, from its finding (`finding(cell)`)."""
        add, rep = (self.series(cell.metric, st, cell.seed) for st in (cell.add_setting, cell.replicate_setting))
        request = stability_chains(self.cfg, cell.add_setting, cell.seed)
        return StabilityRecord(
            cell=cell.key,
            metric=cell.metric,
            metric_id=s.metric_id,
            version=s.metric_version,
            editor=cell.editor,
            task=cell.task,
            setting=s.add_setting,
            replicate_setting=s.replicate_setting,
            seed=cell.seed,
            passed=s.passed,
            value=s.ratio,
            tolerance=s.bound,
            add_spread=s.add_spread,
            replicate_spread=s.replicate_spread,
            differences=s.differences,
            message=s.explain(),
            curves={"add": _curve(add), "replicate": _curve(rep)},
            images=image_names(self.chains.chains(request)),
        )

    def error_record(self, cell: StabilityCell, error: ErrorFields) -> StabilityRecord:
        """The record of a cell that reached no verdict: its own fields, `passed` false,
        `value` null, baseline "error" and the error's fields."""
        return StabilityRecord(
            cell=cell.key,
            metric=cell.metric,
            metric_id=cell.metric_id,
            version=metric_version(self.series_cache.scorer, cell.metric),
            editor=cell.editor,
            task=cell.task,
            setting=cell.add_setting.label,
            replicate_setting=cell.replicate_setting.label,
            seed=cell.seed,
            passed=False,
            value=None,
            baseline="error",
            **error.as_record_fields(),
        )


def _curve(series: Series) -> dict[str, dict[str, float]]:
    """{run: {step: normalised score}}, steps in order, run and step as strings."""
    return {str(r): {str(k): v for k, v in sorted(steps.items())} for r, steps in series.normalised.items()}
