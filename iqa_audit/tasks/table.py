"""The study's tasks: the prompt sent at every step and what a faithful editor returns.

A task answers four questions for the rest of the suite:
- `prompt(step)`: the words the editor receives at `step` (the study's wording where the
  study gives it, ours otherwise, flagged below);
- `prepare_seed(seed)`: what step 0 of the chain is (the seed itself, or its monochrome
  version for the colourisation task);
- `ideal_edit(image, step)`: what a perfect editor returns, given the previous step
  (the transform, the object, the grey or coloured version, the reconstruction phase);
- `expected_geometry(seed, step)` / `expected_count(seed_count, step)`: what a faithful
  chain holds after `step` steps, for the fidelity checks to compare against.

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

import functools
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, Mapping

import numpy as np
from PIL import Image as PILImage
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
_FRUITS_BY_NAME = {f.name: f for f in FRUITS}

REPLICATE_PROMPT = "Produce an exact replica of the provided image, with no alterations."
_ADD_SUFFIX = " to the table. Keep everything else exactly the same."

Transform = Literal["none", "mirror", "rotate90"]
Adds = Literal["none", "apple", "fruit"]
Recolour = Literal["none", "grey", "colourise"]
Phase = Literal["patches", "edges", "keep"]

# The reconstruction cycle the study's users tried to escape the noise with: colour
# patches, then edges, then a photorealistic image from them. The study does not give its
# wording; these prompts are ours. Each phase's ideal edit is below (`_PHASE_EDITS`).
RECONSTRUCTION_CYCLE: tuple[tuple[str, Phase], ...] = (
    ("Turn this image into flat colour patches: fill each region with one solid colour, without lines or texture.", "patches"),
    ("Turn this image into a line drawing: black edges on a white background, nothing else.", "edges"),
    ("Reconstruct a photorealistic image from this drawing.", "keep"),
)


@dataclass(frozen=True)
class Task:
    """One prompt schedule and the behaviour a faithful editor must show under it."""

    name: str
    summary: str
    version: str  # enters chain keys: bump when prompts or ideal edits change
    prompt_text: str  # the prompt; add-fruits fills in {fruit}
    transform: Transform = "none"
    adds: Adds = "none"
    monochrome_seed: bool = False
    count_noun: str = "objects"  # what an object counter is asked to count on this task's images
    recolour: Recolour = "none"  # 'grey': make the image monochrome; 'colourise': give a grey image colour
    cycle: tuple[tuple[str, Phase], ...] = ()  # (prompt, phase) repeated in order: step k is cycle[(k-1) % n]
    # False: the task changes content on purpose (reconstruction); its chains are stored like
    # any other but the metric audit judges none of them, as the study left them out.
    metric_verdicts: bool = True

    # ----- the prompt ------------------------------------------------------------------
    def prompt(self, step: int) -> str:
        """The words the editor receives at `step` (1, 2, ...)."""
        _check_step(step, self.name)
        if self.adds == "fruit":
            return self.prompt_text.format(fruit=self.object_for_step(step).name)
        if self.cycle:
            return self.cycle[(step - 1) % len(self.cycle)][0]
        return self.prompt_text

    @property
    def prompts(self) -> tuple[str, ...]:
        """Every fixed prompt of the task (add-fruits' prompts are a pattern, not listed)."""
        return tuple(text for text, _ in self.cycle) if self.cycle else (self.prompt_text,)

    # ----- step 0 ----------------------------------------------------------------------
    def prepare_seed(self, seed: Image) -> Image:
        """Step 0 of the chain: the seed, or for colorize its luma replicated to RGB.

        Idempotent: preparing an already prepared seed returns the same pixels.
        """
        _check_image(seed, f"task {self.name!r} seed")
        if self.monochrome_seed:
            return Image(monochrome(seed.pixels))
        return seed

    # ----- the perfect editor ----------------------------------------------------------
    def ideal_edit(self, image: Image, step: int) -> Image:
        """What a perfect editor returns at `step` given the previous step's image.

        replicate*: the same pixels. mirror: left-right flip. rotate90: 90 degrees
        clockwise. monochrome: the BT.601 luma on all three channels (`monochrome`).
        colorize: a grey input coloured by its lightness (`colourise`: the original colours
        cannot be recovered from grey, so any colouring that keeps L* is faithful; this one
        is fixed so a chain is deterministic), a coloured input unchanged.
        reconstruct: the phase of `step` in the cycle: flat colour patches, an edge
        drawing, then the input unchanged (a photograph cannot be recovered from edges;
        whatever an editor paints is invented). add-apples / add-fruits: the step's
        object drawn at slot `step`.
        """
        _check_image(image, f"task {self.name!r} input")
        _check_step(step, self.name)
        if self.adds != "none":
            return self.place_object(image, slot=step, step=step)
        if self.cycle:
            return Image(_PHASE_EDITS[self.cycle[(step - 1) % len(self.cycle)][1]](image.pixels))
        if self.recolour == "grey":
            return Image(monochrome(image.pixels))
        if self.recolour == "colourise":
            return Image(colourise(image.pixels))
        return Image(_transform(image.pixels, self.transform, 1))

    def expected_geometry(self, seed: Image, step: int) -> Image:
        """The step-0 image as a faithful chain holds it after `step` steps (step >= 0).

        `seed` may be the raw seed or the prepared step 0 (preparation is idempotent).
        mirror: flipped `step` times; rotate90: rotated `step` times clockwise; add
        tasks: the seed itself, since added objects sit on top of it; colorize: the
        monochrome step 0 (a faithful colourisation keeps its luminance).
        """
        if not isinstance(step, (int, np.integer)) or isinstance(step, bool) or step < 0:
            raise ConfigError(
                explain(
                    f"task {self.name!r} step", expected="an integer >= 0", got=repr(step), fix="Steps count from 0 (the seed)."
                )
            )
        start = self.prepare_seed(seed)
        if self.transform == "none" or step == 0:
            return start
        return Image(_transform(start.pixels, self.transform, int(step)))

    def expected_count(self, seed_count: int, step: int) -> int | None:
        """How many objects a faithful chain shows after `step` steps.

        add tasks: one more per step. replicate, mirror, rotate90: the seed's count
        (geometry moves objects, it never adds or removes them). colorize, monochrome and
        reconstruct: None, because they create or remove the saturated regions a
        colour-blob counter counts, so a count says nothing about fidelity there.
        """
        if seed_count < 0 or step < 0:
            raise ConfigError(
                explain(
                    f"task {self.name!r} expected_count",
                    expected="seed_count >= 0 and step >= 0",
                    got=f"seed_count={seed_count}, step={step}",
                    fix="Pass counts and steps from 0 up.",
                )
            )
        if self.adds != "none":
            return seed_count + step
        if self.monochrome_seed or self.recolour != "none" or self.cycle:
            return None
        return seed_count

    @property
    def adds_objects(self) -> bool:
        return self.adds != "none"

    # ----- objects ---------------------------------------------------------------------
    def object_for_step(self, step: int) -> ObjectKind:
        """The object the prompt at `step` asks for (apple, or fruit number `step`, cycled)."""
        _check_step(step, self.name)
        if self.adds == "apple":
            return APPLE
        if self.adds == "fruit":
            return FRUITS[(step - 1) % len(FRUITS)]
        raise ConfigError(
            explain(
                f"task {self.name!r}",
                expected="an add task (add-apples, add-fruits)",
                got="a task that adds no objects",
                fix="Ask object_for_step only of add tasks.",
            )
        )

    def place_object(self, image: Image, *, slot: int, step: int) -> Image:
        """Draw the object that `step` asks for at grid slot `slot` (1-based).

        Simulators use this to add objects at other slots than a faithful edit would
        (several at once, or over an existing object).
        """
        _check_image(image, f"task {self.name!r} input")
        kind = self.object_for_step(step)
        cx, cy = slot_center(image.width, image.height, slot, kind)
        return Image(draw_object(image.pixels, kind, cx, cy))


# ----- the catalogue ------------------------------------------------------------------

_TASK_LIST = (
    Task("replicate", "the study's replication prompt, every step", "1", REPLICATE_PROMPT),
    # The study varied the phrasing of the replication prompt; its exact alternatives
    # are not in our notes, so these two are ours, written to mean the same thing.
    Task(
        "replicate-alt1",
        "replication, alternative phrasing 1",
        "1",
        "Reproduce this image exactly, pixel for pixel, without changing anything.",
    ),
    Task(
        "replicate-alt2",
        "replication, alternative phrasing 2",
        "1",
        "Return an identical copy of this image. Do not modify any detail.",
    ),
    Task(
        "mirror",
        "horizontal mirror every step (two steps return the original)",
        "1",
        "Mirror this image horizontally.",
        transform="mirror",
    ),
    Task(
        "rotate90",
        "rotate 90 degrees clockwise every step (four steps return the original)",
        "1",
        "Rotate this image 90 degrees clockwise.",
        transform="rotate90",
    ),
    # The study's users asked for monochrome and got images that were not grey.
    Task(
        "monochrome",
        "convert to black and white every step (the output must be grey, and stay grey)",
        "1",
        "Convert this image to black and white.",
        recolour="grey",
    ),
    # 2: the faithful colourisation colours a grey input (it used to return it unchanged).
    Task(
        "colorize",
        "reconstruction: colourise a monochrome version of the seed",
        "2",
        "Colorize this black-and-white image.",
        monochrome_seed=True,
        recolour="colourise",
    ),
    Task(
        "reconstruct",
        "reconstruction cycle: colour patches -> edges -> photorealistic, every 3 steps",
        "1",
        RECONSTRUCTION_CYCLE[0][0],
        cycle=RECONSTRUCTION_CYCLE,
        metric_verdicts=False,
    ),
    Task(
        "add-apples",
        "add one apple per step to the empty table",
        "1",
        "Add one apple" + _ADD_SUFFIX,
        adds="apple",
        count_noun="apples",
    ),
    Task(
        "add-fruits",
        "add one fruit per step, a different kind each step",
        "1",
        "Add one {fruit}" + _ADD_SUFFIX,
        adds="fruit",
        count_noun="pieces of fruit",
    ),
)

TASKS: Mapping[str, Task] = MappingProxyType({t.name: t for t in _TASK_LIST})

# Every fixed prompt maps to its task; add-fruits prompts are matched by pattern.
_PROMPT_TO_TASK = {text: t for t in _TASK_LIST if t.adds != "fruit" for text in t.prompts}
_FRUIT_PROMPT = re.compile(r"Add one (?P<fruit>.+?)" + re.escape(_ADD_SUFFIX))


def task_names() -> list[str]:
    return list(TASKS)


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise ConfigError(
            explain(
                f"task {name!r}", expected="one of " + ", ".join(TASKS), got=repr(name), fix="Use one of the listed task names."
            )
        ) from None


def task_for_prompt(prompt: str) -> Task:
    """The task whose prompt this is (editors that only see the prompt use this)."""
    if not isinstance(prompt, str):
        raise ConfigError(explain("prompt", expected="a string", got=type(prompt).__name__, fix="Pass the prompt text."))
    text = prompt.strip()
    if text in _PROMPT_TO_TASK:
        return _PROMPT_TO_TASK[text]
    m = _FRUIT_PROMPT.fullmatch(text)
    if m and m.group("fruit") in _FRUITS_BY_NAME:
        return TASKS["add-fruits"]
    raise ConfigError(
        explain(
            f"prompt {prompt[:80]!r}",
            expected="the prompt of one of the tasks " + ", ".join(TASKS),
            got="a prompt no task uses",
            fix="Take prompts from Task.prompt(step).",
        )
    )


# ----- geometry -----------------------------------------------------------------------


def monochrome(pixels: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma replicated to three channels (Pillow's 'L' weights).

    Integer arithmetic with rounding, so a grey pixel maps to itself and the function
    is idempotent.
    """
    p = pixels.astype(np.int32)
    luma = (299 * p[..., 0] + 587 * p[..., 1] + 114 * p[..., 2] + 500) // 1000
    return np.ascontiguousarray(np.repeat(luma.astype(np.uint8)[..., None], 3, axis=2))


# Chroma of the fixed colourisation (CIELAB C*ab at mid lightness, 0 at black and white)
# and its hues at black and at white: cool shadows, warm highlights (hand-tinting's
# convention). 30 units is clearly coloured: a just-noticeable difference is 2.3.
COLOURISE_CHROMA = 30.0
COLOURISE_HUES = (250.0, 70.0)  # degrees, at L* = 0 and L* = 100
# An input whose channels differ by at most this many levels anywhere is grey (a codec's
# rounding of a grey image stays within it).
GREY_LEVELS = 2


def colourise(pixels: np.ndarray) -> np.ndarray:
    """A grey image coloured by its lightness; a coloured image unchanged. (H, W, 3) uint8.

    Each grey level g maps to the CIELAB colour with the L* of (g, g, g), chroma
    COLOURISE_CHROMA x sin(pi L*/100) and a hue moving linearly from COLOURISE_HUES[0] at
    black to [1] at white, clipped into sRGB: deterministic, lightness kept (to rounding
    and the gamut), and visibly coloured everywhere but near black and white.
    """
    p = np.asarray(pixels)
    if int((p.max(axis=2).astype(np.int16) - p.min(axis=2)).max()) > GREY_LEVELS:
        return np.ascontiguousarray(p)  # already coloured: nothing to colourise
    return np.ascontiguousarray(_colourise_lut()[p[..., 1]])


@functools.cache
def _colourise_lut() -> np.ndarray:
    from skimage.color import lab2rgb, rgb2lab

    grey = np.repeat(np.arange(256, dtype=np.float64)[:, None], 3, axis=1) / 255.0
    lightness = rgb2lab(grey.reshape(1, 256, 3))[0, :, 0]
    hue = np.deg2rad(COLOURISE_HUES[0] + (COLOURISE_HUES[1] - COLOURISE_HUES[0]) * lightness / 100.0)
    chroma = COLOURISE_CHROMA * np.sin(np.pi * np.clip(lightness, 0, 100) / 100.0)
    lab = np.stack([lightness, chroma * np.cos(hue), chroma * np.sin(hue)], axis=1)
    rgb = lab2rgb(lab.reshape(1, 256, 3))[0]
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)


# Colour patches: a median filter of this width (fraction of the short side, at least 3 px)
# removes texture, then an adaptive palette of PATCH_COLOURS colours flattens regions.
PATCH_MEDIAN_FRACTION = 1 / 100
PATCH_COLOURS = 8
# Edges: Pillow's FIND_EDGES (a 3x3 Laplacian) on the grey image, above this many levels.
EDGE_LEVELS = 32


def colour_patches(pixels: np.ndarray) -> np.ndarray:
    """Flat colour regions: median-filtered, then quantised to PATCH_COLOURS colours
    (Pillow's median cut, no dithering: deterministic). (H, W, 3) uint8."""
    from PIL import ImageFilter

    pil = Image(np.ascontiguousarray(pixels)).to_pil()
    size = max(3, 2 * int(min(pil.size) * PATCH_MEDIAN_FRACTION / 2) + 1)
    smooth = pil.filter(ImageFilter.MedianFilter(size))
    flat = smooth.quantize(colors=PATCH_COLOURS, method=PILImage.Quantize.MEDIANCUT, dither=PILImage.Dither.NONE)
    return np.asarray(flat.convert("RGB"), dtype=np.uint8)


def edge_drawing(pixels: np.ndarray) -> np.ndarray:
    """Black edges on white: where the grey image's Laplacian exceeds EDGE_LEVELS. (H, W, 3) uint8."""
    from PIL import ImageFilter

    grey = Image(np.ascontiguousarray(pixels)).to_pil().convert("L")
    edges = np.asarray(grey.filter(ImageFilter.FIND_EDGES)) > EDGE_LEVELS
    return np.ascontiguousarray(np.repeat(np.where(edges, 0, 255).astype(np.uint8)[..., None], 3, axis=2))


_PHASE_EDITS = {"patches": colour_patches, "edges": edge_drawing, "keep": lambda px: np.ascontiguousarray(px)}


def _transform(pixels: np.ndarray, transform: Transform, times: int) -> np.ndarray:
    if transform == "mirror":
        out = pixels if times % 2 == 0 else np.fliplr(pixels)
    elif transform == "rotate90":
        out = np.rot90(pixels, k=-(times % 4))  # negative k: clockwise
    else:
        out = pixels
    return np.ascontiguousarray(out)


# ----- slots and drawing --------------------------------------------------------------


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


# ----- validation ---------------------------------------------------------------------


def _check_step(step: int, task: str) -> None:
    if not isinstance(step, (int, np.integer)) or isinstance(step, bool) or step < 1:
        raise ConfigError(
            explain(
                f"task {task!r} step",
                expected="an integer >= 1 (step 0 is the seed)",
                got=repr(step),
                fix="Number edit steps from 1.",
            )
        )


def _check_image(image: Image, what: str) -> None:
    if not isinstance(image, Image):
        raise ConfigError(
            explain(
                what,
                expected="an iqa_audit.core.images.Image",
                got=type(image).__name__,
                fix="Wrap arrays with Image.from_array or load files with load_image.",
            )
        )


__all__ = [
    "APPLE",
    "FRUITS",
    "PLACEMENT_BOX",
    "RECONSTRUCTION_CYCLE",
    "REPLICATE_PROMPT",
    "TASKS",
    "ObjectKind",
    "SlotGrid",
    "Task",
    "colour_patches",
    "colourise",
    "draw_object",
    "edge_drawing",
    "get_task",
    "monochrome",
    "slot_center",
    "slot_grid",
    "task_for_prompt",
    "task_names",
]
