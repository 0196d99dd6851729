"""The report's pictures as bytes: heatmaps, failure counts, score curves, thumbnails, crops.

matplotlib through `Figure` + `FigureCanvasAgg` only, never pyplot: pyplot keeps global
figure state and picks a backend for the whole process, which would leak into whoever
else uses matplotlib in the same pytest session.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image as PILImage

if TYPE_CHECKING:  # matplotlib is imported on first use (lazy.py); these are annotations only
    from matplotlib.colors import SymLogNorm
    from matplotlib.figure import Figure

from iqa_audit.report.model import FailureGrid, GapGrid, MetricCurves, StabilityFigure, fmt, fmt_gap


@functools.cache
def _mpl() -> SimpleNamespace:
    """matplotlib's pieces, imported on the first drawing: the import costs every pytest
    process ~0.6 s, and a warm run draws nothing (the figure cache answers)."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import BoundaryNorm, SymLogNorm
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle
    from matplotlib.ticker import FuncFormatter, NullLocator

    return SimpleNamespace(
        colormaps=colormaps,
        FigureCanvasAgg=FigureCanvasAgg,
        BoundaryNorm=BoundaryNorm,
        SymLogNorm=SymLogNorm,
        Figure=Figure,
        Rectangle=Rectangle,
        FuncFormatter=FuncFormatter,
        NullLocator=NullLocator,
    )


DPI = 100
# Negative gap = the score fell = the metric noticed = good: blue. Positive = missed: red.
GAP_CMAP = "RdBu_r"
MISSING_COLOUR = "#d9d9d9"
INCONCLUSIVE_COLOUR = "#ececec"  # drawn over the cell, dotted: nothing visible to notice
THUMB_PX = 176  # long side of the downsized full view
CROP_PX = 128  # side of the centre crop shown at native resolution (1 image px = 1 screen px)
JPEG_QUALITY = 85


@dataclass(frozen=True)
class Hit:
    """A clickable rectangle over a figure, in fractions of its width/height (top-left origin),
    so it stays on its cell however the browser scales the picture."""

    cell: str
    left: float
    top: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Plot:
    png: bytes
    width: int
    height: int
    hits: tuple[Hit, ...] = ()


