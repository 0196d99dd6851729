"""What every report figure shares: a figure is inline SVG, written as text.

Cells are rectangles, curves polylines, and every label real text, so the browser draws
them sharply at any zoom, a reader can select and search them, and a small run's report
costs milliseconds instead of importing and running matplotlib (~3 s of a cold audit).
Clickable cells are SVG links (`<a href="#cell-…">`) with a `<title>` tooltip.

Every string from outside the code (seed, setting and metric names) goes through `esc`;
an `id` inside a figure carries the figure's own prefix, so two figures on a page never
share one. Lengths are pixels; a text's width is estimated (`text_width`), which is all
the layout needs.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

FONT = "system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif"
CHAR_W = 0.58  # a sans-serif character's mean width, in font sizes (digits are 0.55)


@dataclass(frozen=True)
class Svg:
    """A drawn figure: the markup inside <svg>, and its size in pixels."""

    body: str
    width: int
    height: int

    def html(self, label: str) -> str:
        """The whole <svg> element, scaled down with its container, never up."""
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {self.width} {self.height}" width="{self.width}" '
            f'height="{self.height}" role="img" aria-label="{esc(label)}" font-family="{FONT}" '
            f'style="max-width:100%;height:auto;display:block;background:white">{self.body}</svg>'
        )


def esc(value: object) -> str:
    """Text or a quoted attribute value; XML-safe as well as HTML-safe."""
    return html.escape(str(value), quote=True)


def num(v: float) -> str:
    """A coordinate, short: 12, 12.5, 12.25."""
    return f"{v:.2f}".rstrip("0").rstrip(".")


def text_width(text: str, size: float) -> float:
    return len(str(text)) * size * CHAR_W


def text(
    x: float,
    y: float,
    content: str,
    size: float = 11,
    *,
    anchor: str = "start",
    fill: str = "#1f2328",
    weight: str = "",
    italic: bool = False,
    rotate: float = 0,
    middle: bool = True,
) -> str:
    """One line of text at (x, y): `anchor` start/middle/end along the line, centred
    vertically on y when `middle`, else standing on it; `rotate` degrees clockwise about
    (x, y)."""
    attrs = [f'font-size="{num(size)}"']
    if anchor != "start":
        attrs.append(f'text-anchor="{anchor}"')
    if fill != "#1f2328":
        attrs.append(f'fill="{fill}"')
    if weight:
        attrs.append(f'font-weight="{weight}"')
    if italic:
        attrs.append('font-style="italic"')
    dy = ' dy="0.35em"' if middle else ""
    if rotate:
        place = f'transform="translate({num(x)},{num(y)}) rotate({num(rotate)})"'
    else:
        place = f'x="{num(x)}" y="{num(y)}"'
    return f"<text {place}{dy} {' '.join(attrs)}>{esc(content)}</text>"


def rect(x: float, y: float, w: float, h: float, fill: str = "none", **attrs: object) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f'<rect x="{num(x)}" y="{num(y)}" width="{num(w)}" height="{num(h)}" fill="{fill}"{extra}/>'


def line(x0: float, y0: float, x1: float, y1: float, stroke: str, width: float = 1, dash: str = "") -> str:
    d = f' stroke-dasharray="{dash}"' if dash else ""
    return f'<line x1="{num(x0)}" y1="{num(y0)}" x2="{num(x1)}" y2="{num(y1)}" stroke="{stroke}" stroke-width="{num(width)}"{d}/>'


def points(xy: Iterable[tuple[float, float]]) -> str:
    return " ".join(f"{num(x)},{num(y)}" for x, y in xy)


# ----- markers: one shape per seed, as matplotlib's o s ^ D v P X * h < > p d ---------------
def _polygon(n: int, r: float, turn: float = 0.0, inner: float | None = None) -> list[tuple[float, float]]:
    """A regular n-gon (a 2n-pointed star when `inner` is given) of radius r, its first
    corner straight up, turned `turn` degrees clockwise."""
    k = 2 * n if inner is not None else n
    out = []
    for i in range(k):
        a = math.radians(turn + 360 * i / k)
        radius = inner if inner is not None and i % 2 else r
        out.append((radius * math.sin(a), -radius * math.cos(a)))
    return out


def _cross(r: float, turn: float) -> list[tuple[float, float]]:
    t = r / 3
    arm = [(-t, -r), (t, -r), (t, -t), (r, -t), (r, t), (t, t), (t, r), (-t, r), (-t, t), (-r, t), (-r, -t), (-t, -t)]
    a = math.radians(turn)
    return [(x * math.cos(a) - y * math.sin(a), x * math.sin(a) + y * math.cos(a)) for x, y in arm]


SHAPES = {
    "s": lambda r: _polygon(4, r * 1.15, 45),
    "^": lambda r: _polygon(3, r * 1.25),
    "D": lambda r: _polygon(4, r * 1.2),
    "v": lambda r: _polygon(3, r * 1.25, 180),
    "P": lambda r: _cross(r * 1.15, 0),
    "X": lambda r: _cross(r * 1.15, 45),
    "*": lambda r: _polygon(5, r * 1.4, 0, r * 0.6),
    "h": lambda r: _polygon(6, r * 1.1),
    "<": lambda r: _polygon(3, r * 1.25, 270),
    ">": lambda r: _polygon(3, r * 1.25, 90),
    "p": lambda r: _polygon(5, r * 1.15),
    "d": lambda r: [(x * 0.6, y) for x, y in _polygon(4, r * 1.2)],
}


def marker(kind: str, x: float, y: float, r: float, colour: str) -> str:
    if kind not in SHAPES:  # "o"
        return f'<circle cx="{num(x)}" cy="{num(y)}" r="{num(r)}" fill="{colour}"/>'
    return f'<polygon points="{points((x + dx, y + dy) for dx, dy in SHAPES[kind](r))}" fill="{colour}"/>'


# ----- axes for line figures ---------------------------------------------------------------
def nice_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 x 10^k apart) covering [lo, hi], at most `most`+1."""
    if not math.isfinite(lo) or not math.isfinite(hi) or hi <= lo:
        return [lo]
    raw = (hi - lo) / most
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if step * m >= raw)
    first = math.ceil(lo / step - 1e-9)
    return [round(k * step, 10) for k in range(first, math.floor(hi / step + 1e-9) + 1)]


