"""What every report figure shares: matplotlib imported on first use, the Plot a drawing
becomes (PNG bytes, size, clickable cells), and the one draw-and-encode step.

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


def finish(fig: Figure, hit_cells: Sequence[tuple] = ()) -> Plot:
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


def plain(text: str) -> str:
    """Show a name as typed: matplotlib reads $...$ as math, and an unbalanced $ in a seed
    or folder name would stop the drawing with a parse error."""
    return str(text).replace("$", r"\$")


def text_colour(rgba) -> str:
    r, g, b = rgba[:3]
    return "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black"
