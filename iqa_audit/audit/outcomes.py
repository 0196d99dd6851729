"""Findings into pytest outcomes: pass, fail, xfail or skip. Test functions call these and nothing else.

A test never computes a finding: its kind's module does (gap_cells, stability_cells,
sanity_cells, editor_cells) and gives the cell's typed record; here the record is
attached to the test's report, compared with the baseline (results.baseline.compare)
and the test passes, fails, xfails or skips accordingly. A gap cell with nothing visible
to notice (inconclusive) is recorded and skipped; a metric that cannot run records its
status (the session then fails unless --allow-missing-metrics) and skips; a score the
metric could not give (NaN/±inf) records the cell's error and fails it, without a
traceback.

A test file of the audit is one line per kind, e.g.

    def test_gap(gap_cell, gap_inputs, audit):
        audit.gap(gap_cell)

where `audit` is the plugin's per-test `CellTest` fixture.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import lru_cache
from typing import TypeVar

import pytest

from iqa_audit.audit.cells import Cell, EditorCell, GapCell, SanityCase, StabilityCell
from iqa_audit.audit.parametrize import audit_cell
from iqa_audit.audit.services import Services
from iqa_audit.audit.shipping import attach, attached
from iqa_audit.config.audit_config import AuditConfig
from iqa_audit.core.tracebacks import describe
from iqa_audit.metrics.base import MetricUnavailable, NonFiniteScore
from iqa_audit.results import baseline as baseline_mod
from iqa_audit.results.records import GatedRecord, MetricStatusRecord, Record

T = TypeVar("T")
Recorder = Callable[[Record], None]  # attaches a record to the test's report (shipping.attach)


class CellTest:
    """One test of an audit cell: its kind's finding, recorded, turned into the outcome.

    `services`: this process's (session.AuditSession.services); `record`: attaches a record
    to this test's report."""

    def __init__(self, services: Services, record: Recorder):
        self.services = services
        self.cfg = services.cfg
        self.record = record

    # ----- setup: a score the cell needs that the metric could not give is an ERROR ------------
    def prepare_gap(self, cell: GapCell) -> None:
        """Score the cell's series in the test's SETUP (the `gap_inputs` fixture), so a score
        the cell needs that the metric could not give (NaN/±inf) makes the cell an ERROR,
        recorded with the reason, not a failed verdict. Cells of the same series that do not
        need that image still run. A metric that cannot run here skips the cell."""
        __tracebackhide__ = True
        self._guarded(cell, lambda: self.services.gaps.gap(cell))

    def prepare_stability(self, cell: StabilityCell) -> None:
        """Score the cell's two chains in the test's SETUP (the `stability_inputs` fixture),
        as prepare_gap does for a gap cell."""
        __tracebackhide__ = True
        self._guarded(cell, lambda: self.services.stability.finding(cell))

    # ----- the test itself: one per audit kind -------------------------------------------------
    def gap(self, cell: GapCell) -> None:
        """Does the metric notice the degradation? Its verdict against the baseline."""
        __tracebackhide__ = True
        gaps = self.services.gaps
        # Without the gap_inputs fixture a non-finite score is still recorded as an error, with the reason.
        verdict = self._guarded(cell, lambda: gaps.verdict(cell))
        rec = gaps.record(cell, verdict)
        g = verdict.gap
        cmp = compare_with_baseline(self.cfg, rec, verdict.explain(), verdict=verdict.verdict, stderr=g.stderr, noise_band=True)
        self._settle(rec, cmp)

    def stability(self, cell: StabilityCell) -> None:
        """Metric stability under content change: the add chain's step-to-step spread against
        the replicate chain's (analysis.stability); fails above the stated bound."""
        __tracebackhide__ = True
        finding = self._guarded(cell, lambda: self.services.stability.finding(cell))
        rec = self.services.stability.record(cell, finding)
        self._settle(rec, compare_with_baseline(self.cfg, rec, finding.explain()))

    def editor(self, cell: EditorCell) -> None:
        """Does the editor keep what the task says to keep? The check's finding against the baseline."""
        __tracebackhide__ = True
        editors = self.services.editors
        finding = editors.finding(cell)
        rec = editors.record(cell, finding)
        describe = f"{cell.check} of {cell.setting.label} on {cell.seed}: {finding.message}"
        self._settle(rec, compare_with_baseline(self.cfg, rec, describe))

    def sanity(self, case: SanityCase) -> None:
        """A metric's sanity check: recorded (so results.json and the report count every test
        pytest ran), then passed, failed, or passed with a warning for a warning-only check.
        Not gated by the baseline."""
        __tracebackhide__ = True
        sanity = self.services.sanity
        result = self._guarded(case, lambda: sanity.result(case))
        self.record(sanity.record(case, result))
        passed, message, warning_only = result
        if warning_only:
            if not passed:
                warnings.warn(f"{case.id}: {message}", UserWarning, stacklevel=1)
            return
        if not passed:
            pytest.fail(message, pytrace=False)

    # ----- outcomes ----------------------------------------------------------------------------
    def _guarded(self, cell: Cell, compute: Callable[[], T]) -> T:
        """`compute()`, or the test's end when the metric could not give what it needs: a
        metric that cannot run here is recorded (metric_unavailable) and the case skips; a
        NaN/±inf score is recorded as the cell's error record and fails the case with the
        reason naming the image, without a traceback (an ERROR when called from a fixture,
        i.e. in setup). Anything else raises; the plugin records it the same way
        (record_error, from pytest_plugin.pytest_runtest_makereport)."""
        __tracebackhide__ = True

        try:
            return compute()
        except MetricUnavailable as e:
            metric_unavailable(cell.metric, e, self.record)
        except NonFiniteScore as e:
            self.record(self.services.error_record(cell, describe(e), known=e))
            pytest.fail(str(e), pytrace=False)

    def _settle(self, rec: GatedRecord, cmp: baseline_mod.Comparison) -> None:
        """Record the finding with how it compares to the baseline, then pass, fail, xfail or skip."""
        # The verdict is the message, not this frame: hidden frames also make pytest's report
        # of each of the ~200 expected failures cheaper to build (~13 ms each otherwise).
        __tracebackhide__ = True
        self.record(replace(rec, baseline=cmp.kind))
        if cmp.test == "skip":
            pytest.skip(cmp.message)
        if cmp.kind == "recorded-failure":
            _xfail(f"recorded as failing in the baseline being written: {cmp.message.splitlines()[0]}")
        if cmp.test == "xfail":
            _xfail(cmp.message)
        if cmp.fails_test:
            pytest.fail(cmp.message, pytrace=False)


