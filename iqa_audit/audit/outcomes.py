"""Turn a finding plus the baseline into a test outcome. Tests call these and nothing else.

The tests never recompute scores: they read the engine's finding, record it for the
report, compare it with the baseline and pass, fail or xfail accordingly. A gap cell with
nothing visible to notice (gaps.judge: inconclusive) is recorded and skipped; a metric
that cannot run records its status (the session then fails unless
--allow-missing-metrics) and skips.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Any, Callable, Mapping, TypeVar, Union

import pytest

from iqa_audit.analysis import band
from iqa_audit.results import baseline as baseline_mod
from iqa_audit.audit.cells import EditorCell, GapCell, SanityCase, StabilityCell
from iqa_audit.config.audit_config import AuditConfig
from iqa_audit.core.tracebacks import ErrorFields
from iqa_audit.results.records import (
    EditorRecord,
    GapRecord,
    GatedRecord,
    MetricStatusRecord,
    Record,
    SanityRecord,
    StabilityRecord,
)
from iqa_audit.store.store import jsonable

T = TypeVar("T")
Recorder = Callable[[Record], None]  # the record_cell fixture: attaches a record to the test's report


@lru_cache(maxsize=4)
def _baseline(path: str | None) -> Mapping[str, baseline_mod.Expected]:
    return baseline_mod.load(path)


def judge_against_baseline(
    cfg: AuditConfig,
    cell: str,
    passed: bool,
    value: float | None,
    describe: str,
    *,
    verdict: str | None = None,
    stderr: float | None = None,
    noise_band: bool = False,
) -> baseline_mod.Comparison:
    if verdict == "inconclusive":
        return baseline_mod.Comparison("inconclusive", describe)
    if cfg.update_baseline:
        return baseline_mod.Comparison("pass" if passed else "recorded-failure", describe)
    expected = _baseline(cfg.baseline)
    return baseline_mod.compare(
        cell,
        passed,
        value,
        expected,
        has_baseline=bool(cfg.baseline and expected),
        describe=describe,
        verdict=verdict,
        stderr=stderr,
        noise_band=noise_band,
    )


def settle(rec: GatedRecord, cmp: baseline_mod.Comparison, record: Recorder) -> None:
    """Record the finding with how it compares to the baseline, then pass, fail, xfail or skip."""
    # The verdict is the message, not this frame: hidden frames also make pytest's report
    # of each of the ~200 expected failures cheaper to build (~13 ms each otherwise).
    __tracebackhide__ = True
    record(replace(rec, baseline=cmp.kind))
    if cmp.test == "skip":
        pytest.skip(cmp.message)
    if cmp.kind == "recorded-failure":
        _xfail(f"recorded as failing in the baseline being written: {cmp.message.splitlines()[0]}")
    if cmp.test == "xfail":
        _xfail(cmp.message)
    if cmp.fails_test:
        pytest.fail(cmp.message, pytrace=False)


def _xfail(reason: str) -> None:
    """pytest.xfail without a traceback: the reason says it all, and formatting ~200
    tracebacks nobody reads cost a warm run ~0.4 s per worker."""
    __tracebackhide__ = True
    raise pytest.xfail.Exception(reason, pytrace=False)


def metric_unavailable(name: str, error: Exception, record: Recorder) -> None:
    """A requested metric cannot run here (missing weights, import error, bad declaration):
    record that for the session's verdict on the run (pytest_plugin fails the run unless
    --allow-missing-metrics), then skip this case with the reason."""
    __tracebackhide__ = True
    kind = MetricStatusRecord.kind
    record(MetricStatusRecord(cell=f"{kind}:{name}", metric=name, status="unavailable", why=str(error)))
    pytest.skip(str(error))


def scored(cell: Cell, engine, compute: Callable[[], T], record: Recorder) -> T:
    """`compute()`, or the test's end when the metric could not give what it needs: a metric
    that cannot run here is recorded (the run fails unless --allow-missing-metrics) and the
    case skips; a NaN/±inf score is recorded as the cell's error record (error_record) and
    fails the case with the reason naming the image, without a traceback (an ERROR when
    called from a fixture, i.e. in setup). Anything else raises; the plugin records it the
    same way (pytest_plugin.pytest_runtest_makereport)."""
    __tracebackhide__ = True
    from iqa_audit.metrics.base import MetricUnavailable, NonFiniteScore

    try:
        return compute()
    except MetricUnavailable as e:
        metric_unavailable(cell.metric, e, record)
    except NonFiniteScore as e:
        from iqa_audit.core.tracebacks import describe

        record(error_record(cell, describe(e), engine, known=e))
        pytest.fail(str(e), pytrace=False)


Cell = Union[GapCell, StabilityCell, EditorCell, SanityCase]  # what a test of each audit kind is about


def error_record(cell: Cell, error: ErrorFields, engine=None, *, known: BaseException | None = None) -> Record:
    """The record of a cell that could not reach a verdict (a user's metric or editor
    failing, a NaN score, a chain that could not be built): the cell's own fields, no
    verdict (`passed` false, `value` null, baseline "error") and `error`'s type, message,
    raising frame, chain and step (cell_errors.describe). `engine`: this process's, for the
    metric's version (None: ""); `known`: the exception, when it is a NonFiniteScore whose
    series is computed (the gap record then keeps its curves and images). Never raises for
    a description it cannot complete: a version it cannot learn is ""."""
    from iqa_audit.metrics.base import NonFiniteScore

    err = error.as_record_fields()
    if isinstance(cell, SanityCase):
        return SanityRecord(cell=cell.key, metric=cell.metric, metric_id=cell.metric_id, check=cell.check, passed=False, **err)
    no_verdict = {"cell": cell.key, "passed": False, "value": None, "baseline": "error", **err}
    if isinstance(cell, GapCell):
        # After a NaN score the series is computed (and cached): the record keeps its curves and images.
        series = _gap_fields(cell, engine, engine.cfg) if isinstance(known, NonFiniteScore) and engine else {}
        return GapRecord(
            **{
                "metric": cell.metric,
                "metric_id": cell.metric_id,
                "version": _metric_version(engine, cell.metric),
                "setting": cell.setting.label,
                "editor": cell.setting.editor,
                "task": cell.setting.task,
                "seed": cell.seed,
                "delta_step": cell.delta_step,
                **series,
                **no_verdict,
            }
        )
    if isinstance(cell, StabilityCell):
        return StabilityRecord(
            metric=cell.metric,
            metric_id=cell.metric_id,
            version=_metric_version(engine, cell.metric),
            editor=cell.editor,
            task=cell.task,
            setting=cell.add_setting.label,
            replicate_setting=cell.replicate_setting.label,
            seed=cell.seed,
            **no_verdict,
        )
    return EditorRecord(
        check=cell.check,
        setting=cell.setting.label,
        editor=cell.setting.editor,
        task=cell.setting.task,
        seed=cell.seed,
        version=_editor_version(cell.setting.editor, engine),
        **no_verdict,
    )


def _metric_version(engine, name: str) -> str:
    """The metric's version for an error record, "" when the metric cannot say (the error
    being described may be its own)."""
    try:
        return engine.identity(name).version if engine is not None else ""
    except Exception:  # a description must not fail the error it describes
        return ""


def _editor_version(spec: str, engine) -> str:
    """The editor's version for an error record, "" when the editor cannot be made."""
    from iqa_audit.editors import create_editor

    try:
        return str(create_editor(spec).version) if engine is not None else ""
    except Exception:  # a description must not fail the error it describes
        return ""


