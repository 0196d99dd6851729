"""An example of a package's own editors, registered under the entry-point group
`iqa_audit.editors` (see tests/editors/test_editor_registry.py, which installs a fake
distribution pointing here).

`DARKEN` is a full table row (name, factory, defaults, summary, cost); `make_brighten`
is a bare factory, whose keyword defaults become the spec's parameters and whose
docstring's first line becomes its summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from iqa_audit.core.images import Image
from iqa_audit.editors import EditorEntry, EditResult


@dataclass
class Shift:
    """Adds `amount` to every pixel each step (a deterministic toy editor)."""

    amount: int
    id: str = "plugin-shift"
    version: str = "1"
    paid: bool = False

    def params(self) -> Mapping[str, Any]:
        return {"amount": self.amount}

    def edit(self, image: Image, prompt: str, *, seed: int, step: int) -> EditResult:
        return EditResult(Image.from_array(np.clip(image.pixels.astype(int) + self.amount, 0, 255).astype(np.uint8)))


def make_darken(amount: int = 10) -> Shift:
    return Shift(-amount)


def make_brighten(amount: int = 5) -> Shift:
    """Brightens by `amount` grey levels per step."""
    return Shift(amount)


def make_needs_argument(amount) -> Shift:  # no default: refused as an editor factory
    return Shift(amount)


DARKEN = EditorEntry.of(
    "plugin-darken", make_darken, summary="darkens each step", cost=lambda params, steps: 0.01 * steps, amount=10
)
NOT_AN_EDITOR = 42