def _finish(fig: Figure, hit_cells: Sequence[tuple] = ()) -> Plot:
    """Draw once, read the clickable cells' boxes off that drawing, PNG-encode its pixels.
    (print_png would draw the whole figure a second time; drawing is most of the cost.)"""
    canvas = _mpl().FigureCanvasAgg(fig)
    canvas.draw()
    w, h = canvas.get_width_height()
    hits = _cell_hits(w, h, hit_cells)
    pixels = PILImage.frombuffer("RGBA", (w, h), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")
    buf = io.BytesIO()
    pixels.save(buf, "PNG", compress_level=6)
    return Plot(buf.getvalue(), w, h, hits)


def _cell_hits(w: int, h: int, cells: Sequence[tuple]) -> tuple[Hit, ...]:
    """Pixel boxes of (axes, row, col) data cells, as fractions of the picture (top-left origin)."""
    hits = []
    for ax, r, c, cell, title in cells:
        (x0, y0), (x1, y1) = ax.transData.transform([(c - 0.5, r + 0.5), (c + 0.5, r - 0.5)])
        left, right = sorted((x0, x1))
        bottom, top = sorted((y0, y1))
        hits.append(Hit(cell, left / w, 1 - top / h, (right - left) / w, (top - bottom) / h, title))
    return tuple(hits)


CELL_W, CELL_H = 0.52, 0.34  # inches per heatmap cell: room for "−123" at 7.5 pt
PANEL_TITLE, PANEL_GAP = 0.3, 0.12
# A panel is never shorter than this, so a one-metric figure still has room for its colour
# bar's ticks and label (with one row, 0.34 in, the labels ran into each other).
MIN_PANEL_H = 1.0
LEGEND_H = 0.32  # the strip above the first panel that explains the marks
NORMALISED_SPAN = 100.0  # the whole 0–100 normalised scale: a gap beyond ±100 left it
REGRESSION_EDGE = "#111111"


def gap_norm(limit: float) -> SymLogNorm:
    """Diverging and centred at 0, linear within ±1 normalised point and logarithmic beyond.
    Gaps span three orders of magnitude (a codec's ±0.5 next to a noise estimator's −120):
    on a linear scale the small ones, whose sign is the whole verdict, would all look white."""
    return _mpl().SymLogNorm(linthresh=1.0, linscale=1.0, vmin=-limit, vmax=limit, base=10)


def gap_ticks(limit: float) -> list[float]:
    """Colour-bar ticks: the decades inside ±limit and the limit itself, so the bar's ends
    carry the largest gap it shows (−134, not an unlabelled end past −100)."""
    # A decade closer to the end than a factor 2 (100 next to 134) would print on top of it.
    decades = [t for t in (-1000, -100, -10, -1, 0, 1, 10, 100, 1000) if abs(t) <= limit / 2]
    return sorted({*decades, -limit, limit})


def _plain(text: str) -> str:
    """Show a name as typed: matplotlib reads $...$ as math, and an unbalanced $ in a seed
    or folder name would stop the drawing with a parse error."""
    return str(text).replace("$", r"\$")


def _text_colour(rgba) -> str:
    r, g, b = rgba[:3]
    return "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black"


def heatmaps(grids: Sequence[GapGrid], counts: FailureGrid | None, limit: float) -> Plot:
    """One chain setting's heatmaps: one panel per Δ (the study's Figure 5: metric rows x
    seed columns, centred at 0, gaps printed) and, last, how many of the Δs failed per cell
    (Figure 6); see `heatmap_figure`."""
    fig, hits = heatmap_figure(grids, counts, limit)
    return _finish(fig, hits)


def heatmap_figure(grids: Sequence[GapGrid], counts: FailureGrid | None, limit: float) -> tuple[Figure, list[tuple]]:
    """The heatmap figure and its clickable cells, undrawn.

    Every panel carries its seed names, so any panel reads on its own. Marks, explained in
    a legend above the first panel: hatched = missed as the baseline expects (xfail);
    a black frame and "!" = a failed test (a regression, or a new failure without a
    baseline entry). The colour bar ends at the largest |gap| and marks ±100, the whole
    normalised scale: a gap beyond it means the scores left the metric's typical range.

    One figure per setting, not per panel: matplotlib's per-figure cost (the report's
    main cost) is paid once."""
    if not grids and counts is None:
        raise ValueError("heatmaps() needs at least one grid")
    metrics = grids[0].metrics if grids else counts.metrics
    seeds = grids[0].seeds if grids else counts.seeds
    rows, cols = len(metrics), len(seeds)
    left = 0.25 + 0.068 * max((len(x) for x in metrics), default=4)
    labels_h = 0.3 + 0.036 * max((len(x) for x in seeds), default=4)  # names are rotated 40°
    right, top = 1.45, 0.08 + LEGEND_H
    setting = grids[0].setting if grids else counts.setting
    # Panel titles are "Δ20 · <setting>" / "failed Δs · <setting>": with few seeds the
    # cells widen to hold them, rather than the titles running into the colour bars.
    title_w = 0.078 * (len(setting) + 12)
    cells_w, panel_h = max(max(cols, 1) * CELL_W, title_w, 3.6), max(max(rows, 1) * CELL_H, MIN_PANEL_H)
    panels = len(grids) + (counts is not None)
    stride = PANEL_TITLE + panel_h + labels_h + PANEL_GAP
    width = left + cells_w + right
    height = top + panels * stride - PANEL_GAP
    fig = _mpl().Figure(figsize=(width, height), dpi=DPI)

    def panel_box(k: int) -> tuple[float, float, float, float]:
        y_top = top + k * stride + PANEL_TITLE
        return (left / width, 1 - (y_top + panel_h) / height, cells_w / width, panel_h / height)

    hits: list[tuple] = []
    gap_image = None
    failed_any = False
    for k, grid in enumerate(grids):
        ax = fig.add_axes(panel_box(k))
        gap_image, failed = _gap_panel(ax, grid, limit, hits)
        failed_any |= failed
        _grid_axes(ax, metrics, seeds)
        ax.set_title(_plain(f"Δ{grid.delta} · {grid.setting}"), fontsize=9.5, loc="left", fontweight="bold")
    if gap_image is not None:
        _, y_low, _, _ = panel_box(len(grids) - 1)
        _, y0, _, h0 = panel_box(0)
        bar = fig.colorbar(gap_image, cax=fig.add_axes(((left + cells_w + 0.15) / width, y_low, 0.14 / width, y0 + h0 - y_low)))
        bar.set_ticks(gap_ticks(limit))
        bar.ax.yaxis.set_major_formatter(
            _mpl().FuncFormatter(lambda v, _: fmt_gap(v) if abs(abs(v) - limit) < 1e-9 else f"{v:g}")
        )
        bar.ax.yaxis.set_minor_locator(_mpl().NullLocator())
        if limit > NORMALISED_SPAN:
            for edge in (-NORMALISED_SPAN, NORMALISED_SPAN):
                bar.ax.axhline(edge, color="black", lw=1.2)
        bar.set_label(
            "gap, normalised points\n< 0 noticed · > 0 missed"
            + ("\nbeyond ±100: left the 0–100 scale" if limit > NORMALISED_SPAN else ""),
            fontsize=7.5,
        )
        bar.ax.tick_params(labelsize=7)
    if counts is not None:
        box = panel_box(panels - 1)
        ax = fig.add_axes(box)
        count_image = _count_panel(ax, counts, hits)
        _grid_axes(ax, metrics, seeds)
        ax.set_title(_plain(f"failed Δs · {counts.setting}"), fontsize=9.5, loc="left", fontweight="bold")
        n = max(len(counts.deltas), 1)
        bar = fig.colorbar(
            count_image, cax=fig.add_axes(((left + cells_w + 0.15) / width, box[1], 0.14 / width, box[3])), ticks=range(n + 1)
        )
        bar.set_label("failed of judged Δs", fontsize=7.5)
        bar.ax.tick_params(labelsize=7)
    _legend(fig, left / width, 1 - 0.06 / height, failed_any)
    return fig, hits


def _legend(fig, x: float, y: float, show_failed: bool) -> None:
    """The marks' meanings, in one row above the first panel."""
    mpl = _mpl()
    handles = [
        mpl.Rectangle(
            (0, 0),
            1,
            1,
            facecolor="#f4a582",
            edgecolor="#666",
            lw=0.6,
            hatch="///",
            label="missed, as the baseline expects (xfail)",
        ),
        mpl.Rectangle(
            (0, 0),
            1,
            1,
            facecolor="#f4a582",
            edgecolor=REGRESSION_EDGE,
            lw=2.2,
            label='framed, "!": failed: a regression, or a new failure' + ("" if show_failed else " (none in this figure)"),
        ),
        mpl.Rectangle(
            (0, 0),
            1,
            1,
            facecolor=INCONCLUSIVE_COLOUR,
            edgecolor="#a6a6a6",
            lw=0.6,
            hatch="....",
            label="grey: inconclusive, no visible change to notice (skipped)",
        ),
    ]
    fig.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(x, y),
        ncol=3,
        fontsize=7.5,
        frameon=False,
        handlelength=1.6,
        handleheight=1.1,
        columnspacing=1.5,
        borderaxespad=0,
    )