def prepare_gap(cell: GapCell, engine, record: Recorder) -> None:
    """Score the cell's series in the test's SETUP (the `gap_inputs` fixture), so a score
    the cell needs that the metric could not give (NaN/±inf) makes the cell an ERROR,
    recorded with the reason for results.json and the report, not a failed verdict. Cells
    of the same series that do not need that image still run. A metric that cannot run
    here skips the cell."""
    __tracebackhide__ = True
    scored(cell, engine, lambda: engine.gap(cell), record)


def _gap_fields(cell: GapCell, engine, cfg: AuditConfig) -> dict[str, Any]:
    """What a gap cell's record says besides its verdict: the metric, the cell, the series
    (GapRecord's fields, by name)."""
    series = engine.series(cell)
    metric = engine.identity(cell.metric)  # id, version, range: no model load on a warm run
    return {
        "cell": cell.key,
        "metric": cell.metric,
        "metric_id": series.metric_id,
        "version": series.metric_version,
        "range": metric.range.to_dict(),
        "setting": cell.setting.label,
        "editor": cell.setting.editor,
        "task": cell.setting.task,
        "seed": cell.seed,
        "delta_step": cell.delta_step,
        "runs": len(series.runs),
        "mean_normalised": {str(k): series.mean(k) for k in series.steps if series.at(k)},
        "spread_normalised": {str(k): series.spread(k) for k in series.steps if series.at(k)},
        "raw": {str(r): {str(k): v for k, v in steps.items()} for r, steps in series.raw.items()},
        "normalised": {str(r): {str(k): v for k, v in steps.items()} for r, steps in series.normalised.items()},
        "images": engine.chain_images(cell.setting, cell.seed, steps=cfg.steps, runs=cfg.runs),
        "detection_delay": detection_delay_record(series),
    }


def audit_gap(cell: GapCell, engine, record: Recorder, cfg: AuditConfig) -> None:
    __tracebackhide__ = True
    # Without the gap_inputs fixture a non-finite score is still recorded as an error, with the reason.
    judged = scored(cell, engine, lambda: engine.verdict(cell), record)
    g = judged.gap
    rec = GapRecord(
        **{**_gap_fields(cell, engine, cfg), "runs": len(g.runs)},
        value=g.gap,
        reference_mean=g.reference_mean,  # over the paired runs
        step_mean=g.step_mean,
        verdict=judged.verdict,
        passed=judged.passed,
        reason=judged.reason,
        paired_runs=tuple(g.runs),
        left_out=tuple({"run": r, "why": why} for r, why in g.left_out),
        per_run_gaps={str(r): x for r, x in zip(g.runs, g.per_run_gaps)},
        gap_spread=g.spread,
        gap_stderr=g.stderr,
        tolerance=band.tolerance(g.stderr),
        evidence=tuple(ev.to_dict() for ev in judged.evidence),
    )
    cmp = judge_against_baseline(
        cfg, rec.cell, judged.passed, g.gap, judged.explain(), verdict=judged.verdict, stderr=g.stderr, noise_band=True
    )
    settle(rec, cmp, record)


