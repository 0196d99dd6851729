"""The seed catalogue: the images every chain starts from.

Three kinds of seed, one `Seed` type:

- procedural: 13 scenes drawn with numpy + Pillow, one per texture challenge of the
  study's Table 1 (regular grid in perspective, smooth gradients, haze, particles, ...).
  Each is a pure function of (fixed rng seed number, size), so the same name, version and
  size always give the same bytes, on any machine with the same numpy/Pillow.
- photo: real photographs that ship inside scikit-image's wheel (read straight from the
  package folder, so nothing is ever downloaded). No faces.
- user: every image file of a folder the user points at (`seeds_from_dir`).

`Seed.render(long_side)` returns an `iqa_audit.images.Image` whose longer side is
`long_side` pixels, keeping the seed's aspect ratio (to within rounding, < 1 px).
`long_side=None` means the seed's native size: the file's own pixels (and bytes) for
photo and user seeds, `PAPER_LONG_SIDE` for procedural ones.

`Seed.version` enters the chain cache key: bump a procedural seed's version whenever its
drawing changes, so cached chains built from the old pixels are not reused.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw

from .errors import ConfigError, explain
from .images import Image, load_image
from .lazy import LazyModule


ndi = LazyModule("scipy.ndimage")  # ~0.6 s to import; collection and warm runs render no seed

QUICK_LONG_SIDE = 1024
PAPER_LONG_SIDE = 2048

# Bounds on a requested size: below 16 px nothing of any seed survives; 8192 is the
# largest image the rest of the suite accepts (images.MAX_PIXELS).
MIN_LONG_SIDE = 16
MAX_LONG_SIDE = 8192

# The study's 4K output, 5632x3072: height / width = 0.545.
STUDY_ASPECT = 3072 / 5632

KINDS = ("procedural", "photo", "user")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")

_NAME_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


# ======================================================================================
# The Seed value
# ======================================================================================


@dataclass(frozen=True)
class Seed:
    """One starting image: where it comes from, what it stresses, how to render it.

    `meta` is read-only and excluded from equality/hash (name + version identify a seed).
    Procedural seeds expose e.g. `placement_box` (empty table) or `eye_colours` and
    `eye_samples` (faces) there.
    """

    name: str
    challenge: str
    provenance: str
    kind: str
    version: str
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ConfigError(
                explain(
                    f"seed name {self.name!r}",
                    expected="lowercase letters/digits separated by single hyphens (test-id friendly)",
                    got=repr(self.name),
                    fix="Rename the seed, e.g. 'grid-perspective'.",
                )
            )
        if self.kind not in KINDS:
            raise ConfigError(explain(f"seed {self.name!r} kind", expected=" | ".join(KINDS), got=repr(self.kind), fix="Use one of those."))
        if not isinstance(self.meta, MappingProxyType):
            object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))

    @property
    def aspect_ratio(self) -> float | None:
        """height / width when known without decoding (procedural seeds), else None."""
        spec = _PROCEDURAL.get(self.name) if self.kind == "procedural" else None
        return spec.aspect if spec else None

    def render(self, long_side: int | None = QUICK_LONG_SIDE) -> Image:
        """The seed as an Image whose longer side is `long_side` px (None: native size)."""
        size = _check_long_side(long_side, self.name)
        return _render_cached(self.kind, _source_of(self), self.version, size)


def _source_of(seed: Seed) -> str:
    """What `_render_cached` needs to find the pixels: a renderer name, a file path."""
    if seed.kind == "procedural":
        return seed.name
    if seed.kind == "photo":
        return str(seed.meta["path"])
    return seed.provenance  # user: the file path


def _check_long_side(long_side: int | None, name: str) -> int | None:
    if long_side is None:
        return None
    if isinstance(long_side, bool) or not isinstance(long_side, (int, np.integer)):
        raise ConfigError(
            explain(f"long_side for seed {name!r}", expected="an int number of pixels or None", got=repr(long_side),
                    fix=f"Pass e.g. {QUICK_LONG_SIDE} (quick) or {PAPER_LONG_SIDE} (paper profile).")
        )
    if not MIN_LONG_SIDE <= int(long_side) <= MAX_LONG_SIDE:
        raise ConfigError(
            explain(f"long_side for seed {name!r}", expected=f"{MIN_LONG_SIDE} to {MAX_LONG_SIDE} px", got=str(long_side),
                    fix=f"Pass e.g. {QUICK_LONG_SIDE} (quick) or {PAPER_LONG_SIDE} (paper profile).")
        )
    return int(long_side)


# Small: a 2048 px seed is ~6-13 MB of pixels; 16 covers a quick and a paper profile of
# every procedural seed being rendered by one worker without thrashing.
@functools.lru_cache(maxsize=16)
def _render_cached(kind: str, source: str, version: str, long_side: int | None) -> Image:
    """Pure: (kind, source, version, size) -> pixels. `version` is part of the key on purpose."""
    if kind == "procedural":
        spec = _PROCEDURAL.get(source)
        if spec is None:
            raise ConfigError(
                explain(f"procedural seed {source!r}", expected=f"one of: {', '.join(sorted(_PROCEDURAL))}", got=repr(source),
                        fix="Get procedural seeds from procedural_seeds() or get_seed(), not by constructing Seed.")
            )
        h, w = _dims(long_side or PAPER_LONG_SIDE, spec.aspect)
        return Image.from_array(_to_uint8(spec.draw(h, w, spec.rng_seed), spec.rng_seed))
    image = load_image(source)
    # The version is (or ends with) the file's hash: a file that changed since it was
    # catalogued would silently feed cached chains different pixels.
    got = _sha12(image.data())
    if not version.endswith(got):
        raise ConfigError(
            explain(f"seed file {source}", expected=f"the content catalogued as version {version}", got=f"a file that now hashes to {got}",
                    fix="The file changed after the seed list was read; list the seeds again (restart the run).")
        )
    return _resize_long_side(image, long_side)


def _resize_long_side(image: Image, long_side: int | None) -> Image:
    if long_side is None or long_side == max(image.width, image.height):
        return image
    h, w = _dims(long_side, image.aspect_ratio)
    return Image.from_array(np.asarray(image.to_pil().resize((w, h), PILImage.Resampling.LANCZOS)))


def _dims(long_side: int, aspect: float) -> tuple[int, int]:
    """(height, width) with the longer side = long_side and height/width ~ aspect."""
    if aspect <= 1.0:
        return max(1, round(long_side * aspect)), long_side
    return long_side, max(1, round(long_side / aspect))


def _sha12(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


# ======================================================================================
# Catalogue API
# ======================================================================================


def procedural_seeds() -> list[Seed]:
    return sorted((_procedural_seed(spec) for spec in _PROCEDURAL.values()), key=lambda s: s.name)


def photo_seeds() -> list[Seed]:
    """The scikit-image photographs present in this installation (read offline)."""
    return list(_photo_seeds_cached())


def builtin_seeds() -> list[Seed]:
    return sorted(procedural_seeds() + photo_seeds(), key=lambda s: s.name)


def seeds_from_dir(path: str | Path) -> list[Seed]:
    """One user seed per image file in `path` (not recursive), sorted by name.

    Files with an image suffix must decode (else BadImageError naming the file); other
    files and hidden files are ignored. Names are slugified file stems.
    """
    folder = Path(path).expanduser()
    if not folder.exists():
        raise ConfigError(explain(f"seed folder {folder}", expected="an existing folder of images", got="no such folder", fix="Check the path."))
    if not folder.is_dir():
        raise ConfigError(explain(f"seed folder {folder}", expected="a folder of images", got="a file", fix="Point at the folder containing it."))
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ConfigError(
            explain(f"seed folder {folder}", expected=f"at least one image file ({', '.join(IMAGE_SUFFIXES)})", got="none",
                    fix="Put PNG/JPEG images in it, or drop the folder from the seed directories.")
        )
    # get_seed is called once per chain; re-decoding a folder of 4K images each time would
    # dominate, so the listing is cached while no file's size or mtime changes.
    signature = tuple((str(p.resolve()), st.st_size, st.st_mtime_ns) for p in files for st in [p.stat()])
    return list(_seeds_from_files(str(folder), signature))


@functools.lru_cache(maxsize=32)
def _seeds_from_files(folder: str, signature: tuple[tuple[str, int, int], ...]) -> tuple[Seed, ...]:
    seeds: dict[str, Seed] = {}
    for p in (Path(entry[0]) for entry in signature):
        image = load_image(p)  # BadImageError names the file
        version = _sha12(image.data())
        name = _slugify(p.stem) or f"image-{version[:6]}"
        if name in seeds:
            raise ConfigError(
                explain(f"seed folder {folder}", expected="file names that give distinct seed names",
                        got=f"{seeds[name].provenance} and {p} both named {name!r}", fix="Rename one of the files.")
            )
        seeds[name] = Seed(
            name=name,
            challenge="user image",
            provenance=str(p),
            kind="user",
            version=version,
            meta={"native_size": image.size},
        )
    return tuple(seeds[n] for n in sorted(seeds))


def get_seed(name: str, extra_dirs: Sequence[str | Path] = ()) -> Seed:
    """The seed called `name`, builtin or from one of `extra_dirs`."""
    catalogue = _catalogue(extra_dirs)
    if name not in catalogue:
        raise ConfigError(
            explain(f"seed {name!r}", expected=f"one of: {', '.join(sorted(catalogue))}", got=repr(name),
                    fix="Pick a listed name, or add the folder holding your image to the seed directories.")
        )
    return catalogue[name]


def resolve_seeds(names: Sequence[str] | None, extra_dirs: Sequence[str | Path] = ()) -> list[Seed]:
    """Seeds by name, in the given order, duplicates dropped.

    None means every builtin seed plus every seed of `extra_dirs`, sorted by name.
    """
    catalogue = _catalogue(extra_dirs)
    if names is None:
        return [catalogue[n] for n in sorted(catalogue)]
    if isinstance(names, str):
        names = [names]
    unknown = [n for n in names if n not in catalogue]
    if unknown:
        raise ConfigError(
            explain(f"seed name(s) {', '.join(map(repr, unknown))}", expected=f"names from: {', '.join(sorted(catalogue))}",
                    got=repr(list(names)), fix="Fix the spelling, or add the folder holding your image to the seed directories.")
        )
    return [catalogue[n] for n in dict.fromkeys(names)]


def _catalogue(extra_dirs: Sequence[str | Path]) -> dict[str, Seed]:
    if isinstance(extra_dirs, (str, Path)):
        extra_dirs = [extra_dirs]
    catalogue = {s.name: s for s in builtin_seeds()}
    for d in extra_dirs:
        for s in seeds_from_dir(d):
            if s.name in catalogue:
                raise ConfigError(
                    explain(f"seed file {s.provenance}", expected="a name not already used by another seed",
                            got=f"{s.name!r}, also {catalogue[s.name].provenance}", fix="Rename the file.")
                )
            catalogue[s.name] = s
    return catalogue


def _slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# ======================================================================================
# Photographs shipped inside scikit-image
# ======================================================================================

# (seed name, file in skimage/data, data function, challenge it stresses). Only files the
# wheel ships (no pooch download), only photographs, and no faces (astronaut, camera out).
_PHOTOS: tuple[tuple[str, str, str, str], ...] = (
    ("photo-chelsea", "chelsea.png", "chelsea", "real photo: soft fur texture and whiskers (cat)"),
    ("photo-coffee", "coffee.png", "coffee", "real photo: smooth gradients, specular reflections, grainy food texture"),
    ("photo-coins", "coins.png", "coins", "real photo (greyscale): many objects of one kind"),
    ("photo-gravel", "gravel.png", "gravel", "real photo (greyscale): multi-scale natural texture"),
    ("photo-hubble", "hubble_deep_field.jpg", "hubble_deep_field", "real photo: high-contrast particles on deep black"),
    ("photo-motorcycle", "motorcycle_left.png", "stereo_motorcycle", "real photo: reflections and repeated mechanical detail"),
    ("photo-rocket", "rocket.jpg", "rocket", "real photo: smooth sky gradient and fine structure"),
)

_PHOTO_VERSION = "r1"  # bump when the resize method changes


@functools.lru_cache(maxsize=1)
def _photo_seeds_cached() -> tuple[Seed, ...]:
    try:
        import skimage
    except ImportError:
        return ()
    data_dir = Path(skimage.__file__).parent / "data"
    seeds = []
    for name, filename, func, challenge in _PHOTOS:
        path = data_dir / filename
        if not path.is_file():
            continue
        seeds.append(
            Seed(
                name=name,
                challenge=challenge,
                provenance=f"scikit-image {skimage.__version__} data.{func} ({filename})",
                kind="photo",
                version=f"{_PHOTO_VERSION}-{_sha12(path.read_bytes())}",
                meta={"path": str(path), "skimage_function": func},
            )
        )
    return tuple(sorted(seeds, key=lambda s: s.name))


# ======================================================================================
# Procedural seeds: registry
# ======================================================================================

_PROCEDURAL_PROVENANCE = "procedural, iqa_audit.seeds v1"


@dataclass(frozen=True)
class _Procedural:
    name: str
    challenge: str
    aspect: float  # height / width
    rng_seed: int
    version: str
    draw: Callable[[int, int, int], np.ndarray]  # (h, w, seed) -> float (h, w, 3) in [0, 1]
    meta: Mapping[str, Any] = field(default_factory=dict)


_PROCEDURAL: dict[str, _Procedural] = {}


def _procedural_seed(spec: _Procedural) -> Seed:
    meta = {"rng_seed": spec.rng_seed, "aspect_ratio": spec.aspect, **spec.meta}
    return Seed(spec.name, spec.challenge, _PROCEDURAL_PROVENANCE, "procedural", spec.version, meta)


def _register(name: str, challenge: str, aspect: float, rng_seed: int, version: str = "v1", **meta: Any):
    def wrap(fn: Callable[[int, int, int], np.ndarray]) -> Callable[[int, int, int], np.ndarray]:
        _PROCEDURAL[name] = _Procedural(name, challenge, aspect, rng_seed, version, fn, meta)
        return fn

    return wrap


# ======================================================================================
# Drawing helpers (all pure; randomness from explicit (seed, tag) streams)
# ======================================================================================


def _rng(seed: int, *tags: int) -> np.random.Generator:
    """An independent stream per (seed, tag...): skipping one draw never shifts another."""
    return np.random.default_rng([seed, *tags])


def _coords(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in width units: x in (0, 1), y in (0, h/w); broadcastable."""
    x = ((np.arange(w, dtype=np.float32) + 0.5) / w)[None, :]
    y = ((np.arange(h, dtype=np.float32) + 0.5) / w)[:, None]
    return x, y


