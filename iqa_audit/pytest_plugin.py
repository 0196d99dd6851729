"""The pytest plugin: wires the audit into pytest, and nothing else.

Every hook delegates to the run's `audit.session.AuditSession` (made at configure, kept in
`config.stash[SESSION_KEY]`) or to the audit module named in it:

- options: `config.options` (one table, shared with the `iqa-audit` CLI);
- parametrisation: `audit.parametrize`; the xdist scheduler: `audit.scheduling`;
- each test: the `audit` fixture, an `audit.outcomes.CellTest` (the kind's finding, its
  record, its pytest outcome); a cell whose code raised gets its error record here;
- results: the session collects every record and writes results.json and the report at
  the end (`AuditSession.finish`); the terminal summary is `audit.summary`.

Data flows one way: options -> AuditConfig -> cells (collection) -> each kind's module
reads chains and scores through the store -> a typed record -> the test's outcome ->
the controller writes results.json (and the baseline, with --update-baseline) once,
complete, at the end of the session, then the report from the same records.
"""

from __future__ import annotations

import os

import pytest

from iqa_audit.audit.error_text import redact_failure
from iqa_audit.audit.outcomes import CellTest, record_error
from iqa_audit.audit.parametrize import audit_cell, parametrize
from iqa_audit.audit.pytest_html import HtmlExtras
from iqa_audit.audit.scheduling import make_scheduler
from iqa_audit.audit.session import DEST_PREFIX, SESSION_KEY, AuditSession
from iqa_audit.audit.shipping import attach
from iqa_audit.audit.summary import write_last_lines, write_summary
from iqa_audit.config.options import add_options
from iqa_audit.core.errors import AuditError
from iqa_audit.core.urls import redact_text

