"""The pytest plugin: options, parametrization, the per-process audit engine, results.

Data flows one way: options -> AuditConfig -> cells (collection) -> the engine builds
chains and reads scores through the store -> gaps / fidelity findings -> each test
compares its finding with the baseline -> the controller writes results.json (and the
baseline, with --update-baseline) once, complete, at the end of the session.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from iqa_audit.config.audit_config import AuditConfig, find_pyproject, resolve_config
from iqa_audit.core.names import slug
from iqa_audit.config.options import add_options, overrides
from iqa_audit.audit.session import PROPERTY, SESSION_KEY, AuditSession, refuse_taken_run_name
from iqa_audit.audit.interrupts import SigintCounter, sigint_deferred
from iqa_audit.results.records import GATED, Record, SanityRecord
from iqa_audit.core.urls import redact_text

DEST_PREFIX = "iqa_"  # option destinations in pytest's namespace: iqa_metrics, iqa_runs, ...


def pytest_addoption(parser: pytest.Parser) -> None:
    """Every option from the one table in `options.py` (shared with the `iqa-audit` CLI)."""
    g = parser.getgroup("iqa-audit", "iqa-audit: does a quality metric notice iterative editing degradation?")
    add_options(g.addoption, "pytest", DEST_PREFIX)


def _overrides(config: pytest.Config) -> dict:
    return overrides(lambda dest: config.getoption(DEST_PREFIX + dest), "pytest")


def pytest_configure(config: pytest.Config) -> None:
    """Resolve the options into one AuditConfig and check every name and file in it, once:
    a mistake is one `ERROR:` line and exit code 4 (pytest's usage error), not the same
    failure in every test.

    Environment: sets HF_HUB_OFFLINE=1 unless the user set it (then theirs stands), before
    any metric imports pyiqa/timm/huggingface_hub: with it, a metric whose weights are
    missing is skipped at once instead of waiting ~50 s in network retries. Importing the
    plugin changes nothing; only a configured pytest session does this."""
    from iqa_audit.core.errors import AuditError

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        _configure(config)
    except AuditError as e:  # a bad option is a usage error, shown without a traceback
        raise pytest.UsageError(redact_text(str(e))) from None


def _configure(config: pytest.Config) -> None:
    from iqa_audit.audit.cells import editor_cells, gap_cells, stability_cells

    wi = getattr(config, "workerinput", None)
    if wi is not None and int(wi.get("workercount", 1)) > 1:
        # N workers each running torch/BLAS with one thread per core oversubscribe the
        # machine N-fold; one thread per worker lets the workers themselves be the parallelism.
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ.setdefault(var, "1")

    pyproject = find_pyproject(Path(config.rootpath))
    given = _overrides(config)
    cfg = resolve_config(given, pyproject=pyproject)
    no_baseline = bool(cfg.baseline) and cfg.baseline.lower() == "none"
    if cfg.baseline and not no_baseline and pyproject is not None and not Path(cfg.baseline).is_absolute():
        if given.get("baseline") is None:  # a baseline named in pyproject.toml is relative to that file, not to the cwd
            cfg = _replace(cfg, baseline=str(pyproject.parent / cfg.baseline))
    imported = wi.get("iqa_audit_dataset") if wi is not None else None
    if wi is None:  # the controller (or -n 0) checks once; workers get the same options
        from iqa_audit.audit.validate import check_config

        check_config(cfg, "pytest", skip=("dataset",))  # sees 'none': --update-baseline has no file to write then
        if cfg.dataset:  # a manifest is imported here, once: workers read the import
            from iqa_audit.datasets.importer import ensure_imported
            from iqa_audit.store.store import Store

            imported = ensure_imported(Store(cfg.store), cfg.dataset).id
    if no_baseline:
        cfg = _replace(cfg, baseline=None)
    gap_cells(cfg), editor_cells(cfg), stability_cells(cfg), cfg.counter_model(), cfg.judge_model()  # validate now
    if cfg.run_name is not None:  # a folder under reports/: one id, never a path (names.slug)
        cfg = _replace(cfg, run_name=slug(cfg.run_name))
    reports_root = Path(cfg.reports_dir or (pyproject.parent if pyproject else Path.cwd()) / "reports")
    explicit_name = cfg.run_name is not None
    if wi is None:  # found now, not after every test ran and the report could not be written
        from iqa_audit.audit.validate import check_reports_dir

        check_reports_dir(reports_root, cfg.label("reports_dir") if cfg.reports_dir else None)
    if explicit_name and wi is None:
        refuse_taken_run_name(reports_root, cfg.run_name)
    if cfg.run_name is None:
        cfg = _replace(cfg, run_name=_worker_shared_name(config, f"{cfg.profile}-{time.strftime('%Y%m%d-%H%M%S')}"))
    config.stash[SESSION_KEY] = AuditSession(
        cfg, time.time(), _run_budget(config, cfg), reports_root, explicit_name=explicit_name, imported=imported
    )
    collector = ResultCollector(config)
    config.pluginmanager.register(collector, "iqa_audit_results")
    if config.pluginmanager.hasplugin("html") and config.getoption("htmlpath", None):
        # Only when a pytest-html page is asked for (--html): its per-case thumbnails travel
        # from every xdist worker to the controller, ~0.4 s per worker on a warm run.
        from iqa_audit.audit.pytest_html import HtmlExtras

        config.pluginmanager.register(HtmlExtras(config, lambda: list(collector.records.values())), "iqa_audit_html")


def _run_budget(config: pytest.Config, cfg: AuditConfig):
    """The run's one paid-step budget. The controller (or a -n 0 process) makes it, with a
    ledger file when it allows any paid step, and hands the ledger to every xdist worker:
    --max-paid-steps caps the whole run, not each worker."""
    from iqa_audit.chains.paid import PaidBudget

    wi = getattr(config, "workerinput", None)
    if wi is not None and wi.get("iqa_audit_paid_ledger"):
        return PaidBudget(cfg.max_paid_steps, cfg.resend_unknown, Path(wi["iqa_audit_paid_ledger"]))
    if cfg.max_paid_steps == 0 or wi is not None:
        return PaidBudget(0 if wi is not None else cfg.max_paid_steps, cfg.resend_unknown)
    return PaidBudget.shared(cfg.max_paid_steps, resend_unknown=cfg.resend_unknown)


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    budget = session.budget if session is not None else None
    if budget is not None and getattr(config, "workerinput", None) is None:
        budget.close()  # the controller made the ledger; workers only used it


def pytest_sessionstart(session: pytest.Session) -> None:
    """Before any chain is built: what paid steps this run would buy, what they cost, and
    the cap (the same lines `iqa-audit build` prints)."""
    config = session.config
    if SESSION_KEY not in config.stash or getattr(config, "workerinput", None) is not None:
        return
    from iqa_audit.core.errors import AuditError

    cfg = config.stash[SESSION_KEY].cfg
    if cfg.dataset:  # imported chains: nothing is built
        return
    try:
        specs = [s for s in audit_chain_specs(cfg) if _registered_paid(s.editor)]
    except AuditError:  # a bad editor name: reported by the cells that use it, not here
        return
    if not specs:
        return
    from iqa_audit.chains.build import announce_paid
    from iqa_audit.store.store import Store

    tr = config.pluginmanager.get_plugin("terminalreporter")
    say = (lambda line: tr.write_line(redact_text(line))) if tr is not None else (lambda line: print(redact_text(line)))
    announce_paid(Store(cfg.store), specs, cfg.seed_dirs, config.stash[SESSION_KEY].budget, say=say)


def _registered_paid(editor_spec: str) -> bool:
    """Whether the spec names a paid editor, from the registry alone (no editor is made)."""
    from iqa_audit.editors import editor_entry
    from iqa_audit.editors.base import parse_spec

    return bool(getattr(editor_entry(parse_spec(editor_spec)[0]).factory, "paid", False))


def audit_chain_specs(cfg: AuditConfig) -> list:
    """Every chain the audit's cells may need (metric audit, stability, editor audit), de-duplicated."""
    from iqa_audit.audit.cells import editor_cells, gap_cells, stability_cells

    return _cell_specs(cfg, [*gap_cells(cfg), *stability_cells(cfg), *editor_cells(cfg)])


def _cell_specs(cfg: AuditConfig, cells) -> list:
    from iqa_audit.audit.cells import EditorCell, GapCell, StabilityCell
    from iqa_audit.chains.chain import ChainSpec

    specs = []
    for cell in cells:
        if isinstance(cell, StabilityCell):  # its add chain and its replicate chain, at their own size
            specs += [
                ChainSpec(
                    seed=cell.seed,
                    editor=st.editor,
                    task=st.task,
                    run=r,
                    steps=cfg.stability_steps,
                    long_side=cfg.stability_long_side,
                )
                for st in (cell.add_setting, cell.replicate_setting)
                for r in range(cfg.stability_runs)
            ]
            continue
        if isinstance(cell, GapCell):
            steps, runs = cfg.steps, cfg.runs
        elif isinstance(cell, EditorCell):
            steps, runs = cell.steps, max(cell.runs, 1)
        else:
            continue
        specs += [
            ChainSpec(
                seed=cell.seed, editor=cell.setting.editor, task=cell.setting.task, run=r, steps=steps, long_side=cfg.long_side
            )
            for r in range(runs)
        ]
    return list(dict.fromkeys(specs))


def _replace(cfg: AuditConfig, **kw) -> AuditConfig:
    from dataclasses import replace

    return replace(cfg, **kw)


def _worker_shared_name(config: pytest.Config, name: str) -> str:
    # xdist workers start later than the controller; they must use the controller's name.
    wi = getattr(config, "workerinput", None)
    if wi is not None and "iqa_audit_run_name" in wi:
        return wi["iqa_audit_run_name"]
    return name


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist controller: hand every worker the same run name and the run's paid-step ledger."""
    session = node.config.stash[SESSION_KEY]
    node.workerinput["iqa_audit_run_name"] = session.cfg.run_name
    node.workerinput["iqa_audit_dataset"] = session.imported
    ledger = session.budget.ledger
    node.workerinput["iqa_audit_paid_ledger"] = str(ledger) if ledger else None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """--dist loadgroup that groups the audit's cells whatever pytest's version.

    xdist 3.8 tags a grouped item by rewriting Item._nodeid, which pytest 9 no longer
    reads: every cell became its own work unit, the three Δ cells of one series landed on
    different workers, and each worker scored the same images (-n 2 ran no faster than
    -n 0). The controller knows every cell from the config alone, so it maps test ids to
    groups itself; tests that are not cells are scheduled one by one as before."""
    if config.getvalue("dist") != "loadgroup" or SESSION_KEY not in config.stash:
        return None
    from xdist.scheduler import LoadGroupScheduling

    groups = cell_groups(config.stash[SESSION_KEY].cfg)

    class AuditCellScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)  # 'group' where xdist could tag the id
            return scope if scope != nodeid else groups.get(param_id(nodeid), nodeid)

    return AuditCellScheduling(config, log)


