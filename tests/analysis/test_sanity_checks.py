"""The metric sanity checks' own verdicts, on stand-in metrics (analysis/sanity.py)."""

from __future__ import annotations

import numpy as np
import pytest

from iqa_audit.analysis.sanity import SanityInput, responds_to_content


def _input(scores) -> SanityInput:
    images = [object()] * len(scores)
    return SanityInput(metric=None, seed_images=lambda n: images[:n], cached_scores=lambda _: np.asarray(scores, float))


@pytest.mark.parametrize(
    "scores, passed",
    [
        pytest.param([0.5] * 13, False, id="a-constant-metric-fails"),
        pytest.param([41.0, 41.0 + 1e-9, 41.0], False, id="float-noise-is-the-same-score"),
        pytest.param([36.5, 31.3, 44.5], True, id="different-pictures-different-scores"),
        pytest.param([7.0], True, id="one-seed-has-nothing-to-compare"),
    ],
)
def test_responds_to_content(scores, passed):
    ok, message = responds_to_content(_input(scores))
    assert ok is passed, message
    assert ("same score" in message) is (not passed)