def tick_label(v: float) -> str:
    return f"{v:g}".replace("-", "−")


@dataclass(frozen=True)
class Axes:
    """A plotting box at (x, y) of size (w, h) pixels showing [x0, x1] x [y0, y1]."""

    x: float
    y: float
    w: float
    h: float
    x0: float
    x1: float
    y0: float
    y1: float

    def px(self, v: float) -> float:
        return self.x + (v - self.x0) / (self.x1 - self.x0 or 1) * self.w

    def py(self, v: float) -> float:
        return self.y + self.h - (v - self.y0) / (self.y1 - self.y0 or 1) * self.h

    def hline(self, v: float, stroke: str, width: float = 0.8, dash: str = "") -> str:
        return line(self.x, self.py(v), self.x + self.w, self.py(v), stroke, width, dash)

    def vline(self, v: float, stroke: str, width: float = 0.8, dash: str = "") -> str:
        return line(self.px(v), self.y, self.px(v), self.y + self.h, stroke, width, dash)

    def frame(self, xticks: Sequence[float], yticks: Sequence[float], *, ylabels: bool = True, size: float = 10) -> str:
        """Light grid lines at the ticks, the left and bottom spines, the tick labels."""
        out = [self.vline(t, "#e3e6ea", 0.8) for t in xticks] + [self.hline(t, "#e3e6ea", 0.8) for t in yticks]
        bottom = self.y + self.h
        out.append(
            f'<path d="M{num(self.x)},{num(self.y)}V{num(bottom)}H{num(self.x + self.w)}" fill="none" stroke="#333" stroke-width="0.8"/>'
        )
        out += [text(self.px(t), bottom + 10, tick_label(t), size, anchor="middle") for t in xticks]
        if ylabels:
            out += [text(self.x - 4, self.py(t), tick_label(t), size, anchor="end") for t in yticks]
        return "".join(out)


def padded(lo: float, hi: float, share: float = 0.05) -> tuple[float, float]:
    """The range widened by `share` of its span on each side (a point range by ±1)."""
    if hi <= lo:
        return lo - 1, hi + 1
    pad = (hi - lo) * share
    return lo - pad, hi + pad