@lru_cache(maxsize=4)
def _baseline(path: str | None) -> Mapping[str, baseline_mod.Expected]:
    return baseline_mod.load(path)


def compare_with_baseline(
    cfg: AuditConfig,
    rec: GatedRecord,
    describe: str,
    *,
    verdict: str | None = None,
    stderr: float | None = None,
    noise_band: bool = False,
) -> baseline_mod.Comparison:
    """How the record's finding relates to the baseline (--baseline, or the profile's):
    results.baseline.compare of its passed and value, with the gap's verdict and standard
    error for a gap cell (`noise_band`). An inconclusive gap is 'inconclusive' whatever the
    baseline says; with --update-baseline the comparison is 'pass' or 'recorded-failure'
    (the file being written is the baseline)."""
    if verdict == "inconclusive":
        return baseline_mod.Comparison("inconclusive", describe)
    if cfg.update_baseline:
        return baseline_mod.Comparison("pass" if rec.passed else "recorded-failure", describe)
    expected = _baseline(cfg.baseline)
    return baseline_mod.compare(
        rec.cell,
        rec.passed,
        rec.value,
        expected,
        has_baseline=bool(cfg.baseline and expected),
        describe=describe,
        verdict=verdict,
        stderr=stderr,
        noise_band=noise_band,
    )


def _xfail(reason: str) -> None:
    """pytest.xfail without a traceback: the reason says it all, and formatting ~200
    tracebacks nobody reads cost a warm run ~0.4 s per worker."""
    __tracebackhide__ = True
    raise pytest.xfail.Exception(reason, pytrace=False)


def metric_unavailable(name: str, error: Exception, record: Recorder) -> None:
    """A requested metric cannot run here (missing weights, import error, bad declaration):
    record that for the session's verdict on the run (it fails the run unless
    --allow-missing-metrics), then skip this case with the reason."""
    __tracebackhide__ = True
    record(MetricStatusRecord(cell=f"{MetricStatusRecord.kind}:{name}", metric=name, status="unavailable", why=str(error)))
    pytest.skip(str(error))


def record_error(services: Callable[[], Services], item: pytest.Item, call: pytest.CallInfo, report: pytest.TestReport) -> None:
    """Attach an error record (Services.error_record) to a cell's failed setup or call when
    its code raised before recording one: the error's type, message and the user frame
    that raised (tracebacks.describe), so results.json, the report and the summary count
    the cell. A skip is no error (a metric that cannot run records its status instead).
    `services`: gives this process's services (made only for a cell that needs them)."""

    if report.when not in ("setup", "call") or not report.failed or call.excinfo is None:
        return
    cell = audit_cell(item)
    last = attached(item)
    if cell is None or (last is not None and last.cell == cell.key):
        return  # not a cell, or its code recorded the outcome itself (a verdict, a NaN score)

    attach(item, services().error_record(cell, describe(call.excinfo.value)))
    report.user_properties.append(item.user_properties[-1])
