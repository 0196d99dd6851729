"""Simulated failures to do what the prompt asked: a crop, collapsed colours, wrong counts, sepia, no colour, no transform."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar, Mapping

import numpy as np

from iqa_audit.core.errors import ConfigError, explain
from iqa_audit.editors.simulator_base import _positive, _Simulator, _to_uint8


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
