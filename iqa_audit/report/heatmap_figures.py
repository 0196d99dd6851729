"""The metric audit's heatmaps: per chain setting, one panel per Δ (the study's Figure 5:
metric rows x seed columns, centred at 0, gaps printed) and the failed Δs per cell
(Figure 6), with their colour bars, legend and clickable cells. `figures.heatmaps` turns
the figure into bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # matplotlib is imported on first use; these are annotations only
    from matplotlib.colors import SymLogNorm
    from matplotlib.figure import Figure

from iqa_audit.report.figure_base import DPI, Layers, _mpl, plain, static_artists, text_colour
from iqa_audit.report.model import FailureGrid, GapGrid, fmt_gap

# Negative gap = the score fell = the metric noticed = good: blue. Positive = missed: red.
GAP_CMAP = "RdBu_r"
MISSING_COLOUR = "#d9d9d9"
INCONCLUSIVE_COLOUR = "#ececec"  # drawn over the cell, dotted: nothing visible to notice
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


def heatmap_figure(grids: Sequence[GapGrid], counts: FailureGrid | None, limit: float) -> tuple[Figure, list[tuple]]:
    """The heatmap figure and its clickable cells, undrawn.

    Every panel carries its seed names, so any panel reads on its own. Marks, explained in
    a legend above the first panel: hatched = missed as the baseline expects (xfail);
    a black frame and "!" = a failed test (a regression, or a new failure without a
    baseline entry). The colour bar ends at the largest |gap| and marks ±100, the whole
    normalised scale: a gap beyond it means the scores left the metric's typical range.

    One figure per setting, not per panel: matplotlib's per-figure cost (the report's
    main cost) is paid once; and the parts every setting shares (names, colour bars,
    legend) once per run (`iqa_layers`, figure_base.Layers)."""
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
    panel_axes = []
    for k, grid in enumerate(grids):
        ax = fig.add_axes(panel_box(k))
        panel_axes.append(ax)
        gap_image, failed = _gap_panel(ax, grid, limit, hits)
        failed_any |= failed
        _grid_axes(ax, metrics, seeds)
        ax.set_title(plain(f"Δ{grid.delta} · {grid.setting}"), fontsize=9.5, loc="left", fontweight="bold")
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
        panel_axes.append(ax)
        count_image = _count_panel(ax, counts, hits)
        _grid_axes(ax, metrics, seeds)
        ax.set_title(plain(f"failed Δs · {counts.setting}"), fontsize=9.5, loc="left", fontweight="bold")
        n = max(len(counts.deltas), 1)
        bar = fig.colorbar(
            count_image, cax=fig.add_axes(((left + cells_w + 0.15) / width, box[1], 0.14 / width, box[3])), ticks=range(n + 1)
        )
        bar.set_label("failed of judged Δs", fontsize=7.5)
        bar.ax.tick_params(labelsize=7)
    _legend(fig, left / width, 1 - 0.06 / height, failed_any)
    # Every setting's figure of a run has this layout: figure_base.finish draws the names,
    # colour bars and legend once and each setting's cells and titles over them.
    static_key = (
        "heatmaps", tuple(metrics), tuple(seeds), len(grids), None if counts is None else len(counts.deltas),
        limit, width, height,
    )  # fmt: skip
    fig.iqa_layers = Layers(static_key, static_artists(fig, panel_axes), tuple(panel_axes))
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
            ink = text_colour(rgba)
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
                color=text_colour(cmap(norm(c.failed))) if judged else "#666",
            )
            unsure = f" ({c.inconclusive} inconclusive)" if c.inconclusive else ""
            hits.append(
                (ax, i, j, c.first_cell, f"{grid.metrics[i]} · {grid.seeds[j]}: {c.failed} of {judged} judged Δs failed{unsure}")
            )
    return image


def _cmap(name: str):
    return _mpl().colormaps[name].with_extremes(bad=MISSING_COLOUR)


def _grid_axes(ax, metrics: Sequence[str], seeds: Sequence[str]) -> None:
    ax.set_xticks(range(len(seeds)), [plain(x) for x in seeds], rotation=40, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_yticks(range(len(metrics)), [plain(m) for m in metrics], fontsize=8)
    # White lines between cells, drawn as two collections (minor ticks would cost a tick
    # object per line).
    ax.hlines(np.arange(0.5, len(metrics) - 1), -0.5, len(seeds) - 0.5, color="white", lw=1.2)
    ax.vlines(np.arange(0.5, len(seeds) - 1), -0.5, len(metrics) - 0.5, color="white", lw=1.2)
    ax.tick_params(which="both", length=0, bottom=False, left=False)  # no tick marks to draw at all
    for spine in ax.spines.values():
        spine.set_visible(False)
