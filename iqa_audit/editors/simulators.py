"""Free, deterministic editors: a perfect replica, and one simulator per failure the study saw.

Every simulator first applies the task's faithful edit (`Task.ideal_edit`) and then its
one failure, so a simulator run on any task fails in exactly one, known way. They are
the suite's known answers: `identity` must pass every fidelity check (positive
control), and each `sim-*` must trip the checks in its `trips` and no other. Where a
seed gives a failure nothing to act on (a median filter on flat cartoon colours), the
simulator says so in `inert_on`, with the reason; tests/fidelity/test_editor_controls.py holds
every simulator to this declaration on the editor audit's cases.

Rules every simulator keeps, because chains are resumed in fresh processes:
- the output depends only on (input image, prompt, seed, step): randomness comes from
  `numpy.random.default_rng([seed, step])`, and there is no memory between calls (state
  such as "how many apples are on the table" is a function of the step number);
- strengths are set in image-relative units (grey levels, fractions of the short side),
  so a failure looks the same on a 256 px test image and a 2K seed;
- outputs are `Image(pixels)` without `encoded`: the store writes a lossless PNG, so the
  simulated failure is the only loss.

The shared plumbing is `simulator_base.py`; the image artifacts (noise, grain, specks,
wrinkles, lost texture) are `simulated_artifacts.py`, the failures to do what the prompt
asked (crop, palette, counts, sepia, no colour, no transform) `simulated_task_failures.py`.
This module holds the perfect replica and the table of them all.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

from iqa_audit.editors.base import EditorEntry
from iqa_audit.editors.simulated_artifacts import GrainTint, NoiseTint, Scatter, TextureLoss, Wrinkles
from iqa_audit.editors.simulated_task_failures import Apples, Crop, FruitsReplace, NoColour, NoTransform, Palette, Sepia
from iqa_audit.editors.simulator_base import _Simulator


@dataclass(frozen=True)
class Identity(_Simulator):
    """The perfect editor: the task's faithful edit and nothing else.

    Positive control: every fidelity check must pass on it, and every metric gap on its
    replicate chains is exactly 0 (the pixels never change).
    """

    id: ClassVar[str] = "identity"

    def fail(self, image, task, step, rng, *, seed):
        return task.ideal_edit(image, step).pixels, {}


SIMULATORS: tuple[type[_Simulator], ...] = (
    Identity,
    NoiseTint,
    GrainTint,
    Scatter,
    Wrinkles,
    TextureLoss,
    Crop,
    Palette,
    Apples,
    FruitsReplace,
    Sepia,
    NoColour,
    NoTransform,
)


def _entry(cls: type[_Simulator]) -> EditorEntry:
    """A simulator's table row: its dataclass fields are its parameters, its docstring's
    first line its summary."""
    defaults = {f.name: f.default for f in fields(cls)}  # type: ignore[arg-type]
    summary = (cls.__doc__ or cls.id).strip().splitlines()[0]
    return EditorEntry.of(cls.id, cls, summary=summary, **defaults)


EDITORS: tuple[EditorEntry, ...] = tuple(_entry(cls) for cls in SIMULATORS)
