"""The audit's cells: what each test case checks, derived from the config alone.

Collection must give every xdist worker the same sorted list, so cells are computed
from the config (and a dataset manifest's rows, or an imported dataset's record in the
store) only: no chain reads, no model loads. `AuditCells.of(cfg)` computes every kind
once per process; the session keeps it for parametrisation, the xdist scheduler, the
paid-step announcement and the chain queue. Each cell also says which chains it reads
(`chain_requests`), so "which chains does this audit need" is answered in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Union

from iqa_audit.analysis.sanity import SANITY_CHECKS
from iqa_audit.chains.chain import ChainSpec
from iqa_audit.chains.plan import ChainRequest, Setting, audit_seeds, audit_settings
from iqa_audit.config.audit_config import AuditConfig
from iqa_audit.core.errors import ConfigError, explain
from iqa_audit.datasets.importer import dataset_pairs
from iqa_audit.fidelity.table import checks_for_task, dataset_checks
from iqa_audit.metrics.registry import metric_id
from iqa_audit.tasks.table import get_task


def cell_name(
    kind: str,
    setting: str | None = None,
    seed: str | None = None,
    *,
    metric_id: str | None = None,
    delta_step: int | None = None,
    check: str | None = None,
) -> tuple[str, str]:
    """(test id, key) of one audit cell: the one place both are formed.

    The test id is the pytest parameter id and reads like the finding; the key names the
    cell in results.json, the baseline, `--compare` and the report. Baselines are keyed
    by it, so changing a format here means migrating baselines/*.json in the same commit.

    - kind "gap" (metric audit; needs metric_id and delta_step): test id
      '<metric id>-<setting label>-<seed>-d<Δ step>', e.g.
      'piqe-codec-jpeg-replicate-grid-perspective-d5'; key 'gap:<test id>'.
    - kind "editor" (editor audit; needs check): test id '<setting label>-<seed>', e.g.
      'sim-crop-replicate-grid-perspective' (each check is its own test function, so the
      check is not in the id); key 'editor:<check>-<test id>'.
    - kind "stability" (metric stability; needs metric_id): `setting` is the add task's
      name (the stability chains' editor is one per run, `stability_editor`), test id
      '<metric id>-<add task>-<seed>', e.g. 'piqe-add-fruits-empty-table'; key
      'stability:<test id>'.
    - kind "sanity" (metric sanity; needs metric_id and check, no setting or seed): test id
      '<metric id>-<check>', e.g. 'piqe-finite'; key 'sanity:<test id>'.

    `setting` is a Setting.label ('<editor label>-<task>') but for "stability". Raises
    ValueError for another kind or a missing part."""
    if kind == "gap" and metric_id is not None and delta_step is not None:
        test_id = f"{metric_id}-{setting}-{seed}-d{delta_step}"
        return test_id, f"gap:{test_id}"
    if kind == "editor" and check is not None:
        test_id = f"{setting}-{seed}"
        return test_id, f"editor:{check}-{test_id}"
    if kind == "stability" and metric_id is not None:
        test_id = f"{metric_id}-{setting}-{seed}"
        return test_id, f"stability:{test_id}"
    if kind == "sanity" and metric_id is not None and check is not None:
        test_id = f"{metric_id}-{check}"
        return test_id, f"sanity:{test_id}"
    raise ValueError(f"cell_name: kind {kind!r} with metric_id={metric_id!r}, delta_step={delta_step!r}, check={check!r}")


@dataclass(frozen=True)
class GapCell:
    """One metric-audit case: does `metric` notice the degradation of `seed` under `setting`
    by step Δ = `delta_step`? gap_cells.GapCells.verdict compares the mean normalised score
    (points on 0–100, 100 best) at step Δ with step 1 over the paired runs (gaps.gap,
    gaps.apply_sign_rule).

    metric: as the user named it; metric_id: its id (metrics.registry.metric_id: collection
    loads no metric); setting: the chain
    setting (one editor on one task); seed: the seed's name; delta_step: counted from
    step 0 = the seed; dataset: the --dataset reference for imported chains, else None."""

    metric: str  # as the user named it: pyiqa:piqe
    metric_id: str
    setting: Setting
    seed: str
    delta_step: int
    dataset: str | None = None

    @property
    def id(self) -> str:
        """The test id (cell_name)."""
        return self._name[0]

    @property
    def key(self) -> str:
        """The key in results.json and the baseline (cell_name)."""
        return self._name[1]

    @property
    def _name(self) -> tuple[str, str]:
        return cell_name("gap", self.setting.label, self.seed, metric_id=self.metric_id, delta_step=self.delta_step)

    def chain_requests(self, cfg: AuditConfig) -> tuple[ChainRequest, ...]:
        """The chains the cell reads: cfg.runs runs built to cfg.steps at cfg.long_side."""
        return (ChainRequest(self.setting, self.seed, cfg.steps, cfg.runs, cfg.long_side),)

    @property
    def group(self) -> str:
        """The xdist group, 'series-<metric id>-<setting label>-<seed>'."""
        # One xdist group per series: its Δ cells share one scoring batch on one worker.
        # Grouping by metric instead put a slow metric (entropy: ~70 % of all scoring) on a
        # single worker; per series the work spreads evenly, and each worker still loads a
        # metric at most once (the registry caches it per process).
        return f"series-{self.metric_id}-{self.setting.label}-{self.seed}"


@dataclass(frozen=True)
class SanityCase:
    """One metric-sanity case: sanity check `check` on `metric` (as the user named it;
    metric_id: its id), run on the audit's clean seeds by sanity_cells.SanityCells."""

    metric: str
    metric_id: str
    check: str  # a name in iqa_audit.analysis.sanity.SANITY_CHECKS

    @property
    def id(self) -> str:
        """The test id (cell_name)."""
        return cell_name("sanity", metric_id=self.metric_id, check=self.check)[0]

    @property
    def key(self) -> str:
        """The key in results.json (cell_name)."""
        return cell_name("sanity", metric_id=self.metric_id, check=self.check)[1]

    def chain_requests(self, cfg: AuditConfig) -> tuple[ChainRequest, ...]:
        """None: a sanity check scores the clean seeds, not chains."""
        return ()

    @property
    def group(self) -> str:
        """The xdist group, 'metric-<metric id>': a metric's sanity cases share one worker,
        which loads the metric once."""
        return f"metric-{self.metric_id}"


@dataclass(frozen=True)
class StabilityCell:
    """Metric stability under content change: `metric` on the add chain of (editor, task, seed)
    against the replicate chain of the same editor and seed (iqa_audit.analysis.stability)."""

    metric: str
    metric_id: str
    editor: str
    task: str  # an add task
    seed: str

    @property
    def id(self) -> str:
        """The test id (cell_name)."""
        return cell_name("stability", self.task, self.seed, metric_id=self.metric_id)[0]

    @property
    def key(self) -> str:
        """The key in results.json and the baseline (cell_name)."""
        return cell_name("stability", self.task, self.seed, metric_id=self.metric_id)[1]

    @property
    def add_setting(self) -> Setting:
        """The setting of the add chain: `editor` on `task`."""
        return Setting.of(self.editor, self.task)

    @property
    def replicate_setting(self) -> Setting:
        """The setting it is compared with: `editor` on 'replicate', same seed."""
        return Setting.of(self.editor, "replicate")

    def chain_requests(self, cfg: AuditConfig) -> tuple[ChainRequest, ...]:
        """The add chain and the replicate chain, at the stability chains' shape (stability_chains)."""
        return (stability_chains(cfg, self.add_setting, self.seed), stability_chains(cfg, self.replicate_setting, self.seed))

    @property
    def group(self) -> str:
        """The xdist group, 'stability-<metric id>-<seed>'."""
        # The add tasks of one (metric, seed) share its replicate series: one worker scores it.
        return f"stability-{self.metric_id}-{self.seed}"


@dataclass(frozen=True)
class EditorCell:
    """One editor-audit case: fidelity check `check` (a name in fidelity.table.CHECKS) on
    the chains of `setting` from `seed`, judged at step `steps` (counted from 0 = the seed)
    over `runs` runs; editor_cells.EditorCells runs it. Imported chains (`dataset` set):
    steps -1 (each chain's last step) and runs 0 (every imported run)."""

    setting: Setting
    seed: str
    check: str
    steps: int
    runs: int
    dataset: str | None = None

    @property
    def id(self) -> str:
        """The test id (cell_name), shared by the cell's checks."""
        return self._name[0]

    @property
    def key(self) -> str:
        """The key in results.json and the baseline (cell_name)."""
        return self._name[1]

    @property
    def cell(self) -> str:
        """The key without its 'editor:' kind prefix: '<check>-<test id>'."""
        return self.key.removeprefix("editor:")

    @property
    def _name(self) -> tuple[str, str]:
        return cell_name("editor", self.setting.label, self.seed, check=self.check)

    def chain_requests(self, cfg: AuditConfig) -> tuple[ChainRequest, ...]:
        """The chains the check reads: max(runs, 1) runs built to `steps` at cfg.long_side."""
        return (ChainRequest(self.setting, self.seed, self.steps, max(self.runs, 1), cfg.long_side),)

    @property
    def group(self) -> str:
        """The xdist group, 'editor-<setting label>-<seed>'."""
        # Per (setting, seed), not per setting: the checks of one seed's chains run together
        # (read once per process) while the settings' work spreads over the workers.
        return f"editor-{self.setting.label}-{self.seed}"


def _dataset_settings(cfg: AuditConfig) -> list[tuple[Setting, str]]:
    pairs = dataset_pairs(cfg.dataset, cfg.store)
    return sorted(((Setting(s, "imported", "imported"), seed) for s, seed in pairs), key=lambda p: (p[0].label, p[1]))


def gap_cells(cfg: AuditConfig) -> list[GapCell]:
    """Every metric-audit cell of `cfg`, sorted by (metric id, setting label, seed, Δ): one
    per metric x setting x seed x Δ in cfg.delta_steps. Settings: cfg.editors x cfg.tasks
    whose task has metric_verdicts (reconstruction is built, never judged); seeds:
    plan.audit_seeds. With --dataset: the dataset's (setting, seed) pairs. Raises
    ConfigError for a Δ beyond --steps (own chains), an unknown seed, task or dataset, or
    a malformed editor spec."""
    if cfg.metrics:
        cfg.check_delta_steps_built()
    if cfg.dataset:
        pairs = _dataset_settings(cfg)
    else:
        seeds = [s.name for s in audit_seeds(cfg)]
        # Reconstruction changes content on purpose: its chains are stored, never judged.
        pairs = [(st, sd) for st in audit_settings(cfg) if get_task(st.task).metric_verdicts for sd in seeds]
    cells = [GapCell(m, metric_id(m), st, sd, d, cfg.dataset) for m in cfg.metrics for st, sd in pairs for d in cfg.delta_steps]
    return sorted(cells, key=lambda c: (c.metric_id, c.setting.label, c.seed, c.delta_step))


def sanity_cases(cfg: AuditConfig) -> list[SanityCase]:
    """One case per metric x check in sanity.SANITY_CHECKS, sorted by test id."""
    return sorted((SanityCase(m, metric_id(m), c) for m in cfg.metrics for c in SANITY_CHECKS), key=lambda c: c.id)


def stability_cells(cfg: AuditConfig) -> list[StabilityCell]:
    """One case per (metric, "add-task:seed" in cfg.stability_cases); none for an imported
    dataset (its chains are not built here) and none for `--seed-dir` alone (only the user's
    images are audited then, and the cases add objects to a built-in seed). ConfigError for
    a case that is not an add task."""
    if cfg.dataset or (cfg.seed_dirs and not cfg.seeds):
        return []
    cases = []
    for case in cfg.stability_cases:
        task, _, seed = case.partition(":")
        if not get_task(task).adds_objects or not seed:
            raise ConfigError(
                explain(
                    f"stability case {case!r}",
                    expected="'add-task:seed', e.g. add-fruits:empty-table",
                    got=repr(case),
                    fix="Name an add task (add-apples, add-fruits) and a seed.",
                )
            )
        cases.append((task, seed))
    cells = [StabilityCell(m, metric_id(m), cfg.stability_editor, task, seed) for m in cfg.metrics for task, seed in cases]
    return sorted(cells, key=lambda c: c.id)


def editor_cells(cfg: AuditConfig) -> list[EditorCell]:
    """Every editor-audit cell of `cfg`, sorted by (check, test id). Own chains: per
    "task:seed" in cfg.audit_cases and editor in cfg.audit_editors, one cell per check that
    judges the task (checks_for_task), at step cfg.audit_steps over cfg.audit_runs runs.
    With --dataset: per imported (setting, seed), one per check that judges imported
    chains (dataset_checks). Raises ConfigError for an unknown dataset or a malformed
    editor spec."""
    if cfg.dataset:
        return sorted(
            (EditorCell(st, sd, check, -1, 0, cfg.dataset) for st, sd in _dataset_settings(cfg) for check in dataset_checks()),
            key=lambda c: (c.check, c.id),
        )
    cells = []
    for case in cfg.audit_cases:
        task, _, seed = case.partition(":")
        for editor in cfg.audit_editors:
            st = Setting.of(editor, task)
            for check in checks_for_task(task):
                cells.append(EditorCell(st, seed, check, cfg.audit_steps, cfg.audit_runs))
    return sorted(cells, key=lambda c: (c.check, c.id))


def stability_chains(cfg: AuditConfig, setting: Setting, seed: str) -> ChainRequest:
    """The stability chains of (setting, seed): cfg.stability_runs runs of
    cfg.stability_steps steps, seeds at cfg.stability_long_side px."""
    return ChainRequest(setting, seed, cfg.stability_steps, cfg.stability_runs, cfg.stability_long_side)


Cell = Union[GapCell, StabilityCell, EditorCell, SanityCase]  # what a test of each audit kind is about


@dataclass(frozen=True)
class AuditCells:
    """Every cell of one config, by kind, in collection order (see the module doc)."""

    gap: tuple[GapCell, ...]
    sanity: tuple[SanityCase, ...]
    stability: tuple[StabilityCell, ...]
    editor: tuple[EditorCell, ...]

    @classmethod
    def of(cls, cfg: AuditConfig) -> AuditCells:
        """The cells of `cfg`. Raises ConfigError as gap_cells, stability_cells and
        editor_cells do (at configure: one usage error, not one per test)."""
        return cls(tuple(gap_cells(cfg)), tuple(sanity_cases(cfg)), tuple(stability_cells(cfg)), tuple(editor_cells(cfg)))

    def __iter__(self) -> Iterator[Cell]:
        yield from (*self.gap, *self.sanity, *self.editor, *self.stability)

    def groups(self) -> dict[str, str]:
        """{test parameter id: xdist group} of every cell (ids are unique per kind, and an
        editor cell's id is shared by its checks on purpose: they run together)."""
        return {c.id: c.group for c in self}


def chain_specs_of(cfg: AuditConfig, cells: Iterable[Cell]) -> list[ChainSpec]:
    """Every chain `cells` read (chain_requests), de-duplicated, in order."""
    return list(dict.fromkeys(spec for cell in cells for request in cell.chain_requests(cfg) for spec in request.specs()))