def cell_groups(cfg: AuditConfig) -> dict[str, str]:
    """{test parameter id: xdist group} of every audit cell (ids are unique per kind, and an
    editor cell's id is shared by its checks on purpose: they run together)."""
    from iqa_audit.audit.cells import editor_cells, gap_cells, sanity_cases, stability_cells

    kinds = (gap_cells(cfg), sanity_cases(cfg), editor_cells(cfg), stability_cells(cfg))
    return {c.id: c.group for cells in kinds for c in cells}


def param_id(nodeid: str) -> str | None:
    """'tests_metrics/test_gap.py::test_gap[piqe-x-d5]' -> 'piqe-x-d5' (None if not parametrized)."""
    name = nodeid.rsplit("::", 1)[-1]
    return name[name.index("[") + 1 : -1] if name.endswith("]") and "[" in name else None


# ----- parametrization ---------------------------------------------------------------
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    cfg = metafunc.config.stash[SESSION_KEY].cfg
    if "gap_cell" in metafunc.fixturenames:
        from iqa_audit.audit.cells import gap_cells

        cells = gap_cells(cfg)
        metafunc.parametrize(
            "gap_cell",
            [pytest.param(c, id=c.id, marks=pytest.mark.xdist_group(c.group)) for c in cells]
            or [pytest.param(None, marks=pytest.mark.skip(reason="no metric cells in this configuration"))],
        )
    if "sanity_case" in metafunc.fixturenames:
        from iqa_audit.audit.cells import sanity_cases

        cases = sanity_cases(cfg)
        metafunc.parametrize("sanity_case", [pytest.param(c, id=c.id, marks=pytest.mark.xdist_group(c.group)) for c in cases])
    if "stability_cell" in metafunc.fixturenames:
        from iqa_audit.audit.cells import stability_cells

        metafunc.parametrize(
            "stability_cell",
            [pytest.param(c, id=c.id, marks=pytest.mark.xdist_group(c.group)) for c in stability_cells(cfg)]
            or [pytest.param(None, marks=pytest.mark.skip(reason="no stability cells in this configuration"))],
        )
    if "editor_cell" in metafunc.fixturenames:
        from iqa_audit.audit.cells import editor_cells

        check = getattr(metafunc.function, "iqa_check", None)
        cells = [c for c in editor_cells(cfg) if check is None or c.check == check]
        metafunc.parametrize(
            "editor_cell",
            [pytest.param(c, id=c.id, marks=pytest.mark.xdist_group(c.group)) for c in cells]
            or [pytest.param(None, marks=pytest.mark.skip(reason=f"no {check} cells in this configuration"))],
        )


