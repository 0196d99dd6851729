"""Count the objects an add-objects task put on the table.

The study's add-apples task asks for one more apple per step; the editor stopped adding at
about 7, then added a whole row. add-100-fruits asks for a different fruit per step; the
editor sometimes replaced a fruit instead of adding one. The object-count check compares
a count with what the task expects, and the count comes from an `ObjectCounter`:

- `BlobCounter`: free and deterministic. Counts saturated colour blobs on a
  low-saturation background (the empty-table seed is brown/beige wood). Right for the
  synthetic editors, which draw fruits as flat saturated discs; an approximation for
  photographic fruit.
- `VLMCounter`: asks a vision-language model through google-genai. Right for real editor
  outputs, costs a request per image.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image as PILImage

from iqa_audit.core.errors import BadImageError, ConfigError, EditorError, explain
from iqa_audit.core.images import Image
from iqa_audit.core.lazy import LazyModule
from iqa_audit.vlm.client import ask_about_image

ndi = LazyModule("scipy.ndimage")  # imported when something is counted, not when a finding is read back


@runtime_checkable
class ObjectCounter(Protocol):
    id: str  # enters test ids and reports: "blob", "vlm-gemini-2.5-flash"

    def count(self, image: Image) -> int: ...


# --------------------------------------------------------------------------------------
# BlobCounter
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlobCounter:
    """Counts connected blobs of saturated colour that stand out from the background.

    Steps, all at a working resolution of at most `working_long_side` px (area-averaged,
    which also halves noise and JPEG ringing):

    1. Background colour = the mode of the CIELAB a*b* histogram (the colour covering the
       most pixels: the table), refined by the median of the pixels near that mode. The
       mode, not the mean, so a table covered 40 % by fruit still reads as wood.
    2. Object pixels = chroma >= `min_chroma` and a*b* distance to the background
       >= `colour_distance`. Only a*b*, not L*: wood grain varies mostly in lightness
       (dark grain lines) and must never count, while every fruit the tasks draw
       (apple red, orange, lemon, lime, plum, blueberry) sits 45+ a*b* units away from
       brown wood. The cost: grey, white or black objects are not counted.
    3. Morphological opening (radius `opening_fraction` x short side, >= 1 px) removes
       noise specks and cuts the thin necks where two discs touch; holes (highlights)
       are filled.
    4. Each connected component is split by hue when its interior holds clearly
       different hues (a red apple touching an orange), and by shape when it is two
       overlapping blobs of one hue (two peaks in the distance transform). Limit: at
       working resolution with discs under ~10 px radius, JPEG colour bleed fills the
       neck between same-hue discs whose centres are closer than ~1.8 radii, and they
       count as one.
       A shape split must also fit the area: a one-hue part holds at most
       round(area / typical object area) objects, the typical area being the median
       part's (objects on a table rarely touch, so the median part is one object;
       needs 3 parts or more). Two overlapping apples cover 1.6-2 apples' area; an
       apple whose outline is wrinkled into lobes (the study's "wrinkles along
       contours") or pinched by two specks on its rim has distance-transform peaks in
       its lobes too, but the area of one apple, so it stays one.
    5. Pieces smaller than `min_area_fraction` of the image are dropped: an apple of
       radius 3.5 % of the short side covers 0.2-0.4 % of a 16:9 image, so the 0.1 %
       default drops specks but keeps a half-hidden apple.
    """

    id: str = "blob"
    min_area_fraction: float = 0.001
    min_chroma: float = 15.0
    colour_distance: float = 22.0
    opening_fraction: float = 0.006
    hue_bin_degrees: float = 10.0
    working_long_side: int = 640

    def __post_init__(self) -> None:
        checks = (
            ("min_area_fraction", 0.0 < self.min_area_fraction < 1.0, "a fraction in (0, 1), e.g. 0.001"),
            ("min_chroma", self.min_chroma >= 0, "a CIELAB chroma >= 0, e.g. 15"),
            ("colour_distance", self.colour_distance > 0, "an a*b* distance > 0, e.g. 22"),
            ("opening_fraction", 0 <= self.opening_fraction < 0.1, "a fraction of the short side in [0, 0.1)"),
            ("hue_bin_degrees", 1 <= self.hue_bin_degrees <= 60, "degrees in [1, 60]"),
            ("working_long_side", self.working_long_side >= 32, "at least 32 px"),
        )
        for name, ok, expected in checks:
            if not ok:
                raise ConfigError(
                    explain(f"BlobCounter.{name}", expected=expected, got=repr(getattr(self, name)), fix="Pass a value in range.")
                )

    def count(self, image: Image) -> int:
        return len(self.blobs(image))

    def blobs(self, image: Image) -> tuple[tuple[float, float, int], ...]:
        """The counted blobs as (centre x, centre y, area) in working-resolution pixels.

        Exposed so a failing test can say where the blobs were, not only how many.
        """
        if not isinstance(image, Image):
            raise BadImageError(
                explain(
                    "BlobCounter.count image",
                    expected="an iqa_audit Image",
                    got=type(image).__name__,
                    fix="Wrap arrays with Image.from_array.",
                )
            )
        lab = _lab(_downsample(image.pixels, self.working_long_side))
        height, width = lab.shape[:2]
        coloured, hue = self._object_mask(lab)
        mask = coloured
        radius = max(1, round(self.opening_fraction * min(height, width)))
        # Holes first: a grey speck or a highlight inside an apple is a hole in the mask,
        # and an opening grows a hole near the rim into a channel to the outside, which
        # no later hole filling closes: the apple becomes a crescent with two
        # distance-transform peaks and counts twice.
        mask = ndi.binary_fill_holes(mask)
        mask = ndi.binary_opening(mask, structure=_disk(radius))
        mask = ndi.binary_fill_holes(mask)
        min_area = max(4, round(self.min_area_fraction * height * width))

        # One-hue connected parts, each with the (top, left) of its component's box.
        parts: list[tuple[np.ndarray, int, int]] = []
        components, _n = ndi.label(mask)
        for index, box in enumerate(ndi.find_objects(components), start=1):
            if box is None:
                continue
            component = components[box] == index
            if component.sum() < min_area:
                continue
            for piece in _split_by_hue(component, hue[box], coloured[box], self.hue_bin_degrees, radius):
                labels, n = ndi.label(piece)
                for i in range(1, n + 1):
                    part = labels == i
                    if part.sum() >= min_area:
                        parts.append((part, box[0].start, box[1].start))

        areas = [int(part.sum()) for part, _, _ in parts]
        typical = float(np.median(areas)) if len(areas) >= 3 else None
        found: list[tuple[float, float, int]] = []
        for part, top, left in parts:
            for y, x, area in _split_touching(part, min_area, typical):
                found.append((float(x + left), float(y + top), int(area)))
        return tuple(sorted(found))

    def _object_mask(self, lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, b = lab[..., 1], lab[..., 2]
        bg_a, bg_b = _background_ab(a, b)
        chroma = np.hypot(a, b)
        distance = np.hypot(a - bg_a, b - bg_b)
        mask = (chroma >= self.min_chroma) & (distance >= self.colour_distance)
        hue = np.degrees(np.arctan2(b, a)) % 360.0
        return mask, hue


def _background_ab(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """The a*b* colour covering the most pixels (mode of a 4-unit histogram), refined."""
    edges = np.arange(-128, 132, 4.0)
    hist, _, _ = np.histogram2d(a.ravel(), b.ravel(), bins=(edges, edges))
    hist = ndi.uniform_filter(hist, size=3, mode="constant")
    ia, ib = np.unravel_index(int(np.argmax(hist)), hist.shape)
    mode_a, mode_b = edges[ia] + 2.0, edges[ib] + 2.0
    near = np.hypot(a - mode_a, b - mode_b) <= 12.0
    if not near.any():  # cannot happen (the mode bin has pixels); guards float quirks
        return float(mode_a), float(mode_b)
    return float(np.median(a[near])), float(np.median(b[near]))


def _split_by_hue(
    component: np.ndarray, hue: np.ndarray, coloured: np.ndarray, bin_degrees: float, radius: int
) -> list[np.ndarray]:
    """Split one connected component into pieces of clearly different hue.

    The hue histogram is taken over the component's interior only (eroded), because the
    rim mixes the object colour with the table's (JPEG chroma subsampling, antialiasing)
    and would bridge a red and an orange apple with intermediate hues. Only `coloured`
    pixels (the object mask before its holes were filled) have a hue worth reading: a
    grey speck or a white highlight inside an apple has a*b* near 0, so its hue angle
    is arbitrary, and a few such pixels in one bin would pass for a second object.
    Runs of well-populated hue bins separated by (nearly) empty bins are different
    objects; every coloured pixel, rim included, goes to the run nearest its hue, every
    filled-in grey pixel to the piece of the nearest coloured pixel, and each piece is
    opened again so a rim sliver that went to the wrong run does not become a blob of
    its own.
    """
    coloured = coloured & component
    interior = ndi.binary_erosion(component, structure=_disk(1), iterations=max(1, radius)) & coloured
    if interior.sum() < 16:
        interior = coloured if coloured.sum() >= 16 else component
    n_bins = round(360.0 / bin_degrees)
    hist, _ = np.histogram(hue[interior], bins=n_bins, range=(0.0, 360.0))
    populated = hist >= max(3, 0.02 * interior.sum())
    runs = _circular_runs(populated)
    if len(runs) <= 1:
        return [component]
    centres = np.array([_run_centre(run, hist, bin_degrees) for run in runs])
    diff = np.abs((hue[coloured][:, None] - centres[None, :] + 180.0) % 360.0 - 180.0)
    run_of = np.zeros(component.shape, dtype=np.int32)  # 0: not coloured
    run_of[coloured] = np.argmin(diff, axis=1) + 1
    if (component & ~coloured).any():
        # Grey pixels inside the component take the run of their nearest coloured pixel.
        _, (iy, ix) = ndi.distance_transform_edt(run_of == 0, return_indices=True)
        run_of = np.where(component, run_of[iy, ix], 0)
    pieces = []
    for k in range(1, len(runs) + 1):
        piece = ndi.binary_opening(run_of == k, structure=_disk(radius))
        if piece.any():
            pieces.append(piece)
    return pieces


def _circular_runs(flags: np.ndarray) -> list[list[int]]:
    """Maximal runs of True on a circle: [[350, 0, 10], ...] as bin indices."""
    n = len(flags)
    if flags.all():
        return [list(range(n))]
    start = int(np.argmin(flags))  # a False bin: walking from it never splits a run
    runs: list[list[int]] = []
    current: list[int] = []
    for step in range(1, n + 1):
        i = (start + step) % n
        if flags[i]:
            current.append(i)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def _run_centre(run: list[int], hist: np.ndarray, bin_degrees: float) -> float:
    """Count-weighted circular mean hue of a run of bins."""
    angles = np.radians((np.array(run) + 0.5) * bin_degrees)
    weights = hist[run].astype(float)
    return float(np.degrees(np.arctan2((weights * np.sin(angles)).sum(), (weights * np.cos(angles)).sum())) % 360.0)


def _split_touching(part: np.ndarray, min_area: int, typical: float | None) -> list[tuple[float, float, int]]:
    """One connected part of one hue: one blob per distance-transform peak that stands out.

    Two discs of radius r overlapping with centres 1.5 r apart leave a saddle 0.34 r
    below the peaks; a single disc or ellipse has one peak. A peak counts when it rises
    at least a fifth of the part's largest inscribed radius (and >= 1.5 px) above the
    saddle to its neighbour, so boundary notches from JPEG blocks do not split a disc.
    A split is only real if its regions are objects: each covers at least `min_area`
    (two halves of a thin crescent are one object, not zero), and there are at most
    round(area / typical) of them when the typical object area is known (a lobe of a
    wrinkled outline is not an object). The largest regions keep their peaks; the
    watershed hands the others' pixels to their neighbours.
    """
    from skimage.morphology import h_maxima
    from skimage.segmentation import watershed

    area = int(part.sum())
    distance = ndi.distance_transform_edt(np.pad(part, 1))[1:-1, 1:-1]
    h = max(1.5, 0.2 * float(distance.max()))
    markers, n_markers = ndi.label(h_maxima(distance, h))
    regions = [part]
    if n_markers > 1:
        basins = watershed(-distance, markers, mask=part)
        sizes = np.bincount(basins[part], minlength=n_markers + 1)
        candidates = sorted((r for r in range(1, n_markers + 1) if sizes[r] >= min_area), key=lambda r: -sizes[r])
        most = len(candidates) if typical is None else max(1, int(area / typical + 0.5))
        keep = candidates[:most]
        if len(keep) >= 2:
            if len(keep) < n_markers:
                markers = np.where(np.isin(markers, keep), markers, 0)
                basins = watershed(-distance, markers, mask=part)
            regions = [basins == r for r in keep]
    out = []
    for region in regions:
        y, x = ndi.center_of_mass(region)
        out.append((y, x, int(region.sum())))
    return out


def _disk(radius: int) -> np.ndarray:
    y, x = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    return (x * x + y * y) <= radius * radius + radius  # + radius: a rounder small disk


def _downsample(pixels: np.ndarray, long_side: int) -> np.ndarray:
    height, width = pixels.shape[:2]
    scale = long_side / max(height, width)
    if scale >= 1.0:
        return np.asarray(pixels)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(PILImage.fromarray(np.asarray(pixels)).resize(size, PILImage.Resampling.BOX))


def _lab(pixels: np.ndarray) -> np.ndarray:
    from skimage.color import rgb2lab

    return rgb2lab(pixels.astype(np.float32) / 255.0)


# --------------------------------------------------------------------------------------
# VLMCounter
# --------------------------------------------------------------------------------------

Ask = Callable[..., str]


@dataclass(frozen=True)
class VLMCounter:
    """Asks a vision-language model how many objects there are.

    `ask` defaults to `iqa_audit.vlm.client.ask_about_image` (imported on first use,
    so this module never needs the google-genai SDK); tests inject a fake.
    """

    model: str
    noun: str = "objects"
    base_url: str | None = None
    question: str = "How many {noun} are on the table? Answer with a number."
    ask: Ask | None = field(default=None, compare=False, repr=False)

    @property
    def id(self) -> str:
        return f"vlm-{self.model}"

    def count(self, image: Image) -> int:
        question = self.question.format(noun=self.noun)
        ask = self.ask
        if ask is None:
            ask = ask_about_image
        answer = ask(image, question, model=self.model, base_url=self.base_url)
        return parse_count(answer, source=f"{self.id}'s answer to {question!r}", noun=self.noun)


_UNITS = {
    "zero": 0, "none": 0, "one": 1, "a single": 1, "single": 1, "two": 2, "three": 3, "four": 4,
    "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11,
    "twelve": 12, "a dozen": 12, "dozen": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_UNIT_RE = "|".join(sorted((re.escape(w) for w in _UNITS), key=len, reverse=True))
_TENS_RE = "|".join(_TENS)
# "one hundred and twelve", "a hundred", "twenty-one", "seven": longest match first.
_WORD_NUMBER = re.compile(
    rf"\b(?:(?P<hundreds>{_UNIT_RE}|a)\s+hundred(?:\s+(?:and\s+)?(?P<rest>(?:{_TENS_RE})(?:[\s-]+(?:{_UNIT_RE}))?|{_UNIT_RE}))?"
    rf"|(?P<tens>{_TENS_RE})(?:[\s-]+(?P<unit>{_UNIT_RE}))?"
    rf"|(?P<single>{_UNIT_RE}))\b",
    re.IGNORECASE,
)
_DIGITS = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,])|(?<![\d.])\d+")


def parse_count(answer: object, *, source: str = "the model's answer", noun: str | None = None) -> int:
    """The first whole number in a model's answer: digits or English number words.

    "There are 7 apples." -> 7, "seven" -> 7, "**12**" -> 12, "one hundred" -> 100,
    "1,024" -> 1024, "none" -> 0, "no apples" -> 0 (only with the noun asked about, so
    "No, I cannot tell" is not read as 0). The earliest number in the text wins, because
    a model told to answer with a number puts it first. No number -> EditorError.
    """
    if not isinstance(answer, str):
        raise EditorError(
            explain(
                source,
                expected="a text answer",
                got=f"{type(answer).__name__}: {answer!r}"[:200],
                fix="Check the counter's ask function returns str.",
            )
        )
    candidates: list[tuple[int, int]] = []  # (position, value)
    digits = _DIGITS.search(answer)
    if digits:
        candidates.append((digits.start(), int(digits.group().replace(",", ""))))
    words = _WORD_NUMBER.search(answer)
    if words:
        candidates.append((words.start(), _word_value(words)))
    if noun:
        stem = re.escape(noun.lower().rstrip("s"))
        no = re.search(rf"\bno\s+(?:\w+\s+)?{stem}", answer, re.IGNORECASE)
        if no:
            candidates.append((no.start(), 0))
    if not candidates:
        raise EditorError(
            explain(
                source,
                expected="an answer containing a number (digits or words)",
                got=repr(answer[:200]),
                fix="The model did not answer with a count; rerun, or use a stricter question or another counter.",
            )
        )
    return min(candidates)[1]


def _word_value(match: re.Match[str]) -> int:
    def units(word: str | None) -> int:
        return 0 if word is None else _UNITS[" ".join(word.lower().split())]

    def tens_phrase(text: str) -> int:
        parts = re.split(r"[\s-]+", text.lower().strip(), maxsplit=1)
        if parts[0] in _TENS:
            return _TENS[parts[0]] + (units(parts[1]) if len(parts) > 1 else 0)
        return units(text)

    if match.group("hundreds") is not None:
        h = match.group("hundreds").lower()
        base = 1 if h == "a" else units(h)
        rest = match.group("rest")
        return base * 100 + (tens_phrase(rest) if rest else 0)
    if match.group("tens") is not None:
        return _TENS[match.group("tens").lower()] + units(match.group("unit"))
    return units(match.group("single"))
