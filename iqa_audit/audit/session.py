"""One audit run's state in one pytest process: `AuditSession`, in `config.stash[SESSION_KEY]`.

`AuditSession.configure` makes it when pytest configures (on the controller and on every
xdist worker); the plugin's hooks and fixtures delegate to it. What a session holds:

- `cfg`: the resolved `AuditConfig` (options, pyproject.toml, profile), checked once;
- `cells`: every cell of `cfg` by kind (`cells.AuditCells`), computed once per process;
- `started`: when the session configured, `time.time()` seconds (results.json's start);
- `budget`: the run's one `paid.PaidBudget` (its ledger shared with every xdist worker);
- `reports_root`: the folder the run's report folder goes in; `explicit_name`: whether
  the user chose `--run-name` (then a taken name is refused before any test runs);
- `imported`: the id of the import `--dataset` resolved to (the controller imports a
  manifest once; workers read that import instead of importing again), else None;
- `services`: this process's `services.Services` (chains, scores, evidence, the kinds),
  made on first use so `pytest --help` and unit tests pay nothing;
- on the controller: the records collected from every test (`records`), pytest's own
  counts (`outcomes`), how the run was stopped (`sigints`, `interrupted`, `stopped`) and
  what its outputs became (`outputs`); at the end, the chains' artifact profiles
  (audit.profiles), which results.json keeps beside the cells.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

from iqa_audit.audit.cells import AuditCells, chain_specs_of
from iqa_audit.audit.error_text import ShownErrors
from iqa_audit.audit.history import remember_cards
from iqa_audit.audit.interrupts import SigintCounter, sigint_deferred
from iqa_audit.audit.parametrize import audit_cell
from iqa_audit.audit.profiles import profile_records
from iqa_audit.audit.services import Services
from iqa_audit.audit.shipping import received
from iqa_audit.audit.validate import check_config, check_reports_dir
from iqa_audit.chains.build import announce_paid
from iqa_audit.chains.paid import PaidBudget
from iqa_audit.config.audit_config import AuditConfig, find_pyproject, resolve_config
from iqa_audit.config.options import overrides
from iqa_audit.core.errors import AuditError, ConfigError, explain
from iqa_audit.core.names import slug
from iqa_audit.core.urls import redact_text
from iqa_audit.datasets.importer import ensure_imported
from iqa_audit.editors import editor_entry
from iqa_audit.editors.base import parse_spec
from iqa_audit.report.html import write_report
from iqa_audit.report.retention import prune_runs
from iqa_audit.results.records import ProfileRecord, Record
from iqa_audit.results.writer import load_results, unavailable_metrics, unwritable, write_results
from iqa_audit.store.store import Store


@dataclass(eq=False)
class RunOutputs:
    """What the controller's end of the run produced, for the terminal summary."""

    paths: dict[str, Path] = field(default_factory=dict)  # results, baseline, report, ...
    pruned: list[Path] = field(default_factory=list)  # old run folders removed (--keep-reports)
    failure: str | None = None  # why the outputs could not be written
    moved: str | None = None  # the run's folder name was taken meanwhile
    unavailable: dict[str, str] = field(default_factory=dict)  # requested metrics that could not run: name -> why
    cards: dict[str, Any] = field(default_factory=dict)  # results.json's `cards` (results/cards.py)
    drops: list[str] = field(default_factory=list)  # --fail-on-drop: the cards whose score fell, one line each
    history_note: str | None = None  # why this run's cards were not stored, if they were not


