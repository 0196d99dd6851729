"""Simulated image artifacts, each growing step by step: noise and tint, grain, specks, wrinkles, lost texture."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar, Mapping

import numpy as np

from iqa_audit.core.errors import ConfigError, explain
from iqa_audit.core.lazy import LazyModule
from iqa_audit.editors.simulator_base import _luma, _positive, _Simulator, _to_uint8

ndimage = LazyModule("scipy.ndimage")  # imported on the first simulated step, not at registration


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
