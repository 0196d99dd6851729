"""The report's sentences about a record: a gap explained, a delay, a self-evaluation.

Pure functions of typed records (records.py) and their JSON parts, shared by the HTML
page's sections and the pytest-html extras, so both say the same thing the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iqa_audit.report.model import finite, fmt, fmt_gap
from iqa_audit.results.records import GapRecord


def explain_gap(rec: GapRecord) -> str:
    """One sentence a reader can check against the curve: the two means and their
    difference over the paired runs, the verdict, and for an inconclusive cell why."""
    d = rec.delta_step
    gap = finite(rec.value)
    per_run = rec.per_run_gaps
    verdict = rec.shown_verdict
    words = {
        "pass": "noticed (score fell)",
        "fail": "missed (score did not fall)",
        "inconclusive": f"INCONCLUSIVE: {rec.reason or 'nothing visible to notice'}",
        "error": f"no verdict: {rec.error}",
    }[verdict]
    left = "; ".join(f"run {x.get('run')} left out: {x.get('why')}" for x in rec.left_out)
    if gap is None:
        return f"no gap Δ{d}: {words}" + (f" ({left})" if left and left not in words else "")
    means = _paired_means(rec, d)
    spread = finite(rec.gap_spread)
    spread_s = (
        f", per-run gaps {', '.join(fmt_gap(v) for v in per_run.values())} (sd {fmt(spread, 3)})"
        if len(per_run) > 1 and spread is not None
        else ""
    )
    runs = "?" if rec.runs is None else rec.runs
    return (
        f"gap Δ{d} = mean normalised score at step {d} ({fmt(means[1], 4)}) − at step 1 ({fmt(means[0], 4)})"
        f" = {fmt_gap(gap)} over {runs} run(s){spread_s}: {words}" + (f"; {left}" if left else "")
    )


def _paired_means(rec: GapRecord, d: int) -> tuple[float | None, float | None]:
    """(step 1, step d) means over the runs the gap used (records of older runs, which
    have no reference_mean: the all-run means, which were the same runs then)."""
    if rec.reference_mean is not None:
        return finite(rec.reference_mean), finite(rec.step_mean)
    means = rec.mean_normalised
    return finite(means.get("1")), finite(means.get(str(d)))


def describe_self_evaluation(se: Mapping[str, Any] | None) -> str:
    if not se or not se.get("available"):
        return "no reasoning from this editor"
    runs = se.get("runs") or len(se.get("per_run") or [])
    noticed = se.get("noticed_runs")
    per_run = ", ".join("never" if s is None else str(s) for s in (se.get("per_run") or []))
    mean = finite(se.get("mean"))
    if mean is None:
        return f"never said the image was noisy (runs: {per_run})"
    sd = finite(se.get("sd"))
    spread = f" ± {fmt(sd, 2)}" if sd is not None else ""
    return f"first noticed at step {fmt(mean, 3)}{spread}; {noticed}/{runs} runs noticed (per run: {per_run})"


def describe_delay(d: Mapping[str, Any] | None) -> str:
    """'5 ± 0 (2/2)', or 'never (0/2)': a detection or self-evaluation delay, mean ± sd of the
    runs that noticed (noticed runs / runs)."""
    if not d:
        return "—"
    runs = d.get("runs") or len(d.get("per_run") or [])
    mean = finite(d.get("mean"))
    if mean is None:
        return f"never (0/{runs})"
    sd = finite(d.get("sd"))
    return f"{fmt(mean, 3)}{f' ± {fmt(sd, 2)}' if sd is not None else ''} ({d.get('noticed_runs')}/{runs})"