def pytest_collection_finish(session: pytest.Session) -> None:
    """Tell this process's engine which chains the selected cells need (after -k/-m)."""
    cfg = session.config.stash[SESSION_KEY].cfg
    if cfg.dataset or getattr(session.config, "workerinput", None) is None and session.config.getoption("numprocesses", None):
        return  # imported chains are not built; an xdist controller runs no tests
    cells = [getattr(getattr(item, "callspec", None), "params", {}) for item in session.items]
    specs = _cell_specs(cfg, [p.get("gap_cell") or p.get("editor_cell") or p.get("stability_cell") for p in cells])
    if specs:
        wi = getattr(session.config, "workerinput", None) or {}
        worker = int(str(wi.get("workerid", "gw0"))[2:] or 0)
        from iqa_audit.core.errors import AuditError

        try:
            session.config.stash[SESSION_KEY].engine.plan(specs, worker=worker, workers=int(wi.get("workercount", 1)))
        except AuditError as e:  # e.g. the store went away since configure: one line, not INTERNALERROR
            raise pytest.UsageError(redact_text(str(e))) from None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    """Every audit cell's test carries its cell's record: a cell whose code raised before
    it could record a verdict (a user's metric or editor failing, in setup or in the call)
    gets its error record here, from the exception itself (record_error). A failure's text
    (pytest's terminal, junit, pytest-html) may quote an endpoint with credentials (an SDK
    error names the URL it called): URLs lose user info and query."""
    outcome = yield
    report = outcome.get_result()
    record_error(item, call, report)
    if report.longrepr is not None:
        text = str(report.longrepr)
        if "://" in text:
            safe = redact_text(text)
            if safe != text:
                report.longrepr = safe


