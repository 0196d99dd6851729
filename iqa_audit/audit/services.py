"""What one process of the audit works with, wired once: the store, its small services,
and one module per audit kind that turns a cell into its typed record.

- chains: `chains.service.ChainService` (built through the store), or
  `datasets.imported_chains.ImportedChains` with --dataset;
- scores: `scoring.cached.Scorer` (scores through the cache, metrics loaded once);
- evidence of change: `step_changes.StepChanges` (memoised per pair of images);
- series: `series.SeriesCache` (a metric along a cell's chains, once per process);
- the kinds: `gap_cells.GapCells`, `stability_cells.StabilityCells`,
  `sanity_cells.SanityCells`, `editor_cells.EditorCells`.

One `Services` per pytest process (the controller with -n 0, or each xdist worker): the
caches inside are plain dicts, not shared between threads; across processes it is safe
because the store and its per-chain file locks are. In the store, across processes and
runs: scores and object counts in the score table; memos 'evidence', 'sanity' and
'fidelity' keyed by a digest of every input and the source of the code that computes
them, 'identity' by the metric's fingerprint, and the LLM judge's answers by judge and
question. On a read-only store everything already stored is read; building a chain or
scoring an image it lacks raises StoreError.
"""

from __future__ import annotations

from dataclasses import dataclass

from iqa_audit.audit.cells import Cell, EditorCell, GapCell, SanityCase, StabilityCell
from iqa_audit.audit.editor_cells import EditorCells
from iqa_audit.audit.gap_cells import GapCells
from iqa_audit.audit.sanity_cells import SanityCells
from iqa_audit.audit.series import SeriesCache
from iqa_audit.audit.stability_cells import StabilityCells
from iqa_audit.audit.step_changes import StepChanges
from iqa_audit.chains.paid import PaidBudget
from iqa_audit.chains.service import ChainService
from iqa_audit.config.audit_config import AuditConfig
from iqa_audit.core.tracebacks import ErrorFields
from iqa_audit.datasets.imported_chains import ImportedChains
from iqa_audit.results.records import Record
from iqa_audit.scoring.cached import Scorer
from iqa_audit.store.store import Store


@dataclass(eq=False)
class Services:
    """The services of one process (see the module doc); made by `open`."""

    cfg: AuditConfig
    store: Store
    chains: ChainService | object  # an ImportedChains with --dataset
    scorer: Scorer
    gaps: GapCells
    stability: StabilityCells
    sanity: SanityCells
    editors: EditorCells

    @classmethod
    def open(
        cls, cfg: AuditConfig, store: Store | None = None, budget: PaidBudget | None = None, imported: str | None = None
    ) -> Services:
        """Wire the services for `cfg`. `store` defaults to Store(cfg.store); `budget`, the
        run's paid-step allowance, to PaidBudget(cfg.max_paid_steps, cfg.resend_unknown)
        (the pytest session passes one budget shared by every xdist worker); `imported`: the
        id the --dataset resolved to, when the caller imported it already. Nothing is
        loaded or built here."""
        store = store or Store(cfg.store)
        if cfg.dataset:
            chains = ImportedChains(store, cfg.dataset, imported)
        else:
            budget = budget if budget is not None else PaidBudget(cfg.max_paid_steps, cfg.resend_unknown)
            chains = ChainService(store, budget, seed_dirs=cfg.seed_dirs)
        scorer = Scorer(store, cfg.device)
        series = SeriesCache(scorer)
        return cls(
            cfg,
            store,
            chains,
            scorer,
            GapCells(cfg, chains, series, StepChanges(store)),
            StabilityCells(cfg, chains, series),
            SanityCells(cfg, scorer),
            EditorCells(cfg, store, chains),
        )

    def error_record(self, cell: Cell, error: ErrorFields, known: BaseException | None = None) -> Record:
        """The record of a cell that could not reach a verdict (a user's metric or editor
        failing, a NaN score, a chain that could not be built), by its kind's module: the
        cell's own fields, no verdict and `error`'s type, message, raising frame, chain and
        step. `known`: the exception, when it is a NonFiniteScore whose series is computed
        (a gap record then keeps its curves and images)."""
        if isinstance(cell, GapCell):
            return self.gaps.error_record(cell, error, known)
        if isinstance(cell, StabilityCell):
            return self.stability.error_record(cell, error)
        if isinstance(cell, SanityCase):
            return self.sanity.error_record(cell, error)
        if isinstance(cell, EditorCell):
            return self.editors.error_record(cell, error)
        raise TypeError(f"not an audit cell: {cell!r}")
