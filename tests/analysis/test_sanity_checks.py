"""The metric sanity checks' own verdicts, on stand-in metrics (analysis/sanity.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from iqa_audit.analysis.sanity import SanityInput, responds_to_content
from iqa_audit.core.images import Image

SEED = Image.from_array(np.full((32, 32, 3), 120, np.uint8))
CONSTANT = SimpleNamespace(score=lambda images: [0.5] * len(images))
MEAN = SimpleNamespace(score=lambda images: [float(im.pixels.std()) for im in images])


def _input(scores, metric=CONSTANT) -> SanityInput:
    images = [SEED] * len(scores)
    return SanityInput(metric=metric, seed_images=lambda n: images[:n], cached_scores=lambda _: np.asarray(scores, float))


@pytest.mark.parametrize(
    "scores, metric, passed",
    [
        pytest.param([0.5] * 13, CONSTANT, False, id="a-constant-metric-fails"),
        pytest.param([41.0, 41.0 + 1e-9, 41.0], CONSTANT, False, id="float-noise-is-the-same-score"),
        pytest.param([36.5, 31.3, 44.5], CONSTANT, True, id="different-pictures-different-scores"),
        pytest.param([0.5], CONSTANT, False, id="one-seed-a-constant-metric-fails-on-its-noisy-copy"),
        pytest.param([0.0], MEAN, True, id="one-seed-a-metric-that-sees-the-noise-passes"),
    ],
)
def test_responds_to_content(scores, metric, passed):
    ok, message = responds_to_content(_input(scores, metric))
    assert ok is passed, message
    assert ("same score" in message) is (not passed)