def _noise(seed: int, tag: int, h: int, w: int, cells_x: float, cells_y: float | None = None) -> np.ndarray:
    """Smooth value noise in about [-1, 1]: a random grid upsampled bicubically.

    The grid size is set in cells per image width, so the pattern is the same scene at
    every render size.
    """
    cx = max(2, round(cells_x))
    cy = max(2, round(cells_y if cells_y is not None else cells_x * h / w))
    grid = _rng(seed, tag, cx, cy).uniform(-1.0, 1.0, (cy, cx)).astype(np.float32)
    return np.asarray(PILImage.fromarray(grid, mode="F").resize((w, h), PILImage.Resampling.BICUBIC))


def _fbm(seed: int, tag: int, h: int, w: int, cells: float, octaves: int, gain: float = 0.5, aniso: float = 1.0) -> np.ndarray:
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
        grid = _rng(seed, tag * 100 + k, cx, cy).uniform(-amp, amp, (cy, cx)).astype(np.float32)
        if acc is not None:
            grid += np.asarray(PILImage.fromarray(acc, mode="F").resize((cx, cy), PILImage.Resampling.BICUBIC))
        acc = grid
    assert acc is not None
    out = np.asarray(PILImage.fromarray(acc, mode="F").resize((w, h), PILImage.Resampling.BICUBIC))
    return out / total


