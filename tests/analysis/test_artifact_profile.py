"""The artifact profile measures what it says on changes whose statistics are known.

Known answers: a JPEG quality-30 re-encode has an 8x8 block grid; white noise has a flat
power spectrum and no spatial correlation; band-limited noise (a difference of Gaussians)
has its power in its band; a green tint moves a* negative. Then the suite's own
simulators, run for a few steps as chains do, differ the way their docstrings say.
"""

from __future__ import annotations

import dataclasses
import io
import math

import numpy as np
import pytest
from PIL import Image as PILImage
from scipy import ndimage

from iqa_audit.analysis.artifact_profile import PROFILE_FIELDS, SCALES, ArtifactProfile, artifact_profile, mscn_alpha
from iqa_audit.editors import create_editor
from iqa_audit.seeds import get_seed
from iqa_audit.tasks.table import get_task

SEED = "soft-texture"  # texture in mid-tones, and almost nothing that clips (clipped noise is not white)
GRADIENT = "smooth-gradient"  # every grey level: the luminance statistics need shadows, mid-tones and highlights
LONG_SIDE = 384


@pytest.fixture(scope="module")
def seed() -> np.ndarray:
    return get_seed(SEED).render(LONG_SIDE).pixels


def add(pixels: np.ndarray, delta: np.ndarray) -> np.ndarray:
    return np.clip(np.round(pixels.astype(np.float64) + delta), 0, 255).astype(np.uint8)


def luma_noise(shape, sigma: float, rng_seed: int = 0) -> np.ndarray:
    """White Gaussian noise on R, G and B alike (grey grain), sigma in grey levels."""
    return np.random.default_rng(rng_seed).normal(0, sigma, shape[:2] + (1,))


def band_noise(shape, fine: float, coarse: float, sigma: float = 5.0) -> np.ndarray:
    """A difference of Gaussians of white noise: power in about 1/(2 pi coarse)..1/(2 pi fine) cycles/px."""
    n = np.random.default_rng(1).normal(0, 1, shape[:2])
    dog = ndimage.gaussian_filter(n, fine) - ndimage.gaussian_filter(n, coarse)
    return (dog * sigma / dog.std())[..., None]


