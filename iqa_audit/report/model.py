"""Shape results.json's flat list of cell records into what the report draws.

Pure functions over typed records (records.py: results.json's `cells` entries, parsed
once where the JSON is read: html.render_report, compare.compare_results, the pytest-html
hooks), so the HTML page, the pytest-html summary and the tests all see the same
grouping. Nothing here reads files or recomputes a score: the report shows the verdicts,
it does not make them.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from iqa_audit.results.records import GATED, EditorRecord, GapRecord, Record, SanityRecord

# The image strip shows these steps (those the chain has) plus its last step.
STRIP_STEPS = (0, 1, 5, 10, 20)


# ----- records ---------------------------------------------------------------------------
def gap_records(cells: Iterable[Record]) -> list[GapRecord]:
    return [c for c in cells if isinstance(c, GapRecord)]


def editor_records(cells: Iterable[Record]) -> list[EditorRecord]:
    return [c for c in cells if isinstance(c, EditorRecord)]


def finite(value: Any) -> float | None:
    """The value as a float, or None for missing / NaN / non-numeric values."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def cell_anchor(cell: str) -> str:
    """A stable HTML id for a cell. Readable where the cell id allows it; a short hash keeps
    two ids apart that only differ in characters an id cannot hold (seed names are free text)."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", cell.replace(":", "-", 1))
    if safe != cell.replace(":", "-", 1):
        safe += "-" + hashlib.sha1(cell.encode()).hexdigest()[:6]
    return "cell-" + safe


def chain_anchor(setting: str, seed: str) -> str:
    return "strip-" + cell_anchor(f"{setting}/{seed}")[len("cell-") :]


def metric_anchor(metric_id: str) -> str:
    return "curves-" + cell_anchor(metric_id)[len("cell-") :]


def _ordered(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


# ----- gap heatmaps ----------------------------------------------------------------------
@dataclass(frozen=True)
class GridCell:
    cell: str
    value: float | None  # the gap in normalised points; None when it could not be computed
    passed: bool
    outcome: str | None
    nodeid: str | None
    verdict: str = ""  # 'pass' | 'fail' | 'inconclusive' (nothing visible to notice: drawn grey) | 'error'
    error_type: str | None = None  # for an 'error': the exception's type (records.py)
    reason: str | None = None  # why an inconclusive cell is (records.GapRecord.reason, e.g. "no step 10")


@dataclass(frozen=True)
class GapGrid:
    """One heatmap: metrics (rows) x seeds (columns) for one chain setting and one Δ."""

    setting: str
    delta: int
    metrics: tuple[str, ...]
    seeds: tuple[str, ...]
    cells: tuple[tuple[GridCell | None, ...], ...]  # [metric][seed]; None: no such test


@dataclass(frozen=True)
class FailureCount:
    failed: int  # Δs whose verdict is 'fail' (missed); inconclusive and errored ones are not failures
    total: int
    first_cell: str  # the cell a click leads to: the first failing Δ, else the first errored, else the first Δ
    inconclusive: int = 0
    errored: int = 0  # Δs whose cell raised (no gap, no verdict)

    @property
    def judged(self) -> int:
        """The Δs with a verdict: a conclusive gap the metric scored."""
        return self.total - self.inconclusive - self.errored


@dataclass(frozen=True)
class FailureGrid:
    """How many of the Δs failed, per metric x seed, for one chain setting (Figure 6)."""

    setting: str
    deltas: tuple[int, ...]
    metrics: tuple[str, ...]
    seeds: tuple[str, ...]
    counts: tuple[tuple[FailureCount | None, ...], ...]


def gap_settings(gaps: Sequence[GapRecord]) -> tuple[str, ...]:
    return tuple(sorted({g.setting for g in gaps}))


def _axes(gaps: Sequence[GapRecord]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[int, ...]]:
    metrics = tuple(sorted({g.metric_id for g in gaps}))
    seeds = tuple(sorted({g.seed for g in gaps}))
    deltas = tuple(sorted({g.delta_step for g in gaps}))
    return metrics, seeds, deltas


def gap_grids(cells: Iterable[Record]) -> list[GapGrid]:
    """Every (setting, Δ) heatmap, settings sorted, Δ ascending. All grids of a setting share
    their rows and columns so they line up side by side."""
    gaps = gap_records(cells)
    out = []
    for setting in gap_settings(gaps):
        mine = [g for g in gaps if g.setting == setting]
        metrics, seeds, deltas = _axes(mine)
        index = {(g.metric_id, g.seed, g.delta_step): g for g in mine}
        for d in deltas:
            rows = tuple(tuple(_grid_cell(index.get((m, s, d))) for s in seeds) for m in metrics)
            out.append(GapGrid(setting, d, metrics, seeds, rows))
    return out


def _grid_cell(rec: GapRecord | None) -> GridCell | None:
    if rec is None:
        return None
    return GridCell(
        rec.cell, finite(rec.value), rec.passed, rec.outcome, rec.nodeid, rec.shown_verdict, rec.error_type, rec.reason
    )


def failure_grids(cells: Iterable[Record]) -> list[FailureGrid]:
    gaps = gap_records(cells)
    out = []
    for setting in gap_settings(gaps):
        mine = [g for g in gaps if g.setting == setting]
        metrics, seeds, deltas = _axes(mine)
        rows = []
        for m in metrics:
            row = []
            for s in seeds:
                recs = sorted((g for g in mine if g.metric_id == m and g.seed == s), key=lambda g: g.delta_step)
                if not recs:
                    row.append(None)
                    continue
                shown = [g.shown_verdict for g in recs]
                failing = [g for g, v in zip(recs, shown) if v == "fail"]
                errored = [g for g, v in zip(recs, shown) if v == "error"]
                first = (failing or errored or recs)[0].cell
                row.append(FailureCount(len(failing), len(recs), first, shown.count("inconclusive"), len(errored)))
            rows.append(tuple(row))
        out.append(FailureGrid(setting, deltas, metrics, seeds, tuple(rows)))
    return out


def gap_limit(grids: Sequence[GapGrid]) -> float:
    """One symmetric colour range for every heatmap, so equal colours mean equal gaps:
    the largest |gap|, at least 2 normalised points."""
    values = [abs(c.value) for g in grids for row in g.cells for c in row if c is not None and c.value is not None]
    return max([2.0, *values])


# ----- score curves ----------------------------------------------------------------------
@dataclass(frozen=True)
class Curve:
    seed: str
    steps: tuple[int, ...]
    mean: tuple[float, ...]
    spread: tuple[float, ...]
    runs: int


@dataclass(frozen=True)
class MetricCurves:
    metric_id: str
    metric: str
    version: str
    deltas: tuple[int, ...]
    by_setting: tuple[tuple[str, tuple[Curve, ...]], ...]


def metric_curves(cells: Iterable[Record]) -> list[MetricCurves]:
    """Normalised score vs step per metric, one curve per (setting, seed), mean ± spread over
    runs. Every Δ record of a chain carries the same series; the first one is used."""
    gaps = gap_records(cells)
    out = []
    for m in sorted({g.metric_id for g in gaps}):
        mine = [g for g in gaps if g.metric_id == m]
        by_setting = []
        for setting in gap_settings(mine):
            curves = []
            for seed in sorted({g.seed for g in mine if g.setting == setting}):
                rec = next(g for g in mine if g.setting == setting and g.seed == seed)
                curves.append(_curve(rec))
            by_setting.append((setting, tuple(c for c in curves if c.steps)))
        first = mine[0]
        out.append(MetricCurves(m, first.metric, first.version, tuple(sorted({g.delta_step for g in mine})), tuple(by_setting)))
    return out


def _curve(rec: GapRecord) -> Curve:
    means, spreads = rec.mean_normalised, rec.spread_normalised
    points = sorted((int(k), finite(v)) for k, v in means.items())
    points = [(k, v) for k, v in points if v is not None]
    steps = tuple(k for k, _ in points)
    return Curve(
        rec.seed, steps, tuple(v for _, v in points), tuple(finite(spreads.get(str(k))) or 0.0 for k in steps), rec.runs or 0
    )


# ----- image strips ----------------------------------------------------------------------
@dataclass(frozen=True)
class FrameScore:
    """One metric's score of one image: raw, and on the 0–100 normalised scale (higher =
    better; outside [0, 100] when the raw score leaves the metric's typical range)."""

    metric_id: str
    raw: float | None
    normalised: float | None


