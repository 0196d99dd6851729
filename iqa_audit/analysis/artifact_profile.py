"""The artifact profile of a chain step: a few documented statistics of what changed since step 1.

`artifact_profile(reference, image)` takes two uint8 RGB arrays (H x W x 3) of the same
size, at least 64 px per side: `reference` is step 1 and `image` a later step, *already
aligned* (crop alignment is the caller's job: fidelity.alignment.align_to_reference cuts both to
the same content; this module only checks that the shapes agree). It returns an
`ArtifactProfile`, a frozen dataclass of named floats, one per statistic below. A
statistic that the change does not define is NaN, and `distance` skips it: every shape
statistic of a residual under 0.05 grey levels RMS (nothing changed, or a few pixels by one
level, as in a converged fixed-quality JPEG chain).

Sampling: every statistic is estimated on the same tiles of 64 x 64 px spread over the
image: a centred lattice of 64 px cells (at multiples of 8 px, so a JPEG block grid keeps
its phase), of which one in 12 is picked, at least 4, on a Fibonacci lattice (`tile_origins`:
4 tiles at 512 x 384, a twelfth of the image from 768 x 768 up). PIQE reads every pixel, and
the profile must cost at most about 10 % of it (tests/benchmarks/test_bench_profile.py,
CPU time on one thread at 512 x 384: PIQE about 25 ms, the profile about 2.3 ms, of which
about 1 ms is fixed NumPy call overhead and 0.3 ms each tile), so the sample is what the
budget allows; it grows with the image, so the ratio holds at every size. The spectrum is Welch's estimate (the tiles' periodograms averaged), the
other statistics pool the tiles' pixels, except the luminance dependence, which needs
the image's whole range of grey levels: it reads every 3rd 8x8 block in each direction
over the whole image, at every 2nd pixel of the block each way (a 36th of the pixels).

Notation: Y' = 0.299 R + 0.587 G + 0.114 B (Rec. 601 luma, grey levels 0-255, as the
simulators use); the residual is r = Y'(image) - Y'(reference) minus its mean over the
sample (the mean luma shift is reported by delta_L instead). Frequencies are in cycles per
pixel (0.5 is the Nyquist limit); lags in pixels.

| field | unit | what | source |
|---|---|---|---|
| residual_rms | grey levels | RMS of r: how strong the change is | - |
| spectrum_slope | log10 power per log10 (cycles/px) | least-squares slope of the radially averaged power spectrum (RAPS) of r (Hann-windowed tiles, Welch-averaged; 12 log-spaced rings from 2/64 to 0.5 cycles/px): 0 for white noise, negative when the change is coarse (blur, low-frequency drift), positive when it is fine | RAPS as used for natural-image spectra (van der Schaaf & van Hateren 1996, Vision Research 36:2759); Welch 1967 (IEEE Trans. Audio Electroacoust. 15:70); numpy.fft |
| peak_frequency | cycles/px | geometric centre of the ring with the most power per frequency bin (same rings): the band a band-limited change lives in; NaN when no ring holds twice the rings' median power (a flat spectrum, such as white noise's, has no peak) | same RAPS |
| correlation_length | px | lag where the radially averaged autocorrelation of r (Wiener-Khinchin: inverse FFT of the averaged power spectrum, divided by the window's own autocorrelation) first falls below 1/e, linearly interpolated: about 0.6 px for white noise (the interpolation's floor), 2 s for white noise blurred by a Gaussian of sigma s; capped at 16 px (a quarter tile) | e-folding correlation length; numpy.fft |
| luminance_correlation | Spearman rho, -1..1 | rank correlation (ties averaged) between the reference's 8x8 block mean luminance and the residual's 8x8 block RMS (each from every 2nd pixel of the block each way), over every 3rd block each way: > 0 stronger in highlights, < 0 stronger in shadows | Spearman 1904: Pearson's r of the ranks, ties averaged as scipy.stats.rankdata does |
| midtone_log_ratio | log2 | log2 of (RMS of r over the 8x8 blocks whose reference mean luminance is within 0.25-0.75 of full scale) / (RMS of r over the other blocks): > 0 for mid-tone weighted grain (film-like and model grain), about 0 for uniform noise; NaN when either group has fewer than 8 blocks | - |
| delta_L, delta_a, delta_b | CIELAB units (CIE 1976 L*a*b*, D65, 2 degree observer) | mean L*, a*, b* of image minus reference over every 7th pixel of the tiles in each direction (100 paired pixels per tile): the direction of a colour cast (green tint: delta_a < 0; magenta > 0; yellow: delta_b > 0; blue < 0) | skimage.color.rgb2lab |
| blockiness | ratio (1 = no block grid) | per axis, the mean absolute difference of r across the pixel boundaries of one 8-px phase divided by the mean over the other 7 phases, the strongest phase taken (so a grid off the origin counts); the geometric mean of the two axes: the 8x8 block boundaries of DCT codecs | block-boundary vs within-block differences as in Wang, Sheikh & Bovik 2002 (ICIP, "No-reference perceptual quality assessment of JPEG compressed images"); the spectral form of the same 1/8 periodicity is Wang, Bovik & Evans 2000 (ICIP, "Blind measurement of blocking artifacts in images") |
| mscn_alpha | GGD shape | BRISQUE's first feature of `image`: the generalised Gaussian shape alpha of its mean-subtracted contrast-normalised (MSCN) coefficients; Y' rounded to whole grey levels (pyiqa's to_y_channel), 7x7 Gaussian window sigma 7/6 with zero padding at the image's borders, C = 1, alpha by moment matching on the grid 0.2:0.001:10. Here the MSCN coefficients of the tiles' pixels (each tile filtered with a 3 px margin, so its coefficients are the whole image's); `mscn_alpha(rgb)` computes it over every pixel, as pyiqa does. Of the image only, not of its change: it is what BRISQUE reads, chains compared on one seed share the reference's (`mscn_alpha(reference)`), and the reference's would double the cost of the largest statistic | Mittal, Moorthy & Bovik 2012 (IEEE TIP 21:4695), as pyiqa's brisque computes it; moment matching after Sharifi & Leon-Garcia 1995 |

`ArtifactProfile.distance(other)` is the Euclidean distance between two profiles in a
standardised space: each field is mapped by `SCALES` (a fixed transform, then divided by a
fixed scale: the spread of that statistic measured over the suite's degradations, see
SCALES), and the distance is the root mean square over the fields finite in both profiles
(so a distance of 1 is "one typical spread per statistic"). A later "closest simulator"
table is `min(simulators, key=lambda s: profile.distance(s.profile))`, with every profile
taken on the same seed: across seeds the content moves mscn_alpha, the luminance
statistics (noise clips in deep shadows) and the residual's strength as much as the
degradation does (tests/test_artifact_profile.py checks the match on one seed).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np

from iqa_audit.core.lazy import LazyModule

ndimage = LazyModule("scipy.ndimage")
special = LazyModule("scipy.special")
color = LazyModule("skimage.color")

BLOCK = 8  # px: the DCT block of JPEG, MPEG and WebP's lossy mode
TILE = 64  # px: the side of a sampled tile
MIN_TILES = 4  # tiles sampled from any image
CELLS_PER_TILE = 12  # and one tile per 12 lattice cells beyond that: a twelfth of a large image
RINGS = 12  # log-spaced frequency rings of the power spectrum, from 2/TILE to 0.5 cycles/px
MIN_RING_BINS = 4  # rfft bins a ring needs (per tile) to enter the slope and the peak
MIN_PEAK_PROMINENCE = 2.0  # a peak ring's power over the rings' median: below, the spectrum is flat (no peak)
MAX_LAG = TILE // 4  # px: the longest correlation length reported
LAB_STRIDE = 7  # colour drift over every 7th pixel of the tiles each way (co-prime with the 8 px block grid)
BLOCK_STRIDE = 3  # luminance dependence over every 3rd 8x8 block each way (every 2nd pixel in it), over the whole image
MIN_BLOCKS = 8  # blocks a luminance group needs for midtone_log_ratio
MIN_RESIDUAL_RMS = 0.05  # grey levels: below, a residual is a few pixels off by one level (a converged codec), no shape
MSCN_SIGMA = 7 / 6  # BRISQUE's Gaussian window: 7x7 (radius 3), sigma 7/6
MSCN_RADIUS = 3
MSCN_C = 1.0  # BRISQUE's stabilising constant (grey levels)
# The profile's meaning: bump when a statistic's definition changes. It enters every cached
# profile's key (with this module's source) and results.json's profile records.
PROFILE_VERSION = 1


@dataclass(frozen=True)
class ArtifactProfile:
    """Statistics of the change from a reference (step 1) to an image (a later step).
    Units and sources: the module docstring's table."""

    residual_rms: float
    spectrum_slope: float
    peak_frequency: float
    correlation_length: float
    luminance_correlation: float
    midtone_log_ratio: float
    delta_L: float
    delta_a: float
    delta_b: float
    blockiness: float
    mscn_alpha: float

    def standardised(self) -> dict[str, float]:
        """Each field in the standardised space `distance` measures in (see SCALES)."""
        return {name: scale.apply(getattr(self, name)) for name, scale in SCALES.items()}

    def distance(self, other: "ArtifactProfile") -> float:
        """Root mean square difference over the fields finite in both, in units of each
        field's scale (SCALES); NaN when no field is finite in both."""
        a, b = self.standardised(), other.standardised()
        diffs = [a[k] - b[k] for k in a if math.isfinite(a[k]) and math.isfinite(b[k])]
        return math.sqrt(sum(d * d for d in diffs) / len(diffs)) if diffs else math.nan

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, float | None]) -> "ArtifactProfile":
        """The profile `as_dict` (or JSON of it: null for NaN) wrote; an absent field is NaN."""
        return cls(**{name: math.nan if d.get(name) is None else float(d[name]) for name in PROFILE_FIELDS})


