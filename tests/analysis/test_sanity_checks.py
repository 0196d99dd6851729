"""The metric sanity checks' own verdicts, on stand-in metrics (analysis/sanity.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from iqa_audit.analysis.sanity import SanityInput, clean_seeds_in_range, responds_to_content
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


def test_clean_seeds_in_range_lists_the_seeds_outside_and_nothing_when_none_are():
    ranged = SimpleNamespace(range=SimpleNamespace(lo=0.0, hi=50.0, source="declared by mine"), score=CONSTANT.score)
    inside = SanityInput(metric=ranged, seed_images=lambda n: [SEED], cached_scores=lambda _: np.asarray([20.0]))
    ok, message = clean_seeds_in_range(inside)
    assert ok and message == "0 of 1 clean seeds score outside the typical range 0.0–50.0 (declared by mine)"
    outside = SanityInput(
        metric=ranged, seed_images=lambda n: [SEED] * 2, cached_scores=lambda _: np.asarray([20.0, 61.5]), seed_names=("a", "b")
    )
    ok, message = clean_seeds_in_range(outside)
    assert not ok and message.endswith("(declared by mine): b 61.5")