@dataclass(eq=False)
class AuditSession:
    """The state of one configured pytest session (see the module doc)."""

    cfg: AuditConfig
    cells: AuditCells
    started: float
    budget: PaidBudget
    reports_root: Path
    explicit_name: bool = False
    imported: str | None = None
    worker: dict[str, Any] | None = None  # xdist's workerinput in a worker, None on the controller
    records: dict[str, Record] = field(default_factory=dict)  # {cell: its record}, parsed once as each report arrives
    outcomes: dict[str, int] = field(default_factory=dict)  # pytest's own counts, every test of the session
    # Every SIGINT this (controller) process gets, wherever it lands: pytest only sees the
    # ones that reach its main loop as a KeyboardInterrupt (interrupts.py).
    sigints: SigintCounter = field(default_factory=SigintCounter)
    interrupted: bool = False  # Ctrl-C: the outputs hold only the cases that finished
    stopped: str | None = None  # why pytest stopped early without a Ctrl-C (-x, --maxfail)
    collected: int = 0  # tests pytest collected (after -k / deselection)
    outputs: RunOutputs = field(default_factory=RunOutputs)
    errors_shown: ShownErrors = field(default_factory=ShownErrors)  # this process's cell errors, each shown once

    @classmethod
    def configure(cls, config: pytest.Config) -> AuditSession:
        """Resolve the options into one AuditConfig and check every name and file in it
        once (the controller; workers get the same options): a mistake is an AuditError,
        which the plugin turns into pytest's usage error. Computes the cells (a bad cell
        spec fails here too), makes the run's budget and picks the run's name."""

        wi = getattr(config, "workerinput", None)
        if wi is not None and int(wi.get("workercount", 1)) > 1:
            # N workers each running torch/BLAS with one thread per core oversubscribe the
            # machine N-fold; one thread per worker lets the workers themselves be the parallelism.
            for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
                os.environ.setdefault(var, "1")
        pyproject = find_pyproject(Path(config.rootpath))
        given = overrides(lambda dest: config.getoption(DEST_PREFIX + dest), "pytest")
        cfg = resolve_config(given, pyproject=pyproject)
        no_baseline = bool(cfg.baseline) and cfg.baseline.lower() == "none"
        if cfg.baseline and not no_baseline and pyproject is not None and not Path(cfg.baseline).is_absolute():
            if given.get("baseline") is None:  # a baseline named in pyproject.toml is relative to that file, not to the cwd
                cfg = replace(cfg, baseline=str(pyproject.parent / cfg.baseline))
        imported = wi.get("iqa_audit_dataset") if wi is not None else None
        if wi is None:  # the controller (or -n 0) checks once; workers get the same options
            check_config(cfg, "pytest", skip=("dataset",))  # sees 'none': --update-baseline has no file to write then
            if cfg.dataset:  # a manifest is imported here, once: workers read the import
                imported = ensure_imported(Store(cfg.store), cfg.dataset).id
        if no_baseline:
            cfg = replace(cfg, baseline=None)
        cells = AuditCells.of(cfg)
        cfg.counter_model(), cfg.judge_model()  # validate now
        if cfg.run_name is not None:  # a folder under reports/: one id, never a path (names.slug)
            cfg = replace(cfg, run_name=slug(cfg.run_name))
        reports_root = Path(cfg.reports_dir or (pyproject.parent if pyproject else Path.cwd()) / "reports")
        explicit_name = cfg.run_name is not None
        if wi is None:  # found now, not after every test ran and the report could not be written
            check_reports_dir(reports_root, cfg.label("reports_dir") if cfg.reports_dir else None)
            if explicit_name:
                refuse_taken_run_name(reports_root, cfg.run_name)
        if cfg.run_name is None:  # xdist workers start later than the controller: they use its name
            default = f"{cfg.profile}-{time.strftime('%Y%m%d-%H%M%S')}"
            cfg = replace(cfg, run_name=(wi or {}).get("iqa_audit_run_name", default))
        return cls(cfg, cells, time.time(), _run_budget(wi, cfg), reports_root, explicit_name, imported, wi)

    @cached_property
    def services(self) -> Services:
        """This process's services (store opened, nothing loaded yet), made once."""

        return Services.open(self.cfg, budget=self.budget, imported=self.imported)

    def worker_input(self) -> dict[str, Any]:
        """What the xdist controller hands every worker: the run's name, the import
        --dataset resolved to and the run's paid-step ledger."""
        ledger = self.budget.ledger
        return {
            "iqa_audit_run_name": self.cfg.run_name,
            "iqa_audit_dataset": self.imported,
            "iqa_audit_paid_ledger": str(ledger) if ledger else None,
        }

    # ----- before the tests --------------------------------------------------------------------
    def announce_paid(self, terminal) -> None:
        """Before any chain is built: what paid steps this run would buy, what they cost, and
        the cap (the same lines `iqa-audit build` prints), on pytest's terminal reporter
        (None: stdout). Nothing for an imported dataset or a run with no paid editor; a bad
        editor name is reported by its cells."""

        if self.worker is not None or self.cfg.dataset:
            return
        try:
            cells = (*self.cells.gap, *self.cells.stability, *self.cells.editor)
            specs = [s for s in chain_specs_of(self.cfg, cells) if _registered_paid(s.editor)]
        except AuditError:  # a bad editor name: reported by the cells that use it, not here
            return
        if specs:
            say = (lambda line: terminal.write_line(redact_text(line))) if terminal else (lambda line: print(redact_text(line)))
            announce_paid(Store(self.cfg.store), specs, self.cfg.seed_dirs, self.budget, say=say)

    def queue_chains(self, session: pytest.Session) -> None:
        """Tell this process's chain service which chains the selected cells (after -k/-m)
        need, so its workers share building them. Not for an imported dataset (nothing is
        built) or the xdist controller (it runs no test). A store that went away since
        configure raises an AuditError."""

        if self.cfg.dataset or (self.worker is None and session.config.getoption("numprocesses", None)):
            return
        specs = chain_specs_of(self.cfg, [c for c in map(audit_cell, session.items) if c is not None])
        if specs:
            wi = self.worker or {}
            worker = int(str(wi.get("workerid", "gw0"))[2:] or 0)
            self.services.chains.queue(specs, worker=worker, workers=int(wi.get("workercount", 1)))

    # ----- the controller's end ----------------------------------------------------------------
    def collect(self, report: pytest.TestReport, category: str) -> None:
        """A test report arrived (from this process or a worker): count pytest's outcome
        and keep the cell records it carries (the call's replaces the setup's)."""

        if category:
            self.outcomes[category] = self.outcomes.get(category, 0) + 1
        if report.when not in ("setup", "call"):
            return
        # pytest's own word for the test ("error": it failed in setup), so the cells' counts are pytest's
        for rec in received(report, category or report.outcome):
            self.records[rec.cell] = rec
            # From the first cell on this is an audit with outputs to write: count Ctrl-C
            # (not in a session of other tests that merely has the plugin installed).
            self.sigints.install()

    def keyboard_interrupt(self, error: BaseException) -> None:
        """A KeyboardInterrupt reached pytest's main loop. Raised as such (Ctrl-C, or raised by
        any code) it is an interrupt; pytest's and xdist's `Interrupted` subclasses are how
        they stop on purpose (session.shouldstop, xdist's -x / --maxfail): not interrupts,
        their reason is kept for results.json (`run.stopped`)."""
        if type(error) is KeyboardInterrupt:
            self.interrupted = True
        else:
            self.stopped = self.stopped or str(error) or type(error).__name__

    def finish(self, session: pytest.Session) -> None:
        """Write the run's outputs once, complete (the controller, or -n 0): results.json and
        the baseline (results.writer), then the HTML report (report.html) from the typed
        results written, in a new run folder. Sets the exit status: a requested metric that
        could not run fails the run unless --allow-missing-metrics; outputs that could not
        be written fail it (the reason kept for the summary); an interrupted run exits 2
        however it was stopped. A Ctrl-C while the files are written is counted, not raised
        (interrupts.sigint_deferred): it makes the run interrupted if it comes before the
        baseline would be written. A complete run then removes run folders beyond
        --keep-reports."""

        if self.worker is not None or not self.records:
            return  # workers report through the controller
        self.interrupted = self.interrupted or self.sigints.count > 0
        self.collected = session.testscollected
        self.stopped = None if self.interrupted else self.stopped or str(session.shouldfail or session.shouldstop or "") or None
        cfg, out = self.cfg, self.outputs
        records = [self.records[k] for k in sorted(self.records)]
        out.unavailable = unavailable_metrics(cfg, records)
        if out.unavailable and not cfg.allow_missing_metrics and session.exitstatus == pytest.ExitCode.OK:
            # No silent green: a run that could not audit a metric it was asked for fails.
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        with sigint_deferred(self.sigints) as during:
            try:
                run_dir = self.claim_run_dir()
                if run_dir.name != cfg.run_name:
                    out.moved = f"reports/{cfg.run_name} was taken by another run; this run's report is in {run_dir}"
                    cfg = replace(cfg, run_name=run_dir.name)
                profiles = self.profiles(records)
                results, out.paths, self.interrupted = write_results(
                    cfg,
                    run_dir,
                    records,
                    started=self.started,
                    finished=time.time(),
                    outcomes=dict(self.outcomes),
                    interrupted=self.interrupted,
                    collected=session.testscollected,
                    stopped=self.stopped,
                    stop_requested=during.requested,
                    profiles=profiles,
                )
                out.cards = dict(results.cards)
                if not self.interrupted:  # a partial run's cards count fewer pairs: never history
                    out.drops, out.history_note = remember_cards(cfg.store, results.cards, cfg.fail_on_drop)
                compare = load_results(cfg.compare) if cfg.compare else None
                try:
                    out.paths["report"] = write_report(results, run_dir, compare=compare)
                except OSError as e:
                    raise unwritable(run_dir / "index.html", e) from None
            except (AuditError, OSError) as e:  # e.g. the disk filled up: one clear line, not a traceback
                out.failure = redact_text(str(e))
                if session.exitstatus == 0:
                    session.exitstatus = pytest.ExitCode.TESTS_FAILED
                return
        if out.drops and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # --fail-on-drop: a card's score fell
        if self.interrupted and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            session.exitstatus = pytest.ExitCode.INTERRUPTED  # however it was stopped: exit code 2
        if not self.interrupted:  # a partial run never pushes a finished one out
            out.pruned = prune_runs(self.reports_root, keep=cfg.keep_reports, current=run_dir)

    def profiles(self, records: list[Record]) -> list[ProfileRecord]:
        """The artifact profile of every chain the records name (audit.profiles: each pair
        of images profiled once, kept in the store). None for an interrupted run: its
        outputs are written at once."""
        if self.interrupted:
            return []
        store = Store(self.cfg.store)
        try:
            return profile_records(store, records, self.cfg.scored_steps, match_simulators=self.cfg.match_simulators)
        finally:
            store.close()

    def close(self) -> None:
        """The controller closes the paid-step ledger it made (workers only used it)."""
        if self.worker is None:
            self.budget.close()

    def claim_run_dir(self) -> Path:
        """The run's report folder, created now and never shared (see `claim_run_dir`)."""
        return claim_run_dir(self.reports_root, self.cfg.run_name or "latest", explicit=self.explicit_name)


