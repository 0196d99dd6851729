"""Per-process audit engine: cells in, findings out, everything through the store.

One Engine lives in each pytest process (controller with -n 0, or each xdist worker).
It builds or reads chains (file-locked, so shared across workers), loads each metric once
(the registry caches it), scores a cell's images as one batch through the score cache,
and memoises a (metric, setting, seed) series so its three Δ cells cost one computation.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from functools import cached_property
from types import ModuleType
from typing import Any, Mapping

import numpy as np

from iqa_audit.audit.cells import EditorCell, GapCell, SanityCase, StabilityCell
from iqa_audit.chains.chain import Chain, ChainBusy, ChainSpec, PaidBudget, build_chain, resolve
from iqa_audit.config.audit_config import AuditConfig
from iqa_audit.datasets.registry import chains_of, require_record
from iqa_audit.datasets.importer import ensure_imported
from iqa_audit.core.errors import StoreError, explain
from iqa_audit.analysis.evidence import Change, RunEvidence, measure_change
from iqa_audit.analysis.evidence import sources as evidence_sources
from iqa_audit.fidelity import CheckInput, Finding, get_check
from iqa_audit.analysis.gaps import REFERENCE_STEP, GapVerdict, Series, gap, judge
from iqa_audit.core.images import Image
from iqa_audit.core.keys import code_digest, digest
from iqa_audit.metrics.identity import MetricIdentity, fingerprint
from iqa_audit.metrics.normalise import normalise
from iqa_audit.chains.plan import Setting
from iqa_audit.analysis.sanity import SANITY_CHECKS, SanityInput
from iqa_audit.scoring.batch import Scores, known_scores, nonfinite_line
from iqa_audit.scoring.cached import scores_of
from iqa_audit.analysis.stability import Stability, stability as stability_of
from iqa_audit.store.store import Store, jsonable
from iqa_audit.tasks.table import get_task


# The code behind each memoised finding: editing any of it makes every memo of that kind
# stale (a different key), so a check's verdict is never read back from older code.
# Imported when first needed: collection imports no check.
def fidelity_sources() -> tuple[ModuleType, ...]:
    """The modules whose source keys every 'fidelity' memo: fidelity, tasks, counting and
    this one (keys.code_digest over them)."""
    from iqa_audit.vlm import counting
    from iqa_audit import fidelity
    from iqa_audit import tasks

    return (fidelity, tasks, counting, sys.modules[__name__])


def sanity_sources() -> tuple[ModuleType, ...]:
    """The modules whose source keys every 'sanity' memo: this one, sanity and seeds."""
    from iqa_audit.analysis import sanity
    from iqa_audit import seeds

    return (sys.modules[__name__], sanity, seeds)


_AUDIT_SIZE = object()  # Engine.chains' default: seeds at the audit's --long-side


@dataclass(frozen=True)
class EditorFinding:
    """A fidelity finding of one editor cell, over its runs, combined by the check's table
    entry (by default the worst run, passing only when every run does; a rate pools runs).

    value and tolerance: in the check's own units (fidelity.finding.Finding). details:
    {"runs": [each run's details with its passed and value]}. editor_version: of run 0's
    chain."""

    passed: bool
    value: float
    tolerance: float
    message: str
    details: Mapping[str, Any]
    editor_version: str


class Engine:
    """The audit's engine in one process: cells (iqa_audit.audit.cells) in, findings out, every
    image, score and derived result through one Store.

    Engine(cfg, store=None, budget=None): `store` defaults to Store(cfg.store); `budget`, the
    run's paid-step allowance, to PaidBudget(cfg.max_paid_steps, cfg.resend_unknown) (the
    pytest plugin passes one budget shared by every xdist worker).

    Public surface:
    - chains: plan, chains, chain_images, reasonings, image; dataset / dataset_record
      (--dataset: imported chains instead of built ones).
    - metric audit: metric, identity, scores, series, gap, verdict, evidence, step_change.
    - stability: stability_series, stability. Sanity: sanity, clean_seed_images.
    - editor audit: editor_finding, counter, counter_id, judge.

    Units: `scores` and Series.raw are raw scores in the metric's own units; Series.normalised,
    gaps and verdicts are normalised points on 0–100, where 100 is the metric's best typical
    value (iqa_audit.metrics.normalise, ranges from the study's Table 2; unclamped). Steps count from
    0 = the seed; step 1 is the reference; Δ is a cell's delta_step.

    Invariants. One Engine per pytest process (the controller, or each xdist worker); its
    caches are plain dicts, not shared between threads. Across processes it is safe because
    the Store and its per-chain file locks are. Cached per process: chains by (setting
    label, editor, task, seed, steps, runs, long side); series by (metric, setting label,
    seed), stability series by ('stability', metric, label, seed); metric identities, and
    metrics that cannot run (every cell gets the same MetricUnavailable), by name. In the
    store, across processes and runs: scores and object counts in the score table; memos
    'evidence', 'sanity' and 'fidelity' keyed by a digest of every input and the source of
    the code that computes them, 'identity' by the metric's fingerprint, and the LLM judge's
    answers by judge and question. On a read-only store everything already stored is read;
    building a chain or scoring an image it lacks raises StoreError.

    Building chains may pay for editor steps: within `budget`, else BudgetExhausted.
    """

    def __init__(
        self, cfg: AuditConfig, store: Store | None = None, budget: PaidBudget | None = None, imported: str | None = None
    ):
        self.cfg = cfg
        self.store = store or Store(cfg.store)
        # The id of the import --dataset resolved to, when the caller already imported it
        # (the pytest controller does, once, before the workers start).
        self._imported = imported
        self._series: dict[tuple[str, str, str], Series] = {}
        self._identities: dict[str, MetricIdentity] = {}
        self._unavailable: dict[str, Exception] = {}
        # Chains read (and verified) once per process: every Δ cell of a series, its image
        # strip and its editor checks ask for the same chains.
        self._chains: dict[tuple, list[Chain]] = {}
        # Chains of the plan whose build raised (an editor's error, a budget spent), by chain
        # key: the error belongs to the cells that need that chain, and is raised by them
        # (`chains`), not by the cell that happened to build the plan. Kept, not retried:
        # asking a failing editor again costs time, and for a paid editor money.
        self._build_failed: dict[str, Exception] = {}
        # A test run never spends money silently: paid steps beyond this cap stop the cell
        # with a message naming --max-paid-steps. The plugin passes the run's one budget
        # (its ledger shared by every xdist worker); alone, an Engine gets its own.
        self.budget = budget if budget is not None else PaidBudget(cfg.max_paid_steps, cfg.resend_unknown)

    # ----- chains --------------------------------------------------------------------
    @cached_property
    def dataset_record(self):
        """The imported dataset --dataset names (a manifest, imported here first, or the
        name of a completed import), or None when the audit builds its own chains.

        First access imports a manifest into the store, under a file lock so one worker
        imports and the others wait (importing again is a no-op). Raises ConfigError for a
        name that is not an imported dataset, or listing a manifest's problems."""
        if not self.cfg.dataset:
            return None
        if self._imported is not None:
            return require_record(self.store, self._imported)
        return ensure_imported(self.store, self.cfg.dataset)

    @property
    def dataset(self) -> str | None:
        """The id of the --dataset being audited (dataset_record.id), or None. Raises as
        dataset_record does."""
        return None if self.dataset_record is None else self.dataset_record.id

    def plan(self, specs: list[ChainSpec], *, worker: int = 0, workers: int = 1) -> None:
        """The chains this session's cells will need. Each worker builds them starting at its
        own offset, so parallel workers build different chains instead of queueing on the
        same chain lock one after another (the lock still guarantees each is built once).
        Nothing is built here: the next `chains` call builds every planned chain first."""
        unique = list(dict.fromkeys(specs))
        offset = (len(unique) * worker) // max(workers, 1)
        self._planned = unique[offset:] + unique[:offset]

    def _build_planned(self) -> None:
        """Build every planned chain, sharing the work with other workers: a chain another
        worker is building is skipped and come back to, so no worker queues behind
        another's lock while unbuilt chains remain (a fixed split left one worker
        waiting on the other's slow simulator chains: -n 2 ran no faster than -n 0)."""
        planned, self._planned = getattr(self, "_planned", []), []
        pending = []
        for spec in planned:
            try:
                pending.append(resolve(spec, extra_seed_dirs=self.cfg.seed_dirs))
            except Exception:  # a failing editor factory: resolved (and raised) again by the cells that
                continue  # need this chain, not by whichever cell happened to build the plan
        while pending:
            busy = []
            for rc in pending:
                try:
                    build_chain(self.store, rc, budget=self.budget, wait=False)
                except ChainBusy:
                    busy.append(rc)
                except Exception as e:  # the cells that need this chain raise it (_build_failed)
                    self._build_failed[rc.key] = e
            if busy:  # all left are being built elsewhere: wait for the first, then retry the rest
                try:
                    build_chain(self.store, busy[0], budget=self.budget)
                except Exception as e:
                    self._build_failed[busy[0].key] = e
            pending = busy[1:]

    def chains(self, setting, seed: str, *, steps: int, runs: int, long_side: Any = _AUDIT_SIZE) -> list[Chain]:
        """One chain per run for (setting, seed), built up to `steps` if needed, with seeds
        rendered at `long_side` px (default: the audit's --long-side; None: native size).

        Returns chains.Chain values in run order (runs 0..runs-1), each with its stored steps
        0..`steps`, fewer when the editor stopped (refused, failed, unknown outcome). With
        --dataset: the imported chains of (setting.label, seed) with their registered steps;
        `steps`, `runs` and `long_side` are ignored. Side effects: builds every planned chain
        first (plan), then builds or extends these (steps and objects written to the store,
        paid steps charged to the budget); cached per process. Raises BudgetExhausted,
        CorruptObject (a paid step's file damaged), ConfigError (an unknown seed, editor or
        task; a seed the editor cannot take at that size), StoreError (a read-only store
        lacking the steps; imported chains or steps missing), and the editor's errors."""
        if self.dataset is not None:
            return self._imported_chains(setting.label, seed)
        self._build_planned()
        size = self.cfg.long_side if long_side is _AUDIT_SIZE else long_side
        key = (setting.label, setting.editor, setting.task, seed, steps, runs, size)
        if key not in self._chains:
            self._chains[key] = self._build_chains(setting, seed, steps=steps, runs=runs, long_side=size)
        return self._chains[key]

    def _build_chains(self, setting, seed: str, *, steps: int, runs: int, long_side: int | None) -> list[Chain]:
        out = []
        for run in range(runs):
            spec = ChainSpec(seed=seed, editor=setting.editor, task=setting.task, run=run, steps=steps, long_side=long_side)
            rc = resolve(spec, extra_seed_dirs=self.cfg.seed_dirs)
            if rc.key in self._build_failed:  # raised while building the plan: this cell needs that chain
                raise self._build_failed[rc.key]
            out.append(build_chain(self.store, rc, budget=self.budget))
        return out

    def _imported_chains(self, setting: str, seed: str) -> list[Chain]:
        """The chains of a completed import, with exactly the steps it registered: steps an
        unfinished later import added are not seen until that import completes."""
        from iqa_audit.chains.chain import Chain as ChainValue

        imported = chains_of(self.dataset_record, setting, seed)
        if not imported:
            raise StoreError(
                explain(
                    f"imported chains {setting}/{seed}",
                    expected=f"chains of dataset {self.dataset}",
                    got="none registered",
                    fix="Check --dataset names the dataset that was imported.",
                )
            )
        chains = []
        for c in imported:
            wanted = set(c.steps)
            steps = tuple(s for s in self.store.steps(c.key) if s.step in wanted)
            if {s.step for s in steps} != wanted:
                raise StoreError(
                    explain(
                        f"imported chain {setting}/{seed} run {c.run} of dataset {self.dataset}",
                        expected=f"steps {sorted(wanted)}",
                        got=f"steps {sorted(s.step for s in steps)} in the store",
                        fix="Run the import again: it restores missing steps.",
                    )
                )
            chains.append(ChainValue(self.store.chain(c.key), steps, max(wanted)))
        return chains

    def image(self, step_record) -> Image:
        """The decoded image of a stored step (a StepRecord, or anything with image_hash and
        ext). Raises CorruptObject (missing or altered file), BadImageError (not decodable)."""
        return self.store.get_image(step_record.image_hash, step_record.ext)

    # ----- metric audit ----------------------------------------------------------------
    def metric(self, name: str):
        """The loaded metric. MetricUnavailable when it cannot run here: missing weights or
        packages, or a name, import or declaration the registry refuses (ConfigError),
        remembered for this process so every cell of the metric gets the same answer fast.

        Returns the registry's metric (metrics.base.Metric: score(list[Image]) -> raw scores,
        id, version, range), created once per process per (name, device)."""
        from iqa_audit.core.errors import ConfigError
        from iqa_audit.metrics.base import MetricUnavailable
        from iqa_audit.metrics.registry import create_metric

        if name in self._unavailable:
            raise self._unavailable[name]
        try:
            return create_metric(name, device=self.cfg.device)
        except MetricUnavailable as e:
            self._unavailable[name] = e
            raise
        except ConfigError as e:
            self._unavailable[name] = MetricUnavailable(str(e))
            raise self._unavailable[name] from e

    def identity(self, name: str) -> MetricIdentity:
        """id, version and range of metric `name`, from the store's memo when its
        fingerprint is unchanged, so a warm run never imports torch or pyiqa.

        Otherwise loads the metric (raising MetricUnavailable as `metric` does) and, for a
        pyiqa metric, memoises its identity under the fingerprint. Cached per process."""
        if name not in self._identities:
            fp = fingerprint(name)
            memo = None if fp is None else self.store.get_memo("identity", fp)
            if memo is not None:
                self._identities[name] = MetricIdentity.from_json(memo)
            else:
                self._remember_identity(name, self.metric(name))
        return self._identities[name]

    def _remember_identity(self, name: str, metric) -> MetricIdentity:
        identity = self._identities[name] = MetricIdentity.of(metric)
        fp = fingerprint(name)
        if fp is not None:
            self.store.put_memo("identity", fp, identity.to_json())
        return identity

    def scores(self, name: str, objects: list[tuple[str, str]]) -> tuple[MetricIdentity, Scores]:
        """What metric `name` says about `objects`, loading the metric only when the store
        does not know some image yet. NaN/±inf come back in `.nonfinite`, not raised.

        `objects`: [(image sha256, ext), ...]. Returns (identity, Scores): Scores.finite is
        {hash: raw score in the metric's own units}, Scores.nonfinite {hash: NaN/±inf}.
        Images the store lacks are scored as one batch and stored. Raises MetricUnavailable,
        ScoreError (a batch of the wrong shape), CorruptObject or BadImageError (an image
        that cannot be read), StoreError (a read-only store lacking scores)."""
        identity = self.identity(name)
        have = known_scores(self.store, identity.id, identity.version, [h for h, _ in objects])
        if have.covers(dict(objects)):
            return identity, have
        metric = self.metric(name)
        identity = self._remember_identity(name, metric)  # the loaded metric's word is final
        return identity, scores_of(self.store, metric, objects)  # one batch for the whole cell

    def series(self, cell: GapCell) -> Series:
        """cell.metric's Series on (cell.setting, cell.seed): cfg.runs chains built to
        cfg.steps, their cfg.scored_steps (0, 1 and every Δ; every step with every_step)
        scored as one batch. raw ({run: {step: score}}) in the metric's units, normalised in
        points on 0–100; a step whose score is NaN/±inf is absent from both and named in
        `unusable`. Cached per process by (metric, setting label, seed), so the series' Δ
        cells cost one computation. Raises as `chains` and `scores` do."""
        key = (cell.metric, cell.setting.label, cell.seed)
        if key not in self._series:
            self._series[key] = self._compute_series(cell)
        return self._series[key]

    def _compute_series(self, cell: GapCell) -> Series:
        chains = self.chains(cell.setting, cell.seed, steps=self.cfg.steps, runs=self.cfg.runs)
        return self._score_series(cell.metric, cell.setting.label, cell.seed, chains, self.cfg.scored_steps)

    def _score_series(self, metric_name: str, label: str, seed: str, chains: list[Chain], wanted) -> Series:
        """`metric_name`'s scores of the `wanted` steps of `chains` (one batch), raw and
        normalised (points on 0–100), per run and step."""
        wanted = set(wanted)
        per_run = {c.record.run: {s.step: s for s in c.ok_steps if s.step in wanted} for c in chains}
        objects = [(s.image_hash, s.ext) for steps in per_run.values() for s in steps.values()]
        metric, got = self.scores(metric_name, objects)
        raw = {
            run: {k: got.finite[s.image_hash] for k, s in steps.items() if s.image_hash in got.finite}
            for run, steps in per_run.items()
        }
        norm = {run: {k: float(normalise(v, metric.range)) for k, v in steps.items()} for run, steps in raw.items()}
        # A step whose score is NaN/±inf is left out of the series and named, so only the
        # cells that need it error (gaps.gap raises for them); the others still run.
        unusable = {
            run: {
                k: nonfinite_line(self.store, metric_name, s.image_hash, got.nonfinite[s.image_hash], ext=s.ext)
                for k, s in steps.items()
                if s.image_hash in got.nonfinite
            }
            for run, steps in per_run.items()
        }
        return Series(
            metric.id,
            metric.version,
            label,
            seed,
            tuple(sorted(raw)),
            tuple(sorted(wanted)),
            raw,
            norm,
            {r: u for r, u in unusable.items() if u},
        )

    def gap(self, cell: GapCell):
        """gaps.gap of the cell's series at Δ = cell.delta_step: mean normalised score at step
        Δ minus at step 1, over the runs that have both, in points (negative: noticed).
        Raises NonFiniteScore when a score it needs is NaN/±inf, and as `series` does."""
        return gap(self.series(cell), cell.delta_step)

    def verdict(self, cell: GapCell) -> GapVerdict:
        """The cell's verdict: its gap over paired runs, judged with each paired run's
        evidence that step Δ visibly differs from step 1 (gaps.judge). Raises as `gap` and
        `evidence` do."""
        g = self.gap(cell)
        return judge(g, self.evidence(cell, g.runs))

    def evidence(self, cell: GapCell, runs) -> tuple[RunEvidence, ...]:
        """Per run in `runs`: how step Δ differs from step 1 (evidence.measure_change), in
        the order of `runs`, each of which must have both steps stored (Gap.runs do).
        Raises as `chains` and `step_change` do."""
        chains = {c.record.run: c for c in self.chains(cell.setting, cell.seed, steps=self.cfg.steps, runs=self.cfg.runs)}
        out = []
        for run in runs:
            ok = {s.step: s for s in chains[run].ok_steps}
            change = self.step_change(ok[REFERENCE_STEP], ok[cell.delta_step])
            out.append(RunEvidence(run, REFERENCE_STEP, cell.delta_step, change))
        return tuple(out)

    def step_change(self, reference, later) -> Change:
        """evidence.measure_change of two stored steps, memoised under both image hashes
        and the source of the code that measures it, so a warm run decodes no image.

        Change: psnr_db in dB (None for identical pixels), ssim in [-1, 1], the alignment
        used; identical bytes give Change(None, 1.0, 'identity') without decoding. Raises
        CorruptObject or BadImageError for an image that cannot be read."""
        if reference.image_hash == later.image_hash:
            return Change(None, 1.0, "identity")  # the same bytes: nothing to decode
        key = memo_key("evidence", reference.image_hash, later.image_hash, code_digest(*evidence_sources()))
        memo = self.store.get_memo("evidence", key)
        if memo is not None:
            return Change.from_dict(json.loads(memo))
        change = measure_change(self.image(reference), self.image(later))
        self.store.put_memo("evidence", key, json.dumps(change.to_dict(), sort_keys=True))
        return change

    # ----- stability under content change --------------------------------------------
    def stability_series(self, metric: str, setting: Setting, seed: str) -> Series:
        """Every step of the stability chains of (setting, seed), scored by `metric` (one
        batch), normalised; memoised per process like the audit's series.

        Chains: cfg.stability_runs runs of cfg.stability_steps steps, seeds at
        cfg.stability_long_side px. Units as in `series`. Raises as `series` does."""
        key = ("stability", metric, setting.label, seed)
        if key not in self._series:
            cfg = self.cfg
            chains = self.chains(
                setting, seed, steps=cfg.stability_steps, runs=cfg.stability_runs, long_side=cfg.stability_long_side
            )
            self._series[key] = self._score_series(metric, setting.label, seed, chains, range(cfg.stability_steps + 1))
        return self._series[key]

    def stability(self, cell: StabilityCell) -> Stability:
        """The cell's add chain against the replicate chain of the same editor and seed:
        robust spreads of step-to-step normalised differences (points) and their ratio
        (iqa_audit.analysis.stability). Raises as `stability_series` does."""
        return stability_of(
            self.stability_series(cell.metric, cell.add_setting, cell.seed),
            self.stability_series(cell.metric, cell.replicate_setting, cell.seed),
        )

    def chain_images(
        self, setting, seed: str, *, steps: int, runs: int, long_side: Any = _AUDIT_SIZE
    ) -> dict[str, dict[str, str]]:
        """{run: {step: 'sha256.ext'}} of the stored chains, for the report's image strips
        (run and step as strings, ok steps only). Builds as `chains` does."""
        return {
            str(c.record.run): {str(s.step): f"{s.image_hash}.{s.ext}" for s in c.ok_steps}
            for c in self.chains(setting, seed, steps=steps, runs=runs, long_side=long_side)
        }

    def reasonings(self, setting, seed: str, *, steps: int, runs: int) -> dict[str, list]:
        """{run: [[step, reasoning or None], ...]}: the editor's own words per step 1..,
        a stopped step included (run as a string). Builds as `chains` does."""
        return {
            str(c.record.run): [[s.step, s.reasoning] for s in c.steps if s.step > 0]
            for c in self.chains(setting, seed, steps=steps, runs=runs)
        }

    # ----- metric sanity ---------------------------------------------------------------
    def clean_seed_images(self, count: int | None = None) -> list[Image]:
        """The audit's clean seeds (plan.audit_seeds, by name) rendered at cfg.long_side px
        (None: native size): the first `count`, or all for None or 0. Raises ConfigError for
        an unknown seed."""
        from iqa_audit.chains.plan import audit_seeds

        seeds = audit_seeds(self.cfg)[:count] if count else audit_seeds(self.cfg)
        return [s.render(self.cfg.long_side) for s in seeds]

    def sanity(self, case: SanityCase) -> tuple[bool, str, bool]:
        """(passed, message, warning_only), memoised per metric version: a metric whose
        weights and code are unchanged behaves as it did, so a warm run loads nothing.

        Runs sanity check case.check (sanity.SANITY_CHECKS) on the loaded metric; images it
        scores are stored with their scores. warning_only: a failure only warns (the check's
        entry). Memo key: metric id and version, check, audit seed names, cfg.long_side and
        the source of sanity_sources(). Raises MetricUnavailable, and what scoring raises."""
        from iqa_audit.chains.plan import audit_seeds

        identity = self.identity(case.metric)
        key = memo_key(
            "sanity",
            identity.id,
            identity.version,
            case.check,
            [s.name for s in audit_seeds(self.cfg)],
            self.cfg.long_side,
            code_digest(*sanity_sources()),
        )
        memo = self.store.get_memo("sanity", key)
        if memo is not None:
            passed, message, warning_only = json.loads(memo)
            return bool(passed), str(message), bool(warning_only)
        result = self._sanity(case)
        self.store.put_memo("sanity", key, json.dumps(list(result)))
        return result

    def _sanity(self, case: SanityCase) -> tuple[bool, str, bool]:
        check = SANITY_CHECKS[case.check]
        metric = self.metric(case.metric)

        def through_cache(images: list[Image]) -> np.ndarray:
            objects = [self.store.put_image(img) for img in images]
            got = scores_of(self.store, metric, objects)  # NaN/±inf stay out of the store; they land outside the range
            return np.asarray([got.finite.get(h, got.nonfinite.get(h)) for h, _ in objects], dtype=float)

        from iqa_audit.chains.plan import audit_seeds

        names = tuple(sd.name for sd in audit_seeds(self.cfg))
        passed, message = check.run(SanityInput(metric, self.clean_seed_images, through_cache, names))
        return bool(passed), message, check.warning_only

    # ----- editor audit ----------------------------------------------------------------
    def counter(self, task) -> CachedCounter:
        """The object counter for `task` (a tasks.Task; it counts task.count_noun): with
        --counter vlm:MODEL a VLMCounter asking MODEL (one request per image not yet counted), else
        the offline BlobCounter, behind a CachedCounter keeping counts in the store. Raises
        ConfigError for a malformed --counter."""
        from iqa_audit.vlm.counting import BlobCounter, VLMCounter

        noun = task.count_noun
        model = self.cfg.counter_model()
        return CachedCounter(self.store, VLMCounter(model, noun=noun) if model else BlobCounter(), noun)

    def judge(self):
        """keyword_judge, or with --judge llm:MODEL an LLM judge whose answers are kept in
        the store (each question is asked once across cells, workers and runs)."""
        from iqa_audit.vlm.self_eval import LLMJudge, StoredJudge, keyword_judge

        model = self.cfg.judge_model()
        return StoredJudge(self.store, LLMJudge(model=model)) if model else keyword_judge

    def editor_finding(self, cell: EditorCell) -> EditorFinding:
        """The cell's fidelity finding: check cell.check (fidelity.table) on each of
        max(cell.runs, 1) chains built to cell.steps (every imported run with --dataset),
        judged at step cell.steps, or at the chain's last ok step when it stopped earlier or
        cell.steps < 0, combined by the check's combine_runs. Each run's finding is memoised
        in the store ('fidelity'). Raises as `chains` does, CorruptObject or BadImageError
        for an image that cannot be read, ConfigError for an unknown check or --counter."""
        chains = self.chains(cell.setting, cell.seed, steps=cell.steps, runs=max(cell.runs, 1))
        findings = []
        for chain in chains:
            last = chain.ok_steps[-1] if cell.steps < 0 else _step_or_last(chain, cell.steps)
            findings.append(self._check(cell, chain, last))
        cell_finding = get_check(cell.check).combine_runs(findings)
        return EditorFinding(
            passed=cell_finding.passed,
            value=float(cell_finding.value),
            tolerance=float(cell_finding.tolerance),
            message=cell_finding.message,
            details={"runs": [dict(jsonable(f.details), passed=f.passed, value=f.value) for f in findings]},
            editor_version=chains[0].record.editor_version,
        )

    def _check(self, cell: EditorCell, chain: Chain, last):
        """One run's finding, memoised under its inputs' hashes (seed, output, task, step,
        counter) and the checks' source, so a warm run decodes no image."""
        check = get_check(cell.check)
        task = None if self.dataset is not None else cell.setting.task
        counter = self.counter_id(task) if "count" in check.needs else None
        parts = [cell.check, task, chain.step(0).image_hash, last.image_hash, last.step, counter]
        if "steps" in check.needs:  # a check over the whole chain depends on every step's image
            parts.append([s.image_hash for s in _steps_upto(chain, last.step)])
        key = memo_key("fidelity", *parts, code_digest(*fidelity_sources()))
        memo = self.store.get_memo("fidelity", key)
        if memo is not None:
            return Finding(**json.loads(memo))
        finding = self._run_check(cell, chain, last)
        self.store.put_memo("fidelity", key, json.dumps(finding.to_dict(), sort_keys=True))
        return finding

    def counter_id(self, task_name: str | None) -> str:
        """The counter's part of a 'fidelity' memo key: 'vlm:<model>:<task>' with --counter
        vlm:MODEL, else 'blobs:<task>'. Raises ConfigError for a malformed --counter."""
        model = self.cfg.counter_model()
        return f"vlm:{model}:{task_name}" if model else f"blobs:{task_name}"

    def _run_check(self, cell: EditorCell, chain: Chain, last) -> Finding:
        """Prepare what the check's table entry needs, and run it."""
        check = get_check(cell.check)
        task = None if self.dataset is not None else get_task(cell.setting.task)
        seed_img = self.image(chain.step(0))
        extra: dict[str, Any] = {}
        if "reference" in check.needs:
            extra["reference"] = faithful_output(task, seed_img, last.step) if task else seed_img
        if "steps" in check.needs:
            extra["steps"] = tuple((s.step, self.image(s)) for s in _steps_upto(chain, last.step))
        if "count" in check.needs:
            counter = extra["counter"] = self.counter(task)
            extra["expected_count"] = task.expected_count(counter.count(seed_img), last.step)
        return check.run(CheckInput(task, seed_img, self.image(last), last.step, **extra))


class CachedCounter:
    """Counts through the store's score table, keyed by the counter (its id and
    parameters), the source of the module that defines it, and the image hash: a paid VLM
    is asked about each image once across workers and runs, and an edited counter counts
    again instead of re-reading what the old code counted."""

    def __init__(self, store: Store, inner, noun: str):
        self.store, self.inner = store, inner
        self.id = f"{inner.id}"
        self._key = f"count:{inner.id}:{noun}"
        self._version = counter_version(inner)

    def count(self, image: Image) -> int:
        """How many objects `image` shows: read from the score table under
        ('count:<counter id>:<noun>', counter_version, the image's sha256), else counted by
        the inner counter (a VLM request for a VLMCounter) and stored. Raises what the inner
        counter raises, StoreError when a new count cannot be stored (read-only store)."""
        digest = image.digest()
        have = self.store.get_scores(self._key, self._version, [digest])
        if digest not in have:
            have[digest] = float(self.inner.count(image))
            self.store.put_scores(self._key, self._version, have)
        return int(have[digest])


def counter_version(counter) -> str:
    """The score-table version of a counter's counts: a digest of its parameters (repr of
    the frozen dataclass) and of the source of the module that defines its class
    (keys.code_digest; a class with no module file: its qualified name)."""
    try:
        code = code_digest(sys.modules.get(type(counter).__module__))
    except (TypeError, ValueError):
        code = type(counter).__qualname__
    return "code-" + digest([repr(counter), code])[:16]


def memo_key(*parts: Any) -> str:
    """sha256 hex of the parts as canonical JSON (keys.digest): the key of a memoised
    finding. TypeError for a part without one JSON form (keys.canonical)."""
    return digest(list(parts))


def faithful_output(task, step0: Image, steps: int) -> Image:
    """What a perfect editor would have produced after `steps` steps: the task's ideal edit
    applied step by step (mirrored k times, k apples drawn, ...). Every check compares the
    editor's output with this, so an added apple is not mistaken for a red tint."""
    image = step0
    for k in range(1, steps + 1):
        image = task.ideal_edit(image, k)
    return image


def _step_or_last(chain: Chain, step: int):
    ok = {s.step: s for s in chain.ok_steps}
    return ok.get(step) or chain.ok_steps[-1]


def _steps_upto(chain: Chain, step: int):
    """The chain's stored steps 0..`step`, in order."""
    return [s for s in chain.ok_steps if s.step <= step]
