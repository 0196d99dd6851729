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

from .config import AuditConfig, find_pyproject, resolve_config
from .names import slug
from .options import add_options, overrides
from .plugin_keys import CONFIG_KEY, ENGINE_KEY, PROPERTY, STARTED_KEY

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
    from .errors import AuditError

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        _configure(config)
    except AuditError as e:  # a bad option is a usage error, shown without a traceback
        raise pytest.UsageError(str(e)) from None


def _configure(config: pytest.Config) -> None:
    from .cells import editor_cells, gap_cells

    wi = getattr(config, "workerinput", None)
    if wi is not None and int(wi.get("workercount", 1)) > 1:
        # N workers each running torch/BLAS with one thread per core oversubscribe the
        # machine N-fold; one thread per worker lets the workers themselves be the parallelism.
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ.setdefault(var, "1")

    pyproject = find_pyproject(Path(config.rootpath))
    given = _overrides(config)
    cfg = resolve_config(given, pyproject=pyproject)
    if cfg.baseline and cfg.baseline.lower() == "none":
        cfg = _replace(cfg, baseline=None)
    elif cfg.baseline and pyproject is not None and not Path(cfg.baseline).is_absolute() and given.get("baseline") is None:
        # A baseline named in pyproject.toml is relative to that file, not to the cwd.
        cfg = _replace(cfg, baseline=str(pyproject.parent / cfg.baseline))
    if wi is None:  # the controller (or -n 0) checks once; workers get the same options
        from .validate import check_config

        check_config(cfg, "pytest")
    gap_cells(cfg), editor_cells(cfg), cfg.counter_model(), cfg.judge_model()  # validate now, not in every test
    if cfg.run_name is None:
        name = f"{cfg.profile}-{time.strftime('%Y%m%d-%H%M%S')}"
        cfg = _replace(cfg, run_name=_worker_shared_name(config, name))
    else:  # a folder under reports/: one id, never a path (names.slug)
        cfg = _replace(cfg, run_name=slug(cfg.run_name))
    config.stash[CONFIG_KEY] = cfg
    config.stash[STARTED_KEY] = time.time()
    reports_root = cfg.reports_dir or str((pyproject.parent if pyproject else Path.cwd()) / "reports")
    config.stash[ENGINE_KEY] = _LazyEngine(cfg, Path(reports_root))
    collector = ResultCollector(config)
    config.pluginmanager.register(collector, "iqa_audit_results")
    if config.pluginmanager.hasplugin("html") and config.getoption("htmlpath", None):
        # Only when a pytest-html page is asked for (--html): its per-case thumbnails travel
        # from every xdist worker to the controller, ~0.4 s per worker on a warm run.
        from .report.pytest_html_support import HtmlExtras

        config.pluginmanager.register(HtmlExtras(config, lambda: list(collector.records.values())), "iqa_audit_html")


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
    """xdist controller: hand every worker the same run name."""
    node.workerinput["iqa_audit_run_name"] = node.config.stash[CONFIG_KEY].run_name


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """--dist loadgroup that groups the audit's cells whatever pytest's version.

    xdist 3.8 tags a grouped item by rewriting Item._nodeid, which pytest 9 no longer
    reads: every cell became its own work unit, the three Δ cells of one series landed on
    different workers, and each worker scored the same images (-n 2 ran no faster than
    -n 0). The controller knows every cell from the config alone, so it maps test ids to
    groups itself; tests that are not cells are scheduled one by one as before."""
    if config.getvalue("dist") != "loadgroup" or CONFIG_KEY not in config.stash:
        return None
    from xdist.scheduler import LoadGroupScheduling

    groups = cell_groups(config.stash[CONFIG_KEY])

    class AuditCellScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)  # 'group' where xdist could tag the id
            return scope if scope != nodeid else groups.get(param_id(nodeid), nodeid)

    return AuditCellScheduling(config, log)


def cell_groups(cfg: AuditConfig) -> dict[str, str]:
    """{test parameter id: xdist group} of every audit cell (ids are unique per kind, and an
    editor cell's id is shared by its checks on purpose: they run together)."""
    from .cells import editor_cells, gap_cells, sanity_cases

    return {c.id: c.group for cells in (gap_cells(cfg), sanity_cases(cfg), editor_cells(cfg)) for c in cells}


def param_id(nodeid: str) -> str | None:
    """'tests_metrics/test_gap.py::test_gap[piqe-x-d5]' -> 'piqe-x-d5' (None if not parametrized)."""
    name = nodeid.rsplit("::", 1)[-1]
    return name[name.index("[") + 1:-1] if name.endswith("]") and "[" in name else None


class _LazyEngine:
    """Creates the Engine on first use, so `pytest --help` and unit tests pay nothing."""

    def __init__(self, cfg: AuditConfig, reports_root: Path):
        self.cfg = cfg
        self.reports_root = reports_root
        self._engine = None

    def get(self):
        if self._engine is None:
            from .engine import Engine

            self._engine = Engine(self.cfg)
        return self._engine

    @property
    def run_dir(self) -> Path:
        return self.reports_root / (self.cfg.run_name or "latest")