CELL_PARAMS = ("gap_cell", "stability_cell", "editor_cell", "sanity_case")  # one per audit kind


def audit_cell(item: pytest.Item):
    """The audit cell a test is about (its gap_cell, stability_cell, editor_cell or
    sanity_case parameter), or None for any other test."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    return next((params[p] for p in CELL_PARAMS if params.get(p) is not None), None)


def recorded_cells(user_properties) -> set[str]:
    """The cells whose records a test's user_properties hold."""
    return {json.loads(value).get("cell") for name, value in user_properties if name == PROPERTY}


def record_error(item: pytest.Item, call, report: pytest.TestReport) -> None:
    """Attach an error record (verdicts.error_record) to a cell's failed setup or call when
    its code raised before recording one: the error's type, message and the user frame
    that raised (cell_errors.describe), so results.json, the report and the summary count
    the cell. A skip is no error (a metric that cannot run records its status instead)."""
    if report.when not in ("setup", "call") or not report.failed or call.excinfo is None:
        return
    cell = audit_cell(item)
    if cell is None or cell.key in recorded_cells(item.user_properties):
        return  # not a cell, or its code recorded the outcome itself (a verdict, a NaN score)
    from iqa_audit.core.tracebacks import describe
    from iqa_audit.audit.outcomes import error_record

    engine = item.config.stash[SESSION_KEY].engine
    prop = (PROPERTY, json.dumps(error_record(cell, describe(call.excinfo.value), engine).to_dict(), default=str))
    item.user_properties.append(prop)
    report.user_properties.append(prop)


