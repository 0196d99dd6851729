"""An example of a user's own metric module, as a user would write it.

Use it by name: `--metric tests.plugin_metric_example:sharpness`. The metric takes one
(H, W, 3) uint8 array and returns a float; the decorator says which way is better, the
typical range (for normalisation to [0, 100]) and a version to bump when scores change.
"""

from __future__ import annotations

import numpy as np

import iqa_audit.metrics


@iqa_audit.metrics.declare(lower_better=False, range=(0, 50), version="1")
def sharpness(pixels: np.ndarray) -> float:
    """Mean absolute 4-neighbour Laplacian of the grey image: higher = more fine detail."""
    g = pixels.astype(np.float64).mean(axis=2)
    lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    return float(np.abs(lap).mean())


def mean_brightness(batch: list[np.ndarray]) -> list[float]:
    """A batch metric declared without importing iqa_audit: a plain dict attribute."""
    return [float(p.mean()) for p in batch]


mean_brightness.IQA_AUDIT = {"lower_better": False, "range": (0, 255), "batch": True}  # no version: the file hash is used


def undeclared(pixels: np.ndarray) -> float:
    """Forgot the declaration: creating it must say how to declare."""
    return 0.0


def broken(pixels: np.ndarray) -> float:
    raise ValueError("this metric always fails")


broken.IQA_AUDIT = {"lower_better": True, "range": (0, 1), "version": "1"}


def wrong_count(batch: list[np.ndarray]) -> list[float]:
    """Returns one score too few: must be refused, not silently misaligned."""
    return [0.0] * (len(batch) - 1)


wrong_count.IQA_AUDIT = {"lower_better": True, "range": (0, 1), "version": "1", "batch": True}

not_callable = 42
