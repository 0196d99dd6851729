"""Free, deterministic editors: a perfect replica, and one simulator per failure the study saw.

Every simulator first applies the task's faithful edit (`Task.ideal_edit`) and then its
one failure, so a simulator run on any task fails in exactly one, known way. They are
the suite's known answers: `identity` must pass every fidelity check (positive
control), and each `sim-*` must trip the checks in its `trips` and no other. Where a
seed gives a failure nothing to act on (a median filter on flat cartoon colours), the
simulator says so in `inert_on`, with the reason; tests/test_editor_controls.py holds
every simulator to this declaration on the editor audit's cases.

Rules every simulator keeps, because chains are resumed in fresh processes:
- the output depends only on (input image, prompt, seed, step): randomness comes from
  `numpy.random.default_rng([seed, step])`, and there is no memory between calls (state
  such as "how many apples are on the table" is a function of the step number);
- strengths are set in image-relative units (grey levels, fractions of the short side),
  so a failure looks the same on a 256 px test image and a 2K seed;
- outputs are `Image(pixels)` without `encoded`: the store writes a lossless PNG, so the
  simulated failure is the only loss.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, ClassVar, Mapping

import numpy as np

from iqa_audit.core.errors import ConfigError, explain
from iqa_audit.core.images import Image
from iqa_audit.core.lazy import LazyModule
from iqa_audit.tasks.table import Task, task_for_prompt
from iqa_audit.editors.base import EditorEntry, EditResult

ndimage = LazyModule("scipy.ndimage")  # imported on the first simulated step, not at registration


def _check_seed(seed: int, editor: str) -> None:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(
            explain(
                f"{editor} seed",
                expected="an integer >= 0 (the chain's run number)",
                got=repr(seed),
                fix="Pass seed=run, as the chain builder does.",
            )
        )


def _positive(editor: str, name: str, value: Any, *, integer: bool = False, minimum: float = 0.0) -> None:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and value >= minimum
    if integer:
        ok = ok and float(value).is_integer()
    if not ok:
        kind = "an integer" if integer else "a number"
        raise ConfigError(
            explain(
                f"{editor} parameter {name}",
                expected=f"{kind} >= {minimum:g}",
                got=repr(value),
                fix=f"Write e.g. {editor}:{name}=<value>, or leave it at its default.",
            )
        )


def _luma(pixels: np.ndarray) -> np.ndarray:
    p = pixels.astype(np.float32)
    return 0.299 * p[..., 0] + 0.587 * p[..., 1] + 0.114 * p[..., 2]


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


class _Simulator:
    """Shared plumbing: resolve the task, do the faithful edit, then `fail`."""

    id: ClassVar[str]
    version: ClassVar[str] = "1"
    paid: ClassVar[bool] = False
    # The fidelity checks (iqa_audit.fidelity.CHECKS) this failure trips wherever the
    # check applies to the task, and the only ones it may trip.
    trips: ClassVar[frozenset[str]] = frozenset()
    # {seed name: why}: seeds without the material this failure acts on; there it
    # trips nothing, the checks in `trips` included.
    inert_on: ClassVar[Mapping[str, str]] = MappingProxyType({})

    def params(self) -> Mapping[str, Any]:
        return {}

    def edit(self, image: Image, prompt: str, *, seed: int, step: int) -> EditResult:
        task = task_for_prompt(prompt)
        _check_seed(seed, self.id)
        task.prompt(step)  # validates the step (an integer >= 1) with the task's own message
        # One generator per (seed, step): a resumed chain draws the same numbers.
        rng = np.random.default_rng([int(seed), int(step)])
        pixels, meta = self.fail(image, task, step, rng, seed=int(seed))
        return EditResult(Image(np.ascontiguousarray(pixels)), reasoning=None, meta={"task": task.name, **meta})

    def fail(
        self, image: Image, task: Task, step: int, rng: np.random.Generator, *, seed: int
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """The failure: pixels after the faithful edit plus the simulated fault, and meta."""
        raise NotImplementedError


@dataclass(frozen=True)
class Identity(_Simulator):
    """The perfect editor: the task's faithful edit and nothing else.

    Positive control: every fidelity check must pass on it, and every metric gap on its
    replicate chains is exactly 0 (the pixels never change).
    """

    id: ClassVar[str] = "identity"

    def fail(self, image, task, step, rng, *, seed):
        return task.ideal_edit(image, step).pixels, {}


@dataclass(frozen=True)
class NoiseTint(_Simulator):
    """Accumulating static noise plus a green tint (the study's most common artifact).

    Observation: replicas grow grainier and greener with every step. Model: luma noise
    (the same value on R, G and B, so it adds grain without adding saturated colour)
    whose accumulated standard deviation is `sigma_per_step` x step grey levels, plus
    G + `tint_per_step` and R, B - half of it per step.
    Trips: replication fidelity (SSIM to the seed falls) and the green-magenta tint
    check. Leaves aspect ratio and object counts alone, and the palette: the colour
    check discounts the global cast the tint check reports, and noise leaves every
    region's colour where it was. On a monochrome chain each step's faithful edit greys
    the image again, so only one step's tint (C*ab about 1) shows: still grey.
    """

    sigma_per_step: float = 1.5
    tint_per_step: float = 1.0
    id: ClassVar[str] = "sim-noise-tint"
    trips: ClassVar[frozenset[str]] = frozenset({"replication", "tint"})

    def __post_init__(self) -> None:
        _positive(self.id, "sigma_per_step", self.sigma_per_step)
        _positive(self.id, "tint_per_step", self.tint_per_step)

    def params(self):
        return {"sigma_per_step": self.sigma_per_step, "tint_per_step": self.tint_per_step}

    def fail(self, image, task, step, rng, *, seed):
        px = task.ideal_edit(image, step).pixels
        # Independent noise adds in variance: this step's share makes the total after
        # `step` steps sigma_per_step * step.
        sigma = self.sigma_per_step * np.sqrt(2 * step - 1)
        noise = rng.normal(0.0, sigma, size=px.shape[:2] + (1,)).astype(np.float32)
        tint = np.array([-self.tint_per_step / 2, self.tint_per_step, -self.tint_per_step / 2], np.float32)
        return _to_uint8(px.astype(np.float32) + noise + tint), {"sigma": round(float(sigma), 4)}


@dataclass(frozen=True)
class GrainTint(_Simulator):
    """Model-like static noise plus a green tint: band-limited grain that accumulates.

    Observation: Nano Banana Pro's replicas fill with static noise and turn green, and
    BRISQUE scores them *better* step after step (34.1 on the clean image, -9.8 after 20
    replications, the study's Figure 1). White noise cannot reproduce that: it is what
    BRISQUE's LIVE training set holds, and the metric notices it (`sim-noise-tint`, the
    control). Generative re-synthesis leaves grain that is spatially correlated and
    band-limited, strongest in mid-tones, and re-drawn on every pass.
    Model: each step adds a difference of Gaussians of white noise (sigma `fine_px` minus
    sigma `coarse_px`, in pixels: a band of about 1/(2 pi coarse) to 1/(2 pi fine)
    cycles/px), scaled to `sigma_per_step` grey levels and weighted by luminance Y in
    [0, 1] as 0.35 + 2.6 Y (1 - Y) (1.0 at mid-grey, 0.35 at black and white), plus
    G + `tint_per_step` and R, B - half of it. Fresh noise each step, so the grain's
    standard deviation grows as sqrt(step).
    Parameters, measured with the LIVE BRISQUE (pyiqa 0.1.16) and PIQE on the 13
    procedural seeds at 512 px, 2 runs, 20 steps, the study's sign rule:
    - band 1.0-3.0 px: at 2.0 grey levels a step BRISQUE was fooled on 12 of 13 seeds and
      PIQE on 13; a finer band (0.7-2.0 px) still fools BRISQUE on 13 but PIQE notices
      it on 11; white noise (the control) is noticed by both on 12;
    - 2.2 grey levels a step: the least that trips the replication check (SSIM to the
      seed < 0.9) on every editor-audit case after 10 steps at 384 px (2.0 left
      grid-perspective at 0.905); BRISQUE fooled on 9 of 13, PIQE on 13, SSIM to step 1 at
      step 20 0.62-0.89 (visible). 3.0 brings PIQE to noticing 4 of 13;
    - tint 0.5 a step: G +10 after 20 steps, a slight green cast that the tint check
      reports (magnitude about 5 CIELAB units after 10 steps).
    Trips: replication fidelity and tint, like `sim-noise-tint`; aspect ratio, counts and
    the palette hold.
    """

    sigma_per_step: float = 2.2
    fine_px: float = 1.0
    coarse_px: float = 3.0
    tint_per_step: float = 0.5
    id: ClassVar[str] = "sim-grain-tint"
    trips: ClassVar[frozenset[str]] = frozenset({"replication", "tint"})

    def __post_init__(self) -> None:
        for name in ("sigma_per_step", "tint_per_step"):
            _positive(self.id, name, getattr(self, name))
        _positive(self.id, "fine_px", self.fine_px, minimum=0.3)
        if not (isinstance(self.coarse_px, (int, float)) and self.coarse_px > self.fine_px):
            raise ConfigError(
                explain(
                    f"{self.id} parameter coarse_px",
                    expected=f"a number above fine_px ({self.fine_px}): the band lies between the two",
                    got=repr(self.coarse_px),
                    fix=f"Write e.g. {self.id}:fine_px=1.0,coarse_px=3.0.",
                )
            )

    def params(self):
        return {
            "sigma_per_step": self.sigma_per_step,
            "fine_px": self.fine_px,
            "coarse_px": self.coarse_px,
            "tint_per_step": self.tint_per_step,
        }

    def fail(self, image, task, step, rng, *, seed):
        px = task.ideal_edit(image, step).pixels.astype(np.float32)
        white = rng.standard_normal(px.shape[:2], dtype=np.float32)
        band = ndimage.gaussian_filter(white, self.fine_px) - ndimage.gaussian_filter(white, self.coarse_px)
        band *= self.sigma_per_step / (float(band.std()) + 1e-12)
        y = _luma(px) / 255.0
        grain = band * (0.35 + 2.6 * y * (1.0 - y))
        tint = np.array([-self.tint_per_step / 2, self.tint_per_step, -self.tint_per_step / 2], np.float32)
        return _to_uint8(px + grain[..., None] + tint), {"grain_sd": round(float(grain.std()), 4)}


@dataclass(frozen=True)
class Scatter(_Simulator):
    """Scatter points: small bright and dark specks, more each step, on objects and edges.

    Observation: isolated bright/dark dots appear on objects and along edges and
    multiply. Model: step k adds `density` x k x (area / speck area) neutral specks
    (white-ish or black-ish, equal R=G=B so they add no colour blob), placed with
    probability proportional to the local gradient, so they gather on edges and on
    previous specks. Speck size is ~1/250 of the short side.
    Trips: replication fidelity. Leaves aspect ratio, counts, palette and tint alone
    (the specks are grey: an object counter must read a speck on an apple as a hole in
    the apple, not as a cut through it).
    """

    density: float = 0.0008
    id: ClassVar[str] = "sim-scatter"
    trips: ClassVar[frozenset[str]] = frozenset({"replication"})

    def __post_init__(self) -> None:
        _positive(self.id, "density", self.density)

    def params(self):
        return {"density": self.density}

    def fail(self, image, task, step, rng, *, seed):
        px = task.ideal_edit(image, step).pixels.copy()
        h, w = px.shape[:2]
        size = max(1, int(round(min(h, w) / 250)))
        n = int(round(self.density * step * h * w / size**2))
        if n == 0:
            return px, {"specks": 0}
        luma = _luma(px)
        grad = np.hypot(ndimage.sobel(luma, 0), ndimage.sobel(luma, 1))
        # A floor of 5 % of the mean keeps a few specks on flat areas too.
        weight = grad + 0.05 * (grad.mean() + 1.0)
        flat = rng.choice(h * w, size=n, p=(weight / weight.sum()).ravel())
        ys, xs = np.divmod(flat, w)
        bright = rng.random(n) < 0.5
        values = np.where(bright, rng.integers(225, 256, n), rng.integers(0, 31, n)).astype(np.uint8)
        for dy in range(size):
            for dx in range(size):
                px[np.minimum(ys + dy, h - 1), np.minimum(xs + dx, w - 1)] = values[:, None]
        return px, {"specks": n}


@dataclass(frozen=True)
class Wrinkles(_Simulator):
    """Wrinkles along contours: a ripple that displaces pixels near strong edges.

    Observation: contours acquire wavy wrinkles that deepen with each step. Model: a
    sinusoidal displacement field (wavelength 1/20 of the short side) weighted by a
    blurred map of the current edges, `amplitude_per_step` of the short side per step.
    Its phase depends on the chain's seed only, not the step, and it is laid out in the
    seed's frame (the task's mirror or rotation undone, the ripple applied, the
    transform redone), so successive steps push the same contours the same way and the
    wrinkles deepen coherently (about step x amplitude after `step` steps) on every
    task; laid out in the output's frame, a mirror chain would undo every other step's
    horizontal ripple.
    Resampling is cubic, not bilinear: a bilinear warp repeated every step is also a
    blur (each fractional shift averages two pixels), which after 10 steps at 512 px
    smeared the 2-3 px black outlines of the flat-cartoon seed into grey, a
    texture-loss failure the study did not attribute to wrinkles.
    Trips: replication fidelity. Objects stay one blob each and outlines keep their
    colour, so counts, palette, tint and aspect ratio hold.
    """

    amplitude_per_step: float = 0.0015
    id: ClassVar[str] = "sim-wrinkles"
    version: ClassVar[str] = "2"  # 2: cubic resampling, ripple in the seed's frame
    trips: ClassVar[frozenset[str]] = frozenset({"replication"})

    def __post_init__(self) -> None:
        _positive(self.id, "amplitude_per_step", self.amplitude_per_step)

    def params(self):
        return {"amplitude_per_step": self.amplitude_per_step}

    def fail(self, image, task, step, rng, *, seed):
        framed = task.ideal_edit(image, step).pixels
        px = _to_seed_frame(framed, task.transform, step)
        h, w = px.shape[:2]
        short = min(h, w)
        luma = ndimage.gaussian_filter(_luma(px), 1.0)
        edges = np.hypot(ndimage.sobel(luma, 0), ndimage.sobel(luma, 1))
        scale = np.percentile(edges, 99) + 1e-6
        weight = ndimage.gaussian_filter(np.clip(edges / scale, 0, 1), max(1.0, short / 150))
        weight /= weight.max() + 1e-6
        amplitude = self.amplitude_per_step * short
        wavelength = max(4.0, short / 20)
        phase = np.random.default_rng([seed]).uniform(0, 2 * np.pi, 2)  # per chain, see docstring
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        dx = amplitude * weight * np.sin(2 * np.pi * yy / wavelength + phase[0])
        dy = amplitude * weight * np.sin(2 * np.pi * xx / wavelength + phase[1])
        coords = [yy + dy, xx + dx]
        out = np.stack(
            [ndimage.map_coordinates(px[..., c].astype(np.float32), coords, order=3, mode="nearest") for c in range(3)], axis=-1
        )
        return _from_seed_frame(_to_uint8(out), task.transform, step), {"amplitude_px": round(float(amplitude), 4)}


def _to_seed_frame(pixels: np.ndarray, transform: str, step: int) -> np.ndarray:
    """Undo `step` applications of the task's transform (mirror, rotate90 clockwise)."""
    if transform == "mirror" and step % 2:
        return np.ascontiguousarray(pixels[:, ::-1])
    if transform == "rotate90":
        return np.ascontiguousarray(np.rot90(pixels, k=step % 4))  # counter-clockwise
    return pixels