@dataclass(frozen=True)
class StripImage:
    step: int
    image: str  # 'sha256.ext' in the store
    scores: tuple[FrameScore, ...] = ()


@dataclass(frozen=True)
class Strip:
    setting: str
    seed: str
    run: str
    images: tuple[StripImage, ...]


def _run_order(run: Any) -> tuple[int, str]:
    return (int(run) if str(run).isdigit() else 1 << 30, str(run))


def first_run(images: Mapping[str, Mapping[str, str]] | None) -> tuple[str, dict[int, str]]:
    """The lowest-numbered run's {step: image}; ('', {}) when the record has no images."""
    if not images:
        return "", {}
    run = min(images, key=_run_order)
    return str(run), {int(k): v for k, v in (images[run] or {}).items()}


def strip_steps(available: Iterable[int]) -> tuple[int, ...]:
    steps = sorted(set(available))
    if not steps:
        return ()
    wanted = [s for s in STRIP_STEPS if s in steps]
    if steps[-1] not in wanted:
        wanted.append(steps[-1])
    return tuple(wanted)


def frame_scores(recs: Sequence[GapRecord], run: str, step: int) -> tuple[FrameScore, ...]:
    """Every metric's score of (run, step), raw and normalised as the records carry them,
    from the gap records of one chain (one per metric is enough: every Δ record of a chain
    carries the same series)."""
    out = []
    for rec in recs:
        raw = finite((rec.raw.get(str(run)) or {}).get(str(step)))
        if raw is not None:
            out.append(FrameScore(rec.metric_id, raw, finite((rec.normalised.get(str(run)) or {}).get(str(step)))))
    return tuple(out)


