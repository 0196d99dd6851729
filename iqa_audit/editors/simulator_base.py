"""What every simulated editor shares: the task's faithful edit, then one failure, seeded by (seed, step).

The rules every simulator keeps are in simulators.py's docstring; the parameter checks here
word a bad value the same way for all of them.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, ClassVar, Mapping

import numpy as np

from iqa_audit.core.errors import ConfigError, explain
from iqa_audit.core.images import Image
from iqa_audit.editors.base import EditResult
from iqa_audit.tasks.table import Task, task_for_prompt


def _check_seed(seed: int, editor: str) -> None:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(
            explain(
                f"{editor} seed",
                expected="an integer >= 0 (the chain's run number)",
                got=repr(seed),
                fix="Pass seed=run, as the chain builder does.",
            )
        )


def _positive(editor: str, name: str, value: Any, *, integer: bool = False, minimum: float = 0.0) -> None:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and value >= minimum
    if integer:
        ok = ok and float(value).is_integer()
    if not ok:
        kind = "an integer" if integer else "a number"
        raise ConfigError(
            explain(
                f"{editor} parameter {name}",
                expected=f"{kind} >= {minimum:g}",
                got=repr(value),
                fix=f"Write e.g. {editor}:{name}=<value>, or leave it at its default.",
            )
        )


def _luma(pixels: np.ndarray) -> np.ndarray:
    p = pixels.astype(np.float32)
    return 0.299 * p[..., 0] + 0.587 * p[..., 1] + 0.114 * p[..., 2]


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


class _Simulator:
    """Shared plumbing: resolve the task, do the faithful edit, then `fail`."""

    id: ClassVar[str]
    version: ClassVar[str] = "1"
    paid: ClassVar[bool] = False
    # The fidelity checks (iqa_audit.fidelity.table.CHECKS) this failure trips wherever the
    # check applies to the task, and the only ones it may trip.
    trips: ClassVar[frozenset[str]] = frozenset()
    # {seed name: why}: seeds without the material this failure acts on; there it
    # trips nothing, the checks in `trips` included.
    inert_on: ClassVar[Mapping[str, str]] = MappingProxyType({})

    def params(self) -> Mapping[str, Any]:
        return {}

    def edit(self, image: Image, prompt: str, *, seed: int, step: int) -> EditResult:
        task = task_for_prompt(prompt)
        _check_seed(seed, self.id)
        task.prompt(step)  # validates the step (an integer >= 1) with the task's own message
        # One generator per (seed, step): a resumed chain draws the same numbers.
        rng = np.random.default_rng([int(seed), int(step)])
        pixels, meta = self.fail(image, task, step, rng, seed=int(seed))
        return EditResult(Image(np.ascontiguousarray(pixels)), reasoning=None, meta={"task": task.name, **meta})

    def fail(
        self, image: Image, task: Task, step: int, rng: np.random.Generator, *, seed: int
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """The failure: pixels after the faithful edit plus the simulated fault, and meta."""
        raise NotImplementedError