def _from_seed_frame(pixels: np.ndarray, transform: str, step: int) -> np.ndarray:
    """Redo `step` applications of the task's transform: the inverse of _to_seed_frame."""
    if transform == "mirror" and step % 2:
        return np.ascontiguousarray(pixels[:, ::-1])
    if transform == "rotate90":
        return np.ascontiguousarray(np.rot90(pixels, k=-(step % 4)))
    return pixels


@dataclass(frozen=True)
class TextureLoss(_Simulator):
    """Texture simplification: edge-preserving smoothing that grows stronger each step.

    Observation: fine textures (grass, fabric, particles, grids) flatten into smooth
    patches while object outlines survive. Model: a per-channel median filter (keeps
    edges, removes detail smaller than its window) of width 3 on steps 1-3, 5 on
    steps 4-7 and 7 from step 8 on a 768 px short side (the default 1024x768 render),
    scaled with the short side and by `strength`, never below 3, so the failure looks the
    same at every size. At the quick profile's 512 px (short side 341-384) strength 1
    stays a 3-wide median, which converges: on smooth seeds (smooth-gradient,
    deep-shadows) nothing visible changes after step 1. The Qwen-Image-Edit-like setting
    uses strength 2 (editors/families.py), widening to 5 and 7 as the study's texture
    simplification progressed.
    Trips: replication fidelity (fine-texture energy and SSIM fall). Leaves aspect
    ratio, counts, palette and tint alone.
    """

    strength: float = 1.0
    id: ClassVar[str] = "sim-texture-loss"
    trips: ClassVar[frozenset[str]] = frozenset({"replication"})
    inert_on: ClassVar[Mapping[str, str]] = MappingProxyType(
        {
            "flat-cartoon": "flat colour regions and clean outlines: no fine texture for a median filter to remove "
            "(SSIM stays above 0.99 after 10 steps)"
        }
    )

    def __post_init__(self) -> None:
        _positive(self.id, "strength", self.strength, minimum=0.1)

    def params(self):
        return {"strength": self.strength}

    def fail(self, image, task, step, rng, *, seed):
        from skimage.filters.rank import median  # histogram-based: fast for uint8 and wide windows

        px = task.ideal_edit(image, step).pixels
        base = 3 if step <= 3 else 5 if step <= 7 else 7
        scaled = base * self.strength * min(px.shape[:2]) / 768
        size = max(3, 2 * int(np.floor((scaled - 1) / 2 + 0.5)) + 1)  # nearest odd width, halves up
        footprint = np.ones((size, size), dtype=bool)
        out = np.stack([median(np.ascontiguousarray(px[..., c]), footprint) for c in range(3)], axis=-1)
        return out, {"median_size": size}