SESSION_KEY = pytest.StashKey[AuditSession]()
DEST_PREFIX = "iqa_"  # option destinations in pytest's namespace: iqa_metrics, iqa_runs, ...


def _run_budget(wi: dict[str, Any] | None, cfg: AuditConfig) -> PaidBudget:
    """The run's one paid-step budget. The controller (or a -n 0 process) makes it, with a
    ledger file when it allows any paid step, and hands the ledger to every xdist worker:
    --max-paid-steps caps the whole run, not each worker."""
    if wi is not None and wi.get("iqa_audit_paid_ledger"):
        return PaidBudget(cfg.max_paid_steps, cfg.resend_unknown, Path(wi["iqa_audit_paid_ledger"]))
    if cfg.max_paid_steps == 0 or wi is not None:
        return PaidBudget(0 if wi is not None else cfg.max_paid_steps, cfg.resend_unknown)
    return PaidBudget.shared(cfg.max_paid_steps, resend_unknown=cfg.resend_unknown)


def _registered_paid(editor_spec: str) -> bool:
    """Whether the spec names a paid editor, from the registry alone (no editor is made)."""

    return bool(getattr(editor_entry(parse_spec(editor_spec)[0]).factory, "paid", False))


def refuse_taken_run_name(reports_root: Path, name: str) -> None:
    """An explicit --run-name whose folder already exists is refused before any test runs:
    a report is never written over another run's."""

    folder = reports_root / name
    if folder.exists():
        raise ConfigError(
            explain(
                f"--run-name {name}",
                expected="a name no earlier run used",
                got=f"{folder} already exists",
                fix="Pick another --run-name (or leave it out for a unique one), or delete that folder.",
            )
        )


def claim_run_dir(reports_root: Path, name: str, *, explicit: bool) -> Path:
    """Create and return the run's own report folder. Runs never share one: the default
    name (profile + second) gets -2, -3, ... when another run of the same second took it;
    an explicit name was checked when pytest started, and if another run took it since,
    this run also moves to NAME-2 (and says so in its summary) rather than overwrite."""
    reports_root.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        folder = reports_root / (name if n == 1 else f"{name}-{n}")
        try:
            folder.mkdir()  # atomic: exactly one run creates it
            return folder
        except FileExistsError:
            continue
    raise FileExistsError(f"{reports_root}/{name}-*: 9999 runs of this name")
