"""Built-in classic measures that need no weights: `iqa_audit:noise-sigma`, `iqa_audit:blur-effect`.

noise-sigma is the suite's positive control. The study's first visible artifact is
accumulating static noise; a wavelet noise estimate must rise along a degrading chain,
so if the audit reports that noise-sigma "does not notice" a chain, the chain (or the
harness), not the metrics, is what broke.

Both run at full resolution: noise lives in the finest wavelet band, and downsampling
averages it away (2x2 box downsampling halves a white-noise sigma). Measured on the 2-core
dev machine: noise-sigma 0.18 s and blur-effect 0.15 s per 1024x1024 image, 0.9 s and
0.7 s at 2048x2048.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from iqa_audit.core import keys
from iqa_audit.core.errors import explain
from iqa_audit.core.images import Image
from iqa_audit.metrics.base import MetricUnavailable, ScoreError, TypicalRange, check_images, failure_hint
from iqa_audit.metrics.batching import is_out_of_memory

# Bump when the computation below changes (not when skimage does: its version is in
# `version` separately). The module's source digest is in `version` too, so an edit that
# nobody bumped for still re-scores.
NOISE_SIGMA_ALGORITHM = "1"
BLUR_EFFECT_ALGORITHM = "1"

DECLARED = "iqa-audit: declared"


@dataclass(frozen=True, eq=False)
class ClassicMetric:
    """A per-image numpy function with the Metric attributes."""

    id: str
    name: str
    version: str
    range: TypicalRange
    fn: Callable[[np.ndarray], float]

    def score(self, images: Sequence[Image]) -> np.ndarray:
        imgs = check_images(images, self.name)
        out = np.empty(len(imgs), dtype=np.float64)
        for i, im in enumerate(imgs):  # one image at a time: there is no batch to shrink
            try:
                out[i] = self.fn(im.pixels)
            except (ValueError, RuntimeError, MemoryError) as e:
                if is_out_of_memory(e):
                    raise ScoreError(
                        explain(
                            f"metric {self.name}: image {i} ({im.width}x{im.height})",
                            expected="one image to fit in free RAM",
                            got=f"out of memory ({e})",
                            fix="Free memory (fewer pytest-xdist workers, -n 1), or audit smaller images "
                            "with a smaller --long-side.",
                        )
                    ) from None
                raise ScoreError(
                    explain(
                        f"metric {self.name}: image {i} ({im.width}x{im.height})",
                        expected="an image the measure can compute",
                        got=str(e),
                        fix=failure_hint(im.width, im.height),
                    )
                ) from None
        return out


def noise_sigma(pixels: np.ndarray) -> float:
    """Wavelet (Donoho MAD) noise estimate in grey levels, averaged over R, G, B."""
    from skimage.restoration import estimate_sigma

    f = pixels.astype(np.float64) / 255.0
    return float(estimate_sigma(f, average_sigmas=True, channel_axis=-1)) * 255.0


def blur_effect(pixels: np.ndarray) -> float:
    """Crété-Roffet blur effect on the luma: 0 sharp … 1 blurred."""
    from skimage.color import rgb2gray
    from skimage.measure import blur_effect as _blur_effect

    return float(_blur_effect(rgb2gray(pixels)))


def _skimage_version() -> str:
    import skimage

    return skimage.__version__


def _require_pywavelets() -> str:
    # skimage's estimate_sigma imports PyWavelets lazily; check at creation so the
    # failure is a skip with an install hint instead of an ImportError mid-scoring.
    try:
        import pywt
    except ImportError:
        raise MetricUnavailable(
            explain(
                "metric iqa_audit:noise-sigma",
                expected="the PyWavelets package",
                got="it is not installed",
                fix="pip install PyWavelets",
            )
        ) from None
    return pywt.__version__


def _code() -> str:
    """12 hex of this module's source digest (keys.code_digest)."""

    return keys.code_digest(sys.modules[__name__])[:12]


def create_noise_sigma(name: str = "iqa_audit:noise-sigma") -> ClassicMetric:
    pywt_version = _require_pywavelets()
    return ClassicMetric(
        id="noise-sigma",
        name=name,
        version=f"skimage-{_skimage_version()}+pywt-{pywt_version}+noise-sigma-{NOISE_SIGMA_ALGORITHM}+code-{_code()}",
        # 0-20 grey levels, lower is better. Measured: a clean smooth render reads 0.25,
        # the same as JPEG q=75 0.28; added Gaussian noise of sigma s reads about s
        # (tests check within 15 % for s >= 5); 20 is heavy, plainly visible noise.
        range=TypicalRange(0.0, 20.0, False, DECLARED),
        fn=noise_sigma,
    )


def create_blur_effect(name: str = "iqa_audit:blur-effect") -> ClassicMetric:
    return ClassicMetric(
        id="blur-effect",
        name=name,
        version=f"skimage-{_skimage_version()}+blur-effect-{BLUR_EFFECT_ALGORITHM}+code-{_code()}",
        range=TypicalRange(0.0, 1.0, False, DECLARED),
        fn=blur_effect,
    )


CLASSIC_FACTORIES: dict[str, Callable[[str], ClassicMetric]] = {
    "noise-sigma": create_noise_sigma,
    "blur-effect": create_blur_effect,
}