def gap_strips(cells: Iterable[Record]) -> list[Strip]:
    """One strip per (chain setting, seed, run) of the metric audit, every run of the
    chain, each image with every audited metric's raw and normalised score."""
    gaps = gap_records(cells)
    chains: dict[tuple[str, str], list[GapRecord]] = {}
    for g in sorted(gaps, key=lambda g: (g.setting, g.seed, g.metric_id, g.delta_step)):
        chains.setdefault((g.setting, g.seed), [])
        if all(r.metric_id != g.metric_id for r in chains[(g.setting, g.seed)]):
            chains[(g.setting, g.seed)].append(g)
    out = []
    for (setting, seed), recs in chains.items():
        images = next((r.images for r in recs if r.images), {})
        for run in sorted(images, key=_run_order):
            by_step = {int(k): v for k, v in (images[run] or {}).items()}
            out.append(
                Strip(
                    setting,
                    seed,
                    str(run),
                    tuple(StripImage(s, by_step[s], frame_scores(recs, str(run), s)) for s in strip_steps(by_step)),
                )
            )
    return out


def ends_of_chain(images: Mapping[str, Mapping[str, str]] | None) -> tuple[StripImage, ...]:
    """(first, last) images of the first run: what an editor cell's thumbnails show."""
    _, by_step = first_run(images)
    if not by_step:
        return ()
    lo, hi = min(by_step), max(by_step)
    return (StripImage(lo, by_step[lo]),) if lo == hi else (StripImage(lo, by_step[lo]), StripImage(hi, by_step[hi]))


def gap_pair(rec: GapRecord) -> tuple[StripImage, ...]:
    """(step 1, step Δ) of the first run: what a gap cell compares."""
    _, by_step = first_run(rec.images)
    steps = [s for s in (1, rec.delta_step) if s in by_step]
    return tuple(StripImage(s, by_step[s]) for s in dict.fromkeys(steps))