def cell_count_line(records: list[Record], outcomes: dict[str, int]) -> str:
    """'cells in results.json: 26 (16 failed, 6 passed, 4 error); other tests: 4 skipped':
    the cells' outcomes in pytest's words, and the tests that are no cell (a "no cells in
    this configuration" placeholder, a metric that cannot run here), so the two add up to
    pytest's own counts line."""
    from iqa_audit.results.writer import cell_records

    cells: dict[str, int] = {}
    for r in cell_records(records):
        cells[r.outcome or "?"] = cells.get(r.outcome or "?", 0) + 1
    other = {k: n - cells.get(k, 0) for k, n in outcomes.items() if n - cells.get(k, 0) > 0}

    def words(counts: dict[str, int]) -> str:
        return ", ".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    line = f"cells in results.json: {sum(cells.values())}" + (f" ({words(cells)})" if cells else "")
    return line + (f"; other tests: {words(other)}" if other else "")


# ----- fixtures ------------------------------------------------------------------------
@pytest.fixture(scope="session")
def audit_config(pytestconfig: pytest.Config) -> AuditConfig:
    return pytestconfig.stash[SESSION_KEY].cfg


@pytest.fixture(scope="session")
def audit_engine(pytestconfig: pytest.Config):
    return pytestconfig.stash[SESSION_KEY].engine


@pytest.fixture
def gap_inputs(gap_cell, audit_engine, record_cell) -> None:
    """Scores a gap cell's series during setup: a score the cell needs that the metric
    could not give (NaN/±inf) makes the cell an ERROR with the reason, not a failure."""
    from iqa_audit.audit.outcomes import prepare_gap

    prepare_gap(gap_cell, audit_engine, record_cell)


@pytest.fixture
def stability_inputs(stability_cell, audit_engine, record_cell) -> None:
    """Scores a stability cell's chains during setup: a NaN/±inf score makes the cell an
    ERROR naming the image, not a failure."""
    from iqa_audit.audit.outcomes import prepare_stability

    prepare_stability(stability_cell, audit_engine, record_cell)


@pytest.fixture
def record_cell(request: pytest.FixtureRequest):
    """Attach a cell's record (records.py) to the test report as JSON; the controller gathers them."""

    def record(rec) -> None:
        request.node.user_properties.append((PROPERTY, json.dumps(rec.to_dict(), sort_keys=True, default=float)))

    return record