def jpeg(pixels: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    PILImage.fromarray(pixels).save(buf, format="JPEG", quality=quality)
    return np.asarray(PILImage.open(buf).convert("RGB"))


# ----- known answers ---------------------------------------------------------------------------


def test_jpeg_shows_the_8x8_block_peak_and_white_noise_does_not(seed):
    coded = artifact_profile(seed, jpeg(seed, 30))
    white = artifact_profile(seed, add(seed, luma_noise(seed.shape, 5)))
    assert coded.blockiness > 1.3, coded
    assert abs(white.blockiness - 1) < 0.05, white
    assert coded.blockiness > white.blockiness + 0.25


def test_white_noise_has_a_flat_spectrum_and_no_correlation(seed):
    white = artifact_profile(seed, add(seed, luma_noise(seed.shape, 5)))
    assert abs(white.spectrum_slope) < 0.15, white
    assert math.isnan(white.peak_frequency)  # flat: no peak
    assert white.correlation_length < 0.8  # falls below 1/e within one pixel
    assert white.residual_rms == pytest.approx(5, rel=0.1)
    assert abs(white.delta_a) < 0.3 and abs(white.delta_b) < 0.3  # grey noise: no colour cast


@pytest.mark.parametrize(("fine", "coarse"), [(1.0, 3.0), (2.0, 6.0)])
def test_band_limited_noise_shows_its_band(seed, fine, coarse):
    low, high = 1 / (2 * math.pi * coarse), 1 / (2 * math.pi * fine)
    band = artifact_profile(seed, add(seed, band_noise(seed.shape, fine, coarse)))
    white = artifact_profile(seed, add(seed, luma_noise(seed.shape, 5)))
    assert low <= band.peak_frequency <= high, (low, band.peak_frequency, high)
    assert abs(band.spectrum_slope - white.spectrum_slope) > 0.3  # not flat (which way depends on where the band sits)
    assert band.correlation_length > white.correlation_length + 0.5
    assert band.correlation_length == pytest.approx(1.5 * fine, rel=0.5)


@pytest.mark.parametrize("sigma", [2.0, 4.0])
def test_correlation_length_of_blurred_noise_is_twice_its_blur(seed, sigma):
    """White noise blurred by a Gaussian of sigma s has the autocorrelation exp(-lag^2 / 4 s^2):
    it falls to 1/e at a lag of 2 s."""
    grey = np.full_like(seed, 128)  # nothing clips: the residual is the blurred noise alone
    n = ndimage.gaussian_filter(np.random.default_rng(2).normal(0, 1, seed.shape[:2]), sigma)
    blurred = artifact_profile(grey, add(grey, (n * 5 / n.std())[..., None]))
    assert blurred.correlation_length == pytest.approx(2 * sigma, rel=0.12)


@pytest.mark.parametrize(
    ("tint", "field", "sign"),
    [((-3, 6, -3), "delta_a", -1), ((6, -3, 6), "delta_a", +1), ((3, 3, -6), "delta_b", +1), ((-3, -3, 6), "delta_b", -1)],
)
def test_a_colour_cast_moves_its_cielab_axis(seed, tint, field, sign):
    """Green: a* < 0 (magenta: > 0); yellow: b* > 0 (blue: < 0)."""
    profile = artifact_profile(seed, add(seed, np.array(tint, float)))
    assert sign * getattr(profile, field) > 2, profile


@pytest.mark.parametrize(("weighting", "sign"), [("highlights", +1), ("shadows", -1)])
def test_noise_stronger_in_highlights_or_shadows_correlates_with_luminance(weighting, sign):
    seed = get_seed(GRADIENT).render(LONG_SIDE).pixels
    level = (0.299 * seed[..., 0] + 0.587 * seed[..., 1] + 0.114 * seed[..., 2]) / 255.0
    weight = (0.1 + (level if weighting == "highlights" else 1 - level))[..., None]
    profile = artifact_profile(seed, add(seed, luma_noise(seed.shape, 4) * weight))
    assert sign * profile.luminance_correlation > 0.5, profile


def test_mid_tone_grain_and_uniform_noise_differ_in_luminance_dependence():
    seed = get_seed(GRADIENT).render(LONG_SIDE).pixels
    level = (0.299 * seed[..., 0] + 0.587 * seed[..., 1] + 0.114 * seed[..., 2]) / 255.0
    weight = (0.35 + 2.6 * level * (1 - level))[..., None]  # sim-grain-tint's mid-tone weighting
    weighted = artifact_profile(seed, add(seed, luma_noise(seed.shape, 5) * weight))
    uniform = artifact_profile(seed, add(seed, luma_noise(seed.shape, 5)))
    assert weighted.midtone_log_ratio > uniform.midtone_log_ratio + 0.3
    assert abs(uniform.midtone_log_ratio) < 0.2


def test_mscn_alpha_is_brisques_first_feature(seed):
    """The same number pyiqa's BRISQUE computes (its to_y_channel grey, 7x7 Gaussian, zero
    padding, moment matching on 0.2:0.001:10)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("pyiqa")
    from pyiqa.archs.func_util import estimate_ggd_param, normalize_img_with_gauss
    from pyiqa.utils.color_util import to_y_channel

    for pixels in (seed, add(seed, luma_noise(seed.shape, 8))):
        x = torch.from_numpy(pixels.astype(np.float32) / 255).permute(2, 0, 1)[None]
        expected = float(estimate_ggd_param(normalize_img_with_gauss(to_y_channel(x, 255.0), 7, 7 / 6, padding="same"))[0])
        assert mscn_alpha(pixels) == pytest.approx(expected, abs=0.0015)  # the grid's step: the same table entry
        # the profile's estimate from its tiles (a sixth of this image) is near the whole image's
        assert artifact_profile(pixels, pixels).mscn_alpha == pytest.approx(expected, abs=0.3)


def test_the_tiles_mscn_coefficients_are_the_whole_images(seed):
    """Each tile is filtered with a 3 px margin of the image (zeros beyond its edge), so its
    coefficients equal the whole image's at those pixels, border tiles included."""
    from iqa_audit.analysis import artifact_profile as module

    whole = module._mscn(module._brisque_y(seed.astype(np.float32) @ module.LUMA_WEIGHTS))
    tiles = module._mscn(module._brisque_y(module._tiles(seed)[0].astype(np.float32) @ module.LUMA_WEIGHTS), 3)
    origins = module.tile_origins(*seed.shape[:2])
    assert any(top == 0 or left == 0 for top, left in origins)  # a tile on the image's edge is among them
    for tile, (top, left) in zip(tiles, origins):
        assert np.allclose(tile, whole[top : top + module.TILE, left : left + module.TILE], atol=1e-4)


def test_spearman_ranks_average_ties():
    from scipy import stats

    from iqa_audit.analysis.artifact_profile import _ranks

    rng = np.random.default_rng(3)
    for x in (rng.random(64), rng.integers(0, 4, 64).astype(float), np.ones(8)):
        assert np.allclose(_ranks(x), stats.rankdata(x))


def test_no_change_has_no_residual_shape_and_zero_distance(seed):
    same = artifact_profile(seed, seed.copy())
    assert same.residual_rms == 0 and same.delta_L == same.delta_a == same.delta_b == 0
    assert same.mscn_alpha == artifact_profile(seed, seed).mscn_alpha
    assert all(math.isnan(getattr(same, f)) for f in ("spectrum_slope", "peak_frequency", "correlation_length", "blockiness"))
    assert same.distance(same) == 0


def test_the_profile_is_a_frozen_record_of_named_floats(seed):
    profile = artifact_profile(seed, jpeg(seed, 50))
    assert PROFILE_FIELDS == tuple(SCALES) and all(isinstance(v, float) for v in profile.as_dict().values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile.blockiness = 1.0  # type: ignore[misc]
    other = artifact_profile(seed, add(seed, luma_noise(seed.shape, 5)))
    assert profile.distance(other) == pytest.approx(other.distance(profile)) and profile.distance(other) > 0
    shifted = ArtifactProfile(**{**other.as_dict(), "delta_a": other.delta_a + SCALES["delta_a"].spread})
    # one scale's worth on one of the n statistics defined: sqrt(1/n) (white noise's spectrum
    # has no peak, and this seed's mid-tone ratio has too few dark and bright blocks)
    defined = [f for f in PROFILE_FIELDS if math.isfinite(getattr(other, f))]
    assert set(PROFILE_FIELDS) - set(defined) == {"peak_frequency", "midtone_log_ratio"}
    assert other.distance(shifted) == pytest.approx(math.sqrt(1 / len(defined)))


@pytest.mark.parametrize(
    ("reference", "image", "words"),
    [
        (np.zeros((64, 64, 3), np.uint8), np.zeros((64, 72, 3), np.uint8), "align the crop first"),
        (np.zeros((64, 64, 3), np.float32), np.zeros((64, 64, 3), np.uint8), "expected uint8"),
        (np.zeros((64, 64), np.uint8), np.zeros((64, 64), np.uint8), "expected uint8 H x W x 3"),
        (np.zeros((48, 64, 3), np.uint8), np.zeros((48, 64, 3), np.uint8), "at least 64 px"),
    ],
)
def test_inputs_that_do_not_qualify_are_refused(reference, image, words):
    with pytest.raises(ValueError, match=words):
        artifact_profile(reference, image)


# ----- the suite's simulators --------------------------------------------------------------------


def chain_profile(spec: str, seed_name: str = SEED, steps: int = 5, run: int = 0) -> ArtifactProfile:
    """Step `steps` against step 1 of a replicate chain, built in memory as the chain builder does."""
    editor, task = create_editor(spec), get_task("replicate")
    image = get_seed(seed_name).render(LONG_SIDE)
    outputs = []
    for k in range(1, steps + 1):
        image = editor.edit(image, task.prompt(k), seed=run, step=k).image
        outputs.append(image)
    return artifact_profile(outputs[0].pixels, outputs[-1].pixels)


@pytest.fixture(scope="module")
def sims():
    return {spec: chain_profile(spec) for spec in ("sim-noise-tint", "sim-grain-tint", "codec-jpeg", "codec-reupload")}


def test_grain_tint_is_correlated_band_limited_and_mid_tone_where_noise_tint_is_white(sims):
    noise, grain = sims["sim-noise-tint"], sims["sim-grain-tint"]
    assert abs(noise.spectrum_slope) < 0.2 and noise.correlation_length < 0.8 and math.isnan(noise.peak_frequency)
    assert abs(grain.spectrum_slope - noise.spectrum_slope) > 0.3  # not flat
    assert grain.correlation_length > noise.correlation_length + 0.5
    assert 1 / (2 * math.pi * 3.0) <= grain.peak_frequency <= 1 / (2 * math.pi * 1.0)  # its DoG band, 1-3 px
    for tinted in (noise, grain):  # G up, R and B down: green-yellow
        assert tinted.delta_a < -1 and tinted.delta_b > 0.5
    # on a seed with every grey level: the grain is weighted to mid-tones, the noise is not
    noise, grain = chain_profile("sim-noise-tint", GRADIENT), chain_profile("sim-grain-tint", GRADIENT)
    assert grain.midtone_log_ratio > noise.midtone_log_ratio + 0.2
    assert abs(noise.midtone_log_ratio) < 0.2


def test_codec_jpeg_carries_the_block_grid_the_simulators_do_not(sims):
    assert sims["codec-jpeg"].blockiness > 1.5
    assert sims["sim-noise-tint"].blockiness < 1.1 and sims["sim-grain-tint"].blockiness < 1.1
    assert abs(sims["codec-jpeg"].delta_a) < 0.3  # no tint


def test_a_converged_codec_chain_has_no_residual_shape():
    """Fixed-quality JPEG is nearly idempotent: on deep-shadows step 5 differs from step 1 in
    a few pixels by one level, which has no spectrum, blocks or correlation to speak of."""
    converged = chain_profile("codec-jpeg", seed_name="deep-shadows")
    assert converged.residual_rms < 0.05 and math.isnan(converged.blockiness) and math.isnan(converged.spectrum_slope)


@pytest.mark.parametrize("seed_name", [SEED, GRADIENT, "deep-shadows", "grid-perspective"])
def test_the_closest_profile_names_the_degradation_of_another_run(seed_name):
    """A few lines make the later "closest simulator" table: on one seed, a chain of another
    run and length is nearest to its own editor's profile. (codec-reupload stands for the
    codecs: it keeps degrading, where codec-jpeg converges. Across seeds the match is not
    reliable: mscn_alpha, the luminance correlation of clipped noise and the peak of a flat
    spectrum follow the content, so the table should compare chains on the same seed.)"""
    specs = ("sim-noise-tint", "sim-grain-tint", "codec-reupload")
    known = {spec: chain_profile(spec, seed_name) for spec in specs}
    for spec in specs:
        held_out = chain_profile(spec, seed_name, steps=8, run=1)
        assert min(known, key=lambda s: held_out.distance(known[s])) == spec
