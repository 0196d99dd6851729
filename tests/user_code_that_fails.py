"""A user's metrics and editors that fail the ways real ones do (tests/audit/test_cell_errors.py).

Metrics: one that raises on images under 100 px (SPAQ's crop did), one whose score is a
torch tensor that still requires grad, one that raises a KeyError of its own on every
image. Editors (registered by entry point in the test): one that returns a PIL image
instead of an EditResult, one that raises at step 3, one that returns None.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

import iqa_audit.metrics
from iqa_audit.core.images import Image
from iqa_audit.editors import EditResult


@iqa_audit.metrics.declare(lower_better=False, range=(0, 80), version="1")
def small_images_raise(pixels: np.ndarray) -> float:
    if min(pixels.shape[:2]) < 100:
        raise ValueError(f"image under 100 px: {pixels.shape[1]}x{pixels.shape[0]}")
    return float(pixels.std())


@iqa_audit.metrics.declare(lower_better=False, range=(0, 80), version="1")
def grad_tensor(pixels: np.ndarray):
    import torch

    weight = torch.tensor(1.0, requires_grad=True)
    return torch.tensor(float(pixels.std())) * weight  # still part of the autograd graph


@iqa_audit.metrics.declare(lower_better=False, range=(0, 80), version="1")
def always_keyerror(pixels: np.ndarray) -> float:
    return {"a": 1.0}["missing"]


class _Editor:
    version = "1"
    paid = False

    def params(self) -> Mapping[str, Any]:
        return {}


class ReturnsPil(_Editor):
    id = "returns-pil"

    def edit(self, image: Image, prompt: str, *, seed: int, step: int):
        from PIL import Image as PILImage

        return PILImage.fromarray(image.pixels)


class RaisesAtStep3(_Editor):
    id = "raises-at-step-3"

    def edit(self, image: Image, prompt: str, *, seed: int, step: int) -> EditResult:
        if step == 3:
            raise RuntimeError("the GPU fell over at step 3")
        return EditResult(image)


class ReturnsNone(_Editor):
    id = "returns-none"

    def edit(self, image: Image, prompt: str, *, seed: int, step: int):
        image.pixels.mean()  # forgot the return


def make_returns_pil() -> ReturnsPil:
    return ReturnsPil()


def make_raises_at_step_3() -> RaisesAtStep3:
    return RaisesAtStep3()


def make_returns_none() -> ReturnsNone:
    return ReturnsNone()