def _gap_panel(ax, grid: GapGrid, limit: float, hits: list):
    """Draw one Δ panel; returns (the image for the colour bar, whether any test failed)."""
    rows, cols = len(grid.metrics), len(grid.seeds)
    values = np.full((rows, cols), np.nan)
    for i, row in enumerate(grid.cells):
        for j, c in enumerate(row):
            if c is not None and c.value is not None:
                values[i, j] = c.value
    norm, cmap = gap_norm(limit), _cmap(GAP_CMAP)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
    colours = cmap(norm(np.ma.masked_invalid(np.clip(values, -limit, limit))))  # once, not per cell
    failed_any = False
    for i, row in enumerate(grid.cells):
        for j, c in enumerate(row):
            if c is None:
                ax.text(j, i, "n/a", ha="center", va="center", fontsize=7, color="#666")
                continue
            if c.verdict == "inconclusive":
                # Nothing visible to notice: no verdict, so no verdict colour. Grey and
                # dotted, the gap in grey italics (it is the sign of noise, not a finding).
                ax.add_patch(
                    _mpl().Rectangle(
                        (j - 0.5, i - 0.5), 1, 1, facecolor=INCONCLUSIVE_COLOUR, hatch="....", edgecolor="#a6a6a6", lw=0
                    )
                )
                ax.text(j, i, fmt_gap(c.value), ha="center", va="center", fontsize=7, color="#555", fontstyle="italic")
                hits.append(
                    (
                        ax,
                        i,
                        j,
                        c.cell,
                        f"{grid.metrics[i]} · {grid.seeds[j]} · Δ{grid.delta}: gap {fmt_gap(c.value)}"
                        f" (inconclusive: no visible change to notice; test {c.outcome or '?'})",
                    )
                )
                continue
            rgba = tuple(colours[i, j])
            ink = _text_colour(rgba)
            failed = c.outcome in ("failed", "error")
            failed_any |= failed
            if not c.passed and not failed:
                # Hatched = missed, and the baseline expected it (xfail, or no verdict yet);
                # the hatch takes the text's colour so it shows on dark cells too.
                hatch = (1, 1, 1, 0.55) if ink == "white" else (0, 0, 0, 0.35)
                ax.add_patch(_mpl().Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor=hatch, lw=0))
            if failed:
                # A failed test (regression or new failure): framed, so it stands apart
                # from the expected failures around it.
                ax.add_patch(
                    _mpl().Rectangle((j - 0.44, i - 0.42), 0.88, 0.84, fill=False, edgecolor=REGRESSION_EDGE, lw=2.2, zorder=3)
                )
            errored = c.verdict == "error"  # no gap: the cell's code raised (its record says what)
            ax.text(
                j,
                i,
                "error" if errored else fmt_gap(c.value) + ("!" if failed else ""),
                ha="center",
                va="center",
                fontsize=7.5,
                color=ink,
                fontweight="normal" if c.passed else "bold",
                bbox=None if c.passed else {"boxstyle": "square,pad=0.12", "fc": rgba, "ec": "none"},
            )
            title = f"{grid.metrics[i]} · {grid.seeds[j]} · Δ{grid.delta}: " + (
                f"no gap: {c.error_type or 'an error'} (test {c.outcome or '?'})"
                if errored
                else f"gap {fmt_gap(c.value)} ({'noticed' if c.passed else 'missed'}; test {c.outcome or '?'})"
            )
            hits.append((ax, i, j, c.cell, title))
    return image, failed_any