@dataclass(frozen=True)
class Crop(_Simulator):
    """First-step aspect-ratio crop, faithful afterwards.

    Observation: at 2K the editor returned 2816x1504 for a 5632x3072 seed: 0.545 ->
    0.534, about 2 % of the height cropped, on the first step only. Model: on step 1
    remove `crop_fraction` of the rows, split evenly top and bottom (the extra row,
    if any, from the bottom), keeping the width; every later step is faithful.
    Trips: aspect ratio only (what remains is pixel-exact).
    """

    crop_fraction: float = 32 / 1536  # 2816x1536 -> 2816x1504
    id: ClassVar[str] = "sim-crop"
    trips: ClassVar[frozenset[str]] = frozenset({"aspect_ratio"})

    def __post_init__(self) -> None:
        _positive(self.id, "crop_fraction", self.crop_fraction)
        if self.crop_fraction >= 0.5:
            raise ConfigError(
                explain(
                    f"{self.id} crop_fraction",
                    expected="a fraction below 0.5",
                    got=repr(self.crop_fraction),
                    fix="The study's crop was about 0.02.",
                )
            )

    def params(self):
        return {"crop_fraction": self.crop_fraction}

    def fail(self, image, task, step, rng, *, seed):
        px = task.ideal_edit(image, step).pixels
        if step != 1:
            return px, {"cropped_rows": 0}
        rows = crop_rows(px.shape[0], self.crop_fraction)
        top = rows // 2
        return px[top : px.shape[0] - (rows - top)], {"cropped_rows": rows}


