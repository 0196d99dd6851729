"""The heatmaps' colours, without matplotlib: its `RdBu_r` (gaps) and `Reds` (failure
counts) colour maps, its SymLogNorm and BoundaryNorm, computed from a data table.

Source of the table: ColorBrewer 2.0 (Cynthia A. Brewer, colorbrewer2.org, Apache-2.0
licence), the 11-class RdBu and 9-class Reds schemes, as matplotlib ships them
(`matplotlib._cm._RdBu_data`, `_Reds_data`). matplotlib builds a 256-entry lookup table
by linear interpolation between these evenly spaced anchors and maps a value in [0, 1]
to entry int(256 x value); `lookup` below does the same, so a colour here is, to the
byte, the one matplotlib gives (tests/report/test_svg_figures.py compares them).

Importing matplotlib.colors for this would cost every cold run ~0.25 s, its figures
~3 s; a small run's report is drawn as inline SVG (svg.py) and never imports it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

# ColorBrewer RdBu, 11 classes, from red (low) to blue (high); RdBu_r reverses it.
RDBU = (
    "#67001f", "#b2182b", "#d6604d", "#f4a582", "#fddbc7", "#f7f7f7",
    "#d1e5f0", "#92c5de", "#4393c3", "#2166ac", "#053061",
)  # fmt: skip
# ColorBrewer Reds, 9 classes, light to dark.
REDS = ("#fff5f0", "#fee0d2", "#fcbba1", "#fc9272", "#fb6a4a", "#ef3b2c", "#cb181d", "#a50f15", "#67000d")
MAPS = {"RdBu_r": tuple(reversed(RDBU)), "Reds": REDS}
N = 256  # matplotlib's lookup-table size (rcParams["image.lut"])

RGB = tuple[float, float, float]


def _rgb(hex_colour: str) -> RGB:
    return tuple(int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))  # type: ignore[return-value]


def to_hex(rgb: Sequence[float]) -> str:
    """As matplotlib.colors.to_hex: each channel rounded to the nearest of 256 levels."""
    return "#" + "".join(f"{round(c * 255):02x}" for c in rgb[:3])


@functools.cache
def table(name: str) -> tuple[RGB, ...]:
    """The N-entry lookup table of a colour map: entry k is the anchors interpolated at
    k / (N - 1), the anchors evenly spaced over [0, 1]."""
    anchors = [_rgb(h) for h in MAPS[name]]
    segments = len(anchors) - 1
    out = []
    for k in range(N):
        x = k / (N - 1) * segments
        i = min(int(x), segments - 1)
        t = x - i
        a, b = anchors[i], anchors[i + 1]
        out.append(tuple(min(1.0, max(0.0, a[c] + t * (b[c] - a[c]))) for c in range(3)))
    return tuple(out)  # type: ignore[return-value]


def lookup(name: str, x: float) -> RGB:
    """The colour of a normalised value x in [0, 1] (clipped), as matplotlib's Colormap(x)."""
    k = int(min(max(x, 0.0), 1.0) * N)
    return table(name)[min(k, N - 1)]


def _symlog(v: float) -> float:
    # matplotlib's symlog transform with linthresh 1, linscale 1, base 10.
    scale = 1.0 / (1.0 - 1.0 / 10)
    if abs(v) <= 1.0:
        return v * scale
    return math.copysign(scale + math.log(abs(v)) / math.log(10), v)


def gap_norm(value: float, limit: float) -> float:
    """Where a gap sits on the diverging scale, 0..1, centred at 0 (0.5): linear within ±1
    normalised point and logarithmic beyond, to ±limit. Gaps span three orders of magnitude
    (a codec's ±0.5 next to a noise estimator's −120): on a linear scale the small ones,
    whose sign is the whole verdict, would all look white. matplotlib's
    SymLogNorm(linthresh=1, linscale=1, vmin=-limit, vmax=limit, base=10)."""
    lo, hi = _symlog(-limit), _symlog(limit)
    return (_symlog(min(max(value, -limit), limit)) - lo) / (hi - lo)


def gap_colour(value: float, limit: float) -> RGB:
    return lookup("RdBu_r", gap_norm(value, limit))


def count_colour(failed: int, deltas: int) -> RGB:
    """The colour of `failed` of `deltas` Δs: one of deltas + 1 even steps through Reds
    (matplotlib's BoundaryNorm over the bins -0.5, 0.5, ..., deltas + 0.5)."""
    n = max(deltas, 1)
    return table("Reds")[int((N - 1) / n * min(max(failed, 0), n))]


def text_colour(rgb: Sequence[float]) -> str:
    """Ink that reads on a background of this colour."""
    r, g, b = rgb[:3]
    return "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black"