def _count_panel(ax, grid: FailureGrid, hits: list):
    rows, cols, n = len(grid.metrics), len(grid.seeds), max(len(grid.deltas), 1)
    values = np.full((rows, cols), np.nan)
    for i, row in enumerate(grid.counts):
        for j, c in enumerate(row):
            if c is not None:
                values[i, j] = c.failed
    cmap = _cmap("Reds")
    norm = _mpl().BoundaryNorm(np.arange(-0.5, n + 1.5), cmap.N)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
    for i, row in enumerate(grid.counts):
        for j, c in enumerate(row):
            if c is None:
                ax.text(j, i, "n/a", ha="center", va="center", fontsize=7, color="#666")
                continue
            judged = c.total - c.inconclusive  # inconclusive Δs had nothing to notice: neither failed nor passed
            ax.text(
                j,
                i,
                f"{c.failed}/{judged}" if judged else "—",
                ha="center",
                va="center",
                fontsize=8,
                color=_text_colour(cmap(norm(c.failed))) if judged else "#666",
            )
            unsure = f" ({c.inconclusive} inconclusive)" if c.inconclusive else ""
            hits.append(
                (ax, i, j, c.first_cell, f"{grid.metrics[i]} · {grid.seeds[j]}: {c.failed} of {judged} judged Δs failed{unsure}")
            )
    return image