def _vnoise_at(seed: int, tag: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Value noise evaluated at arbitrary coordinates (in cells), tiling every 256 cells.

    For warped or perspective domains, where a regular upsampled grid does not fit.
    """
    table = _rng(seed, tag).uniform(-1.0, 1.0, (256, 256)).astype(np.float32)
    xf, yf = np.floor(x), np.floor(y)
    fx, fy = (x - xf).astype(np.float32), (y - yf).astype(np.float32)
    xi, yi = xf.astype(np.int64) & 255, yf.astype(np.int64) & 255
    x1, y1 = (xi + 1) & 255, (yi + 1) & 255
    sx, sy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
    top = table[yi, xi] + (table[yi, x1] - table[yi, xi]) * sx
    bot = table[y1, xi] + (table[y1, x1] - table[y1, xi]) * sx
    return top + (bot - top) * sy


def _hash01(i: np.ndarray, j: np.ndarray, salt: int) -> np.ndarray:
    """Deterministic pseudo-random value in [0, 1) per integer cell (i, j)."""
    a = (np.asarray(i).astype(np.int64) & 0xFFFFFFFF).astype(np.uint32)
    b = (np.asarray(j).astype(np.int64) & 0xFFFFFFFF).astype(np.uint32)
    hsh = a * np.uint32(374761393) + b * np.uint32(668265263) + np.uint32((salt * 2246822519) & 0xFFFFFFFF)
    hsh = (hsh ^ (hsh >> np.uint32(13))) * np.uint32(1274126177)
    hsh = hsh ^ (hsh >> np.uint32(16))
    return (hsh.astype(np.float64) / 4294967296.0).astype(np.float32)


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _box(f: np.ndarray, a: float, b: float, fw: np.ndarray) -> np.ndarray:
    """Antialiased indicator of a <= f <= b, with fw the pixel footprint in f's units."""
    return np.clip((f - a) / fw + 0.5, 0, 1) * np.clip((b - f) / fw + 0.5, 0, 1)


def _footprint(f: np.ndarray) -> np.ndarray:
    """How much `f` changes across one pixel (for antialiasing procedural patterns)."""
    gy, gx = np.gradient(f)
    return np.maximum(np.abs(gx) + np.abs(gy), 1e-4)


def _mix(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per-pixel blend of colours a, b (broadcast) by weight t (h, w)."""
    t = np.asarray(t, np.float32)
    if t.ndim == 2:
        t = t[..., None]
    out = np.subtract(b, a, dtype=np.float32)
    out = out * t if out.shape != np.broadcast_shapes(out.shape, t.shape) else np.multiply(out, t, out=out)
    out += a
    return out


def _rgb(*c: float) -> np.ndarray:
    return np.array(c, np.float32)


def _gradient_palette(t: np.ndarray, stops: Sequence[tuple[float, tuple[float, float, float]]]) -> np.ndarray:
    """Colour ramp: piecewise-linear interpolation of (position, rgb) stops at t (h, w)."""
    pos = np.array([s[0] for s in stops], np.float32)
    cols = np.array([s[1] for s in stops], np.float32)
    return np.stack([np.interp(t, pos, cols[:, c]).astype(np.float32) for c in range(3)], axis=-1)


def _grain(seed: int, h: int, w: int, sigma: float) -> np.ndarray:
    """Per-pixel luminance grain (like sensor noise) of std `sigma` in [0, 1] units."""
    return (_rng(seed, 999).standard_normal((h, w), dtype=np.float32) * sigma)[..., None]


def _soft_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Wide Gaussian blur of (h, w[, c]) computed at reduced resolution (it is soft anyway)."""
    h, w = img.shape[:2]
    f = max(1, int(sigma // 2))
    if f == 1:
        return ndi.gaussian_filter(img, sigma, axes=(0, 1))
    small = np.stack([np.asarray(PILImage.fromarray(np.ascontiguousarray(img[..., c]), mode="F").reduce(f)) for c in range(img.shape[2])], -1) if img.ndim == 3 else np.asarray(PILImage.fromarray(img, mode="F").reduce(f))
    small = ndi.gaussian_filter(small, sigma / f, axes=(0, 1))
    planes = [small[..., c] for c in range(small.shape[2])] if small.ndim == 3 else [small]
    up = [np.asarray(PILImage.fromarray(np.ascontiguousarray(p), mode="F").resize((w, h), PILImage.Resampling.BILINEAR)) for p in planes]
    return np.stack(up, -1) if img.ndim == 3 else up[0]


def _supersample_factor(h: int, w: int, budget: int = 12_000_000) -> int:
    """Largest factor in 1..4 whose supersampled canvas stays under `budget` pixels."""
    for f in (4, 3, 2):
        if h * w * f * f <= budget:
            return f
    return 1


def _downsample(pil: PILImage.Image, factor: int, size: tuple[int, int]) -> np.ndarray:
    if factor > 1:
        pil = pil.reduce(factor) if pil.size == (size[0] * factor, size[1] * factor) else pil.resize(size, PILImage.Resampling.BOX)
    return np.array(pil, dtype=np.float32) / 255.0


def _to_uint8(rgb: np.ndarray, seed: int) -> np.ndarray:
    """[0, 1] float -> uint8 with +-0.5 LSB triangular dither, so smooth ramps do not band."""
    h, w = rgb.shape[:2]
    r = _rng(seed, 4242)
    dither = (r.random((h, w, 1), dtype=np.float32) - r.random((h, w, 1), dtype=np.float32)) * 0.5
    return np.clip(np.rint(np.clip(rgb, 0.0, 1.0) * 255.0 + dither), 0, 255).astype(np.uint8)


def _homography(src: Sequence[tuple[float, float]], dst: Sequence[tuple[float, float]]) -> np.ndarray:
    """3x3 projective map sending the 4 `src` points to the 4 `dst` points."""
    rows, rhs = [], []
    for (u, v), (x, y) in zip(src, dst):
        rows.append([u, v, 1, 0, 0, 0, -u * x, -v * x])
        rows.append([0, 0, 0, u, v, 1, -u * y, -v * y])
        rhs += [x, y]
    hvec = np.linalg.solve(np.array(rows, np.float64), np.array(rhs, np.float64))
    return np.append(hvec, 1.0).reshape(3, 3)


def _ellipse_polys(cx: np.ndarray, cy: np.ndarray, a: np.ndarray, b: np.ndarray, angle: np.ndarray, jitter: np.ndarray) -> np.ndarray:
    """Vertices (n, k, 2) of n rotated ellipses with k radius-jittered vertices each."""
    t = np.linspace(0, 2 * np.pi, jitter.shape[1], endpoint=False)[None, :]
    r = 1.0 + jitter
    px, py = a[:, None] * r * np.cos(t), b[:, None] * r * np.sin(t)
    ca, sa = np.cos(angle)[:, None], np.sin(angle)[:, None]
    return np.stack([cx[:, None] + px * ca - py * sa, cy[:, None] + px * sa + py * ca], axis=-1)


# ======================================================================================
# The 13 procedural scenes, one per Table 1 challenge
# ======================================================================================


@_register("grid-perspective", "regular grid with perspective (brick facade with window grid)", STUDY_ASPECT, 101)
def _draw_grid_perspective(h: int, w: int, seed: int) -> np.ndarray:
    x, y = _coords(h, w)
    # Facade plane (u, v in [0, 1]) seen at an angle: near edge left, receding right.
    hm = _homography([(0, 0), (1, 0), (1, 1), (0, 1)], [(-0.05, -0.10), (0.86, 0.11), (0.86, 0.43), (-0.05, 0.64)])
    inv = np.linalg.inv(hm).astype(np.float64)
    xs, ys = np.broadcast_to(x, (h, w)).astype(np.float64), np.broadcast_to(y, (h, w)).astype(np.float64)
    den = inv[2, 0] * xs + inv[2, 1] * ys + inv[2, 2]
    u = ((inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]) / den).astype(np.float32)
    v = ((inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]) / den).astype(np.float32)

    # Sky with soft clouds.
    sky = _gradient_palette(np.broadcast_to(y / 0.45, (h, w)), [(0, (0.33, 0.52, 0.80)), (1, (0.74, 0.82, 0.92))])
    clouds = _smoothstep(0.05, 0.6, _fbm(seed, 1, h, w, 3, 6) * 1.6 + 0.1)
    sky = _mix(sky, _rgb(0.95, 0.95, 0.96), clouds * 0.85)

    # Bricks: 7 courses per storey, running bond (odd courses offset by half a brick).
    ncols, nrows = 14, 9
    cu, cv = u * ncols, v * nrows
    bv = cv * 7
    course = np.floor(bv)
    bu = cu * 3.0 + 0.5 * (course % 2)
    fw_bu, fw_bv = _footprint(bu), _footprint(bv)
    brick_i = np.floor(bu)
    body = _box(bu - brick_i, 0.06, 0.97, fw_bu) * _box(bv - course, 0.10, 0.96, fw_bv)
    # Per-brick colour variation fades out where bricks are smaller than a pixel (no aliasing).
    fade = np.clip(1.5 - 2.0 * np.maximum(fw_bu, fw_bv), 0, 1)
    var = (_hash01(brick_i, course, 7) - 0.5) * fade
    brick = _rgb(0.58, 0.31, 0.22) * (1.0 + 0.35 * var)[..., None]
    brick = brick + 0.05 * _fbm(seed, 2, h, w, 40, 4)[..., None]
    mortar = _rgb(0.70, 0.68, 0.63)
    wall = _mix(mortar, brick, body)
    wall = wall * (1.0 + 0.06 * _fbm(seed, 3, h, w, 6, 3))[..., None]  # weathering

    # Window grid: frame, glass (sky reflection or blinds), sill with a shadow under it.
    fu, fv = cu - np.floor(cu), cv - np.floor(cv)
    fw_u, fw_v = _footprint(cu), _footprint(cv)
    ci, ri = np.floor(cu), np.floor(cv)
    opening = _box(fu, 0.25, 0.75, fw_u) * _box(fv, 0.22, 0.74, fw_v)
    glass = _box(fu, 0.285, 0.715, fw_u) * _box(fv, 0.255, 0.71, fw_v) * (1 - _box(fu, 0.485, 0.515, fw_u))
    r1, r2, r3 = _hash01(ci, ri, 11), _hash01(ci, ri, 12), _hash01(ci, ri, 13)
    refl = np.clip(0.25 + 0.5 * (1 - (fv - 0.25) / 0.46) * 0.6 + 0.4 * r1 + 0.25 * (fu - 0.5), 0, 1)
    glass_col = _mix(_rgb(0.12, 0.15, 0.20), _rgb(0.62, 0.72, 0.82), refl)
    blind_drop = 0.255 + (0.2 + 0.6 * r3) * 0.455
    slats = 0.5 + 0.5 * np.cos(2 * np.pi * fv * 60)
    slat_amp = np.clip(1.0 - fw_v * 60 * 1.5, 0, 1)
    blind_col = _rgb(0.80, 0.76, 0.68) * (0.9 + 0.1 * slats * slat_amp)[..., None]
    blind = (r2 < 0.35) * _box(fv, 0.2, blind_drop, fw_v)
    glass_col = _mix(glass_col, blind_col, blind)
    frame_col = _rgb(0.90, 0.89, 0.86)
    facade = _mix(wall, frame_col, opening)
    facade = _mix(facade, glass_col, glass)
    sill = _box(fu, 0.22, 0.78, fw_u) * _box(fv, 0.74, 0.775, fw_v)
    facade = _mix(facade, _rgb(0.82, 0.80, 0.76), sill)
    shadow = _box(fu, 0.22, 0.78, fw_u) * _box(fv, 0.775, 0.83, fw_v)
    facade = facade * (1 - 0.35 * shadow)[..., None]
    # Stone string course at every floor, and the facade darkens away from the sun.
    ledge = _box(fv, 0.0, 0.05, fw_v)
    facade = _mix(facade, _rgb(0.76, 0.73, 0.67) * (1 + 0.04 * _fbm(seed, 4, h, w, 60, 3))[..., None], ledge)
    facade = facade * (1.0 - 0.25 * np.clip(u, 0, 1))[..., None]

    # Ground (pavement) below the facade, distant hazy trees right of it.
    ground = _rgb(0.47, 0.46, 0.44) * (1 + 0.08 * _fbm(seed, 5, h, w, 50, 5))[..., None]
    ground = ground * (0.75 + 0.25 * np.clip((y - 0.43) / 0.12, 0, 1))[..., None]
    trees_top = 0.36 + 0.025 * _fbm(seed, 6, 1, w, 30, 4)[0][None, :]
    px = 1.0 / w
    trees_col = _rgb(0.36, 0.42, 0.38) * (1 + 0.12 * _fbm(seed, 7, h, w, 120, 3))[..., None]
    out = _mix(sky, trees_col, np.clip((y - trees_top) / px + 0.5, 0, 1))
    ground_line = 0.43
    out = _mix(out, ground, np.clip((y - ground_line) / px + 0.5, 0, 1))
    on_facade = _box(u, 0.0, 1.0, _footprint(u)) * _box(v, -1.0, 1.0, _footprint(v))
    out = _mix(out, facade, on_facade)
    # Pavement in front of the facade continues the ground.
    below = np.clip((v - 1.0) / _footprint(v) + 0.5, 0, 1) * (u < 1.0)
    out = _mix(out, ground, below)
    return out + _grain(seed, h, w, 0.012)


@_register("food-texture", "multi-scale food-like texture (granola: flakes, nuts, seeds, crumbs)", 0.75, 202)
def _draw_food_texture(h: int, w: int, seed: int) -> np.ndarray:
    rng = _rng(seed, 1)
    # Kinds, drawn bottom layer first: (count, radius, aspect, rgb, colour spread, wrinkle)
    kinds = [
        (1400, 0.0045, 0.7, (0.78, 0.62, 0.40), 0.12, 0.0),  # crumbs
        (450, 0.0065, 0.55, (0.90, 0.84, 0.68), 0.08, 0.0),  # sesame / sunflower seeds
        (560, 0.024, 0.72, (0.82, 0.66, 0.42), 0.10, 0.3),  # oat flakes
        (70, 0.013, 0.8, (0.93, 0.90, 0.82), 0.05, 0.4),  # coconut flakes
        (40, 0.017, 0.45, (0.36, 0.44, 0.22), 0.10, 0.1),  # pumpkin seeds
        (34, 0.034, 0.58, (0.56, 0.34, 0.19), 0.10, 0.15),  # almonds
        (60, 0.013, 0.85, (0.24, 0.10, 0.11), 0.15, 0.8),  # raisins
    ]
    ids = PILImage.new("I", (w, h), 0)
    col = PILImage.new("RGB", (w, h), (0, 0, 0))
    d_id, d_col = ImageDraw.Draw(ids), ImageDraw.Draw(col)
    heights = [0.0]
    radii = [1.0]
    wrinkles = [0.0]
    k = 0
    for count, rad, asp, rgb, spread, wrinkle in kinds:
        xs, ys = rng.uniform(-0.03, 1.03, count), rng.uniform(-0.03, h / w + 0.03, count)
        sizes = rad * rng.uniform(0.65, 1.3, count)
        angles = rng.uniform(0, np.pi, count)
        tint = 1.0 + spread * rng.standard_normal(count)
        lift = rng.uniform(0.0, 1.0, count)
        polys = _ellipse_polys(xs * w, ys * w, sizes * w, sizes * w * asp, angles, rng.uniform(-0.12, 0.12, (count, 12)))
        colours = np.clip(np.outer(tint, rgb) * 255, 0, 255).astype(int).tolist()
        for i in range(count):
            k += 1
            poly = [tuple(p) for p in polys[i].tolist()]
            d_id.polygon(poly, fill=k)
            d_col.polygon(poly, fill=tuple(colours[i]))
        heights.extend((lift * 0.3 + sizes * 8).tolist())
        radii.extend(np.maximum(sizes * w * asp, 1.0).tolist())
        wrinkles.extend([wrinkle] * count)
    id_img = np.asarray(ids, dtype=np.int32)
    base = np.asarray(col, np.float32) / 255.0
    bed = _rgb(0.40, 0.28, 0.16) * (1 + 0.25 * _fbm(seed, 2, h, w, 40, 5))[..., None]
    base = np.where((id_img == 0)[..., None], bed, base)

    # Dome-shaped height per object from the distance to its outline.
    edges = np.zeros((h, w), bool)
    edges[:, 1:] |= id_img[:, 1:] != id_img[:, :-1]
    edges[1:, :] |= id_img[1:, :] != id_img[:-1, :]
    # Mean of chessboard and city-block distance: ~Euclidean (octagonal), 4x faster.
    inside = ~edges
    dist = 0.5 * (ndi.distance_transform_cdt(inside, "chessboard") + ndi.distance_transform_cdt(inside, "taxicab")).astype(np.float32)
    rad_px = np.asarray(radii, np.float32)[id_img]
    dome = np.sqrt(np.clip(dist / rad_px, 0, 1))
    height = np.asarray(heights, np.float32)[id_img] + dome * rad_px / w * 25
    fine = _fbm(seed, 3, h, w, 160, 3)
    height = height + (np.asarray(wrinkles, np.float32)[id_img] * 0.004 * w / 100) * fine
    height = ndi.gaussian_filter(height, 0.6)
    gy, gx = np.gradient(height * w / 60.0)
    shade = np.clip(0.75 - 0.55 * (gx * 0.6 + gy * 0.8) / np.sqrt(1 + gx * gx + gy * gy), 0.15, 1.4)
    occl = np.clip(1.0 + 2.0 * (height - ndi.uniform_filter(height, size=max(3, w // 60))), 0.45, 1.1)
    out = base * (shade * occl)[..., None]
    out = out * (1 + 0.08 * _fbm(seed, 4, h, w, 300, 2))[..., None]
    return out + _grain(seed, h, w, 0.015)


@_register("many-objects", "many objects of one kind (roasted coffee beans on burlap)", 2 / 3, 303)
def _draw_many_objects(h: int, w: int, seed: int) -> np.ndarray:
    x, y = _coords(h, w)
    # Burlap: two woven thread directions, faded where threads are sub-pixel.
    n = 150
    amp = float(np.clip(1.5 - 2.0 * n / w * 1.0, 0, 1))
    weave = 0.5 + 0.25 * amp * (np.sin(2 * np.pi * x * n) * np.sin(2 * np.pi * y * n * 0.5) + np.sin(2 * np.pi * y * n))
    out = (_rgb(0.50, 0.41, 0.29) * (weave * (1 + 0.2 * _fbm(seed, 1, h, w, 30, 5)))[..., None]) * 1.1
    out = np.array(np.broadcast_to(out, (h, w, 3)), np.float32)
    rng = _rng(seed, 2)
    count = 330
    xs = rng.uniform(-0.02, 1.02, count)
    ys = rng.uniform(-0.02, h / w + 0.02, count)
    # A pile: more beans near the middle, so they overlap there.
    keep = rng.random(count) < 0.35 + 0.65 * np.exp(-(((xs - 0.5) / 0.45) ** 2 + ((ys - h / w / 2) / 0.4) ** 2))
    xs, ys = xs[keep], ys[keep]
    angles = rng.uniform(0, np.pi, len(xs))
    sizes = rng.uniform(0.028, 0.036, len(xs))
    tints = rng.normal(1.0, 0.09, len(xs))
    mottle = _fbm(seed, 3, h, w, 120, 3)
    light = np.array([-0.45, -0.55, 0.70], np.float32)
    light /= np.linalg.norm(light)
    halfv = light + np.array([0, 0, 1], np.float32)
    halfv /= np.linalg.norm(halfv)
    for cx, cy, ang, a, tint in zip(xs, ys, angles, sizes, tints):
        b = a * 0.66
        ax, bx = a * w, b * w
        x0, x1 = int(max(0, (cx - a * 1.25) * w)), int(min(w, (cx + a * 1.25) * w + 1))
        y0, y1 = int(max(0, (cy - a * 1.25) * w)), int(min(h, (cy + a * 1.25) * w + 1))
        if x0 >= x1 or y0 >= y1:
            continue
        px_ = (np.arange(x0, x1, dtype=np.float32) + 0.5)[None, :] - cx * w
        py_ = (np.arange(y0, y1, dtype=np.float32) + 0.5)[:, None] - cy * w
        ca, sa = math.cos(ang), math.sin(ang)
        p = (px_ * ca + py_ * sa) / ax
        q = (-px_ * sa + py_ * ca) / bx
        patch = out[y0:y1, x0:x1]
        # Soft contact shadow, offset away from the light.
        ps = ((px_ - 0.12 * bx) * ca + (py_ - 0.18 * bx) * sa) / (ax * 1.08)
        qs = (-(px_ - 0.12 * bx) * sa + (py_ - 0.18 * bx) * ca) / (bx * 1.12)
        patch *= (1 - 0.6 * _smoothstep(1.15, 0.6, np.sqrt(ps * ps + qs * qs)))[..., None]
        r = np.sqrt(p * p + q * q)
        alpha = np.clip((1 - r) * bx + 0.5, 0, 1)
        z = np.sqrt(np.clip(1 - r * r, 0, 1))
        nx_l, ny_l = p / ax * 1.0, q / bx * 1.0
        nrm = np.sqrt(nx_l**2 + ny_l**2 + (z / bx) ** 2) + 1e-6
        nx_l, ny_l, nz = nx_l / nrm, ny_l / nrm, (z / bx) / nrm
        nx, ny = nx_l * ca - ny_l * sa, nx_l * sa + ny_l * ca
        lam = np.clip(nx * light[0] + ny * light[1] + nz * light[2], 0, 1)
        spec = np.clip(nx * halfv[0] + ny * halfv[1] + nz * halfv[2], 0, 1) ** 40
        # The crease: an S-shaped groove along the long axis.
        qc = q - 0.16 * np.sin(np.pi * p)
        groove = np.exp(-((qc / 0.09) ** 2)) * _smoothstep(0.95, 0.6, np.abs(p))
        colour = _rgb(0.33, 0.19, 0.10) * tint * (1 + 0.15 * mottle[y0:y1, x0:x1])[..., None]
        colour = colour * (0.25 + 0.95 * lam)[..., None] * (1 - 0.75 * groove)[..., None]
        colour = colour + (0.55 * spec)[..., None]
        patch[:] = _mix(patch, colour, alpha)
    return out + _grain(seed, h, w, 0.014)


@_register("low-contrast-haze", "low-contrast haze (mountain ridges fading into fog)", 2 / 3, 404)
def _draw_haze(h: int, w: int, seed: int) -> np.ndarray:
    x, y = _coords(h, w)
    px = 1.0 / w
    haze = _rgb(0.80, 0.82, 0.84)
    sun = np.exp(-(((x - 0.68) ** 2 + (y - 0.14) ** 2) / 0.03))
    out = _gradient_palette(np.broadcast_to(y / (h / w), (h, w)), [(0, (0.74, 0.77, 0.81)), (0.6, (0.84, 0.85, 0.86)), (1, (0.85, 0.86, 0.86))])
    out = out + (sun * 0.06)[..., None] * _rgb(1.0, 0.9, 0.7)
    xs = np.arange(w, dtype=np.float64) / w
    layers = 7
    for k in range(layers):
        rng = _rng(seed, 10 + k)
        depth = k / (layers - 1)  # 0 far .. 1 near
        base = 0.27 + 0.055 * k
        ridge = np.zeros(w)
        broad = np.zeros(w)  # the ridge without its fine (tree) detail, for the valley fog
        for o, (cells, amp) in enumerate([(3, 0.06), (7, 0.03), (17, 0.013), (40, 0.006), (110, 0.003), (300, 0.0015 * (1 + 2 * depth))]):
            pts = rng.uniform(-1, 1, cells + 2)
            ridge += amp * (0.6 + 0.8 * depth) * np.interp(xs * cells, np.arange(cells + 2), pts)
            if o < 3:
                broad[:] = ridge
        ridge = (base + ridge).astype(np.float32)[None, :]
        broad = (base + broad).astype(np.float32)[None, :]
        cover = np.clip((y - ridge) / px + 0.5, 0, 1)
        # Far layers melt into the haze; valley fog lightens each layer towards its foot.
        near_col = _mix(_rgb(0.30, 0.36, 0.34), _rgb(0.22, 0.28, 0.25), np.float32(depth))
        fogginess = 0.88 - 0.42 * depth
        below = np.clip((y - broad) / 0.12, 0, 1)
        valley = _smoothstep(0.15, 1.0, below) * (0.55 - 0.2 * depth)
        tex = 0.10 * (0.3 + depth) * _fbm(seed, 20 + k, h, w, 60 + 40 * k, 4)
        layer = _mix(near_col * (1 + tex)[..., None], haze, np.clip(fogginess + valley, 0, 1))
        out = _mix(out, layer, cover)
    fog = _smoothstep(-0.2, 0.8, _fbm(seed, 40, h, w, 4, 4, aniso=2.5))
    out = _mix(out, haze * 1.03, fog * 0.25)
    return out + _grain(seed, h, w, 0.006)


@_register("high-contrast-particles", "high-contrast particles (sparks and embers on black)", 0.75, 505)
def _draw_particles(h: int, w: int, seed: int) -> np.ndarray:
    x, y = _coords(h, w)
    rng = _rng(seed, 1)
    acc = np.zeros((h * w, 3), np.float64)

    def splat(sx: np.ndarray, sy: np.ndarray, energy: np.ndarray, rgb: np.ndarray) -> None:
        """Bilinear splat of point samples (x, y in width units) into the buffer."""
        fx, fy = sx * w - 0.5, sy * w - 0.5
        ix, iy = np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64)
        tx, ty = fx - ix, fy - iy
        idx, wts = [], []
        for dx, dy, wt in ((0, 0, (1 - tx) * (1 - ty)), (1, 0, tx * (1 - ty)), (0, 1, (1 - tx) * ty), (1, 1, tx * ty)):
            jx, jy = ix + dx, iy + dy
            ok = (jx >= 0) & (jx < w) & (jy >= 0) & (jy < h)
            idx.append((jy * w + jx)[ok])
            wts.append((wt * energy)[ok, None] * rgb[ok])
        flat, weights = np.concatenate(idx), np.concatenate(wts)
        for c in range(3):
            acc[:, c] += np.bincount(flat, weights=weights[:, c], minlength=h * w)

    def temperature(t: np.ndarray) -> np.ndarray:  # 0 = dull red ember .. 1 = white-hot
        return np.stack([np.ones_like(t), 0.25 + 0.7 * t, 0.05 + 0.8 * t**2], axis=1)

    # Sparks: streaks flying out of a source low-left, along slightly curved paths.
    n = 900
    src = np.array([0.18, 0.72])
    ang = rng.uniform(-1.35, 0.25, n)
    dist = rng.gamma(2.0, 0.18, n)
    length = rng.uniform(0.004, 0.05, n) * (0.5 + dist)
    heat = np.clip(rng.beta(2, 2, n) - 0.3 * dist, 0, 1)
    starts = src + dist[:, None] * np.stack([np.cos(ang), np.sin(ang)], 1) + rng.normal(0, 0.02, (n, 2))
    step = 0.7 / w
    counts = np.maximum(2, (length / step).astype(int))
    seg = np.repeat(np.arange(n), counts)
    t = np.concatenate([np.linspace(0, 1, c) for c in counts])
    curve = 0.15 * length[seg] * t**2
    sx = starts[seg, 0] + np.cos(ang[seg]) * length[seg] * t
    sy = starts[seg, 1] + np.sin(ang[seg]) * length[seg] * t + curve
    energy = (0.6 + 1.6 * heat[seg]) * (0.3 + 0.7 * t) * rng.uniform(0.5, 1.3, n)[seg]
    splat(sx, sy, energy, temperature(heat[seg]))
    # Embers and dust: single points, a few bright, many dim.
    m = 2500
    ex, ey = rng.uniform(0, 1, m), rng.uniform(0, h / w, m)
    ee = rng.pareto(2.0, m) * 0.5
    splat(ex, ey, ee, temperature(rng.uniform(0, 0.7, m)))
    img = acc.reshape(h, w, 3).astype(np.float32)
    img = ndi.gaussian_filter(img, 0.6, axes=(0, 1))  # lens point-spread
    bloom = _soft_blur(img, w / 160)
    # Out-of-focus bokeh discs further back.
    bok = PILImage.new("L", (w, h), 0)
    d = ImageDraw.Draw(bok)
    for _ in range(32):
        bx, by, br = rng.uniform(0, 1), rng.uniform(0, h / w), rng.uniform(0.008, 0.03)
        d.ellipse(((bx - br) * w, (by - br) * w, (bx + br) * w, (by + br) * w), fill=int(rng.uniform(12, 45)))
    bok_f = ndi.gaussian_filter(np.asarray(bok, np.float32) / 255.0, w / 900, truncate=3.0)
    smoke = 0.02 * np.clip(_fbm(seed, 2, h, w, 4, 5) + 0.3, 0, 1)
    base = _rgb(0.012, 0.010, 0.016) + smoke[..., None] * _rgb(0.6, 0.5, 0.5) + 0.015 * np.exp(-((x - 0.18) ** 2 + (y - 0.72) ** 2) / 0.05)[..., None] * _rgb(1, 0.5, 0.2)
    light = img + 0.6 * bloom + bok_f[..., None] * _rgb(1.0, 0.55, 0.25)
    out = base + (1 - np.exp(-1.6 * light))  # filmic shoulder: hot cores clip to white smoothly
    return out + _grain(seed, h, w, 0.006)


@_register("deep-shadows", "deep shadows with light shafts (dark interior, sun through a window)", 2 / 3, 606)
def _draw_deep_shadows(h: int, w: int, seed: int) -> np.ndarray:
    x, y = _coords(h, w)
    px = 1.0 / w
    floor_y = 0.46
    # Back wall: dark plaster over stone courses.
    wall = _rgb(0.075, 0.062, 0.052) * (1 + 0.35 * _fbm(seed, 1, h, w, 8, 7))[..., None]
    course = (y * 28 + 0.3 * _fbm(seed, 2, h, w, 5, 2)) % 1.0
    wall = wall * (1 - 0.25 * _box(course, 0.0, 0.06, np.full_like(course, 28 * px)))[..., None]
    # Floor boards in perspective, converging on a vanishing point at the wall's middle.
    depth = np.maximum(y - floor_y + 0.004, 0.004)
    board_x = (x - 0.5) / depth * 1.2  # board index across the floor
    boards = board_x % 1.0
    fw_b = np.maximum(1.2 * px / depth, 1e-4)
    along = 1.0 / depth  # distance into the room, for grain running along the boards
    board_tone = 0.25 * (_hash01(np.floor(board_x), np.floor(along * 0.05), 3) - 0.5)
    streaks = 0.3 * _vnoise_at(seed, 3, board_x * 6.0, along * 0.15)
    floor = _rgb(0.055, 0.038, 0.026) * (1 + board_tone + streaks + 0.2 * _fbm(seed, 4, h, w, 90, 3))[..., None]
    floor = floor * (1 - 0.5 * _box(boards, 0.0, 0.04, fw_b))[..., None]
    on_floor = np.clip((y - floor_y) / px + 0.5, 0, 1)
    scene = _mix(wall, floor, on_floor)

    # Window: four bright panes, overexposed.
    wx0, wx1, wy0, wy1 = 0.13, 0.31, 0.07, 0.33
    pane = _box(np.broadcast_to(x, (h, w)), wx0, wx1, np.full((h, w), px, np.float32)) * _box(np.broadcast_to(y, (h, w)), wy0, wy1, np.full((h, w), px, np.float32))
    mull = _box(np.broadcast_to(x, (h, w)), 0.215, 0.225, np.full((h, w), px, np.float32)) + _box(np.broadcast_to(y, (h, w)), 0.195, 0.205, np.full((h, w), px, np.float32))
    window = pane * np.clip(1 - mull, 0, 1)
    outside = _rgb(1.0, 0.96, 0.86) * (0.9 + 0.1 * _fbm(seed, 5, h, w, 20, 3))[..., None]
    scene = _mix(scene, outside, window)

    # Light shafts: radial blur of the window towards the sun (off-canvas, up-left).
    # Shafts are soft, so they are accumulated on a small canvas with many samples (no
    # stair-steps) and upsampled.
    lw = min(w, 320)
    lh = max(1, round(h * lw / w))
    small = PILImage.fromarray((window * 255).astype(np.uint8)).resize((lw, lh), PILImage.Resampling.BOX)
    sun_x, sun_y = -0.35 * lw, -0.55 * lw
    acc = np.zeros((lh, lw), np.float32)
    samples = 64
    for k in range(samples):
        s = 1.0 - 0.7 * k / samples
        warped = small.transform((lw, lh), PILImage.Transform.AFFINE, (s, 0, sun_x * (1 - s), 0, s, sun_y * (1 - s)), PILImage.Resampling.BILINEAR)
        acc += np.asarray(warped, np.float32) * (0.98**k)
    acc = ndi.gaussian_filter(acc, 0.8) / 255.0 / samples * 5.0
    shafts = np.asarray(PILImage.fromarray(acc, mode="F").resize((w, h), PILImage.Resampling.BICUBIC))
    dust = 0.7 + 0.3 * _fbm(seed, 6, h, w, 10, 5) + 0.25 * _fbm(seed, 7, h, w, 40, 3)
    shafts = shafts * np.clip(dust, 0.2, 1.5) * (1 - window)
    # Where the shafts meet the floor, the boards are lit.
    lit_floor = on_floor * np.clip(shafts * 2.2, 0, 1)
    scene = scene + (shafts * 0.35)[..., None] * _rgb(1.0, 0.9, 0.72)
    scene = scene + (lit_floor[..., None] * floor * 9.0)
    # Motes sparkling inside the shafts.
    motes = _rng(seed, 8).random((h, w), dtype=np.float32)
    scene = scene + ((motes > 0.9985) * np.clip(shafts, 0, 1) * 0.6)[..., None]
    # A pillar in the foreground right, nearly black, with a faint rim.
    pillar = _box(np.broadcast_to(x, (h, w)), 0.74, 0.84, np.full((h, w), px, np.float32))
    pillar_col = _rgb(0.02, 0.017, 0.015) * (1 + 0.3 * _fbm(seed, 9, h, w, 30, 4))[..., None] + (0.04 * _box(np.broadcast_to(x, (h, w)), 0.74, 0.748, np.full((h, w), px, np.float32)))[..., None]
    scene = _mix(scene, pillar_col, pillar)
    vignette = 1 - 0.45 * np.clip(((x - 0.4) ** 2 + ((y - 0.3) * 1.3) ** 2) / 0.35, 0, 1)
    return scene * vignette[..., None] + _grain(seed, h, w, 0.006)


@_register("soft-texture", "soft non-periodic texture (golden fur)", 0.75, 707)
def _draw_soft_texture(h: int, w: int, seed: int) -> np.ndarray:
    x, y = _coords(h, w)
    # Strand coordinates: t across strands, s along them; a smooth warp bends the flow.
    warp_a = _fbm(seed, 1, h, w, 2.5, 3)
    warp_b = _fbm(seed, 2, h, w, 2.5, 3)
    t = x + 0.10 * warp_a + 0.35 * y
    s = y + 0.12 * warp_b - 0.1 * x
    fur = np.zeros((h, w), np.float32)
    total = 0.0
    for k, (ct, cs, amp) in enumerate([(160, 10, 1.0), (330, 18, 0.8), (650, 30, 0.6)]):
        total += amp
        if ct > w * 0.6:
            continue
        fur += amp * _vnoise_at(seed, 10 + k, t * ct, s * cs)
    fur /= total
    clumps = _vnoise_at(seed, 20, t * 22, s * 5) * 0.6 + _vnoise_at(seed, 21, t * 45, s * 9) * 0.4
    tone = 0.5 + 0.5 * _fbm(seed, 3, h, w, 3, 3)
    body = _gradient_palette(np.clip(0.5 + 0.9 * fur + 0.5 * clumps, 0, 1), [(0.0, (0.42, 0.28, 0.15)), (0.45, (0.72, 0.55, 0.33)), (0.8, (0.88, 0.74, 0.52)), (1.0, (0.97, 0.90, 0.74))])
    body = body * (0.75 + 0.35 * tone)[..., None]
    light = 0.85 + 0.2 * (1 - y / (h / w)) - 0.1 * x
    return body * light[..., None] + _grain(seed, h, w, 0.01)


@_register("iridescent-texture", "iridescent fine texture (butterfly-wing scales, thin-film colours)", 0.75, 808)
def _draw_iridescent(h: int, w: int, seed: int) -> np.ndarray:
    x, y = _coords(h, w)
    # Curved rows of overlapping scales.
    u = x * 0.94 + y * 0.34 + 0.05 * _fbm(seed, 1, h, w, 2, 3)
    v = -x * 0.34 + y * 0.94 + 0.05 * _fbm(seed, 2, h, w, 2, 3)
    nu, nv = 95.0, 60.0
    cv = v * nv
    row = np.floor(cv)
    cu = u * nu + 0.5 * (row % 2)
    col = np.floor(cu)
    fu, fv = cu - col, cv - row
    fw = np.maximum(_footprint(cu), _footprint(cv))
    # Scale: a shingle with a rounded tip at the bottom of its cell.
    tip = 0.92 - 0.45 * (2 * fu - 1) ** 2
    inside = _box(fu, 0.06, 0.94, fw) * np.clip((tip - fv) / fw + 0.5, 0, 1)
    ridges_amp = np.clip(1.3 - fw * 8 * 2, 0, 1)
    ridges = 1 + 0.18 * ridges_amp * np.cos(2 * np.pi * fu * 8)
    # Film thickness: smooth over the wing, jittered per scale -> shimmering colour patches.
    thick = 400 + 260 * _fbm(seed, 3, h, w, 2.5, 4) + 40 * (_hash01(col, row, 5) - 0.5) + 15 * fv
    film = _thin_film_rgb(thick)
    brightness = (0.35 + 0.65 * fv) * ridges
    scale_col = (0.03 + 1.1 * film**1.6) * brightness[..., None]
    gap = _rgb(0.03, 0.025, 0.04)
    out = _mix(gap, scale_col, inside)
    # Wing veins: dark curving lines.
    vein_f = _fbm(seed, 4, h, w, 1.5, 2) * 3
    vein = np.abs(((vein_f + 10) % 1.0) - 0.5)
    out = out * (1 - 0.85 * _smoothstep(0.03, 0.0, vein))[..., None]
    return out + _grain(seed, h, w, 0.01)


def _thin_film_rgb(thickness_nm: np.ndarray) -> np.ndarray:
    """Colour reflected by a thin film (soap bubble, oil, wing scale) of given thickness.

    Looked up in `_thin_film_table` (the physics is a 1-D function of thickness).
    """
    table_t, table_rgb = _thin_film_table()
    t = np.asarray(thickness_nm, np.float32)
    return np.stack([np.interp(t, table_t, table_rgb[:, c]).astype(np.float32) for c in range(3)], axis=-1)


@functools.lru_cache(maxsize=1)
def _thin_film_table(n_film: float = 1.45) -> tuple[np.ndarray, np.ndarray]:
    """Two-beam interference summed over the visible spectrum, weighted by rough Gaussian
    colour-matching curves, so the hues are the real interference sequence (gold, magenta,
    blue, green ...), not pure primaries. White light -> (1, 1, 1). Thickness 0-1500 nm.
    """
    thick = np.linspace(0.0, 1500.0, 3001)
    lams = np.arange(400.0, 701.0, 10.0)
    cmf = np.stack(
        [
            np.exp(-(((lams - 600) / 42) ** 2)) + 0.15 * np.exp(-(((lams - 445) / 22) ** 2)),
            np.exp(-(((lams - 550) / 45) ** 2)),
            np.exp(-(((lams - 455) / 28) ** 2)),
        ],
        axis=1,
    )
    cmf /= cmf.sum(axis=0, keepdims=True)
    refl = 0.5 + 0.5 * np.cos(4 * np.pi * n_film * thick[:, None] / lams[None, :])
    return thick, refl @ cmf


@_register("reflections", "reflections with repeated varied patterns (waterfront houses mirrored in water)", 2 / 3, 909)
def _draw_reflections(h: int, w: int, seed: int) -> np.ndarray:
    x, y = _coords(h, w)
    rng = _rng(seed, 1)
    ss = _supersample_factor(h, w)
    W, H = w * ss, h * ss
    waterline = 0.40
    canvas = PILImage.new("RGB", (W, H), (0, 0, 0))
    sky = _gradient_palette(np.broadcast_to(y / waterline, (h, w)), [(0, (0.42, 0.60, 0.84)), (1, (0.80, 0.86, 0.92))])
    sky = _mix(sky, _rgb(0.96, 0.96, 0.97), _smoothstep(0.1, 0.7, _fbm(seed, 2, h, w, 4, 5) + 0.2) * 0.8)
    mask = PILImage.new("L", (W, H), 0)
    d, dm = ImageDraw.Draw(canvas), ImageDraw.Draw(mask)
    palette = [(0.80, 0.55, 0.25), (0.70, 0.25, 0.20), (0.30, 0.45, 0.60), (0.85, 0.78, 0.55), (0.45, 0.58, 0.40),
               (0.88, 0.60, 0.55), (0.55, 0.30, 0.25), (0.92, 0.88, 0.80), (0.30, 0.50, 0.55)]

    def c255(c: Sequence[float]) -> tuple[int, int, int]:
        return tuple(int(np.clip(v, 0, 1) * 255) for v in c)  # type: ignore[return-value]

    def S(v: float) -> float:  # width units -> supersampled pixels
        return v * W

    hx = -0.01
    quay = waterline - 0.03
    while hx < 1.01:
        hw_ = rng.uniform(0.055, 0.095)
        top = rng.uniform(0.08, 0.17)
        colour = np.array(palette[rng.integers(len(palette))]) * rng.uniform(0.9, 1.05)
        d.rectangle((S(hx), S(top), S(hx + hw_), S(quay)), fill=c255(colour))
        dm.rectangle((S(hx), S(top), S(hx + hw_), S(quay)), fill=255)
        roof = rng.integers(3)
        if roof == 0:  # gable
            pts = [(S(hx), S(top)), (S(hx + hw_ / 2), S(top - hw_ * 0.45)), (S(hx + hw_), S(top))]
            d.polygon(pts, fill=c255(colour * 0.92))
            dm.polygon(pts, fill=255)
            d.line(pts, fill=c255((0.95, 0.95, 0.93)), width=max(1, int(S(0.003))))
        elif roof == 1:  # stepped gable
            for k in range(4):
                sw = hw_ * (1 - k * 0.22)
                d.rectangle((S(hx + (hw_ - sw) / 2), S(top - 0.012 * (k + 1)), S(hx + (hw_ + sw) / 2), S(top - 0.012 * k)), fill=c255(colour))
                dm.rectangle((S(hx + (hw_ - sw) / 2), S(top - 0.012 * (k + 1)), S(hx + (hw_ + sw) / 2), S(top - 0.012 * k)), fill=255)
        else:  # flat with cornice
            d.rectangle((S(hx - 0.002), S(top - 0.006), S(hx + hw_ + 0.002), S(top + 0.002)), fill=c255((0.92, 0.91, 0.88)))
            dm.rectangle((S(hx - 0.002), S(top - 0.006), S(hx + hw_ + 0.002), S(top + 0.002)), fill=255)
        cols = max(2, int(hw_ / 0.021))
        floors = int((quay - top - 0.05) / 0.045)
        arched = rng.random() < 0.3
        frame = c255((0.96, 0.95, 0.92))
        for r in range(floors):
            for c in range(cols):
                cx = hx + hw_ * (c + 0.5) / cols
                wy = top + 0.018 + r * 0.045
                ww, wh = 0.0085, 0.022
                glass = c255(np.array([0.12, 0.15, 0.20]) + rng.uniform(0, 0.25))
                box = (S(cx - ww), S(wy), S(cx + ww), S(wy + wh))
                d.rectangle((box[0] - S(0.002), box[1] - S(0.002), box[2] + S(0.002), box[3] + S(0.002)), fill=frame)
                if arched:
                    d.pieslice((box[0] - S(0.002), box[1] - S(ww + 0.002), box[2] + S(0.002), box[1] + S(ww + 0.002)), 180, 360, fill=frame)
                    d.pieslice((box[0], box[1] - S(ww), box[2], box[1] + S(ww)), 180, 360, fill=glass)
                d.rectangle(box, fill=glass)
                d.line((S(cx), box[1], S(cx), box[3]), fill=frame, width=max(1, int(S(0.0015))))
                d.line((box[0], S(wy + wh * 0.45), box[2], S(wy + wh * 0.45)), fill=frame, width=max(1, int(S(0.0015))))
        door_x = hx + hw_ * rng.uniform(0.3, 0.6)
        d.rectangle((S(door_x), S(quay - 0.035), S(door_x + 0.014), S(quay)), fill=c255(colour * 0.45))
        hx += hw_ + rng.uniform(0.0, 0.004)
    # Quay stones.
    d.rectangle((0, S(quay), W, S(waterline)), fill=c255((0.55, 0.53, 0.50)))
    dm.rectangle((0, S(quay), W, S(waterline)), fill=255)
    houses = _downsample(canvas, ss, (w, h))
    hmask = _downsample(mask, ss, (w, h))[..., None]
    houses = houses * (1 + 0.07 * _fbm(seed, 3, h, w, 120, 3) + 0.04 * _fbm(seed, 4, h, w, 8, 3))[..., None]
    houses = houses * (1 - 0.15 * np.clip((y - 0.1) / 0.3, 0, 1))[..., None]
    above = _mix(sky, houses, hmask)

    # Water: mirror about the waterline, displaced by perspective ripples.
    row = np.arange(h)
    wl_px = waterline * w
    water_rows = row[(row + 0.5) > wl_px]
    if len(water_rows):
        yy = ((water_rows + 0.5) / w)[:, None].astype(np.float32)
        dz = (yy - waterline) + 0.004
        X = (x - 0.5) / dz
        ripple = _vnoise_at(seed, 5, X * 0.5, 1 / dz * 0.9) + 0.5 * _vnoise_at(seed, 6, X * 1.2, 1 / dz * 2.3)
        amp = 0.004 + 0.05 * dz
        src_x = (x + amp * 0.35 * ripple) * w - 0.5
        src_y = (2 * waterline - yy + amp * 0.6 * ripple) * w - 0.5
        src_y = np.clip(src_y, 0, wl_px - 1)
        refl = np.stack([ndi.map_coordinates(above[..., c], [np.broadcast_to(src_y, src_x.shape), src_x], order=1, mode="nearest") for c in range(3)], -1)
        fres = (0.55 + 0.3 * np.clip(1 - (yy - waterline) / 0.27, 0, 1))
        water = _rgb(0.06, 0.13, 0.15) * (1 - fres)[..., None] + refl * fres[..., None]
        water = water * (1 + 0.12 * ripple)[..., None]
        above[water_rows] = water
    return above + _grain(seed, h, w, 0.01)


@_register("smooth-gradient", "smooth colour gradients (twilight sky and sea, no texture)", 2 / 3, 1010)
def _draw_smooth_gradient(h: int, w: int, seed: int) -> np.ndarray:
    x, y = _coords(h, w)
    horizon = 0.42
    sky = _gradient_palette(np.broadcast_to(y / horizon, (h, w)), [(0.0, (0.10, 0.14, 0.36)), (0.35, (0.36, 0.27, 0.52)), (0.7, (0.86, 0.47, 0.45)), (1.0, (1.0, 0.74, 0.42))])
    sun_x, sun_y = 0.62, 0.39
    dist = np.sqrt((x - sun_x) ** 2 + (y - sun_y) ** 2)
    glow = np.exp(-dist / 0.10) * 0.55 + np.exp(-dist / 0.03) * 0.35
    sky = sky + glow[..., None] * _rgb(1.0, 0.75, 0.45)
    disc = np.clip((0.028 - dist) * w + 0.5, 0, 1)
    sky = _mix(sky, _rgb(1.0, 0.97, 0.88), disc)
    # Two soft cloud bands: smooth, wide, low-contrast.
    bands = np.exp(-(((y - 0.22 - 0.03 * np.sin(x * 5)) / 0.025) ** 2)) * 0.12 + np.exp(-(((y - 0.31 + 0.02 * x) / 0.015) ** 2)) * 0.10
    sky = _mix(sky, _rgb(0.55, 0.30, 0.45), bands)
    depth = np.clip((y - horizon) / (h / w - horizon), 0, 1)
    sea = _gradient_palette(depth, [(0.0, (0.78, 0.48, 0.45)), (0.3, (0.38, 0.28, 0.45)), (1.0, (0.08, 0.10, 0.26))])
    column = np.exp(-(((x - sun_x) / (0.02 + 0.08 * depth)) ** 2)) * np.exp(-depth * 3) * 0.7
    sea = sea + column[..., None] * _rgb(1.0, 0.75, 0.45)
    return _mix(sky, sea, np.clip((y - horizon) * w + 0.5, 0, 1))


@_register(
    "empty-table",
    "empty table for object additions (low-saturation wooden table seen from above)",
    0.75,
    1111,
    placement_box=(0.1, 0.15, 0.9, 0.85),
    table_box=(0.04, 0.06, 0.96, 0.94),
    max_saturation=0.32,  # HSV saturation of every pixel (drawn <= 0.30; rounding adds a little)
)
def _draw_empty_table(h: int, w: int, seed: int) -> np.ndarray:
    x, y = _coords(h, w)
    px = 1.0 / w
    ar = h / w
    tx0, ty0, tx1, ty1 = 0.04, 0.06 * ar, 0.96, 0.94 * ar
    # Planks run left-right; each has its own grain offset and a slight tone shift.
    planks = 6
    ply = (y - ty0) / (ty1 - ty0) * planks
    plank = np.clip(np.floor(ply), 0, planks - 1)
    fy = ply - plank
    fw = np.full_like(ply, planks * px / (ty1 - ty0))
    # Flat-sawn grain: growth rings of a log cut by a plane give nested arches
    # ("cathedrals") around a centre per plank, thin dark latewood lines, long fibres.
    prng = _rng(seed, 5)
    centre_x = prng.uniform(0.1, 0.9, planks).astype(np.float32)[plank.astype(np.int64)]
    centre_y = (prng.uniform(-0.6, 1.6, planks).astype(np.float32))[plank.astype(np.int64)]
    dy = (fy - centre_y) * (ty1 - ty0) / planks
    rings = np.sqrt(dy * dy + (0.045 * (x - centre_x)) ** 2)
    rings = rings + 0.003 * _fbm(seed, 1, h, w, 3, 4, aniso=4.0) + 0.0015 * _fbm(seed, 6, h, w, 12, 3, aniso=6.0)
    ring_t = (rings * 75.0 + plank * 0.37) % 1.0
    latewood = _smoothstep(0.55, 0.92, ring_t) * (1 - _smoothstep(0.94, 1.0, ring_t))
    fibres = _fbm(seed, 2, h, w, 12, 5, aniso=25.0)
    tone = 1 + 0.08 * (_hash01(plank, plank, 3) - 0.5)
    light_wood = _rgb(0.80, 0.71, 0.58)
    dark_wood = _rgb(0.60, 0.50, 0.41)
    wood = _mix(light_wood, dark_wood, np.clip(0.75 * latewood + 0.25 * (fibres + 0.3), 0, 1)) * tone[..., None]
    wood = wood * (1 + 0.04 * _fbm(seed, 3, h, w, 6, 3, aniso=4.0))[..., None]
    gap = 1 - 0.55 * (_box(fy, -0.02, 0.015, fw) + _box(fy, 0.985, 1.02, fw))
    wood = wood * np.clip(gap, 0.3, 1)[..., None]
    # Soft window light from the top left.
    wood = wood * (0.92 + 0.12 * np.exp(-(((x - 0.2) ** 2 + (y - 0.1) ** 2) / 0.4)))[..., None]
    # Floor: neutral dark grey, so the counter's background stays the wood.
    floor = _rgb(0.24, 0.235, 0.23) * (1 + 0.15 * _fbm(seed, 4, h, w, 20, 5))[..., None]
    table = _box(np.broadcast_to(x, (h, w)), tx0, tx1, np.full((h, w), px, np.float32)) * _box(np.broadcast_to(y, (h, w)), ty0, ty1, np.full((h, w), px, np.float32))
    edge = _box(np.broadcast_to(x, (h, w)), tx0 + 0.006, tx1 - 0.006, np.full((h, w), px, np.float32)) * _box(np.broadcast_to(y, (h, w)), ty0 + 0.006, ty1 - 0.006, np.full((h, w), px, np.float32))
    wood = wood * (0.8 + 0.2 * edge)[..., None]
    # Shadow of the table on the floor (down-right).
    sh = _box(np.broadcast_to(x, (h, w)), tx0 + 0.02, tx1 + 0.02, np.full((h, w), 0.02, np.float32)) * _box(np.broadcast_to(y, (h, w)), ty0 + 0.02, ty1 + 0.02, np.full((h, w), 0.02, np.float32))
    floor = floor * (1 - 0.5 * sh)[..., None]
    out = _mix(floor, wood, table)
    out = out + _grain(seed, h, w, 0.01)
    return _cap_saturation(out, 0.30)


def _cap_saturation(rgb: np.ndarray, max_s: float) -> np.ndarray:
    """Pull any pixel whose HSV saturation exceeds max_s towards grey (keeping its max)."""
    rgb = np.clip(rgb, 0.0, 1.0)
    mx = rgb.max(axis=-1, keepdims=True)
    mn = rgb.min(axis=-1, keepdims=True)
    s = (mx - mn) / np.maximum(mx, 1e-6)
    scale = np.where(s > max_s, max_s / np.maximum(s, 1e-6), 1.0)
    return mx - (mx - rgb) * scale


@_register("flat-cartoon", "flat-colour character (cartoon, flat animation colours, black outlines)", 0.75, 1212)
def _draw_flat_cartoon(h: int, w: int, seed: int) -> np.ndarray:
    ss = _supersample_factor(h, w)
    W, H = w * ss, h * ss
    img = PILImage.new("RGB", (W, H), (140, 205, 240))
    d = ImageDraw.Draw(img)
    S = lambda v: v * W  # width units -> canvas px
    ol = max(1, round(S(0.005)))
    black = (25, 20, 30)

    def ell(cx: float, cy: float, rx: float, ry: float, fill: tuple[int, int, int], outline: bool = True) -> None:
        d.ellipse((S(cx - rx), S(cy - ry), S(cx + rx), S(cy + ry)), fill=fill, outline=black if outline else None, width=ol if outline else 0)

    def poly(pts: Sequence[tuple[float, float]], fill: tuple[int, int, int], outline: bool = True) -> None:
        d.polygon([(S(a), S(b)) for a, b in pts], fill=fill, outline=black if outline else None, width=ol if outline else 0)

    # Background: sun, clouds, two hills.
    ell(0.86, 0.12, 0.065, 0.065, (255, 214, 70))
    for cx, cy in ((0.18, 0.12), (0.55, 0.08)):
        for dx, dy, r in ((0, 0, 0.04), (0.045, -0.015, 0.05), (0.095, 0, 0.038)):
            ell(cx + dx, cy + dy, r * 1.3, r, (255, 255, 255), outline=False)
    ell(0.2, 0.95, 0.6, 0.33, (120, 190, 90))
    ell(0.9, 1.0, 0.55, 0.36, (95, 170, 75))
    ell(0.12, 0.66, 0.05, 0.02, (175, 220, 120), outline=False)
    # Character: a round orange fox-cat standing on the hill.
    cx = 0.5
    ell(cx + 0.17, 0.55, 0.09, 0.035, (240, 140, 50))  # tail
    ell(cx + 0.245, 0.53, 0.035, 0.03, (255, 250, 240))  # tail tip
    ell(cx - 0.07, 0.66, 0.045, 0.03, (230, 120, 40))  # feet
    ell(cx + 0.07, 0.66, 0.045, 0.03, (230, 120, 40))
    ell(cx, 0.52, 0.14, 0.15, (245, 145, 55))  # body
    ell(cx, 0.55, 0.085, 0.1, (255, 240, 215))  # belly
    ell(cx - 0.15, 0.47, 0.04, 0.07, (245, 145, 55))  # arms
    ell(cx + 0.15, 0.47, 0.04, 0.07, (245, 145, 55))
    poly([(cx - 0.17, 0.14), (cx - 0.06, 0.2), (cx - 0.15, 0.3)], (245, 145, 55))  # ears
    poly([(cx + 0.17, 0.14), (cx + 0.06, 0.2), (cx + 0.15, 0.3)], (245, 145, 55))
    poly([(cx - 0.15, 0.185), (cx - 0.09, 0.22), (cx - 0.14, 0.26)], (255, 175, 185), outline=False)
    poly([(cx + 0.15, 0.185), (cx + 0.09, 0.22), (cx + 0.14, 0.26)], (255, 175, 185), outline=False)
    ell(cx, 0.3, 0.16, 0.13, (245, 145, 55))  # head
    ell(cx, 0.35, 0.09, 0.06, (255, 240, 215), outline=False)  # muzzle
    for side in (-1, 1):
        ex = cx + side * 0.065
        ell(ex, 0.28, 0.032, 0.04, (255, 255, 255))
        ell(ex + 0.006, 0.285, 0.019, 0.026, (40, 30, 60), outline=False)
        ell(ex + 0.012, 0.272, 0.007, 0.008, (255, 255, 255), outline=False)
        ell(cx + side * 0.11, 0.345, 0.022, 0.013, (255, 150, 160), outline=False)  # cheeks
    ell(cx, 0.33, 0.016, 0.011, black, outline=False)  # nose
    d.arc((S(cx - 0.035), S(0.32), S(cx), S(0.37)), 0, 160, fill=black, width=ol)
    d.arc((S(cx), S(0.32), S(cx + 0.035), S(0.37)), 20, 180, fill=black, width=ol)
    # A flat blue scarf.
    poly([(cx - 0.12, 0.41), (cx + 0.12, 0.41), (cx + 0.11, 0.445), (cx - 0.11, 0.445)], (70, 110, 220))
    poly([(cx + 0.04, 0.44), (cx + 0.085, 0.44), (cx + 0.1, 0.53), (cx + 0.055, 0.52)], (70, 110, 220))
    return _downsample(img, ss, (w, h))


# Eye palette of the faces seed: four clearly distinct hues (red, yellow, green, blue),
# laid out as a conic gradient around each iris: pure colour k at angle 90k degrees.
_EYE_COLOURS: tuple[tuple[int, int, int], ...] = ((215, 45, 50), (240, 200, 40), (40, 165, 85), (45, 95, 215))
_EYE_SAMPLE_RADIUS = 0.62  # of the iris radius: between pupil (0.28) and limbal ring (0.85)


def _face_layout() -> tuple[tuple[float, float, float], ...]:
    """Iris centres and radius (x, y, r) in width units for the 3x3 faces, left eye first."""
    c = 1.0 / 3.0
    eyes = []
    for j in range(3):
        for i in range(3):
            fx, fy = (i + 0.5) * c, (j + 0.52) * c
            for side in (-1, 1):
                eyes.append((fx + side * 0.14 * c, fy - 0.04 * c, 0.075 * c))
    return tuple(eyes)


def _eye_samples() -> tuple[tuple[float, float, int], ...]:
    """(x, y, colour index) points, as fractions of width/height (the image is square)."""
    pts = []
    for ex, ey, r in _face_layout():
        for k in range(4):
            a = math.radians(90 * k)
            pts.append((round(ex + _EYE_SAMPLE_RADIUS * r * math.cos(a), 6), round(ey + _EYE_SAMPLE_RADIUS * r * math.sin(a), 6), k))
    return tuple(pts)


@_register(
    "eye-palette-faces",
    "3x3 grid of drawn faces whose eyes carry 4-colour gradients (palette simplification)",
    1.0,
    1313,
    eye_colours=_EYE_COLOURS,
    eye_centres=_face_layout(),
    eye_samples=_eye_samples(),
    eye_min_long_side=256,  # below this an iris is < 7 px across and the samples blur together
    grid=(3, 3),
)
def _draw_faces(h: int, w: int, seed: int) -> np.ndarray:
    rng = _rng(seed, 1)
    ss = _supersample_factor(h, w)
    W, H = w * ss, h * ss
    img = PILImage.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(img)
    S = lambda v: v * W  # width units -> canvas px
    ol = max(1, round(S(0.0035)))
    ink = (40, 30, 35)
    skins = [(250, 220, 190), (235, 190, 150), (200, 150, 110), (150, 100, 70), (110, 75, 55), (245, 205, 175)]
    hairs = [(40, 30, 25), (110, 70, 40), (225, 190, 110), (170, 80, 40), (140, 140, 145), (60, 45, 40)]
    backs = [(205, 225, 240), (240, 225, 205), (215, 240, 215), (240, 215, 225), (225, 220, 245), (245, 240, 205)]
    c = 1.0 / 3.0
    eyes = _face_layout()
    for j in range(3):
        for i in range(3):
            k = j * 3 + i
            x0, y0 = i * c, j * c
            d.rectangle((S(x0), S(y0), S(x0 + c), S(y0 + c)), fill=backs[rng.integers(len(backs))])
            fx, fy = (i + 0.5) * c, (j + 0.52) * c
            skin, hair = skins[rng.integers(len(skins))], hairs[rng.integers(len(hairs))]
            style = int(rng.integers(3))
            if style == 0:  # long hair behind the head
                d.rounded_rectangle((S(fx - 0.38 * c), S(fy - 0.42 * c), S(fx + 0.38 * c), S(fy + 0.38 * c)), radius=S(0.2 * c), fill=hair, outline=ink, width=ol)
            d.ellipse((S(fx - 0.36 * c), S(fy - 0.05 * c), S(fx - 0.28 * c), S(fy + 0.09 * c)), fill=skin, outline=ink, width=ol)  # ears
            d.ellipse((S(fx + 0.28 * c), S(fy - 0.05 * c), S(fx + 0.36 * c), S(fy + 0.09 * c)), fill=skin, outline=ink, width=ol)
            d.ellipse((S(fx - 0.31 * c), S(fy - 0.36 * c), S(fx + 0.31 * c), S(fy + 0.38 * c)), fill=skin, outline=ink, width=ol)
            if style in (0, 1):  # fringe
                d.chord((S(fx - 0.32 * c), S(fy - 0.40 * c), S(fx + 0.32 * c), S(fy + 0.05 * c)), 180, 360, fill=hair, outline=ink, width=ol)
            else:  # bun on top
                d.ellipse((S(fx - 0.1 * c), S(fy - 0.47 * c), S(fx + 0.1 * c), S(fy - 0.29 * c)), fill=hair, outline=ink, width=ol)
                d.chord((S(fx - 0.31 * c), S(fy - 0.37 * c), S(fx + 0.31 * c), S(fy - 0.05 * c)), 190, 350, fill=hair, outline=ink, width=ol)
            for ex, ey, r in eyes[2 * k : 2 * k + 2]:
                d.ellipse((S(ex - 1.45 * r), S(ey - 1.2 * r), S(ex + 1.45 * r), S(ey + 1.2 * r)), fill=(252, 252, 250), outline=ink, width=ol)
                d.arc((S(ex - 1.3 * r), S(ey - 2.4 * r), S(ex + 1.3 * r), S(ey - 1.2 * r)), 200, 340, fill=hair, width=ol * 2)  # brow
            d.line((S(fx), S(fy + 0.02 * c), S(fx - 0.025 * c), S(fy + 0.1 * c), S(fx + 0.01 * c), S(fy + 0.11 * c)), fill=ink, width=ol)  # nose
            mouth = int(rng.integers(2))
            if mouth == 0:
                d.arc((S(fx - 0.1 * c), S(fy + 0.08 * c), S(fx + 0.1 * c), S(fy + 0.22 * c)), 20, 160, fill=ink, width=ol)
            else:
                d.chord((S(fx - 0.09 * c), S(fy + 0.12 * c), S(fx + 0.09 * c), S(fy + 0.24 * c)), 0, 180, fill=(180, 60, 70), outline=ink, width=ol)
            cheek = (min(255, skin[0] + 5), int(skin[1] * 0.85), int(skin[2] * 0.85))
            for side in (-1, 1):
                d.ellipse((S(fx + side * 0.2 * c - 0.045 * c), S(fy + 0.06 * c), S(fx + side * 0.2 * c + 0.045 * c), S(fy + 0.11 * c)), fill=cheek)
    out = _downsample(img, ss, (w, h))
    return _paint_irises(out, eyes)


def _paint_irises(out: np.ndarray, eyes: Sequence[tuple[float, float, float]]) -> np.ndarray:
    """Conic 4-colour irises with pupil, limbal ring and highlight, antialiased."""
    h, w = out.shape[:2]
    cols = np.array(_EYE_COLOURS, np.float32) / 255.0
    for ex, ey, r in eyes:
        rp = r * w
        x0, x1 = int(max(0, ex * w - rp - 2)), int(min(w, ex * w + rp + 3))
        y0, y1 = int(max(0, ey * w - rp - 2)), int(min(h, ey * w + rp + 3))
        dx = (np.arange(x0, x1, dtype=np.float32) + 0.5)[None, :] - ex * w
        dy = (np.arange(y0, y1, dtype=np.float32) + 0.5)[:, None] - ey * w
        dist = np.sqrt(dx * dx + dy * dy)
        rel = dist / rp
        ang = (np.degrees(np.arctan2(dy, dx)) % 360.0) / 90.0  # 0..4: stop k at k
        k0 = np.floor(ang).astype(np.int64) % 4
        t = ang - np.floor(ang)
        blend = _smoothstep(0.25, 0.75, t)  # pure colour within +-22.5 degrees of each stop
        iris = cols[k0] + (cols[(k0 + 1) % 4] - cols[k0]) * blend[..., None]
        iris = iris * (1 - 0.55 * _smoothstep(0.85, 1.0, rel))[..., None]
        pupil = np.clip((0.28 * rp - dist) + 0.5, 0, 1)
        iris = _mix(iris, _rgb(0.05, 0.04, 0.06), pupil)
        # Highlight up-left, between the green (180) and blue (270) stops, clear of samples.
        hx, hy = -0.42 * rp, -0.42 * rp
        hl = np.clip(0.17 * rp - np.sqrt((dx - hx) ** 2 + (dy - hy) ** 2) + 0.5, 0, 1)
        iris = _mix(iris, _rgb(1.0, 1.0, 1.0), hl)
        alpha = np.clip(rp - dist + 0.5, 0, 1)
        out[y0:y1, x0:x1] = _mix(out[y0:y1, x0:x1], iris, alpha)
    return out