# ----- editor audit ----------------------------------------------------------------------
@dataclass(frozen=True)
class EditorRow:
    """One editor chain (setting, seed): its checks and its own reading of the damage."""

    setting: str
    editor: str
    version: str
    task: str
    seed: str
    checks: Mapping[str, EditorRecord]  # check -> record
    self_evaluation: Mapping[str, Any]
    images: Mapping[str, Mapping[str, str]]


def editor_rows(cells: Iterable[Record]) -> tuple[tuple[str, ...], list[EditorRow]]:
    """(check names in a fixed order, rows sorted by editor, task, seed)."""
    eds = editor_records(cells)
    preferred = (
        "aspect_ratio",
        "object_count",
        "colours",
        "tint",
        "replication",
        "monochrome",
        "colour_returns",
        "transform_steps",
    )
    found = {e.check for e in eds}
    checks = tuple(c for c in preferred if c in found) + tuple(sorted(found - set(preferred)))
    rows: dict[tuple[str, str], dict[str, EditorRecord]] = {}
    for e in eds:
        rows.setdefault((e.setting, e.seed), {})[e.check] = e
    out = []
    for (setting, seed), by_check in sorted(rows.items(), key=lambda kv: (_first(kv[1]).editor or "", kv[0])):
        first = _first(by_check)
        self_eval = next((r.self_evaluation for r in by_check.values() if r.self_evaluation), {})
        images = next((r.images for r in by_check.values() if r.images), {})
        out.append(
            EditorRow(setting, first.editor or "", first.version, first.task or "", seed, dict(by_check), self_eval, images)
        )
    return checks, out


def _first(by_check: Mapping[str, EditorRecord]) -> EditorRecord:
    return by_check[min(by_check)]


# ----- outcomes --------------------------------------------------------------------------
# The outcomes table lists what needs a look first: regressions (passed in the baseline,
# fail now), other failures and errors, then known failures, skips, warnings, passes.
OUTCOME_RANK = {"regression": 0, "failed": 1, "error": 1, "xpassed": 2, "xfailed": 3, "skipped": 4, "warning": 5, "passed": 6}


def outcome_rank(rec: Record) -> int:
    if isinstance(rec, GATED) and rec.baseline == "regression" and rec.outcome == "failed":
        return OUTCOME_RANK["regression"]
    if rec.outcome == "passed" and isinstance(rec, SanityRecord) and rec.warning:
        return OUTCOME_RANK["warning"]
    return OUTCOME_RANK.get(str(rec.outcome), 1)


def ordered_outcomes(cells: Iterable[Record]) -> list[Record]:
    """Records in the order the outcomes table shows them: by `outcome_rank`, then metric
    cells before sanity and editor cells, then by cell id."""
    kind_rank = {"gap": 0, "sanity": 1, "editor": 2}
    return sorted(cells, key=lambda c: (outcome_rank(c), kind_rank.get(c.kind, 3), c.cell))


# ----- words -----------------------------------------------------------------------------
def outcome_counts(cells: Iterable[Record]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in cells:
        o = c.outcome or "?"
        counts[o] = counts.get(o, 0) + 1
    return counts


def fmt(value: Any, digits: int = 3) -> str:
    """`digits` significant digits, no trailing zeros: 0.021, 12.5, 4, 1234."""
    v = finite(value)
    if v is None:
        return "—"
    if abs(v) >= 10**digits:
        return f"{v:.0f}"
    return f"{v:.{digits}g}"


def fmt_gap(value: Any) -> str:
    """A gap short enough for a heatmap cell, sign always shown (the sign is the verdict):
    −123, +12.3, −0.96, +0.00 (a tiny positive gap: still a miss)."""
    v = finite(value)
    if v is None:
        return "—"
    text = f"{v:+.0f}" if abs(v) >= 99.5 else f"{v:+.1f}" if abs(v) >= 0.995 else f"{v:+.2f}"
    if v < 0 and text.startswith("+"):
        text = "-" + text[1:]
    return text.replace("-", "−")
