"""A metric that measures content, not quality: the share of strongly coloured pixels.

Every fruit an add chain draws raises it, whatever the image's quality: the study's
Figure 7 failure (a score that jumps when fruits are added) by construction, for the
stability tests. Use it by name: `--metric tests.content_metric_example:colourful_share`.
"""

from __future__ import annotations

import numpy as np

import iqa_audit.metrics


@iqa_audit.metrics.declare(lower_better=False, range=(0, 2), version="1")
def colourful_share(pixels: np.ndarray) -> float:
    """Per cent of pixels whose channels differ by 80 levels or more (saturated colour)."""
    p = pixels.astype(np.int16)
    return float(100.0 * np.mean(p.max(axis=2) - p.min(axis=2) >= 80))


@iqa_audit.metrics.declare(lower_better=False, range=(0, 2), version="1")
def gives_up_past_one_fruit(pixels: np.ndarray) -> float:
    """`colourful_share`, but NaN once more than 1 % of the picture is saturated colour (from
    the second fruit of an add-fruits chain at 64 px): a metric that fails mid-chain."""
    share = colourful_share(pixels)
    return float("nan") if share > 1.0 else share
