"""The objects the add tasks draw: apples and fruits, their slot grid, and how one is drawn.

Objects added by the add tasks follow one drawing convention, because a colour-blob
counter elsewhere must count them on the empty-table seed (a low-saturation brown/beige
table with no saturated colour):
- every object is one connected blob of saturated colour: a filled disc, a darker
  shading disc inside it, a highlight or a stem that overlaps it;
- apples are red (200, 25, 30), radius 3.5 % of the image's short side;
- fruits are one kind per step from `FRUITS` (12 clearly distinct saturated hues, cycled
  after 12), radius 2.5 % of the short side: smaller, so that the study's 100 fruits fit
  on a 4:3 or 16:9 table;
- object number k goes to slot k, a fixed position on a grid inside the placement box
  (fractions of width and height, `PLACEMENT_BOX`), with neighbouring discs at least
  one radius apart so blobs never touch. The grid depends only on the image size, so
  any process computes the same slots. A request beyond the grid's capacity is refused
  (ConfigError) rather than drawing overlapping blobs that no counter could count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import ImageDraw

from iqa_audit.core.errors import ConfigError, explain
from iqa_audit.core.images import Image

# (x0, y0, x1, y1) as fractions of (width, height). The seed catalogue exposes the same
# box in `seed.meta['placement_box']`; tasks only see pixels, so they use this default.
PLACEMENT_BOX = (0.1, 0.15, 0.9, 0.85)

# Smallest radius drawn, so that objects stay countable blobs on thumbnails.
MIN_RADIUS_PX = 2.0


@dataclass(frozen=True)
class ObjectKind:
    """One kind of object an add task draws: a name for the prompt, a colour and a size."""

    name: str
    rgb: tuple[int, int, int]
    radius_fraction: float  # of the image's short side

    def radius(self, width: int, height: int) -> float:
        return max(MIN_RADIUS_PX, self.radius_fraction * min(width, height))


APPLE = ObjectKind("apple", (200, 25, 30), 0.035)

# Hues spread round the colour wheel (approximate hue in degrees in the comments) so
# that any two kinds are told apart by hue. "apple" is deliberately absent: the apple
# prompt must map back to the add-apples task only.
_FRUIT_RADIUS = 0.025
FRUITS: tuple[ObjectKind, ...] = (
    ObjectKind("strawberry", (225, 35, 50), _FRUIT_RADIUS),  # 355
    ObjectKind("orange", (245, 135, 25), _FRUIT_RADIUS),  # 30
    ObjectKind("lemon", (245, 225, 35), _FRUIT_RADIUS),  # 54
    ObjectKind("pear", (175, 215, 40), _FRUIT_RADIUS),  # 74
    ObjectKind("lime", (90, 200, 40), _FRUIT_RADIUS),  # 101
    ObjectKind("green grape", (40, 190, 90), _FRUIT_RADIUS),  # 140
    ObjectKind("honeydew melon", (40, 195, 165), _FRUIT_RADIUS),  # 168
    ObjectKind("blueberry", (45, 75, 205), _FRUIT_RADIUS),  # 229
    ObjectKind("purple grape", (115, 50, 205), _FRUIT_RADIUS),  # 265
    ObjectKind("plum", (155, 40, 170), _FRUIT_RADIUS),  # 293
    ObjectKind("dragon fruit", (225, 40, 170), _FRUIT_RADIUS),  # 318
    ObjectKind("raspberry", (215, 30, 110), _FRUIT_RADIUS),  # 334
)


@dataclass(frozen=True)
class SlotGrid:
    """Object positions inside the placement box for one image size and object size."""

    x0: float
    y0: float
    cell_w: float
    cell_h: float
    cols: int
    rows: int

    @property
    def capacity(self) -> int:
        return self.cols * self.rows

    def center(self, slot: int) -> tuple[float, float]:
        row, col = divmod(slot - 1, self.cols)
        return (self.x0 + (col + 0.5) * self.cell_w, self.y0 + (row + 0.5) * self.cell_h)


def slot_grid(width: int, height: int, kind: ObjectKind = APPLE) -> SlotGrid:
    """Row-major grid whose cells are at least three radii wide and high.

    Three radii: the disc's diameter plus one radius of table between neighbours.
    """
    r = kind.radius(width, height)
    bx0, by0, bx1, by1 = PLACEMENT_BOX
    box_w, box_h = (bx1 - bx0) * width, (by1 - by0) * height
    cols, rows = int(box_w // (3 * r)), int(box_h // (3 * r))
    cols, rows = max(cols, 0), max(rows, 0)
    return SlotGrid(bx0 * width, by0 * height, box_w / max(cols, 1), box_h / max(rows, 1), cols, rows)


def slot_center(width: int, height: int, slot: int, kind: ObjectKind = APPLE) -> tuple[float, float]:
    """(x, y) of slot `slot` (1-based) for objects of `kind` on a width x height image."""
    grid = slot_grid(width, height, kind)
    if not isinstance(slot, (int, np.integer)) or isinstance(slot, bool) or slot < 1 or slot > grid.capacity:
        raise ConfigError(
            explain(
                f"object slot {slot!r} for {kind.name}s on a {width}x{height} image",
                expected=f"a slot from 1 to {grid.capacity} (the grid holds {grid.cols}x{grid.rows} non-touching objects)",
                got=repr(slot),
                fix="Run fewer add steps, or use a larger seed image (the grid scales with the short side's share of the box).",
            )
        )
    return grid.center(int(slot))


def draw_object(pixels: np.ndarray, kind: ObjectKind, cx: float, cy: float) -> np.ndarray:
    """Draw one object centred at (cx, cy); returns a new array.

    Drawn at 1x without anti-aliasing, so the blob's edge is crisp and a saturation
    threshold sees one connected component. Every detail (shading, highlight, stem)
    overlaps the main disc, keeping the object a single blob.
    """
    h, w = pixels.shape[:2]
    r = kind.radius(w, h)
    pil = Image(np.ascontiguousarray(pixels)).to_pil()
    draw = ImageDraw.Draw(pil)

    def disc(x: float, y: float, radius: float, rgb: tuple[int, int, int]) -> None:
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=rgb)

    disc(cx, cy, r, kind.rgb)
    shade = tuple(int(round(c * 0.82)) for c in kind.rgb)
    # Shading sits inside the disc: offset 0.15 r * sqrt(2) + radius 0.75 r < r.
    disc(cx + 0.15 * r, cy + 0.15 * r, 0.75 * r, shade)  # type: ignore[arg-type]
    if kind is APPLE:
        # The stem starts on the rim and points outward: a stem drawn into the disc
        # cuts a notch into the red blob (brown is close to the table's colour, so
        # counters leave it out), and a notched disc can read as two touching blobs.
        stem_w = max(1, int(round(r / 6)))
        draw.line((cx, cy - 0.97 * r, cx + 0.12 * r, cy - 1.3 * r), fill=(95, 55, 25), width=stem_w)
    else:
        light = tuple(int(round(c + (255 - c) * 0.3)) for c in kind.rgb)
        disc(cx - 0.35 * r, cy - 0.35 * r, 0.28 * r, light)  # type: ignore[arg-type]
    return np.asarray(pil, dtype=np.uint8)


__all__ = ["APPLE", "FRUITS", "PLACEMENT_BOX", "ObjectKind", "SlotGrid", "draw_object", "slot_center", "slot_grid"]
