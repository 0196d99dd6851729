"""What every report figure shares: matplotlib imported on first use, the Plot a drawing
becomes (PNG bytes, size, clickable cells), and the one draw-and-encode step.

matplotlib through `Figure` + `FigureCanvasAgg` only, never pyplot: pyplot keeps global
figure state and picks a backend for the whole process, which would leak into whoever
else uses matplotlib in the same pytest session.
"""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Hashable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from PIL import Image as PILImage

if TYPE_CHECKING:  # matplotlib is imported on first use (lazy.py); these are annotations only
    from matplotlib.figure import Figure


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


@dataclass(frozen=True)
class Layers:
    """A figure drawn as a background shared by figures of the same layout plus what differs.

    `key`: equal keys mean the `static` artists draw the same pixels (the builder puts in it
    everything they depend on); `static`: the figure's patch, the panels' patches and axes
    (ticks and their labels), the other axes (colour bars); `panels`: the axes whose other
    children (images, cells, marks, titles) are drawn on top for each figure, with the
    figure's legends. Drawn in that order the pixels are those of one ordinary draw,
    provided no static artist overlaps what is drawn on top (tick labels sit outside the
    cells, colour bars beside them)."""

    key: Hashable
    static: tuple[Any, ...]
    panels: tuple[Any, ...]


# The last drawn background: (key, width, height, dpi) -> Agg buffer region. One figure's
# RGBA at most (~2 MB for a small run's heatmaps, ~7 MB for the default audit's).
_background: dict[tuple, Any] = {}
_background_lock = threading.Lock()


def finish(fig: Figure, hit_cells: Sequence[tuple] = ()) -> Plot:
    """Draw once, read the clickable cells' boxes off that drawing, PNG-encode its pixels.
    (print_png would draw the whole figure a second time; drawing is most of the cost.)
    A figure carrying `iqa_layers` (Layers) reuses the background of the previous figure
    with the same layout and draws only its own cells on it."""
    canvas = _mpl().FigureCanvasAgg(fig)
    layers = getattr(fig, "iqa_layers", None)
    if layers is None:
        canvas.draw()
    else:
        _draw_layered(canvas, fig, layers)
    w, h = canvas.get_width_height()
    hits = _cell_hits(w, h, hit_cells)
    pixels = PILImage.frombuffer("RGBA", (w, h), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")
    buf = io.BytesIO()
    pixels.save(buf, "PNG", compress_level=2)  # as small as level 6 (within ~5 %) in half the time
    return Plot(buf.getvalue(), w, h, hits)


def _draw_layered(canvas: Any, fig: Figure, layers: Layers) -> None:
    """Background from the cache (or drawn now with the panels' own children hidden, and
    kept), then the figure drawn again over it without its static artists."""
    w, h = canvas.get_width_height()
    key = (layers.key, w, h, fig.dpi)
    with _background_lock:
        background = _background.get(key)
    if background is None:
        own = [a for ax in layers.panels for a in _own_children(ax)] + [lg for lg in fig.legends if lg.get_visible()]
        with _hidden(own):
            canvas.draw()
        background = canvas.copy_from_bbox(fig.bbox)
        with _background_lock:
            _background.clear()
            _background[key] = background
    else:
        canvas.get_renderer()
        canvas.restore_region(background)
    with _hidden([a for a in layers.static if a.get_visible()]):
        fig.draw(canvas.get_renderer())


def _own_children(ax: Any) -> list:
    frame = _frame(ax)
    return [a for a in ax.get_children() if a.get_visible() and a not in frame]


def _frame(ax: Any) -> set:
    """An axes' own static parts: its patch, its two axes (ticks, labels) and its spines."""
    return {ax.patch, ax.xaxis, ax.yaxis, *ax.spines.values()}


@contextmanager
def _hidden(artists: Sequence[Any]):
    for a in artists:
        a.set_visible(False)
    try:
        yield
    finally:
        for a in artists:
            a.set_visible(True)


def static_artists(fig: Figure, panels: Sequence[Any]) -> tuple[Any, ...]:
    """Layers.static of a figure whose `panels` carry the cells: the figure's patch, its
    other axes and each panel's frame."""
    others = [ax for ax in fig.axes if ax not in panels]
    return (fig.patch, *others, *(a for ax in panels for a in _frame(ax)))


def _cell_hits(w: int, h: int, cells: Sequence[tuple]) -> tuple[Hit, ...]:
    """Pixel boxes of (axes, row, col) data cells, as fractions of the picture (top-left origin)."""
    hits = []
    for ax, r, c, cell, title in cells:
        (x0, y0), (x1, y1) = ax.transData.transform([(c - 0.5, r + 0.5), (c + 0.5, r - 0.5)])
        left, right = sorted((x0, x1))
        bottom, top = sorted((y0, y1))
        hits.append(Hit(cell, left / w, 1 - top / h, (right - left) / w, (top - bottom) / h, title))
    return tuple(hits)


def plain(text: str) -> str:
    """Show a name as typed: matplotlib reads $...$ as math, and an unbalanced $ in a seed
    or folder name would stop the drawing with a parse error."""
    return str(text).replace("$", r"\$")


def text_colour(rgba) -> str:
    r, g, b = rgba[:3]
    return "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black"
