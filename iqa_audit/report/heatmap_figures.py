"""The metric audit's heatmaps as inline SVG: per chain setting, one panel per Δ (the
study's Figure 5: metric rows x seed columns, centred at 0, gaps printed) and the failed
Δs per cell (Figure 6), with their colour bars, a legend of the marks, and every cell a
link to its test with the finding as its tooltip.

Colours are matplotlib's RdBu_r through its SymLogNorm and Reds through a BoundaryNorm,
as before, computed without it (colours.py).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

from iqa_audit.report.colours import MAPS, count_colour, gap_colour, gap_norm, text_colour, to_hex
from iqa_audit.report.model import FailureGrid, GapGrid, cell_anchor, fmt_gap
from iqa_audit.report.svg import Svg, esc, line, num, rect, text, text_width

MISSING_COLOUR = "#d9d9d9"
INCONCLUSIVE_COLOUR = "#ececec"  # under a dotted pattern: nothing visible to notice
REGRESSION_EDGE = "#111111"
CELL_W, CELL_H = 52, 34  # pixels per cell: room for "−123" at 10.5 px
MIN_CELLS_W = 300
PANEL_TITLE, PANEL_GAP = 26, 12
# A panel is never shorter than this, so a one-metric figure still has room for its colour
# bar's ticks and label.
MIN_PANEL_H = 120
LEGEND_ROW = 16
RIGHT = 132  # colour bar, its ticks and its label
LABEL = 11  # font size of metric and seed names
CELL_FONT = 10.5
NORMALISED_SPAN = 100.0  # the whole 0–100 normalised scale: a gap beyond ±100 left it
SIN40, COS40 = math.sin(math.radians(40)), math.cos(math.radians(40))


def gap_ticks(limit: float) -> list[float]:
    """Colour-bar ticks: the decades inside ±limit and the limit itself, so the bar's ends
    carry the largest gap it shows (−134, not an unlabelled end past −100)."""
    # A decade closer to the end than a factor 2 (100 next to 134) would print on top of it.
    decades = [t for t in (-1000, -100, -10, -1, 0, 1, 10, 100, 1000) if abs(t) <= limit / 2]
    return sorted({*decades, -limit, limit})


def heatmap_figure(grids: Sequence[GapGrid], counts: FailureGrid | None, limit: float) -> Svg:
    """One setting's heatmaps.

    Every panel carries its seed names, so any panel reads on its own. Marks, explained in
    a legend above the first panel: hatched = missed as the baseline expects (xfail);
    a black frame and "!" = a failed test (a regression, or a new failure without a
    baseline entry); grey and dotted = inconclusive. The colour bar ends at the largest
    |gap| and marks ±100, the whole normalised scale: a gap beyond it means the scores left
    the metric's typical range."""
    if not grids and counts is None:
        raise ValueError("heatmaps() needs at least one grid")
    first = grids[0] if grids else counts
    metrics, seeds, setting = first.metrics, first.seeds, first.setting
    rows, cols = max(len(metrics), 1), max(len(seeds), 1)
    p = "hm" + hashlib.sha256(setting.encode()).hexdigest()[:10]  # ids unique on the page
    seed_w = max((text_width(s, LABEL) for s in seeds), default=30)
    title_w = text_width(f"failed Δs · {setting}", 13) * 1.08
    cells_w = max(cols * CELL_W, title_w, MIN_CELLS_W)
    cw, panel_h = cells_w / cols, max(rows * CELL_H, MIN_PANEL_H)
    ch = panel_h / rows
    # Room for the metric names, and for the first seed's name, rotated down to the left.
    first_seed = text_width(seeds[0], LABEL) if seeds else 0
    left = max(14 + max((text_width(m, LABEL) for m in metrics), default=30), COS40 * first_seed - cw / 2 + 8)
    labels_h = 14 + SIN40 * seed_w
    legend = _legend(p, left, 10, any(_failed(c) for g in grids for row in g.cells for c in row))
    top = 10 + 3 * LEGEND_ROW + 6
    panels = len(grids) + (counts is not None)
    stride = PANEL_TITLE + panel_h + labels_h + PANEL_GAP
    width = math.ceil(max(left + cells_w + RIGHT, left + legend[1] + 10))
    height = math.ceil(top + panels * stride - PANEL_GAP + 4)

    def panel_top(k: int) -> float:
        return top + k * stride + PANEL_TITLE

    out = [_defs(p), legend[0]]
    for k, grid in enumerate(grids):
        y0 = panel_top(k)
        out.append(_names(left, y0, cw, ch, metrics, seeds, f"Δ{grid.delta} · {grid.setting}"))
        out.append(_gap_panel(p, grid, limit, left, y0, cw, ch))
        out.append(_grid_lines(left, y0, cw, ch, rows, cols))
    x_bar = left + cells_w + 15
    if grids:
        y_top, y_bottom = panel_top(0), panel_top(len(grids) - 1) + panel_h
        out.append(_gap_bar(p, limit, x_bar, y_top, y_bottom))
    if counts is not None:
        y0 = panel_top(panels - 1)
        out.append(_names(left, y0, cw, ch, metrics, seeds, f"failed Δs · {counts.setting}"))
        out.append(_count_panel(counts, left, y0, cw, ch))
        out.append(_grid_lines(left, y0, cw, ch, rows, cols))
        out.append(_count_bar(len(counts.deltas), x_bar, y0, y0 + panel_h))
    return Svg("".join(out), width, height)


