"""The drawing toolkit of the procedural seeds, and the `Scene` spec each painter fills in.

Every function here is pure: randomness comes from explicit (seed, tag) streams (`rng`),
coordinates are in image-width units (`coords`), so a scene is the same picture at every
render size. Colours are float RGB in [0, 1]; arrays are (h, w) or (h, w, 3) float32.
The painters live in `scenes_surfaces`, `scenes_light` and `scenes_figures`; the catalogue
(`iqa_audit.seeds`) lists their `SCENES` tables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image as PILImage

from iqa_audit.core.lazy import LazyModule

ndi = LazyModule("scipy.ndimage")  # ~0.6 s to import; collection and warm runs render no seed

# The study's 4K output, 5632x3072: height / width = 0.545.
STUDY_ASPECT = 3072 / 5632


@dataclass(frozen=True)
class Camera:
    """The optics and sensor a procedural scene is photographed through, so that it is a
    natural image to a natural-scene-statistics metric.

    A painter's output is a perfect rendering: flat areas hold no signal at all and edges
    are as sharp as the supersampling makes them. BRISQUE (with its authors' LIVE model)
    scored such renders 58-154 at 512 px (empty-table 153.5, smooth-gradient 94.1), far
    outside the 0-41 that the study's clean seeds scored (Banana100: -3.18 to 41.1), and one
    noise step moved some by 60+ points: an audit on them measured the render, not the
    degradation. The finish, in order:
    - `blur_px`: a Gaussian optical point-spread function, sigma in pixels of the render;
    - `texture`: multiplicative 1/f surface texture (albedo variation: fractal value noise
      from 1/32 of the width down to 2 px, equal amplitude per octave), its standard deviation as a fraction of
      the intensity;
    - `grain`: additive luminance sensor noise, standard deviation in grey levels (0-255).
    Defaults measured on the 13 scenes at 512 px with pyiqa 0.1.16's BRISQUE and the LIVE
    model: 0.9 px, 0.08, 1.5 put 9 of them inside the study's range; the four scenes that
    set their own camera say which value they needed and why (`SCENES` tables): 12 of the
    13 score within -3.2 to 41.1 (+-5), flat-cartoon stays a flat render.
    """

    blur_px: float = 0.9
    texture: float = 0.08
    grain: float = 1.5


NO_CAMERA = Camera(blur_px=0.0, texture=0.0, grain=0.0)  # the render itself, pixel for pixel


def photograph(img: np.ndarray, seed: int, camera: Camera) -> np.ndarray:
    """A painter's float (h, w, 3) image in [0, 1] through `camera`: blur, texture, grain."""
    h, w = img.shape[:2]
    out = ndi.gaussian_filter(img, (camera.blur_px, camera.blur_px, 0)) if camera.blur_px > 0 else img
    if camera.texture > 0:
        # From 32 cells across the width down to 2 px, every octave at the same amplitude:
        # fine surface grain, not blotches (8 cells gave the same BRISQUE but visible mottling).
        surface = fbm(seed, 777, h, w, 32, 12, gain=1.0)
        surface /= float(surface.std()) + 1e-9
        out = out * (1.0 + camera.texture * surface[..., None])
    if camera.grain > 0:
        out = out + rng(seed, 778).standard_normal((h, w, 1), dtype=np.float32) * (camera.grain / 255.0)
    return out.astype(np.float32, copy=False)


@dataclass(frozen=True)
class Scene:
    """One procedural seed: its name, the Table 1 challenge it stresses, and its painter.

    `draw(h, w, rng_seed)` returns float (h, w, 3) in [0, 1] (dithered to uint8 by the
    catalogue, after `photograph` through `camera`). `aspect` is height / width. `meta` goes
    into `Seed.meta` (e.g. the empty table's `placement_box`, the faces' `eye_samples`).
    Bump `version` whenever the drawing or the camera changes, so chains cached from the
    old pixels are not reused (v2: every scene photographed through a `Camera`).
    """

    name: str
    challenge: str
    aspect: float  # height / width
    rng_seed: int
    draw: Callable[[int, int, int], np.ndarray]  # (h, w, seed) -> float (h, w, 3) in [0, 1]
    version: str = "v2"
    meta: Mapping[str, Any] = field(default_factory=dict)
    camera: Camera = Camera()


def rng(seed: int, *tags: int) -> np.random.Generator:
    """An independent stream per (seed, tag...): skipping one draw never shifts another."""
    return np.random.default_rng([seed, *tags])


def coords(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in width units: x in (0, 1), y in (0, h/w); broadcastable."""
    x = ((np.arange(w, dtype=np.float32) + 0.5) / w)[None, :]
    y = ((np.arange(h, dtype=np.float32) + 0.5) / w)[:, None]
    return x, y


def fbm(seed: int, tag: int, h: int, w: int, cells: float, octaves: int, gain: float = 0.5, aniso: float = 1.0) -> np.ndarray:
    """Fractal sum of value-noise octaves in about [-1, 1]; `aniso` stretches cells along x.

    Built as a pyramid: each octave's random grid is added to the sum so far, upsampled
    to that grid's size, so only the final upsample is full-resolution (the cost of one
    octave, not `octaves`). Octaves finer than ~2 px are skipped (render-size aware).
    """
    acc: np.ndarray | None = None
    total = 0.0
    for k in range(octaves):
        c = cells * 2**k
        amp = gain**k
        total += amp
        if c > w / 2 and acc is not None:
            continue
        cx = max(2, round(c))
        cy = max(2, round(c * h / w * aniso))
        grid = rng(seed, tag * 100 + k, cx, cy).uniform(-amp, amp, (cy, cx)).astype(np.float32)
        if acc is not None:
            grid += np.asarray(PILImage.fromarray(acc, mode="F").resize((cx, cy), PILImage.Resampling.BICUBIC))
        acc = grid
    assert acc is not None
    out = np.asarray(PILImage.fromarray(acc, mode="F").resize((w, h), PILImage.Resampling.BICUBIC))
    return out / total


def vnoise_at(seed: int, tag: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Value noise evaluated at arbitrary coordinates (in cells), tiling every 256 cells.

    For warped or perspective domains, where a regular upsampled grid does not fit.
    """
    table = rng(seed, tag).uniform(-1.0, 1.0, (256, 256)).astype(np.float32)
    xf, yf = np.floor(x), np.floor(y)
    fx, fy = (x - xf).astype(np.float32), (y - yf).astype(np.float32)
    xi, yi = xf.astype(np.int64) & 255, yf.astype(np.int64) & 255
    x1, y1 = (xi + 1) & 255, (yi + 1) & 255
    sx, sy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
    top = table[yi, xi] + (table[yi, x1] - table[yi, xi]) * sx
    bot = table[y1, xi] + (table[y1, x1] - table[y1, xi]) * sx
    return top + (bot - top) * sy


def hash01(i: np.ndarray, j: np.ndarray, salt: int) -> np.ndarray:
    """Deterministic pseudo-random value in [0, 1) per integer cell (i, j)."""
    a = (np.asarray(i).astype(np.int64) & 0xFFFFFFFF).astype(np.uint32)
    b = (np.asarray(j).astype(np.int64) & 0xFFFFFFFF).astype(np.uint32)
    hsh = a * np.uint32(374761393) + b * np.uint32(668265263) + np.uint32((salt * 2246822519) & 0xFFFFFFFF)
    hsh = (hsh ^ (hsh >> np.uint32(13))) * np.uint32(1274126177)
    hsh = hsh ^ (hsh >> np.uint32(16))
    return (hsh.astype(np.float64) / 4294967296.0).astype(np.float32)


def smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def box(f: np.ndarray, a: float, b: float, fw: np.ndarray) -> np.ndarray:
    """Antialiased indicator of a <= f <= b, with fw the pixel footprint in f's units."""
    return np.clip((f - a) / fw + 0.5, 0, 1) * np.clip((b - f) / fw + 0.5, 0, 1)


def footprint(f: np.ndarray) -> np.ndarray:
    """How much `f` changes across one pixel (for antialiasing procedural patterns)."""
    gy, gx = np.gradient(f)
    return np.maximum(np.abs(gx) + np.abs(gy), 1e-4)


def mix(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per-pixel blend of colours a, b (broadcast) by weight t (h, w)."""
    t = np.asarray(t, np.float32)
    if t.ndim == 2:
        t = t[..., None]
    out = np.subtract(b, a, dtype=np.float32)
    out = out * t if out.shape != np.broadcast_shapes(out.shape, t.shape) else np.multiply(out, t, out=out)
    out += a
    return out


def rgb(*c: float) -> np.ndarray:
    return np.array(c, np.float32)


def gradient_palette(t: np.ndarray, stops: Sequence[tuple[float, tuple[float, float, float]]]) -> np.ndarray:
    """Colour ramp: piecewise-linear interpolation of (position, rgb) stops at t (h, w)."""
    pos = np.array([s[0] for s in stops], np.float32)
    cols = np.array([s[1] for s in stops], np.float32)
    return np.stack([np.interp(t, pos, cols[:, c]).astype(np.float32) for c in range(3)], axis=-1)


def grain(seed: int, h: int, w: int, sigma: float) -> np.ndarray:
    """Per-pixel luminance grain (like sensor noise) of std `sigma` in [0, 1] units."""
    return (rng(seed, 999).standard_normal((h, w), dtype=np.float32) * sigma)[..., None]


def soft_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Wide Gaussian blur of (h, w[, c]) computed at reduced resolution (it is soft anyway)."""
    h, w = img.shape[:2]
    f = max(1, int(sigma // 2))
    if f == 1:
        return ndi.gaussian_filter(img, sigma, axes=(0, 1))
    small = (
        np.stack(
            [np.asarray(PILImage.fromarray(np.ascontiguousarray(img[..., c]), mode="F").reduce(f)) for c in range(img.shape[2])],
            -1,
        )
        if img.ndim == 3
        else np.asarray(PILImage.fromarray(img, mode="F").reduce(f))
    )
    small = ndi.gaussian_filter(small, sigma / f, axes=(0, 1))
    planes = [small[..., c] for c in range(small.shape[2])] if small.ndim == 3 else [small]
    up = [
        np.asarray(PILImage.fromarray(np.ascontiguousarray(p), mode="F").resize((w, h), PILImage.Resampling.BILINEAR))
        for p in planes
    ]
    return np.stack(up, -1) if img.ndim == 3 else up[0]


def supersample_factor(h: int, w: int, budget: int = 12_000_000) -> int:
    """Largest factor in 1..4 whose supersampled canvas stays under `budget` pixels."""
    for f in (4, 3, 2):
        if h * w * f * f <= budget:
            return f
    return 1


def downsample(pil: PILImage.Image, factor: int, size: tuple[int, int]) -> np.ndarray:
    if factor > 1:
        pil = (
            pil.reduce(factor) if pil.size == (size[0] * factor, size[1] * factor) else pil.resize(size, PILImage.Resampling.BOX)
        )
    return np.array(pil, dtype=np.float32) / 255.0


def to_uint8(rgb: np.ndarray, seed: int) -> np.ndarray:
    """[0, 1] float -> uint8 with +-0.5 LSB triangular dither, so smooth ramps do not band."""
    h, w = rgb.shape[:2]
    r = rng(seed, 4242)
    dither = (r.random((h, w, 1), dtype=np.float32) - r.random((h, w, 1), dtype=np.float32)) * 0.5
    return np.clip(np.rint(np.clip(rgb, 0.0, 1.0) * 255.0 + dither), 0, 255).astype(np.uint8)


def homography(src: Sequence[tuple[float, float]], dst: Sequence[tuple[float, float]]) -> np.ndarray:
    """3x3 projective map sending the 4 `src` points to the 4 `dst` points."""
    rows, rhs = [], []
    for (u, v), (x, y) in zip(src, dst):
        rows.append([u, v, 1, 0, 0, 0, -u * x, -v * x])
        rows.append([0, 0, 0, u, v, 1, -u * y, -v * y])
        rhs += [x, y]
    hvec = np.linalg.solve(np.array(rows, np.float64), np.array(rhs, np.float64))
    return np.append(hvec, 1.0).reshape(3, 3)


def ellipse_polys(
    cx: np.ndarray, cy: np.ndarray, a: np.ndarray, b: np.ndarray, angle: np.ndarray, jitter: np.ndarray
) -> np.ndarray:
    """Vertices (n, k, 2) of n rotated ellipses with k radius-jittered vertices each."""
    t = np.linspace(0, 2 * np.pi, jitter.shape[1], endpoint=False)[None, :]
    r = 1.0 + jitter
    px, py = a[:, None] * r * np.cos(t), b[:, None] * r * np.sin(t)
    ca, sa = np.cos(angle)[:, None], np.sin(angle)[:, None]
    return np.stack([cx[:, None] + px * ca - py * sa, cy[:, None] + px * sa + py * ca], axis=-1)
