"""Line figures as inline SVG: the score curves per metric (the study's Figure 7: normalised
score vs step, one line per seed) and the stability panels (add chain against replicate
chain), with one colour and marker per seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from iqa_audit.report.model import MetricCurves, fmt
from iqa_audit.report.stability_model import StabilityFigure
from iqa_audit.report.svg import Axes, Svg, line, marker, nice_ticks, padded, points, rect, text, text_width

# One colour and one marker per seed. Thirteen hues picked apart in CIELAB (every pair at
# least 20 CIEDE2000 units, farthest-point selection at lightness 28–78 so every line shows
# on white): tab20, used before, pairs each hue with a light copy of itself, so seeds 1/2,
# 3/4, ... looked alike. Markers differ as well, for print and colour-blind readers.
SEED_COLOURS = (
    "#1774b9",
    "#ff5d00",
    "#008b46",
    "#8b172e",
    "#5d00b9",
    "#a2d100",
    "#ff00d1",
    "#00d1d1",
    "#464600",
    "#a27400",
    "#005d5d",
    "#b9b9e8",
    "#d1b9a2",
)
SEED_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">", "p", "d")
ADD_COLOUR, REPLICATE_COLOUR = "#1f5fbf", "#888888"
FAIL_COLOUR = "#b42318"


def seed_style(index: int) -> tuple[str, str]:
    """(colour, marker) of the index-th seed; after 13 the colours repeat with other markers."""
    return SEED_COLOURS[index % len(SEED_COLOURS)], SEED_MARKERS[(index + index // len(SEED_COLOURS)) % len(SEED_MARKERS)]


def _x_ticks(steps: Sequence[int]) -> list[float]:
    """Every scored step, or round ones when there are too many to read."""
    steps = sorted(set(steps))
    return list(steps) if len(steps) <= 12 else nice_ticks(steps[0], steps[-1], 8)


def _polyline(xy: Sequence[tuple[float, float]], colour: str, width: float = 1.8, dash: str = "") -> str:
    d = f' stroke-dasharray="{dash}"' if dash else ""
    return f'<polyline points="{points(xy)}" fill="none" stroke="{colour}" stroke-width="{width}" stroke-linejoin="round"{d}/>'


def curves_figure(mc: MetricCurves) -> Svg:
    """Figure 7 of the study: normalised score vs step, one line per seed, mean ± spread.

    The normalised scale is 0–100 over the metric's typical range; values can leave it
    (a noise estimator's score on a noisy chain). The band 0–100 is shaded, and when any
    value leaves it the figure says so in red."""
    n = max(len(mc.by_setting), 1)
    seeds = sorted({c.seed for _, cs in mc.by_setting for c in cs})
    style = {s: seed_style(i) for i, s in enumerate(seeds)}
    panel, gap, left, top, bottom = 370, 30, 78, 30, 50
    legend = 40 + max((text_width(s, 10) for s in seeds), default=30)
    width = math.ceil(left + n * panel + (n - 1) * gap + legend + 10)
    height = 300
    values = [v for _, cs in mc.by_setting for c in cs for v in c.mean]
    outside = [v for v in values if not 0 <= v <= 100]
    reach = [v for _, cs in mc.by_setting for c in cs for m, s in zip(c.mean, c.spread) for v in (m - s, m + s)] + [0.0, 100.0]
    y0, y1 = padded(min(reach), max(reach))
    yticks = nice_ticks(y0, y1)
    out = []
    for k, (setting, cs) in enumerate(mc.by_setting):
        steps = sorted({s for c in cs for s in c.steps} | {1, *mc.deltas})
        ax = Axes(left + k * (panel + gap), top, panel, height - top - bottom, *padded(steps[0], steps[-1]), y0, y1)
        out.append(rect(ax.x, ax.py(100), ax.w, ax.py(0) - ax.py(100), "#f2f4f7"))
        out.append(ax.frame(_x_ticks([s for c in cs for s in c.steps]), yticks, ylabels=k == 0))
        out += [ax.hline(edge, "#8a94a3") for edge in (0, 100)]
        out += [ax.vline(d, "#bbb", 0.8, "1.5 2") for d in mc.deltas]
        out.append(ax.vline(1, "#555", 0.9, "4 3"))
        for c in cs:
            colour, shape = style[c.seed]
            xy = [(ax.px(x), ax.py(y)) for x, y in zip(c.steps, c.mean)]
            if c.runs > 1 and any(s > 0 for s in c.spread):
                band = [(ax.px(x), ax.py(y + s)) for x, y, s in zip(c.steps, c.mean, c.spread)]
                band += [(ax.px(x), ax.py(y - s)) for x, y, s in reversed(list(zip(c.steps, c.mean, c.spread)))]
                out.append(f'<polygon points="{points(band)}" fill="{colour}" fill-opacity="0.15"/>')
            out.append(_polyline(xy, colour))
            out += [marker(shape, x, y, 3.5, colour) for x, y in xy]
        out.append(text(ax.x, top - 9, setting, 12, middle=False))
        out.append(
            text(ax.x + ax.w / 2, height - 14, "step (dashed: step 1, the reference; dotted: Δ steps)", 9.5, anchor="middle")
        )
    mid = top + (height - top - bottom) / 2
    out.append(text(14, mid, f"{mc.metric_id}, normalised", 11, anchor="middle", rotate=-90))
    out.append(text(28, mid, "(higher = better; shaded: 0–100)", 11, anchor="middle", rotate=-90))
    if outside:
        # Said on the figure itself: a reader of the axis alone would take 0–100 for granted.
        lo, hi = min(values), max(values)
        note = f"values {lo:.0f} to {hi:.0f} leave the 0–100 scale".replace("-", "−")
        right = left + n * panel + (n - 1) * gap
        out.append(text(right, top - 9, note, 10, anchor="end", fill=FAIL_COLOUR, middle=False))
    if seeds:
        x = width - legend
        out.append(text(x, top + 4, "seed", 10.5, weight="bold"))
        for i, s in enumerate(seeds):
            colour, shape = style[s]
            y = top + 22 + 16 * i
            out.append(line(x, y, x + 22, y, colour, 1.8) + marker(shape, x + 11, y, 3.5, colour) + text(x + 28, y, s, 10))
    return Svg("".join(out), width, height)


def stability_figure(sf: StabilityFigure) -> Svg:
    """Metric stability under content change, like the study's Figure 7: per metric, the
    normalised score vs step on the add chain (solid) and on the replicate chain of the same
    editor and seed (dashed), means over runs; each panel's title gives the spread ratio and
    the verdict (the page's heading names the task, seed and editor)."""
    n = max(len(sf.panels), 1)
    cols = min(n, 4)
    rows = -(-n // cols)
    panel_w, panel_h, gap_w, gap_h, left, top, bottom = 300, 210, 55, 75, 62, 54, 45
    width = left + cols * panel_w + (cols - 1) * gap_w + 20
    height = top + rows * panel_h + (rows - 1) * gap_h + bottom
    out = []
    for i, p in enumerate(sf.panels):
        r, c = divmod(i, cols)
        curves = [(p.replicate, "6 4", REPLICATE_COLOUR, sf.replicate_setting), (p.add, "", ADD_COLOUR, sf.add_setting)]
        xs = [x for curve, *_ in curves for x, _ in curve] + [1]
        ys = [y for curve, *_ in curves for _, y in curve]
        ax = Axes(
            left + c * (panel_w + gap_w), top + r * (panel_h + gap_h), panel_w, panel_h,
            *padded(min(xs), max(xs)), *padded(min(ys, default=0.0), max(ys, default=100.0)),
        )  # fmt: skip
        out.append(ax.frame(nice_ticks(ax.x0, ax.x1), nice_ticks(ax.y0, ax.y1, 5), size=9.5))
        out.append(ax.vline(1, "#555", 0.8, "1.5 2"))
        for curve, dash, colour, _ in curves:
            if curve:
                xy = [(ax.px(x), ax.py(y)) for x, y in curve]
                out.append(_polyline(xy, colour, 1.8, dash))
                out += [marker("o", x, y, 2.5, colour) for x, y in xy]
        calm = p.passed or p.error_type is not None  # an error is not a measured instability: no alarm colour
        out.append(
            text(
                ax.x, ax.y - 9, f"{p.metric_id}: ratio {fmt(p.ratio, 3)} ({p.verdict})", 11.5,
                fill="#1f2328" if calm else FAIL_COLOUR, weight="" if calm else "bold", middle=False,
            )
        )  # fmt: skip
        if c == 0:
            out.append(text(ax.x - 44, ax.y + ax.h / 2, "normalised score", 10.5, anchor="middle", rotate=-90))
        if r == rows - 1:
            out.append(text(ax.x + ax.w / 2, ax.y + ax.h + 30, "step", 10.5, anchor="middle"))
    # The two chains' styles, in one row above the panels (inside one, they hid its curves).
    x = left
    for dash, colour, label in (("", ADD_COLOUR, sf.add_setting), ("6 4", REPLICATE_COLOUR, sf.replicate_setting)):
        out.append(line(x, 14, x + 22, 14, colour, 1.8, dash) + text(x + 27, 14, label, 10))
        x += 50 + text_width(label, 10)
    return Svg("".join(out), math.ceil(width), math.ceil(height))