def _failed(c) -> bool:
    return c is not None and c.verdict != "inconclusive" and c.outcome in ("failed", "error")


def _defs(p: str) -> str:
    """The hatch (in dark and light ink, so it shows on dark cells too), the dots of an
    inconclusive cell, the gap colour bar's gradient (the colour map's anchors: between
    them it is linear)."""
    anchors = MAPS["RdBu_r"]
    stops = "".join(f'<stop offset="{num(i / (len(anchors) - 1))}" stop-color="{c}"/>' for i, c in enumerate(anchors))
    hatch = (
        '<pattern id="{id}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="{ink}" stroke-opacity="{a}" stroke-width="1.2"/></pattern>'
    )
    return (
        "<defs>"
        + hatch.format(id=f"{p}-hd", ink="#000", a="0.35")
        + hatch.format(id=f"{p}-hl", ink="#fff", a="0.55")
        + f'<pattern id="{p}-dots" width="4" height="4" patternUnits="userSpaceOnUse">'
        '<circle cx="2" cy="2" r="0.75" fill="#a6a6a6"/></pattern>'
        + f'<linearGradient id="{p}-bar" x1="0" y1="1" x2="0" y2="0">{stops}</linearGradient>'
        "</defs>"
    )


def _legend(p: str, x: float, y: float, show_failed: bool) -> tuple[str, float]:
    """The marks' meanings, one per row above the first panel; (markup, width)."""
    items = [
        (rect(0, 0, 18, 11, "#f4a582", stroke="#666", stroke_width="0.6")
         + rect(0, 0, 18, 11, f"url(#{p}-hd)"), "missed, as the baseline expects (xfail)"),
        (rect(0, 0, 18, 11, "#f4a582", stroke=REGRESSION_EDGE, stroke_width="2.2"),
         'framed, "!": failed: a regression, or a new failure' + ("" if show_failed else " (none in this figure)")),
        (rect(0, 0, 18, 11, INCONCLUSIVE_COLOUR, stroke="#a6a6a6", stroke_width="0.6")
         + rect(0, 0, 18, 11, f"url(#{p}-dots)"), "grey: inconclusive, no visible change to notice (skipped)"),
    ]  # fmt: skip
    out = []
    for i, (swatch, label) in enumerate(items):
        row = y + i * LEGEND_ROW
        out.append(f'<g transform="translate({num(x)},{num(row)})">{swatch}</g>')
        out.append(text(x + 25, row + 5.5, label, 10))
    return "".join(out), 25 + max(text_width(label, 10) for _, label in items)