def crop_rows(height: int, fraction: float) -> int:
    """Rows `sim-crop` removes from an image `height` rows high (at least 1 when fraction > 0)."""
    return min(height - 1, max(1 if fraction > 0 else 0, int(round(height * fraction))))


@dataclass(frozen=True)
class Palette(_Simulator):
    """Palette simplification: distinct colours collapse onto the two dominant hues.

    Observation: in the 3x3 face grid, eyes painted in 4 colours ended in 2 colours
    within 5 steps. Model: find the two dominant hue clusters among saturated pixels
    (hue histogram peaks at least 40 degrees apart), then move every saturated pixel's
    hue toward the nearer of the two by the fraction that makes the collapse complete
    at step `collapse_steps` (1/5, then 1/4 of what is left, ..., then all); saturation
    and value stay, neutral pixels are untouched.
    Trips: the colour check ("colours lost"). Leaves aspect ratio, counts and the tint
    of neutral areas alone.
    """

    collapse_steps: int = 5
    id: ClassVar[str] = "sim-palette"
    trips: ClassVar[frozenset[str]] = frozenset({"colours"})
    inert_on: ClassVar[Mapping[str, str]] = MappingProxyType(
        {
            "grid-perspective": "its saturated pixels have two hues only, brick red and sky blue, which are the two "
            "dominant hues the collapse converges on: there is nothing to collapse"
        }
    )

    def __post_init__(self) -> None:
        _positive(self.id, "collapse_steps", self.collapse_steps, integer=True, minimum=1)

    def params(self):
        return {"collapse_steps": self.collapse_steps}

    def fail(self, image, task, step, rng, *, seed):
        from skimage.color import hsv2rgb, rgb2hsv

        px = task.ideal_edit(image, step).pixels
        hsv = rgb2hsv(px)
        hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
        # Colourfulness weight: 0 for greys, browns and near-black, 1 for vivid colour.
        colourful = np.clip((sat - 0.15) / 0.15, 0, 1) * np.clip((val - 0.1) / 0.1, 0, 1)
        targets = dominant_hues(hue, colourful, count=2)
        if not targets:
            return px, {"targets": []}
        fraction = 1.0 if step >= self.collapse_steps else 1.0 / (self.collapse_steps - step + 1)
        tgt = np.asarray(targets)
        deltas = (tgt[None, None, :] - hue[..., None] + 0.5) % 1.0 - 0.5  # signed circular distance
        nearest = np.take_along_axis(deltas, np.abs(deltas).argmin(axis=-1)[..., None], axis=-1)[..., 0]
        moving = colourful > 0
        new_hsv = hsv.copy()
        new_hsv[..., 0] = (hue + fraction * colourful * nearest) % 1.0
        out = px.copy()
        out[moving] = _to_uint8(hsv2rgb(new_hsv)[moving] * 255.0)
        return out, {"targets": [round(float(t) * 360, 1) for t in targets]}