# ----- collecting results on the controller ----------------------------------------------
class ResultCollector:
    """Registered on every process; only the controller (or a -n 0 run) writes outputs.
    `records`: {cell: its record (records.py)}, parsed once as each report arrives."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.records: dict[str, Record] = {}
        self.paths: dict[str, Path] = {}
        self.outcomes: dict[str, int] = {}  # pytest's own counts (its summary line), every test of the session
        self.pruned: list[Path] = []
        self.failure: str | None = None  # why the outputs could not be written
        self.moved: str | None = None  # the run's folder name was taken meanwhile
        self.unavailable: dict[str, str] = {}  # requested metrics that could not run: name -> why
        self.interrupted = False  # Ctrl-C: the outputs hold only the cases that finished
        self.stopped: str | None = None  # why pytest stopped early without a Ctrl-C (-x, --maxfail)
        self.collected = 0  # tests pytest collected (after -k / deselection)
        # Every SIGINT this (controller) process gets, wherever it lands: pytest only sees the
        # ones that reach its main loop as a KeyboardInterrupt (interrupts.py).
        self.sigints = SigintCounter()

    @pytest.hookimpl(tryfirst=True)  # before the terminal's handler, which a second Ctrl-C may cut short
    def pytest_keyboard_interrupt(self, excinfo) -> None:
        """A KeyboardInterrupt reached pytest's main loop. Raised as such (Ctrl-C, or raised by
        any code) it is an interrupt; pytest's and xdist's `Interrupted` subclasses are how
        they stop on purpose (session.shouldstop, xdist's -x / --maxfail): not interrupts,
        their reason is kept for results.json (`run.stopped`). A worker's Ctrl-C reaches us
        through pytest_testnodedown."""
        if type(excinfo.value) is KeyboardInterrupt:
            self.interrupted = True
        else:
            self.stopped = self.stopped or str(excinfo.value) or type(excinfo.value).__name__

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        """xdist: a worker that ended with pytest's INTERRUPTED status was stopped by Ctrl-C
        (its own, or a KeyboardInterrupt raised in a test it ran)."""
        if getattr(node, "workeroutput", {}).get("exitstatus") == pytest.ExitCode.INTERRUPTED:
            self.interrupted = True

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        category = self.config.hook.pytest_report_teststatus(report=report, config=self.config)[0]
        if category:
            self.outcomes[category] = self.outcomes.get(category, 0) + 1
        if report.when not in ("setup", "call"):
            return
        from dataclasses import replace

        from iqa_audit.results.records import parse

        for name, value in report.user_properties:
            if name == PROPERTY:
                rec = parse(json.loads(value))
                # pytest's own word for the test ("error": it failed in setup), so the cells' counts are pytest's
                rec = replace(rec, outcome=category or report.outcome, nodeid=report.nodeid)
                self.records[rec.cell] = rec  # the call's record replaces the setup's
                # From the first cell on this is an audit with outputs to write: count Ctrl-C
                # (not in a session of other tests that merely has the plugin installed).
                self.sigints.install()

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if getattr(self.config, "workerinput", None) is not None or not self.records:
            return  # workers report through the controller
        from dataclasses import replace

        from iqa_audit.core.errors import AuditError
        from iqa_audit.report.html import write_report
        from iqa_audit.report.retention import prune_runs
        from iqa_audit.results.writer import load_results, unavailable_metrics, unwritable, write_results

        audit = self.config.stash[SESSION_KEY]
        cfg = audit.cfg
        self.interrupted = self.interrupted or self.sigints.count > 0
        self.collected = session.testscollected
        self.stopped = None if self.interrupted else self.stopped or str(session.shouldfail or session.shouldstop or "") or None
        records = [self.records[k] for k in sorted(self.records)]
        self.unavailable = unavailable_metrics(cfg, records)
        if self.unavailable and not cfg.allow_missing_metrics and session.exitstatus == pytest.ExitCode.OK:
            # No silent green: a run that could not audit a metric it was asked for fails.
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        # A Ctrl-C now would cut a file in half: it is counted instead, and makes the run
        # interrupted if it comes before the baseline would be written (write_results).
        with sigint_deferred(self.sigints) as during:
            try:
                run_dir = audit.claim_run_dir()
                if run_dir.name != cfg.run_name:
                    self.moved = f"reports/{cfg.run_name} was taken by another run; this run's report is in {run_dir}"
                    cfg = replace(cfg, run_name=run_dir.name)
                results, self.paths, self.interrupted = write_results(
                    cfg,
                    run_dir,
                    records,
                    started=audit.started,
                    finished=time.time(),
                    outcomes=dict(self.outcomes),
                    interrupted=self.interrupted,
                    collected=session.testscollected,
                    stopped=self.stopped,
                    stop_requested=during.requested,
                )
                # The report is drawn from the typed results just written (results/ knows no report).
                compare = load_results(cfg.compare) if cfg.compare else None
                try:
                    self.paths["report"] = write_report(results, run_dir, compare=compare)
                except OSError as e:
                    raise unwritable(run_dir / "index.html", e) from None
            except (AuditError, OSError) as e:  # e.g. the disk filled up: one clear line, not a traceback
                self.failure = redact_text(str(e))
                if session.exitstatus == 0:
                    session.exitstatus = pytest.ExitCode.TESTS_FAILED
                return
        if self.interrupted and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            session.exitstatus = pytest.ExitCode.INTERRUPTED  # however it was stopped: exit code 2
        if not self.interrupted:  # a partial run never pushes a finished one out
            self.pruned = prune_runs(audit.reports_root, keep=cfg.keep_reports, current=run_dir)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """The HTML report's path, last: after pytest's own -rs lines and its counts, so an
        audit's output ends with the page to open (README's first command)."""
        self.sigints.uninstall()
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if self.paths and "baseline_backup" in self.paths and reporter is not None:
            reporter.write_line(
                f"baseline: {self.paths['baseline']} written from this run alone (--replace-baseline); "
                f"the file it replaced is kept as {self.paths['baseline_backup']}"
            )
        if self.paths and "report" in self.paths and reporter is not None:
            reporter.write_line(f"report: {self.paths['report']}")

    def pytest_terminal_summary(self, terminalreporter, exitstatus: int, config: pytest.Config) -> None:
        if self.unavailable:
            allowed = config.stash[SESSION_KEY].cfg.allow_missing_metrics
            terminalreporter.section(
                "iqa-audit: requested metrics that could not be audited", sep="=", yellow=allowed, red=not allowed
            )
            for name, why in sorted(self.unavailable.items()):
                terminalreporter.write_line(f"{name}: {why}")
            terminalreporter.write_line(
                "their cases were skipped; "
                + (
                    "--allow-missing-metrics lets the run pass without them"
                    if allowed
                    else "the run FAILS (exit 1): fix the above, drop the metric, or pass --allow-missing-metrics"
                )
            )
        if self.failure:
            terminalreporter.section("iqa-audit")
            terminalreporter.write_line(f"ERROR: the run's report was not written: {self.failure}", red=True)
        if not self.paths:
            return
        terminalreporter.section("iqa-audit")
        if self.interrupted:
            terminalreporter.write_line(
                f"INTERRUPTED: the report covers the {len(self.records)} cases that finished, not the whole audit"
                + ("; the baseline was not updated" if config.stash[SESSION_KEY].cfg.update_baseline else ""),
                red=True,
            )
        elif self.stopped:
            terminalreporter.write_line(
                f"stopped early ({self.stopped}): the report covers the {len(self.records)} cases that ran "
                f"of {self.collected} collected",
                yellow=True,
            )
        if self.moved:
            terminalreporter.write_line(self.moved, yellow=True)
        kinds: dict[str, int] = {}
        gated = [r for r in self.records.values() if isinstance(r, GATED) and r.baseline is not None]  # not sanity
        for r in gated:
            kinds[r.baseline] = kinds.get(r.baseline, 0) + 1
        counts = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        if config.stash[SESSION_KEY].cfg.baseline and counts:
            terminalreporter.write_line("against the baseline: " + counts)
            for r in gated:
                if r.baseline in ("regression", "improved", "unstable", "weaker"):
                    terminalreporter.write_line(f"  {r.baseline}: {r.cell}")
        elif counts:
            terminalreporter.write_line("verdicts: " + counts)
        sanity = [r for r in self.records.values() if isinstance(r, SanityRecord)]
        if sanity:  # not gated by the baseline, so not in the line above; pytest counts them
            ok = sum(1 for r in sanity if r.passed and not r.warning)
            warned = sum(1 for r in sanity if r.warning)
            errors = sum(1 for r in sanity if r.error is not None)
            terminalreporter.write_line(
                f"metric sanity checks: {ok} pass, {len(sanity) - ok - warned - errors} fail"
                + (f", {warned} warn" if warned else "")
                + (f", {errors} error" if errors else "")
                + (" (not gated by the baseline)" if config.stash[SESSION_KEY].cfg.baseline else "")
            )
        from iqa_audit.results.writer import verdict_counts

        v = verdict_counts(list(self.records.values()))
        if sum(v.values()):
            terminalreporter.write_line(
                f"gap verdicts: {v['pass']} noticed, {v['fail']} missed, "
                f"{v['inconclusive']} inconclusive (nothing visible to notice)"
            )
        terminalreporter.write_line(cell_count_line(list(self.records.values()), self.outcomes))
        for label, path in self.paths.items():
            if label != "report":  # the page's path is the run's last line: see pytest_unconfigure
                terminalreporter.write_line(f"{label}: {path}")
        if self.pruned:
            terminalreporter.write_line(
                f"removed {len(self.pruned)} old run folder(s) from {self.pruned[0].parent} "
                f"(keeping the last {config.stash[SESSION_KEY].cfg.keep_reports}; --keep-reports N, 0 keeps all)"
            )