def _names(left: float, y0: float, cw: float, ch: float, metrics, seeds, title: str) -> str:
    """A panel's title, metric names (rows) and seed names (columns, rotated 40°)."""
    bottom = y0 + ch * max(len(metrics), 1)
    out = [text(left, y0 - 8, title, 13, weight="bold", middle=False)]
    out += [text(left - 6, y0 + (i + 0.5) * ch, m, LABEL, anchor="end") for i, m in enumerate(metrics)]
    out += [text(left + (j + 0.5) * cw + 3, bottom + 8, s, LABEL, anchor="end", rotate=-40) for j, s in enumerate(seeds)]
    return "".join(out)


def _grid_lines(left: float, y0: float, cw: float, ch: float, rows: int, cols: int) -> str:
    """White lines between the cells."""
    d = "".join(f"M{num(left)},{num(y0 + i * ch)}h{num(cols * cw)}" for i in range(1, rows))
    d += "".join(f"M{num(left + j * cw)},{num(y0)}v{num(rows * ch)}" for j in range(1, cols))
    return f'<path d="{d}" stroke="white" stroke-width="1.2"/>' if d else ""


def _link(cell: str, title: str, body: str) -> str:
    return f'<a href="#{cell_anchor(cell)}" data-cell="{esc(cell)}"><title>{esc(title)}</title>{body}</a>'


def _gap_panel(p: str, grid: GapGrid, limit: float, left: float, y0: float, cw: float, ch: float) -> str:
    out = []
    for i, row in enumerate(grid.cells):
        for j, c in enumerate(row):
            x, y = left + j * cw, y0 + i * ch
            cx, cy = x + cw / 2, y + ch / 2
            if c is None:
                out.append(rect(x, y, cw, ch, MISSING_COLOUR) + text(cx, cy, "n/a", 10, anchor="middle", fill="#666"))
                continue
            where = f"{grid.metrics[i]} · {grid.seeds[j]} · Δ{grid.delta}"
            if c.verdict == "inconclusive":
                # Nothing visible to notice: no verdict, so no verdict colour. Grey and
                # dotted, the gap in grey italics (it is the sign of noise, not a finding).
                body = (
                    rect(x, y, cw, ch, INCONCLUSIVE_COLOUR, **{"class": "cell", "data_mark": "inconclusive"})
                    + rect(x, y, cw, ch, f"url(#{p}-dots)")
                    + text(cx, cy, fmt_gap(c.value), CELL_FONT, anchor="middle", fill="#555", italic=True)
                )
                why = c.reason or "no visible change to notice"  # e.g. "no step 10": the chain is shorter than Δ
                title = f"{where}: gap {fmt_gap(c.value)} (inconclusive: {why}; test {c.outcome or '?'})"
                out.append(_link(c.cell, title, body))
                continue
            rgb = gap_colour(c.value, limit) if c.value is not None else None
            colour = to_hex(rgb) if rgb is not None else MISSING_COLOUR
            ink = text_colour(rgb) if rgb is not None else "black"
            failed = c.outcome in ("failed", "error")
            mark = "failed" if failed else "expected" if not c.passed else "passed"
            body = [rect(x, y, cw, ch, colour, **{"class": "cell", "data_mark": mark})]
            if mark == "expected":
                # Hatched = missed, and the baseline expected it (xfail, or no verdict yet).
                body.append(rect(x, y, cw, ch, f"url(#{p}-{'hl' if ink == 'white' else 'hd'})"))
            if failed:
                # A failed test (regression or new failure): framed, so it stands apart
                # from the expected failures around it.
                body.append(rect(x + 0.06 * cw, y + 0.08 * ch, 0.88 * cw, 0.84 * ch, stroke=REGRESSION_EDGE, stroke_width="2.2"))
            errored = c.verdict == "error"  # no gap: the cell's code raised (its record says what)
            label = "error" if errored else fmt_gap(c.value) + ("!" if failed else "")
            if not c.passed:  # bold, on a patch of the cell's colour that hides the hatch
                w = text_width(label, CELL_FONT) + 4
                body.append(rect(cx - w / 2, cy - 7.5, w, 15, colour))
            body.append(text(cx, cy, label, CELL_FONT, anchor="middle", fill=ink, weight="" if c.passed else "bold"))
            title = f"{where}: " + (
                f"no gap: {c.error_type or 'an error'} (test {c.outcome or '?'})"
                if errored
                else f"gap {fmt_gap(c.value)} ({'noticed' if c.passed else 'missed'}; test {c.outcome or '?'})"
            )
            out.append(_link(c.cell, title, "".join(body)))
    return "".join(out)