# ----- parametrization ---------------------------------------------------------------
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    cfg = metafunc.config.stash[CONFIG_KEY]
    if "gap_cell" in metafunc.fixturenames:
        from .cells import gap_cells

        cells = gap_cells(cfg)
        metafunc.parametrize(
            "gap_cell",
            [pytest.param(c, id=c.id, marks=pytest.mark.xdist_group(c.group)) for c in cells]
            or [pytest.param(None, marks=pytest.mark.skip(reason="no metric cells in this configuration"))],
        )
    if "sanity_case" in metafunc.fixturenames:
        from .cells import sanity_cases

        cases = sanity_cases(cfg)
        metafunc.parametrize("sanity_case", [pytest.param(c, id=c.id, marks=pytest.mark.xdist_group(c.group)) for c in cases])
    if "editor_cell" in metafunc.fixturenames:
        from .cells import editor_cells

        check = getattr(metafunc.function, "iqa_check", None)
        cells = [c for c in editor_cells(cfg) if check is None or c.check == check]
        metafunc.parametrize(
            "editor_cell",
            [pytest.param(c, id=c.id, marks=pytest.mark.xdist_group(c.group)) for c in cells]
            or [pytest.param(None, marks=pytest.mark.skip(reason=f"no {check} cells in this configuration"))],
        )


def pytest_collection_finish(session: pytest.Session) -> None:
    """Tell this process's engine which chains the selected cells need (after -k/-m)."""
    cfg = session.config.stash[CONFIG_KEY]
    if cfg.dataset or getattr(session.config, "workerinput", None) is None and session.config.getoption("numprocesses", None):
        return  # imported chains are not built; an xdist controller runs no tests
    from .cells import EditorCell, GapCell
    from .chains import ChainSpec

    specs = []
    for item in session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        cell = params.get("gap_cell") or params.get("editor_cell")
        if isinstance(cell, GapCell):
            steps, runs = cfg.steps, cfg.runs
        elif isinstance(cell, EditorCell):
            steps, runs = cell.steps, max(cell.runs, 1)
        else:
            continue
        specs += [ChainSpec(seed=cell.seed, editor=cell.setting.editor, task=cell.setting.task, run=r, steps=steps,
                            long_side=cfg.long_side) for r in range(runs)]
    if specs:
        wi = getattr(session.config, "workerinput", None) or {}
        worker = int(str(wi.get("workerid", "gw0"))[2:] or 0)
        session.config.stash[ENGINE_KEY].get().plan(specs, worker=worker, workers=int(wi.get("workercount", 1)))


# ----- fixtures ------------------------------------------------------------------------
@pytest.fixture(scope="session")
def audit_config(pytestconfig: pytest.Config) -> AuditConfig:
    return pytestconfig.stash[CONFIG_KEY]


@pytest.fixture(scope="session")
def audit_engine(pytestconfig: pytest.Config):
    return pytestconfig.stash[ENGINE_KEY].get()


@pytest.fixture
def gap_inputs(gap_cell, audit_engine, record_cell) -> None:
    """Scores a gap cell's series during setup: a score the cell needs that the metric
    could not give (NaN/±inf) makes the cell an ERROR with the reason, not a failure."""
    from .verdicts import prepare_gap

    prepare_gap(gap_cell, audit_engine, record_cell)


@pytest.fixture
def record_cell(request: pytest.FixtureRequest):
    """Attach a cell's result to the test report; the controller gathers them."""

    def record(payload: dict) -> None:
        request.node.user_properties.append((PROPERTY, json.dumps(payload, sort_keys=True, default=float)))

    return record


# ----- collecting results on the controller ----------------------------------------------
class ResultCollector:
    """Registered on every process; only the controller (or a -n 0 run) writes outputs."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.records: dict[str, dict] = {}
        self.paths: dict[str, Path] = {}
        self.outcomes: dict[str, int] = {}  # pytest's own counts (its summary line), every test of the session
        self.pruned: list[Path] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        category = self.config.hook.pytest_report_teststatus(report=report, config=self.config)[0]
        if category:
            self.outcomes[category] = self.outcomes.get(category, 0) + 1
        if report.when not in ("setup", "call"):
            return
        for name, value in report.user_properties:
            if name == PROPERTY:
                payload = json.loads(value)
                payload["outcome"] = ("xfailed" if hasattr(report, "wasxfail")
                                      else "error" if payload.get("error") and report.failed else report.outcome)
                payload["nodeid"] = report.nodeid
                self.records[payload["cell"]] = payload  # the call's record replaces the setup's

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if getattr(self.config, "workerinput", None) is not None or not self.records:
            return  # workers report through the controller
        from .report.retention import prune_runs
        from .results import write_run_outputs

        lazy = self.config.stash[ENGINE_KEY]
        cfg = self.config.stash[CONFIG_KEY]
        records = [self.records[k] for k in sorted(self.records)]
        self.paths = write_run_outputs(cfg, lazy.run_dir, records, started=self.config.stash[STARTED_KEY],
                                       finished=time.time(), compare=cfg.compare, outcomes=dict(self.outcomes))
        self.pruned = prune_runs(lazy.reports_root, keep=cfg.keep_reports, current=lazy.run_dir)

    def pytest_terminal_summary(self, terminalreporter, exitstatus: int, config: pytest.Config) -> None:
        if not self.paths:
            return
        terminalreporter.section("iqa-audit")
        kinds: dict[str, int] = {}
        for r in self.records.values():
            if "baseline" in r:  # gap and editor cells (sanity cases are not gated)
                kinds[r["baseline"]] = kinds.get(r["baseline"], 0) + 1
        counts = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        if config.stash[CONFIG_KEY].baseline:
            terminalreporter.write_line("against the baseline: " + counts)
            for r in self.records.values():
                if r.get("baseline") in ("regression", "improved"):
                    terminalreporter.write_line(f"  {r['baseline']}: {r['cell']}")
        else:
            terminalreporter.write_line("verdicts: " + counts)
        for label, path in self.paths.items():
            terminalreporter.write_line(f"{label}: {path}")
        if self.pruned:
            terminalreporter.write_line(f"removed {len(self.pruned)} old run folder(s) from {self.pruned[0].parent} "
                                        f"(keeping the last {config.stash[CONFIG_KEY].keep_reports}; --keep-reports N, 0 keeps all)")