def _cmap(name: str):
    return _mpl().colormaps[name].with_extremes(bad=MISSING_COLOUR)


def _grid_axes(ax, metrics: Sequence[str], seeds: Sequence[str]) -> None:
    ax.set_xticks(range(len(seeds)), [_plain(x) for x in seeds], rotation=40, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_yticks(range(len(metrics)), [_plain(m) for m in metrics], fontsize=8)
    # White lines between cells, drawn as two collections (minor ticks would cost a tick
    # object per line).
    ax.hlines(np.arange(0.5, len(metrics) - 1), -0.5, len(seeds) - 0.5, color="white", lw=1.2)
    ax.vlines(np.arange(0.5, len(seeds) - 1), -0.5, len(metrics) - 0.5, color="white", lw=1.2)
    ax.tick_params(which="both", length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)


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


def curves(mc: MetricCurves) -> Plot:
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
            ax.plot(x, y, marker=marker, ms=3.5, lw=1.3, color=colour, label=_plain(c.seed))
            if c.runs > 1 and np.any(s > 0):
                ax.fill_between(x, y - s, y + s, color=colour, alpha=0.15, lw=0)
        ax.set_title(_plain(setting), fontsize=9, loc="left")
        ax.set_xticks(sorted({k for c in cs for k in c.steps}))
        ax.set_xlabel("step (dashed: step 1, the reference; dotted: Δ steps)", fontsize=7)
        ax.tick_params(labelsize=7.5)
        if k:
            ax.tick_params(labelleft=False)
        ax.grid(alpha=0.25)
        for spine in ("top", "right"):
            ax.spines[spine].set_visible(False)
    if axes:
        axes[0].set_ylabel(f"{_plain(mc.metric_id)}, normalised\n(higher = better; shaded: 0–100)", fontsize=8)
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
    return _finish(fig)


def stability(sf: StabilityFigure) -> Plot:
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
        for curve, style, label in ((p.replicate, "--", _plain(sf.replicate_setting)), (p.add, "-", _plain(sf.add_setting))):
            if curve:
                xs, ys = zip(*curve)
                ax.plot(xs, ys, ls=style, marker="o", ms=2.5, lw=1.3, color="#1f5fbf" if style == "-" else "#888", label=label)
        ax.axvline(1, color="#555", lw=0.8, ls=":", zorder=0)
        verdict = "stable" if p.passed else "UNSTABLE"
        ax.set_title(
            f"{_plain(p.metric_id)}: ratio {fmt(p.ratio, 3)} ({verdict})",
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
    return _finish(fig)


# ----- photographs -----------------------------------------------------------------------
def _rgb(image: PILImage.Image) -> PILImage.Image:
    return image if image.mode == "RGB" else image.convert("RGB")


def thumbnail_jpeg(image: PILImage.Image, long_side: int = THUMB_PX, quality: int = JPEG_QUALITY) -> tuple[bytes, int, int]:
    """A downsized full view: the whole picture at a glance (JPEG: small, and the view is
    downsized anyway, so the codec's artifacts are not what the reader looks at)."""
    im = _rgb(image).copy()
    im.thumbnail((long_side, long_side), PILImage.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue(), im.width, im.height


def centre_crop_png(image: PILImage.Image, size: int = CROP_PX) -> tuple[bytes, int, int]:
    """The centre at native resolution, losslessly: the noise and artifacts the chain added
    are exactly what a lossy re-encode would hide or invent."""
    im = _rgb(image)
    w, h = im.size
    cw, ch = min(size, w), min(size, h)
    left, top = (w - cw) // 2, (h - ch) // 2
    crop = im.crop((left, top, left + cw, top + ch))
    buf = io.BytesIO()
    crop.save(buf, "PNG", compress_level=6)
    return buf.getvalue(), cw, ch