def dominant_hues(
    hue: np.ndarray, weight: np.ndarray, *, count: int = 2, bins: int = 36, min_separation_deg: float = 40
) -> list[float]:
    """Up to `count` hue peaks (in [0, 1)) of the weighted hue histogram, at least
    `min_separation_deg` apart; each refined to the circular mean of its +-1 bin."""
    total = float(weight.sum())
    if total <= 0:
        return []
    hist = np.bincount((hue.ravel() * bins).astype(int) % bins, weights=weight.ravel(), minlength=bins)
    sep = int(np.ceil(min_separation_deg / (360 / bins)))
    peaks: list[int] = []
    for b in np.argsort(-hist, kind="stable"):
        if hist[b] <= 0.01 * total or len(peaks) == count:
            break
        if all(min((b - p) % bins, (p - b) % bins) >= sep for p in peaks):
            peaks.append(int(b))
    result = []
    for p in peaks:
        near = np.abs(((hue * bins - (p + 0.5)) + bins / 2) % bins - bins / 2) <= 1.5
        wts = weight * near
        angle = np.arctan2((wts * np.sin(2 * np.pi * hue)).sum(), (wts * np.cos(2 * np.pi * hue)).sum())
        result.append(float((angle / (2 * np.pi)) % 1.0))
    return result