def detection_delay_record(series) -> dict[str, Any]:
    """The metric detection delay of one series (iqa_audit.analysis.stability.detection_delay), with
    the scored steps it was read at (its resolution)."""
    from iqa_audit.analysis.stability import detection_delay

    d = detection_delay(series)
    return {
        "per_run": list(d.steps),
        "mean": d.mean,
        "sd": d.sd,
        "noticed_runs": d.noticed_runs,
        "runs": d.runs,
        "resolution": [k for k in series.steps if k > 1],
    }


def prepare_stability(cell: StabilityCell, engine, record: Recorder) -> None:
    """Score the cell's two chains in the test's SETUP (the `stability_inputs` fixture), so a
    score the metric could not give (NaN/±inf) makes the cell an ERROR naming the image, not
    a failed verdict; a metric that cannot run is recorded (the run fails unless
    --allow-missing-metrics) and skips the cell."""
    __tracebackhide__ = True
    scored(cell, engine, lambda: engine.stability(cell), record)


def audit_stability(cell: StabilityCell, engine, record: Recorder, cfg: AuditConfig) -> None:
    """Metric stability under content change: the add chain's step-to-step spread against the
    replicate chain's (iqa_audit.analysis.stability); fails above the stated bound."""
    __tracebackhide__ = True
    s = scored(cell, engine, lambda: engine.stability(cell), record)
    add, rep = (engine.stability_series(cell.metric, st, cell.seed) for st in (cell.add_setting, cell.replicate_setting))

    def curve(series) -> dict[str, dict[str, float]]:
        return {str(r): {str(k): v for k, v in sorted(steps.items())} for r, steps in series.normalised.items()}

    rec = StabilityRecord(
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
        curves={"add": curve(add), "replicate": curve(rep)},
        images=engine.chain_images(
            cell.add_setting, cell.seed, steps=cfg.stability_steps, runs=cfg.stability_runs, long_side=cfg.stability_long_side
        ),
    )
    settle(rec, judge_against_baseline(cfg, rec.cell, s.passed, s.ratio, s.explain()), record)


def audit_editor(cell: EditorCell, engine, record: Recorder, cfg: AuditConfig) -> None:
    __tracebackhide__ = True
    f = engine.editor_finding(cell)
    rec = EditorRecord(
        cell=cell.key,
        check=cell.check,
        setting=cell.setting.label,
        editor=cell.setting.editor,
        version=f.editor_version,
        task=cell.setting.task,
        seed=cell.seed,
        passed=f.passed,
        value=f.value,
        tolerance=f.tolerance,
        message=f.message,
        details=jsonable(f.details),
        images=engine.chain_images(cell.setting, cell.seed, steps=cell.steps, runs=max(cell.runs, 1)),
        self_evaluation=self_evaluation(
            engine.reasonings(cell.setting, cell.seed, steps=cell.steps, runs=max(cell.runs, 1)), engine.judge()
        ),
    )
    describe = f"{cell.check} of {cell.setting.label} on {cell.seed}: {f.message}"
    settle(rec, judge_against_baseline(cfg, rec.cell, f.passed, f.value, describe), record)


def self_evaluation(reasonings: Mapping[str, list], judge) -> dict[str, Any]:
    """The study's self-evaluation delay: per run, the first step whose reasoning says the
    input is noisy or has artifacts (keyword judge, or an LLM judge with --judge); mean ± sd."""
    from iqa_audit.vlm.self_eval import first_noticed_step, summarise_delays

    have_text = any(r for steps in reasonings.values() for _, r in steps)
    if not have_text:
        return {"available": False, "why": "this editor returns no reasoning"}
    firsts = [first_noticed_step([(k, r) for k, r in steps], judge) for _, steps in sorted(reasonings.items())]
    summary = summarise_delays(firsts)
    return {
        "available": True,
        "per_run": firsts,
        "mean": summary.mean,
        "sd": summary.sd,
        "noticed_runs": summary.noticed_runs,
        "runs": summary.runs,
    }


def audit_sanity(case, engine, record: Recorder) -> None:
    """A metric's sanity check: recorded (so results.json and the report count every test
    pytest ran), then passed, failed, or passed with a warning for a warning-only check."""
    __tracebackhide__ = True
    import warnings

    passed, message, warning_only = scored(case, engine, lambda: engine.sanity(case), record)
    record(
        SanityRecord(
            cell=case.key,
            metric=case.metric,
            metric_id=case.metric_id,
            check=case.check,
            passed=bool(passed or warning_only),
            message=message,
            warning=message if warning_only and not passed else None,
        )
    )
    if warning_only:
        if not passed:
            warnings.warn(f"{case.id}: {message}", UserWarning, stacklevel=1)
        return
    if not passed:
        pytest.fail(message, pytrace=False)
