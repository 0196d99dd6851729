"""The metric audit's figures: per chain setting, the gap heatmaps and failure counts in
one figure (the study's Figures 5 and 6) with the table of seeds each metric noticed on,
and per metric, its normalised score curve over the steps (Figure 7).

`heatmap_plots` is shared with the pytest-html extras (audit.pytest_html), so both show
the same figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from iqa_audit.report import figures
from iqa_audit.report.findings_html import excluded_note
from iqa_audit.report.markup import e, plot_html
from iqa_audit.report.model import failure_grids, gap_grids, gap_limit, metric_anchor, metric_curves
from iqa_audit.report.svg import Svg
from iqa_audit.results.records import Record


# ----- heatmaps --------------------------------------------------------------------------
def heatmap_plots(cells: Iterable[Record]) -> list[tuple[str, str, Svg]]:
    """[(setting, alt text, figure)]: per chain setting, its Δ heatmaps and failure counts
    in one figure. Shared by the page and the pytest-html summary so both show the same."""
    cells = list(cells)
    grids, counts = gap_grids(cells), {f.setting: f for f in failure_grids(cells)}
    limit = gap_limit(grids)  # one colour scale for every setting
    out = []
    for setting in dict.fromkeys(g.setting for g in grids):
        mine = [g for g in grids if g.setting == setting]
        deltas = ", ".join(f"Δ{g.delta}" for g in mine)
        count = counts.get(setting)
        plot = figures.heatmaps(mine, count, limit)
        out.append((setting, f"gap heatmaps {setting}: {deltas} and failed Δs", plot))
    return out


def _metric_verdicts(cells: Sequence[Record]) -> str:
    """The study's headline number: on how many seeds a metric noticed at every Δ."""
    grids = failure_grids(cells)
    if not grids:
        return ""
    head = "".join(f"<th>{e(g.setting)}</th>" for g in grids)
    metrics = sorted({m for g in grids for m in g.metrics})
    rows = []
    for m in metrics:
        tds = []
        for g in grids:
            if m not in g.metrics:
                tds.append("<td>—</td>")
                continue
            row = [c for c in g.counts[g.metrics.index(m)] if c is not None]
            judged = [c for c in row if c.judged]  # seeds with a conclusive, scored Δ
            ok = sum(1 for c in judged if c.failed == 0)
            cls = "inconclusive" if not judged else "pass" if ok == len(judged) else "fail" if ok == 0 else "part"
            errored = sum(1 for c in row if not c.judged and c.errored)
            unsure = len(row) - len(judged) - errored
            notes = [f"+{k} {word}" for k, word in ((unsure, "inconclusive"), (errored, "errored")) if k]
            note = "".join(f' <small class="dim">{n}</small>' for n in notes)
            tds.append(f'<td class="{cls}">{ok}/{len(judged)}{note}</td>')
        rows.append(f'<tr><th><a href="#{metric_anchor(m)}">{e(m)}</a></th>{"".join(tds)}</tr>')
    return (
        f'<table class="compact verdicts"><thead><tr><th>seeds noticed at every conclusive Δ</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def heatmap_section(cells: Sequence[Record], threshold: str | None = None, excluded: Sequence[Mapping[str, Any]] = ()) -> str:
    """`threshold`: the evidence threshold in words (results.json's run.evidence_threshold);
    `excluded`: the chain settings left out of the metric verdicts (results.json's excluded_settings)."""
    plots = heatmap_plots(cells)
    if not plots:
        return (
            f'<section id="heatmaps"><h2>Gap heatmaps</h2><p>No metric cells in this run.</p>{excluded_note(excluded)}</section>'
        )
    parts = [
        '<section id="heatmaps"><h2>Gap heatmaps</h2>',
        (
            '<p class="note">One figure per chain setting. Rows: metrics; columns: seeds; one panel per Δ, numbers in '
            "normalised points. Blue (gap &lt; 0): the score fell, the metric noticed. Red: it did not (bold). Hatched: "
            "a miss the baseline expects (xfail). Framed with “!”: a failed test, a regression or a new failure. "
            "Grey dotted: inconclusive, no run changed visibly between step 1 and step Δ"
            + (f" ({e(threshold)})" if threshold else "")
            + ", so there was nothing to notice and the test was skipped. "
            "The colour scale is shared by all panels, linear within ±1 point and logarithmic beyond; a gap beyond "
            "±100 means the scores left the 0–100 normalised range. The last panel counts the failed Δs of the judged "
            "ones (the study's Figure 6; “—”: every Δ inconclusive; “error”: every Δ raised). Click any cell for its test.</p>"
        ),
        _metric_verdicts(cells),
        excluded_note(excluded),
    ]
    parts.append('<div class="plots">')
    parts.extend(plot_html(p, alt) for _, alt, p in plots)
    parts.append("</div>")
    parts.append("</section>")
    return "\n".join(parts)


# ----- curves ----------------------------------------------------------------------------
def curves_section(cells: Sequence[Record]) -> str:
    """One figure per metric: its normalised score (0–100) per step, mean ± sd over runs,
    under a heading that the heatmaps' rows and the outcome rows link to."""
    mcs = metric_curves(cells)
    if not mcs:
        return '<section id="curves"><h2>Score curves</h2><p>No metric cells in this run.</p></section>'
    parts = [
        '<section id="curves"><h2>Score curves</h2>',
        (
            '<p class="note">Normalised score (0–100, higher = better) per step, mean over runs with ± one standard '
            "deviation shaded. A metric that notices the damage slopes down after step 1.</p>"
        ),
    ]
    for mc in mcs:
        parts.append(
            f'<h3 id="{metric_anchor(mc.metric_id)}">{e(mc.metric_id)} <small><code>{e(mc.metric)}</code> '
            f"version <code>{e(mc.version)}</code></small></h3>"
        )
        if any(curves for _, curves in mc.by_setting):
            parts.append(plot_html(figures.curves(mc), f"normalised {mc.metric_id} vs step"))
        else:  # an empty plot would read as a metric that scored and drew nothing
            parts.append(
                '<p class="note">No score to draw: no gap cell of this metric has a finite score (they raised or scored NaN; see Test outcomes).</p>'
            )
    parts.append("</section>")
    return "\n".join(parts)