@dataclass(frozen=True)
class Apples(_Simulator):
    """Add-apples counting failure: adds one per step, stalls, then adds a whole row.

    Observation: the editor added one apple per step up to about 7, then added nothing
    for a few steps, then a whole row at once. Model (as a function of the step, so no
    memory is needed): objects on the table after step k = k up to `stall_at`, then
    `stall_at` for `stall_steps` steps, then `burst` at once, then one per step again.
    On tasks that add nothing it is the identity.
    Trips: object count (behind expected while stalled, ahead after the burst).
    """

    stall_at: int = 7
    stall_steps: int = 3
    burst: int = 5
    id: ClassVar[str] = "sim-apples"
    trips: ClassVar[frozenset[str]] = frozenset({"object_count"})

    def __post_init__(self) -> None:
        for name in ("stall_at", "stall_steps", "burst"):
            _positive(self.id, name, getattr(self, name), integer=True, minimum=1)

    def params(self):
        return {"stall_at": self.stall_at, "stall_steps": self.stall_steps, "burst": self.burst}

    def objects_after(self, step: int) -> int:
        if step <= self.stall_at:
            return step
        if step <= self.stall_at + self.stall_steps:
            return self.stall_at
        return self.stall_at + self.burst + (step - self.stall_at - self.stall_steps - 1)

    def fail(self, image, task, step, rng, *, seed):
        if not task.adds_objects:
            return task.ideal_edit(image, step).pixels, {"added": 0}
        out = image
        before, after = self.objects_after(step - 1), self.objects_after(step)
        for slot in range(before + 1, after + 1):
            out = task.place_object(out, slot=slot, step=step)
        return out.pixels, {"added": after - before, "objects": after}


