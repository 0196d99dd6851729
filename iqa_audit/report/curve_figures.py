"""Line figures: the score curves per metric (the study's Figure 7: normalised score vs
step, one line per seed) and the stability panels (add chain against replicate chain),
with one colour and marker per seed. `figures.curves` / `figures.stability` turn them into
bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # matplotlib is imported on first use; these are annotations only
    from matplotlib.figure import Figure

from iqa_audit.report.figure_base import DPI, _mpl, plain
from iqa_audit.report.model import MetricCurves, StabilityFigure, fmt


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


def seed_style(index: int) -> tuple[str, str]:
    """(colour, marker) of the index-th seed; after 13 the colours repeat with other markers."""
    return SEED_COLOURS[index % len(SEED_COLOURS)], SEED_MARKERS[(index + index // len(SEED_COLOURS)) % len(SEED_MARKERS)]


def curves_figure(mc: MetricCurves) -> Figure:
    """Figure 7 of the study: normalised score vs step, one line per seed, mean ± spread.

    The normalised scale is 0–100 over the metric's typical range; values can leave it
    (a noise estimator's score on a noisy chain). The band 0–100 is shaded, and when any
    value leaves it the axis label says so."""
    n = max(len(mc.by_setting), 1)
    seeds = sorted({c.seed for _, cs in mc.by_setting for c in cs})
    panel, gap, left, legend = 3.7, 0.3, 0.75, 0.45 + 0.065 * max((len(s) for s in seeds), default=4)
    width, height, bottom, top = left + n * panel + (n - 1) * gap + legend, 3.0, 0.5, 0.3
    fig = _mpl().Figure(figsize=(width, height), dpi=DPI)
    style = {s: seed_style(i) for i, s in enumerate(seeds)}
    values = [v for _, cs in mc.by_setting for c in cs for v in c.mean]
    outside = [v for v in values if not 0 <= v <= 100]
    axes = []
    for k, (setting, cs) in enumerate(mc.by_setting):
        ax = fig.add_axes(
            ((left + k * (panel + gap)) / width, bottom / height, panel / width, (height - bottom - top) / height),
            sharey=axes[0] if axes else None,
        )
        axes.append(ax)
        ax.axhspan(0, 100, color="#f2f4f7", zorder=-1, lw=0)
        for edge in (0, 100):
            ax.axhline(edge, color="#8a94a3", lw=0.8, ls="-", zorder=0)
        for d in mc.deltas:
            ax.axvline(d, color="#bbb", lw=0.8, ls=":", zorder=0)
        ax.axvline(1, color="#555", lw=0.9, ls="--", zorder=0)
        for c in cs:
            x, y, s = np.array(c.steps), np.array(c.mean), np.array(c.spread)
            colour, marker = style[c.seed]
            ax.plot(x, y, marker=marker, ms=3.5, lw=1.3, color=colour, label=plain(c.seed))
            if c.runs > 1 and np.any(s > 0):
                ax.fill_between(x, y - s, y + s, color=colour, alpha=0.15, lw=0)
        ax.set_title(plain(setting), fontsize=9, loc="left")
        ax.set_xticks(sorted({k for c in cs for k in c.steps}))
        ax.set_xlabel("step (dashed: step 1, the reference; dotted: Δ steps)", fontsize=7)
        ax.tick_params(labelsize=7.5)
        if k:
            ax.tick_params(labelleft=False)
        ax.grid(alpha=0.25)
        for spine in ("top", "right"):
            ax.spines[spine].set_visible(False)
    if axes:
        axes[0].set_ylabel(f"{plain(mc.metric_id)}, normalised\n(higher = better; shaded: 0–100)", fontsize=8)
        if outside:
            # Said on the figure itself: a reader of the axis alone would take 0–100 for granted.
            lo, hi = min(values), max(values)
            axes[-1].set_title(
                f"values {lo:.0f} to {hi:.0f} leave the 0–100 scale".replace("-", "−"), loc="right", fontsize=7.5, color="#b42318"
            )
        handles, labels = axes[0].get_legend_handles_labels()
        if handles:
            fig.legend(
                handles,
                labels,
                loc="upper left",
                bbox_to_anchor=(1 - (legend - 0.1) / width, 1 - 0.1 / height),
                fontsize=7,
                frameon=False,
                title="seed",
                title_fontsize=7.5,
                alignment="left",
            )
    return fig


def stability_figure(sf: StabilityFigure) -> Figure:
    """Metric stability under content change, like the study's Figure 7: per metric, the
    normalised score vs step on the add chain (solid) and on the replicate chain of the same
    editor and seed (dashed), means over runs; each panel's title gives the spread ratio and
    the verdict (the page's heading names the task, seed and editor)."""
    n = max(len(sf.panels), 1)
    cols = min(n, 4)
    rows = -(-n // cols)
    panel_w, panel_h, gap_w, gap_h, left, top, bottom = 3.0, 2.1, 0.55, 0.75, 0.6, 0.3, 0.45
    width = left + cols * panel_w + (cols - 1) * gap_w + 0.2
    height = top + rows * panel_h + (rows - 1) * gap_h + bottom
    fig = _mpl().Figure(figsize=(width, height), dpi=DPI)
    for i, p in enumerate(sf.panels):
        r, c = divmod(i, cols)
        x0 = (left + c * (panel_w + gap_w)) / width
        y0 = 1 - (top + r * (panel_h + gap_h) + panel_h) / height
        ax = fig.add_axes((x0, y0, panel_w / width, panel_h / height))
        for curve, style, label in ((p.replicate, "--", plain(sf.replicate_setting)), (p.add, "-", plain(sf.add_setting))):
            if curve:
                xs, ys = zip(*curve)
                ax.plot(xs, ys, ls=style, marker="o", ms=2.5, lw=1.3, color="#1f5fbf" if style == "-" else "#888", label=label)
        ax.axvline(1, color="#555", lw=0.8, ls=":", zorder=0)
        verdict = "stable" if p.passed else "UNSTABLE"
        ax.set_title(
            f"{plain(p.metric_id)}: ratio {fmt(p.ratio, 3)} ({verdict})",
            fontsize=8.5,
            loc="left",
            color="#1f2328" if p.passed else "#b42318",
            fontweight="normal" if p.passed else "bold",
        )
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.25)
        for spine in ("top", "right"):
            ax.spines[spine].set_visible(False)
        if c == 0:
            ax.set_ylabel("normalised score", fontsize=7.5)
        if r == rows - 1:
            ax.set_xlabel("step", fontsize=7.5)
        if i == 0:
            ax.legend(fontsize=6.5, frameon=False, loc="best")
    return fig