def nearest(target: ArtifactProfile, candidates: Mapping[str, ArtifactProfile]) -> list[tuple[str, float]]:
    """(name, distance) of every candidate by its distance to `target` (ArtifactProfile.distance,
    in SCALES units), nearest first, ties by name; a candidate sharing no finite field with
    the target (distance NaN) is left out."""
    ranked = ((name, target.distance(p)) for name, p in candidates.items())
    return sorted(((n, d) for n, d in ranked if math.isfinite(d)), key=lambda nd: (nd[1], nd[0]))


@dataclass(frozen=True)
class Scale:
    """How one field enters `distance`: transform(value) / spread."""

    spread: float
    transform: Callable[[float], float] = float
    note: str = ""

    def apply(self, value: float) -> float:
        return float(self.transform(value)) / self.spread if math.isfinite(value) else math.nan


def _log2_1p(x: float) -> float:
    return math.log2(1.0 + max(x, 0.0))


def _log2(x: float) -> float:
    return math.log2(x) if x > 0 else math.nan


# Spreads: the standard deviation of each (transformed) statistic over the profiles of the
# suite's degradations, step 10 against step 1, measured by tests/benchmarks/profile_spread.py
# (results/profile-spread.json): 6 editors (codec-jpeg:quality=30, codec-reupload,
# sim-noise-tint, sim-grain-tint, sim-texture-loss, sim-wrinkles) x 4 seeds
# (grid-perspective, low-contrast-haze, high-contrast-particles, deep-shadows) at 384 px,
# rounded to one significant figure. Measured: 1.35, 0.57, 0.62, 0.53, 0.36, 0.79, 1.04,
# 2.59, 1.85, 0.48, 1.69 in the order below.
SCALES: Mapping[str, Scale] = MappingProxyType(
    {
        "residual_rms": Scale(1.0, _log2_1p, "log2(1 + rms): a factor of 2 in strength is about one unit"),
        "spectrum_slope": Scale(0.6),
        "peak_frequency": Scale(0.6, _log2, "octaves"),
        "correlation_length": Scale(0.5, _log2, "octaves"),
        "luminance_correlation": Scale(0.4),
        "midtone_log_ratio": Scale(0.8),
        "delta_L": Scale(1.0),
        "delta_a": Scale(3.0),
        "delta_b": Scale(2.0),
        "blockiness": Scale(0.5, _log2, "log2 of the ratio"),
        "mscn_alpha": Scale(2.0),
    }
)