@dataclass(frozen=True)
class FruitsReplace(_Simulator):
    """Add-fruits replacement: every `every`-th step repaints an existing fruit instead of adding.

    Observation: asked to add a new fruit, the editor replaced one already on the table
    with it. Model: on steps divisible by `every`, the step's fruit is drawn over a
    randomly chosen existing one (same slot, same size, so it covers it); on the other
    steps it is added at the next free slot. Objects after step k = k - k // every.
    On tasks that add nothing it is the identity.
    Trips: object count (falls further behind expected every `every` steps).
    """

    every: int = 3
    id: ClassVar[str] = "sim-fruits-replace"
    trips: ClassVar[frozenset[str]] = frozenset({"object_count"})

    def __post_init__(self) -> None:
        _positive(self.id, "every", self.every, integer=True, minimum=2)

    def params(self):
        return {"every": self.every}

    def objects_after(self, step: int) -> int:
        return step - step // self.every

    def fail(self, image, task, step, rng, *, seed):
        if not task.adds_objects:
            return task.ideal_edit(image, step).pixels, {"replaced": None}
        existing = self.objects_after(step - 1)
        if step % self.every == 0:
            slot = int(rng.integers(1, existing + 1))
            return task.place_object(image, slot=slot, step=step).pixels, {"replaced": slot, "objects": existing}
        return task.place_object(image, slot=existing + 1, step=step).pixels, {"replaced": None, "objects": existing + 1}


