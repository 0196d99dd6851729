"""sim-grain-tint's grain has the statistics its docstring claims: band-limited, mid-tone weighted, tinted green."""

from __future__ import annotations

import numpy as np
import pytest

from iqa_audit.core.errors import ConfigError
from iqa_audit.core.images import Image
from iqa_audit.editors import create_editor
from iqa_audit.tasks.table import get_task

PROMPT = get_task("replicate").prompt(1)


def residual(editor_spec: str, grey: int, size: int = 256) -> np.ndarray:
    flat = Image.from_array(np.full((size, size, 3), grey, np.uint8))
    out = create_editor(editor_spec).edit(flat, PROMPT, seed=0, step=1).image.pixels.astype(np.float64)
    return out - grey


def radial_power(luma: np.ndarray) -> np.ndarray:
    """Power per radial frequency bin (cycles/px, 0..0.5 in 16 bins)."""
    power = np.abs(np.fft.fftshift(np.fft.fft2(luma - luma.mean()))) ** 2
    h, w = luma.shape
    fy, fx = np.meshgrid(np.fft.fftshift(np.fft.fftfreq(h)), np.fft.fftshift(np.fft.fftfreq(w)), indexing="ij")
    radius = np.hypot(fy, fx)
    bins = np.minimum((radius / 0.5 * 16).astype(int), 15)
    return np.bincount(bins.ravel(), weights=power.ravel(), minlength=16)


def test_grain_is_band_limited_where_white_noise_is_flat():
    grain = radial_power(residual("sim-grain-tint", 128).mean(axis=2))
    white = radial_power(residual("sim-noise-tint", 128).mean(axis=2))
    per_area = np.arange(1, 17) * 2 - 1  # ring areas grow with the radius
    grain, white = grain / per_area, white / per_area
    # band 1-3 px: power peaks near 1/(2 pi 1.7) ~ 0.1 cycles/px and falls off at the Nyquist end
    assert grain[2:5].mean() > 20 * grain[14:].mean()
    assert white[2:5].mean() < 3 * white[14:].mean()


def test_grain_is_strongest_in_mid_tones_and_tints_green():
    mid, dark = residual("sim-grain-tint", 128), residual("sim-grain-tint", 20)
    assert mid.std() > 1.5 * dark.std()
    mean = mid.reshape(-1, 3).mean(axis=0)
    assert mean[1] > 0.3 and mean[0] < -0.1 and mean[2] < -0.1  # G up, R and B down


@pytest.mark.parametrize("spec", ["sim-grain-tint:coarse_px=0.5", "sim-grain-tint:fine_px=0", "sim-grain-tint:sigma_per_step=-1"])
def test_bad_band_is_a_config_error(spec):
    with pytest.raises(ConfigError):
        create_editor(spec)
