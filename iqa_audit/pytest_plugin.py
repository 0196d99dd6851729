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

from .config import AuditConfig, find_pyproject, resolve_config, split_csv
from .names import slug
from .plugin_keys import CONFIG_KEY, ENGINE_KEY, PROPERTY, STARTED_KEY

# Set before anything imports pyiqa/timm/huggingface_hub: without it, a metric whose
# weights are missing waits ~50 s in network retries instead of failing at once.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("iqa-audit", "iqa-audit: does a quality metric notice iterative editing degradation?")
    g.addoption("--metric", action="append", default=[], help="metric to audit: pyiqa:NAME, iqa_audit:NAME, module.path:callable, "
                "or an entry-point name (repeatable, commas allowed)")
    g.addoption("--editor", action="append", default=[], help="editor spec for the chains, e.g. codec-jpeg:quality=50 (repeatable)")
    g.addoption("--seed", action="append", default=[], help="seed name (repeatable)")
    g.addoption("--seed-dir", action="append", default=[], help="folder of your own seed images (repeatable)")
    g.addoption("--task", action="append", default=[], help="task: replicate, mirror, rotate90, ... (repeatable)")
    g.addoption("--runs", type=int, default=None, help="runs per chain setting")
    g.addoption("--steps", type=int, default=None, help="chain length")
    g.addoption("--long-side", type=int, default=None, help="render seeds at this long side in px (0: native size)")
    g.addoption("--delta-steps", default=None, help="comma-separated Δ steps (default 5,10,20)")
    g.addoption("--device", default=None, help="cpu (default), cuda or cuda:N")
    g.addoption("--profile", default=None, help="named profile: quick, paper, or [tool.iqa_audit.profiles.NAME]")
    g.addoption("--dataset", default=None,
                help="audit imported chains: PATH/manifest.csv (seed,setting,run,step,path), or the NAME of an import")
    g.addoption("--store", default=None, help="chain and score store folder (default fixtures/cache, or $IQA_AUDIT_STORE)")
    g.addoption("--baseline", default=None, help="expected outcomes JSON; 'none' audits with raw verdicts")
    g.addoption("--update-baseline", action="store_true", default=False, help="rewrite the baseline from this run")
    g.addoption("--run-name", default=None, help="report folder name under reports/ (default: profile + time)")
    g.addoption("--max-paid-steps", type=int, default=None,
                help="new paid editor requests each test process may make (default 0: build paid chains first with "
                     "generate_fixtures.py, which prints the estimated cost)")
    g.addoption("--counter", default=None, help="object counter for add tasks: blob (default, offline) or vlm:<gemini model>")
    g.addoption("--judge", default=None, help="self-evaluation judge: keyword (default, offline) or llm:<gemini model>")
    g.addoption("--compare", default=None, help="another run's results.json: the report adds a 'changed since' section")
    g.addoption("--reports-dir", default=None, help="where run folders go (default: reports/ beside pyproject.toml)")


def _overrides(config: pytest.Config) -> dict:
    opt = config.getoption
    delta = opt("--delta-steps")
    over = {
        "profile": opt("--profile"),
        "metrics": split_csv(opt("--metric")),
        "editors": split_csv(opt("--editor")),
        "seeds": split_csv(opt("--seed")) or None,
        "seed_dirs": split_csv(opt("--seed-dir")),
        "tasks": split_csv(opt("--task")),
        "runs": opt("--runs"),
        "steps": opt("--steps"),
        "long_side": opt("--long-side"),
        "delta_steps": split_csv([delta]) if delta else None,
        "device": opt("--device"),
        "dataset": opt("--dataset"),
        "store": opt("--store"),
        "baseline": opt("--baseline"),
        "update_baseline": opt("--update-baseline") or None,
        "run_name": opt("--run-name"),
        "counter": opt("--counter"),
        "max_paid_steps": opt("--max-paid-steps"),
        "judge": opt("--judge"),
    }
    return over


def pytest_configure(config: pytest.Config) -> None:
    from .errors import AuditError

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
    cfg = resolve_config(_overrides(config), pyproject=pyproject)
    gap_cells(cfg), editor_cells(cfg), cfg.counter_model(), cfg.judge_model()  # validate now, not in every test
    if cfg.baseline and cfg.baseline.lower() == "none":
        cfg = _replace(cfg, baseline=None)
    elif cfg.baseline and pyproject is not None and not Path(cfg.baseline).is_absolute() and config.getoption("--baseline") is None:
        # A baseline named in pyproject.toml is relative to that file, not to the cwd.
        cfg = _replace(cfg, baseline=str(pyproject.parent / cfg.baseline))
    if cfg.run_name is None:
        name = config.getoption("--run-name") or f"{cfg.profile}-{time.strftime('%Y%m%d-%H%M%S')}"
        cfg = _replace(cfg, run_name=_worker_shared_name(config, name))
    else:  # a folder under reports/: one id, never a path (names.slug)
        cfg = _replace(cfg, run_name=slug(cfg.run_name))
    config.stash[CONFIG_KEY] = cfg
    config.stash[STARTED_KEY] = time.time()
    reports_root = config.getoption("--reports-dir") or str((pyproject.parent if pyproject else Path.cwd()) / "reports")
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

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when not in ("setup", "call"):
            return
        for name, value in report.user_properties:
            if name == PROPERTY:
                payload = json.loads(value)
                payload["outcome"] = "xfailed" if hasattr(report, "wasxfail") else report.outcome
                payload["nodeid"] = report.nodeid
                self.records[payload["cell"]] = payload  # the call's record replaces the setup's

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if getattr(self.config, "workerinput", None) is not None or not self.records:
            return  # workers report through the controller
        from .results import write_run_outputs

        lazy = self.config.stash[ENGINE_KEY]
        records = [self.records[k] for k in sorted(self.records)]
        self.paths = write_run_outputs(self.config.stash[CONFIG_KEY], lazy.run_dir, records,
                                       started=self.config.stash[STARTED_KEY], finished=time.time(),
                                       compare=self.config.getoption("--compare"))

    def pytest_terminal_summary(self, terminalreporter, exitstatus: int, config: pytest.Config) -> None:
        if not self.paths:
            return
        terminalreporter.section("iqa-audit")
        kinds: dict[str, int] = {}
        for r in self.records.values():
            kinds[r.get("baseline", "?")] = kinds.get(r.get("baseline", "?"), 0) + 1
        terminalreporter.write_line("against the baseline: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
        for r in self.records.values():
            if r.get("baseline") in ("regression", "improved"):
                terminalreporter.write_line(f"  {r['baseline']}: {r['cell']}")
        for label, path in self.paths.items():
            terminalreporter.write_line(f"{label}: {path}")