@dataclass(frozen=True)
class Sepia(_Simulator):
    """Monochrome that is not grey: asked for black and white, the editor returns a sepia tone.

    Observation: the study's monochrome outputs were not grey. Model: on tasks that ask
    for grey (monochrome), the faithful grey image with R x (1 + `tone`), G unchanged,
    B x (1 - 1.5 `tone`) (a warm cast, C*ab about 8 at mid-grey for the default); on every
    other task the faithful edit.
    Trips: the monochrome check only (the grey levels, the size and the layout stay).
    """

    tone: float = 0.06
    id: ClassVar[str] = "sim-sepia"
    trips: ClassVar[frozenset[str]] = frozenset({"monochrome"})

    def __post_init__(self) -> None:
        _positive(self.id, "tone", self.tone)
        if self.tone >= 0.5:
            raise ConfigError(
                explain(
                    f"{self.id} tone",
                    expected="a fraction below 0.5",
                    got=repr(self.tone),
                    fix="A sepia tone is a few per cent: e.g. tone=0.06.",
                )
            )

    def params(self):
        return {"tone": self.tone}

    def fail(self, image, task, step, rng, *, seed):
        px = task.ideal_edit(image, step).pixels
        if task.recolour != "grey":
            return px, {"toned": False}
        gain = np.array([1 + self.tone, 1.0, 1 - 1.5 * self.tone], np.float32)
        return _to_uint8(px.astype(np.float32) * gain), {"toned": True}


@dataclass(frozen=True)
class NoColour(_Simulator):
    """Colourisation that does not happen: asked to colourise, the editor returns the grey input.

    Observation: colour is the point of the reconstruction step, and an editor that
    replicates instead leaves the image grey. Model: on tasks that colourise (colorize)
    the input unchanged; on every other task the faithful edit.
    Trips: the colour-returns check only.
    """

    id: ClassVar[str] = "sim-no-colour"
    trips: ClassVar[frozenset[str]] = frozenset({"colour_returns"})

    def fail(self, image, task, step, rng, *, seed):
        if task.recolour == "colourise":
            return image.pixels, {"coloured": False}
        return task.ideal_edit(image, step).pixels, {"coloured": None}


@dataclass(frozen=True)
class NoTransform(_Simulator):
    """Mirroring and rotation that do not happen: the editor returns the previous step unchanged.

    Observation: the study's editors had low success rates for mirroring and 90 degree
    rotation. Model: on tasks that mirror or rotate, the input unchanged (every step
    missed); on every other task the faithful edit.
    Trips: the transform-steps check only, on mirror chains of an even number of steps
    and rotate90 chains of a multiple of 4 (the editor audit's 10 and 20 mirror steps):
    there a faithful chain ends where it started, as this one does, so the end-state
    checks (aspect ratio, colours, tint, replication) pass and only the per-step check
    can see the failure. Other lengths also fail replication.
    """

    id: ClassVar[str] = "sim-no-transform"
    trips: ClassVar[frozenset[str]] = frozenset({"transform_steps"})

    def fail(self, image, task, step, rng, *, seed):
        if task.transform != "none":
            return image.pixels, {"transformed": False}
        return task.ideal_edit(image, step).pixels, {"transformed": None}


SIMULATORS: tuple[type[_Simulator], ...] = (
    Identity,
    NoiseTint,
    GrainTint,
    Scatter,
    Wrinkles,
    TextureLoss,
    Crop,
    Palette,
    Apples,
    FruitsReplace,
    Sepia,
    NoColour,
    NoTransform,
)


def _entry(cls: type[_Simulator]) -> EditorEntry:
    """A simulator's table row: its dataclass fields are its parameters, its docstring's
    first line its summary."""
    defaults = {f.name: f.default for f in fields(cls)}  # type: ignore[arg-type]
    summary = (cls.__doc__ or cls.id).strip().splitlines()[0]
    return EditorEntry.of(cls.id, cls, summary=summary, **defaults)


EDITORS: tuple[EditorEntry, ...] = tuple(_entry(cls) for cls in SIMULATORS)