def _count_panel(grid: FailureGrid, left: float, y0: float, cw: float, ch: float) -> str:
    n = max(len(grid.deltas), 1)
    out = []
    for i, row in enumerate(grid.counts):
        for j, c in enumerate(row):
            x, y = left + j * cw, y0 + i * ch
            cx, cy = x + cw / 2, y + ch / 2
            if c is None:
                out.append(rect(x, y, cw, ch, MISSING_COLOUR) + text(cx, cy, "n/a", 10, anchor="middle", fill="#666"))
                continue
            judged = c.judged  # inconclusive Δs had nothing to notice, errored ones no score: neither failed nor passed
            rgb = count_colour(c.failed, n)
            body = rect(x, y, cw, ch, to_hex(rgb), **{"class": "cell"}) + text(
                cx,
                cy,
                f"{c.failed}/{judged}" if judged else "error" if c.errored else "—",
                11,
                anchor="middle",
                fill=text_colour(rgb) if judged else "#666",
            )
            others = [f"{k} {word}" for k, word in ((c.inconclusive, "inconclusive"), (c.errored, "errored")) if k]
            more = f" ({', '.join(others)})" if others else ""
            title = f"{grid.metrics[i]} · {grid.seeds[j]}: {c.failed} of {judged} judged Δs failed{more}"
            out.append(_link(c.first_cell, title, body))
    return "".join(out)


def _bar_label(x: float, y_top: float, y_bottom: float, lines: Sequence[str]) -> str:
    """A colour bar's label beside its tick labels, read bottom to top, one column per line."""
    mid = (y_top + y_bottom) / 2
    return "".join(text(x + 12 * k, mid, s, 10, anchor="middle", rotate=-90) for k, s in enumerate(lines))


def _gap_bar(p: str, limit: float, x: float, y_top: float, y_bottom: float) -> str:
    h = y_bottom - y_top
    out = ['<g data-bar="gap">', rect(x, y_top, 14, h, f"url(#{p}-bar)")]
    for t in gap_ticks(limit):
        y = y_bottom - gap_norm(t, limit) * h
        label = fmt_gap(t) if abs(abs(t) - limit) < 1e-9 else f"{t:g}"
        out.append(line(x + 14, y, x + 17, y, "#333", 0.8) + text(x + 19, y, label, 10))
    if limit > NORMALISED_SPAN:
        for edge in (-NORMALISED_SPAN, NORMALISED_SPAN):
            y = y_bottom - gap_norm(edge, limit) * h
            out.append(line(x, y, x + 14, y, "black", 1.2))
    lines = ["gap, normalised points", "< 0 noticed · > 0 missed"]
    if limit > NORMALISED_SPAN:
        lines.append("beyond ±100: left the 0–100 scale")
    out.append(_bar_label(x + 19 + text_width("−1000", 10) + 6, y_top, y_bottom, lines))
    return "".join(out) + "</g>"


def _count_bar(deltas: int, x: float, y_top: float, y_bottom: float) -> str:
    """Discrete: one block per possible count, 0 at the bottom."""
    n = max(deltas, 1)
    step = (y_bottom - y_top) / (n + 1)
    out = ['<g data-bar="counts">']
    for f in range(n + 1):
        y = y_bottom - (f + 1) * step
        out.append(rect(x, y, 14, step, to_hex(count_colour(f, n))))
        out.append(line(x + 14, y + step / 2, x + 17, y + step / 2, "#333", 0.8) + text(x + 19, y + step / 2, str(f), 10))
    out.append(rect(x, y_top, 14, y_bottom - y_top, stroke="#333", stroke_width="0.6"))
    out.append(_bar_label(x + 19 + text_width("10", 10) + 6, y_top, y_bottom, ["failed of judged Δs"]))
    return "".join(out) + "</g>"