SLOW_MARKER = "slow: takes more than a few seconds"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Every option from the one table in `config/options.py` (shared with the `iqa-audit` CLI)."""

    g = parser.getgroup("iqa-audit", "iqa-audit: does a quality metric notice iterative editing degradation?")
    add_options(g.addoption, "pytest", DEST_PREFIX)


def pytest_configure(config: pytest.Config) -> None:
    """Make the run's session (AuditSession.configure): a mistake in the options is one
    `ERROR:` line and exit code 4 (pytest's usage error), not the same failure in every test.

    Environment: sets HF_HUB_OFFLINE=1 unless the user set it (then theirs stands), before
    any metric imports pyiqa/timm/huggingface_hub: with it, a metric whose weights are
    missing is skipped at once instead of waiting ~50 s in network retries. Importing the
    plugin changes nothing; only a configured pytest session does this."""

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # The shipped audit (iqa_audit/suite) marks its slow cases; declared here, so a project
    # without this checkout's pyproject.toml can run it with --strict-markers.
    config.addinivalue_line("markers", SLOW_MARKER)
    try:
        audit = config.stash[SESSION_KEY] = AuditSession.configure(config)
    except AuditError as e:  # a bad option is a usage error, shown without a traceback
        raise pytest.UsageError(redact_text(str(e))) from None
    config.pluginmanager.register(_RunHooks(config, audit), "iqa_audit_results")
    if config.pluginmanager.hasplugin("html") and config.getoption("htmlpath", None):
        # Only when a pytest-html page is asked for (--html): its per-case thumbnails travel
        # from every xdist worker to the controller, ~0.4 s per worker on a warm run.

        config.pluginmanager.register(HtmlExtras(config, lambda: list(audit.records.values())), "iqa_audit_html")


def pytest_unconfigure(config: pytest.Config) -> None:
    audit = config.stash.get(SESSION_KEY, None)
    if audit is not None:
        audit.close()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Before any chain is built: what paid steps this run would buy (AuditSession.announce_paid)."""
    audit = session.config.stash.get(SESSION_KEY, None)
    if audit is not None:
        audit.announce_paid(session.config.pluginmanager.get_plugin("terminalreporter"))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist controller: hand every worker the run's name, dataset import and paid-step ledger."""
    node.workerinput.update(node.config.stash[SESSION_KEY].worker_input())


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """--dist loadgroup that groups the audit's cells whatever pytest's version (audit.scheduling)."""
    if config.getvalue("dist") != "loadgroup" or SESSION_KEY not in config.stash:
        return None

    return make_scheduler(config, log, config.stash[SESSION_KEY].cells.groups())


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:

    parametrize(metafunc, metafunc.config.stash[SESSION_KEY].cells)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Tell this process which chains the selected cells need (after -k/-m)."""

    try:
        session.config.stash[SESSION_KEY].queue_chains(session)
    except AuditError as e:  # e.g. the store went away since configure: one line, not INTERNALERROR
        raise pytest.UsageError(redact_text(str(e))) from None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    """A cell whose code raised before it recorded a verdict (a user's metric or editor
    failing, in setup or in the call) gets its error record (outcomes.record_error); a
    failure's text loses URL credentials (error_text.redact_failure). An error a cell raised
    is shown once per process, briefly (audit.error_text)."""

    report = (yield).get_result()
    record_error(lambda: item.config.stash[SESSION_KEY].services, item, call, report)
    if audit_cell(item) is not None:
        item.config.stash[SESSION_KEY].errors_shown.shorten(item, call, report)
    redact_failure(report)


class _RunHooks:
    """The session's hooks that pytest calls without the config, registered per session."""

    def __init__(self, config: pytest.Config, audit: AuditSession):
        self.config, self.audit = config, audit

    @pytest.hookimpl(tryfirst=True)  # before the terminal's handler, which a second Ctrl-C may cut short
    def pytest_keyboard_interrupt(self, excinfo) -> None:
        self.audit.keyboard_interrupt(excinfo.value)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        """xdist: a worker that ended with pytest's INTERRUPTED status was stopped by Ctrl-C
        (its own, or a KeyboardInterrupt raised in a test it ran)."""
        if getattr(node, "workeroutput", {}).get("exitstatus") == pytest.ExitCode.INTERRUPTED:
            self.audit.interrupted = True

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.audit.collect(report, self.config.hook.pytest_report_teststatus(report=report, config=self.config)[0])

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.audit.finish(session)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter, exitstatus: int, config: pytest.Config):
        """The audit's section after pytest's short test summary, which pytest's own wrapper
        writes as it returns: the run ends on the cards, however many cells failed."""
        result = yield
        write_summary(terminalreporter, self.audit)
        return result

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """The HTML report's path, last: after pytest's own -rs lines and its counts, so an
        audit's output ends with the page to open (README's first command)."""

        self.audit.sigints.uninstall()
        write_last_lines(config.pluginmanager.get_plugin("terminalreporter"), self.audit)


# ----- fixtures ------------------------------------------------------------------------
@pytest.fixture(scope="session")
def audit_config(pytestconfig: pytest.Config):
    """The run's resolved AuditConfig."""
    return pytestconfig.stash[SESSION_KEY].cfg


@pytest.fixture(scope="session")
def audit_session(pytestconfig: pytest.Config) -> AuditSession:
    """The run's AuditSession (its services: `audit_session.services`)."""
    return pytestconfig.stash[SESSION_KEY]


@pytest.fixture
def audit(request: pytest.FixtureRequest, audit_session: AuditSession):
    """This test's `outcomes.CellTest`: `audit.gap(gap_cell)`, `audit.stability(...)`,
    `audit.sanity(...)`, `audit.editor(...)`; the records it makes go with the test's report."""

    return CellTest(audit_session.services, lambda rec: attach(request.node, rec))


@pytest.fixture
def gap_inputs(gap_cell, audit) -> None:
    """Scores a gap cell's series during setup: a score the cell needs that the metric
    could not give (NaN/±inf) makes the cell an ERROR with the reason, not a failure."""
    audit.prepare_gap(gap_cell)


@pytest.fixture
def stability_inputs(stability_cell, audit) -> None:
    """Scores a stability cell's chains during setup: a NaN/±inf score makes the cell an
    ERROR naming the image, not a failure."""
    audit.prepare_stability(stability_cell)
