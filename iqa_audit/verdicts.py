"""Turn a finding plus the baseline into a test outcome. Tests call these and nothing else.

The tests never recompute scores: they read the engine's finding, record it for the
report, compare it with the baseline and pass, fail or xfail accordingly.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Mapping

import pytest

from . import baseline as baseline_mod
from .cells import EditorCell, GapCell
from .config import AuditConfig


@lru_cache(maxsize=4)
def _baseline(path: str | None) -> Mapping[str, baseline_mod.Expected]:
    return baseline_mod.load(path)


def settle(cfg: AuditConfig, cell: str, passed: bool, value: float | None, describe: str) -> None:
    """Pass, fail (regression or raw failure) or xfail (known failure) the running test."""
    if cfg.update_baseline:
        if not passed:
            pytest.xfail(f"recorded as failing in the baseline being written: {describe.splitlines()[0]}")
        return
    expected = _baseline(cfg.baseline)
    cmp = baseline_mod.compare(cell, passed, value, expected, has_baseline=bool(cfg.baseline and expected), describe=describe)
    if cmp.kind == "expected-failure":
        pytest.xfail(cmp.message)
    if cmp.fails_test:
        pytest.fail(cmp.message if cmp.kind != "fail" else describe, pytrace=False)


def audit_gap(cell: GapCell, engine, record: Callable[[dict], None], cfg: AuditConfig) -> None:
    from .metrics.base import MetricUnavailable

    try:
        g = engine.gap(cell)
    except MetricUnavailable as e:
        pytest.skip(str(e))
    series = engine.series(cell)
    metric = engine.metric(cell.metric)
    record({
        "kind": "gap",
        "cell": f"gap:{cell.id}",
        "metric": cell.metric,
        "metric_id": g.metric_id,
        "metric_version": g.metric_version,
        "version": g.metric_version,
        "range": {"lo": metric.range.lo, "hi": metric.range.hi, "higher_better": metric.range.higher_better,
                  "source": metric.range.source},
        "setting": cell.setting.label,
        "editor": cell.setting.editor,
        "task": cell.setting.task,
        "seed": cell.seed,
        "delta_step": cell.delta_step,
        "gap": g.gap,
        "value": g.gap,
        "passed": g.noticed,
        "runs": len(series.runs),
        "mean_normalised": {str(k): series.mean(k) for k in series.steps if series.at(k)},
        "spread_normalised": {str(k): series.spread(k) for k in series.steps if series.at(k)},
        "raw": {str(r): {str(k): v for k, v in steps.items()} for r, steps in series.raw.items()},
        "images": engine.chain_images(cell.setting, cell.seed, steps=cfg.steps, runs=cfg.runs),
    })
    settle(cfg, f"gap:{cell.id}", g.noticed, g.gap, g.explain())


def audit_editor(cell: EditorCell, engine, record: Callable[[dict], None], cfg: AuditConfig) -> None:
    f = engine.editor_finding(cell)
    record({
        "kind": "editor",
        "cell": f"editor:{cell.cell}",
        "check": cell.check,
        "setting": cell.setting.label,
        "editor": cell.setting.editor,
        "editor_version": f.editor_version,
        "version": f.editor_version,
        "task": cell.setting.task,
        "seed": cell.seed,
        "passed": f.passed,
        "value": f.value,
        "tolerance": f.tolerance,
        "message": f.message,
        "details": _jsonable(f.details),
        "images": engine.chain_images(cell.setting, cell.seed, steps=cell.steps, runs=max(cell.runs, 1)),
        "self_evaluation": self_evaluation(engine.reasonings(cell.setting, cell.seed, steps=cell.steps, runs=max(cell.runs, 1))),
    })
    settle(cfg, f"editor:{cell.cell}", f.passed, f.value, f"{cell.check} of {cell.setting.label} on {cell.seed}: {f.message}")


def self_evaluation(reasonings: Mapping[str, list]) -> dict[str, Any]:
    """The study's self-evaluation delay: per run, the first step whose reasoning says the
    input is noisy or has artifacts (keyword judge); mean ± sd over runs."""
    from .self_eval import first_noticed_step, summarise_delays

    have_text = any(r for steps in reasonings.values() for _, r in steps)
    if not have_text:
        return {"available": False, "why": "this editor returns no reasoning"}
    firsts = [first_noticed_step([(k, r) for k, r in steps]) for _, steps in sorted(reasonings.items())]
    summary = summarise_delays(firsts)
    return {"available": True, "per_run": firsts, "mean": summary.mean, "sd": summary.sd,
            "noticed_runs": summary.noticed_runs, "runs": summary.runs}


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=lambda o: o.item() if hasattr(o, "item") else str(o)))
