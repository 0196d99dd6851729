"""Pixel plumbing the fidelity checks share: sizes, area-averaged reduction, resampling, grey.

All take and return numpy arrays ((H, W, 3) or (H, W) uint8 / float32); none validates
its input (the checks do, in `finding`).
"""

from __future__ import annotations

import numpy as np
from PIL import Image as PILImage


def _scaled(shape: tuple[int, ...], scale: float) -> tuple[int, int]:
    return max(1, round(shape[1] * scale)), max(1, round(shape[0] * scale))


def _reduce(pixels: np.ndarray, long_side: int) -> np.ndarray:
    """Area-average down to at most `long_side` px; never upsample."""
    size = _scaled(pixels.shape, min(1.0, long_side / max(pixels.shape[0], pixels.shape[1])))
    if size == (pixels.shape[1], pixels.shape[0]):
        return np.asarray(pixels)
    return _resize(pixels, size, resample=PILImage.Resampling.BOX)


def _resize(pixels: np.ndarray, size: tuple[int, int], *, box=None, resample=PILImage.Resampling.LANCZOS) -> np.ndarray:
    pil = PILImage.fromarray(np.asarray(pixels))
    if box is None and size == pil.size:
        return np.asarray(pixels)
    if box is not None and all(float(v).is_integer() for v in box) and (box[2] - box[0], box[3] - box[1]) == size:
        return np.asarray(pixels)[int(box[1]) : int(box[3]), int(box[0]) : int(box[2])]
    return np.asarray(pil.resize(size, resample, box=box))


def _resize_grey(grey: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if size == (grey.shape[1], grey.shape[0]):
        return grey
    return np.asarray(
        PILImage.fromarray(grey).resize(
            size, PILImage.Resampling.BOX if size[0] < grey.shape[1] else PILImage.Resampling.BILINEAR
        )
    )


def _grey(pixels: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(pixels, dtype=np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