def artifact_profile(reference: np.ndarray, image: np.ndarray) -> ArtifactProfile:
    """The profile of the change from `reference` to `image` (uint8 RGB, H x W x 3, the same
    size, already crop-aligned by the caller), estimated on the tiles `tile_origins` picks.
    ValueError when the arrays do not qualify."""
    ref, img = _check(reference, "reference"), _check(image, "image")
    if ref.shape != img.shape:
        raise ValueError(f"reference {ref.shape} and image {img.shape} differ in size: align the crop first")
    tiles = _tiles(ref, img)
    luma = _luma(tiles)  # (2, T, S + 6, S + 6)
    inner = (slice(None), slice(MSCN_RADIUS, MSCN_RADIUS + TILE), slice(MSCN_RADIUS, MSCN_RADIUS + TILE))
    y_ref = luma[0][inner]
    r = luma[1][inner] - y_ref
    r -= r.mean()
    rms = math.sqrt(float((r * r).mean()))
    d_l, d_a, d_b = _lab_drift(tiles)
    alpha = _mscn_alpha_tiles(luma[1:])[0]
    if rms < MIN_RESIDUAL_RMS:  # no measurable residual: its shape is undefined
        nan = math.nan
        return ArtifactProfile(0.0, nan, nan, nan, nan, nan, d_l, d_a, d_b, nan, alpha)
    slope, peak, corr = _spectrum(r)
    lum_corr, midtone = _luminance_dependence(ref, img)
    return ArtifactProfile(
        residual_rms=rms,
        spectrum_slope=slope,
        peak_frequency=peak,
        correlation_length=corr,
        luminance_correlation=lum_corr,
        midtone_log_ratio=midtone,
        delta_L=d_l,
        delta_a=d_a,
        delta_b=d_b,
        blockiness=_blockiness(r),
        mscn_alpha=alpha,
    )


LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)


def _luma(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma Y' = 0.299 R + 0.587 G + 0.114 B of uint8 RGB (..., 3), float32 grey levels.
    (tensordot, not `@`: it runs as one BLAS call where matmul loops over the leading axes.)"""
    return np.tensordot(rgb.astype(np.float32), LUMA_WEIGHTS, axes=([-1], [0]))


def tile_origins(height: int, width: int) -> tuple[tuple[int, int], ...]:
    """(top, left) of the tiles a height x width image is profiled on: a lattice of TILE px
    cells centred on the image (offsets rounded down to multiples of 8 px), of which
    n = max(MIN_TILES, cells // CELLS_PER_TILE) are picked (all when there are fewer): tile i
    in row floor((i + 1/2) rows / n) and column floor(frac((i + 1/2) / golden ratio) cols),
    a Fibonacci lattice, which spreads them over both axes."""
    rows, cols = height // TILE, width // TILE
    top0 = (height - rows * TILE) // 2 // BLOCK * BLOCK
    left0 = (width - cols * TILE) // 2 // BLOCK * BLOCK
    count = max(MIN_TILES, rows * cols // CELLS_PER_TILE)
    if rows * cols <= count:
        cells = [(i, j) for i in range(rows) for j in range(cols)]
    else:
        golden = (math.sqrt(5) - 1) / 2
        cells = [(int((i + 0.5) * rows / count), int(((i + 0.5) * golden) % 1.0 * cols)) for i in range(count)]
    return tuple((top0 + i * TILE, left0 + j * TILE) for i, j in cells)


@lru_cache(maxsize=16)
def _boxes(height: int, width: int) -> tuple[tuple[tuple[slice, slice], tuple[slice, slice]], ...]:
    """Cached per image size: for each tile with its 3 px margin, the (rows, columns) it
    covers in the image (clipped to it) and where they land in the (S + 6) x (S + 6) tile."""
    boxes = []
    for top, left in tile_origins(height, width):
        y0, x0 = max(top - MSCN_RADIUS, 0), max(left - MSCN_RADIUS, 0)
        y1, x1 = min(top + TILE + MSCN_RADIUS, height), min(left + TILE + MSCN_RADIUS, width)
        oy, ox = y0 - (top - MSCN_RADIUS), x0 - (left - MSCN_RADIUS)
        boxes.append(((slice(y0, y1), slice(x0, x1)), (slice(oy, oy + y1 - y0), slice(ox, ox + x1 - x0))))
    return tuple(boxes)


def _tiles(*images: np.ndarray) -> np.ndarray:
    """The images' tiles, each with a 3 px margin (the MSCN filter's reach), black beyond
    the image's edge: (N, T, S + 6, S + 6, 3) uint8. Black is luma 0, BRISQUE's zero padding."""
    boxes = _boxes(*images[0].shape[:2])
    side = TILE + 2 * MSCN_RADIUS
    tiles = np.zeros((len(images), len(boxes), side, side, 3), np.uint8)
    for k, (src, dst) in enumerate(boxes):
        for n, image in enumerate(images):
            tiles[n, k][dst] = image[src]
    return tiles


def _check(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"{name}: expected uint8 H x W x 3, got {a.dtype} {a.shape}")
    if min(a.shape[:2]) < TILE:
        raise ValueError(f"{name}: expected at least {TILE} px per side, got {a.shape[1]}x{a.shape[0]}")
    return a


# ----- spectrum and correlation -----------------------------------------------------------------


@lru_cache(maxsize=1)
def _geometry() -> dict[str, np.ndarray]:
    """Cached: the 2D Hann window; the ring of each rfft2 bin (RINGS: outside every ring),
    the bins per ring and the rings' geometric centres; the indices of the lags near 0 in a
    circular autocorrelation, the window's own autocorrelation there, and the ring (rounded
    distance) of each of those lags with its size."""
    window = np.outer(np.hanning(TILE), np.hanning(TILE)).astype(np.float32)
    f = np.hypot(np.fft.fftfreq(TILE)[:, None], np.fft.rfftfreq(TILE)[None, :])
    edges = np.geomspace(2.0 / TILE, 0.5, RINGS + 1)
    ring = np.minimum(np.searchsorted(edges, f, side="right") - 1, RINGS - 1)  # f = 0.5 exactly: the last ring
    ring[(f < edges[0]) | (f > edges[-1])] = RINGS
    near = np.r_[np.arange(-MAX_LAG, 0) % TILE, np.arange(0, MAX_LAG + 1)]
    near = np.ix_(near, near)
    span = np.arange(-MAX_LAG, MAX_LAG + 1)
    lag = np.rint(np.hypot(span[:, None], span[None, :])).astype(int).ravel()
    return {
        "window": window,
        "ring": ring.ravel(),
        "ring_bins": np.bincount(ring.ravel(), minlength=RINGS + 1)[:RINGS],
        "centres": np.sqrt(edges[:-1] * edges[1:]),
        "log_centres": np.log10(np.sqrt(edges[:-1] * edges[1:])),
        "near": near,
        "acf_window": np.fft.irfft2(np.abs(np.fft.rfft2(window)) ** 2, s=(TILE, TILE))[near],
        "lag": lag,
        "lag_bins": np.bincount(lag),
    }


def _spectrum(r: np.ndarray) -> tuple[float, float, float]:
    """(spectrum slope, peak frequency, correlation length) of the residual tiles r (T, S, S)."""
    g = _geometry()
    # No per-tile detrend: r has its mean over all tiles removed, and the window-corrected
    # ACF of a zero-mean residual is unbiased, where subtracting each 64 px tile's own mean
    # would shorten every correlation length by about 10 % (measured on blurred noise).
    spectrum = np.fft.rfft2(r * g["window"])
    power = (spectrum.real**2 + spectrum.imag**2).mean(axis=0)  # Welch: the tiles' periodograms averaged
    total = np.bincount(g["ring"], weights=power.ravel(), minlength=RINGS + 1)[:RINGS]
    ok = (g["ring_bins"] >= MIN_RING_BINS) & (total > 0)
    density = total[ok] / g["ring_bins"][ok]
    centres = g["centres"][ok]
    slope = _slope(g["log_centres"][ok], np.log10(density)) if density.size >= 3 else math.nan
    peak = math.nan  # a flat spectrum has no peak: its argmax would be chance
    if density.size and density.max() >= MIN_PEAK_PROMINENCE * np.median(density):
        peak = float(centres[np.argmax(density)])
    # Wiener-Khinchin: the autocorrelation is the inverse FFT of the power spectrum; dividing
    # by the window's own autocorrelation undoes the taper (the residual is taken as stationary).
    acf = np.fft.irfft2(power, s=(TILE, TILE))[g["near"]] / g["acf_window"]
    radial = np.bincount(g["lag"], weights=acf.ravel()) / g["lag_bins"]
    radial = radial[: MAX_LAG + 1] / radial[0]
    below = np.flatnonzero(radial < 1 / math.e)
    if below.size == 0:
        return slope, peak, float(MAX_LAG)
    k = int(below[0])
    a, b = float(radial[k - 1]), float(radial[k])
    return slope, peak, k - 1 + (a - 1 / math.e) / (a - b)


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    """The least-squares slope of y on x."""
    dx = x - x.mean()
    return float(dx @ (y - y.mean()) / (dx @ dx))


# ----- luminance, colour, blocks, MSCN --------------------------------------------------------


def _block_lattice(*images: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of every BLOCK_STRIDE-th 8x8 block of each image in both directions,
    read at every 2nd pixel each way (16 of a block's 64: enough for its mean and RMS;
    a 36th of the pixels, spread over the whole image): (N, blocks, 16)."""
    h, w = images[0].shape[0] // BLOCK, images[0].shape[1] // BLOCK
    first = BLOCK_STRIDE // 2
    picked = [
        a[: h * BLOCK, : w * BLOCK].reshape(h, BLOCK, w, BLOCK, 3)[first::BLOCK_STRIDE, ::2, first::BLOCK_STRIDE, ::2]
        for a in images
    ]
    luma = _luma(np.stack(picked))  # (N, h', 4, w', 4)
    return luma.transpose(0, 1, 3, 2, 4).reshape(len(images), -1, (BLOCK // 2) ** 2)


def _luminance_dependence(ref: np.ndarray, img: np.ndarray) -> tuple[float, float]:
    """(Spearman's rho, mid-tone log ratio) between the reference's block luminance and the
    residual's block RMS, over the block lattice (the residual's mean over it removed)."""
    y_ref, y_img = _block_lattice(ref, img)
    r = y_img - y_ref
    r -= r.mean()
    level = y_ref.mean(axis=1) / 255.0
    power = (r * r).mean(axis=1)  # mean square residual per block
    strength = np.sqrt(power)
    rho = math.nan
    if np.ptp(level) > 0 and np.ptp(strength) > 0:
        rho = _pearson(_ranks(level), _ranks(strength))  # Spearman's rho: Pearson's r of the ranks
    mid = (level >= 0.25) & (level <= 0.75)
    n_mid = int(mid.sum())
    midtone = math.nan
    if n_mid >= MIN_BLOCKS and mid.size - n_mid >= MIN_BLOCKS:
        m, e = float(power[mid].mean()), float(power[~mid].mean())
        midtone = 0.5 * math.log2(m / e) if m > 0 and e > 0 else math.nan  # a ratio of RMS: half the log of the power ratio
    return rho, midtone


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged: scipy.stats.rankdata(x) without its array-API dispatch,
    which alone cost a tenth of the profile's budget."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    first = np.empty(x.size, bool)  # the first of each run of equal values
    first[0] = True
    np.not_equal(xs[1:], xs[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, x.size))
    ranks = np.empty(x.size)
    ranks[order] = (starts + (counts + 1) / 2)[np.cumsum(first) - 1]
    return ranks


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float(a @ b / math.sqrt(float(a @ a) * float(b @ b)))


def _lab_drift(tiles: np.ndarray) -> tuple[float, float, float]:
    """Mean L*, a*, b* of the image's tiles minus the reference's, over every LAB_STRIDE-th pixel."""
    sub = tiles[:, :, MSCN_RADIUS : MSCN_RADIUS + TILE : LAB_STRIDE, MSCN_RADIUS : MSCN_RADIUS + TILE : LAB_STRIDE]
    # float32 in [0, 1], one (n, 3) array: skimage's uint8 path costs more than the conversion
    lab = color.rgb2lab((sub.reshape(-1, 3) * np.float32(1 / 255)).astype(np.float32)).reshape(2, -1, 3).mean(axis=1)
    d = lab[1] - lab[0]
    return float(d[0]), float(d[1]), float(d[2])


def _blockiness(r: np.ndarray) -> float:
    """Per axis: mean |difference| across the boundaries of each 8-px phase (tiles start on
    the 8 px grid, so a phase within a tile is the image's), the strongest phase over the
    mean of the other 7; the geometric mean of the two axes' ratios."""
    product = 1.0
    n = (TILE - 1) // BLOCK * BLOCK  # whole phase cycles among a tile's TILE - 1 boundaries
    for axis, other in ((2, 1), (1, 2)):
        diffs = np.abs(np.diff(r, axis=axis)).mean(axis=(0, other))  # one mean per boundary position
        phases = diffs[:n].reshape(-1, BLOCK).mean(axis=0)
        top = float(phases.max())
        rest = (float(phases.sum()) - top) / (BLOCK - 1)
        if rest <= 0:
            return math.nan
        product *= top / rest
    return math.sqrt(product)


@lru_cache(maxsize=1)
def _ggd_table() -> tuple[np.ndarray, np.ndarray]:
    """BRISQUE's moment-matching table: alpha on 0.2:0.001:10 and
    Gamma(1/a) Gamma(3/a) / Gamma(2/a)^2, the ratio E[x^2] / E[|x|]^2 of a GGD of shape a."""
    alpha = np.arange(0.2, 10 + 0.0005, 0.001)
    ratio = np.exp(special.gammaln(1 / alpha) + special.gammaln(3 / alpha) - 2 * special.gammaln(2 / alpha))
    return alpha, ratio


@lru_cache(maxsize=1)
def _mscn_kernel() -> np.ndarray:
    """BRISQUE's window along one axis: a Gaussian of sigma 7/6 over 7 taps, normalised
    (the 7x7 window fspecial('gaussian', 7, 7/6) is its outer product)."""
    taps = np.exp(-0.5 * (np.arange(-MSCN_RADIUS, MSCN_RADIUS + 1) / MSCN_SIGMA) ** 2)
    return (taps / taps.sum()).astype(np.float32)


def _mscn(y: np.ndarray, margin: int = 0) -> np.ndarray:
    """MSCN coefficients of (..., H, W) over the last two axes: BRISQUE's 7x7 Gaussian
    window, zero padding, C = 1; without the outer `margin` px of each side (the filter runs
    on them, the output leaves them out)."""
    k = _mscn_kernel()
    inner = slice(margin, y.shape[-1] - margin)
    moments = ndimage.correlate1d(np.stack([y, y * y]), k, axis=-1, mode="constant", cval=0.0)[..., inner]
    moments = ndimage.correlate1d(moments, k, axis=-2, mode="constant", cval=0.0)[..., inner, :]
    mu, second = moments
    return (y[..., inner, inner] - mu) / (np.sqrt(np.abs(second - mu * mu)) + MSCN_C)


def _ggd_alphas(x: np.ndarray) -> np.ndarray:
    """The GGD shape of each row of x by moment matching (BRISQUE's estimateggdparam: the
    table entry nearest to E[x^2] / E[|x|]^2; the table falls monotonically with alpha)."""
    second, first = (x * x).mean(axis=1), np.abs(x).mean(axis=1)
    alpha, ratio = _ggd_table()
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = second / (first * first)
    falling = ratio[::-1]  # rising, for searchsorted
    hi = np.clip(np.searchsorted(falling, rho), 1, falling.size - 1)
    nearest = np.where(np.abs(falling[hi - 1] - rho) <= np.abs(falling[hi] - rho), hi - 1, hi)
    return np.where(first > 0, alpha[::-1][nearest], np.nan)


def _brisque_y(luma: np.ndarray) -> np.ndarray:
    """The grey image pyiqa's BRISQUE reads: Rec. 601 luma (YIQ's Y) in grey levels, rounded
    (pyiqa.utils.color_util.to_y_channel(x, 255))."""
    return np.round(luma)


def mscn_alpha(rgb: np.ndarray) -> float:
    """BRISQUE's first feature of a whole uint8 RGB image: the GGD shape of its MSCN
    coefficients (the number pyiqa's brisque computes at the first scale)."""
    y = _brisque_y(_luma(_check(rgb, "image")))
    return float(_ggd_alphas(_mscn(y).reshape(1, -1))[0])


def _mscn_alpha_tiles(luma: np.ndarray) -> tuple[float, ...]:
    """mscn_alpha of each image from the luma of its tiles with their 3 px margins
    (N, T, S + 6, S + 6), 0 beyond the image's edge as BRISQUE pads: the tiles' inner
    coefficients are those of the whole image."""
    mscn = _mscn(_brisque_y(luma), MSCN_RADIUS)
    return tuple(float(a) for a in _ggd_alphas(mscn.reshape(luma.shape[0], -1)))


PROFILE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ArtifactProfile))
