"""The study's tasks: the prompt sent at every step and what a faithful editor returns.

A task answers four questions for the rest of the suite:
- `prompt(step)`: the words the editor receives at `step` (the study's wording where the
  study gives it, ours otherwise, flagged below);
- `prepare_seed(seed)`: what step 0 of the chain is (the seed itself, or its monochrome
  version for the colourisation task);
- `ideal_edit(image, step)`: what a perfect editor returns, given the previous step
  (the transform, the object, the grey or coloured version, the reconstruction phase);
- `expected_geometry(seed, step)` / `expected_count(seed_count, step)`: what a faithful
  chain holds after `step` steps, for the fidelity checks to compare against.

The objects the add tasks draw are `objects.py`'s; the pixel edits a faithful editor makes
(monochrome, colourisation, the reconstruction phases) are `transforms.py`'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, Mapping

import numpy as np

from iqa_audit.core.errors import ConfigError, explain
from iqa_audit.core.images import Image
from iqa_audit.tasks.objects import APPLE, FRUITS, ObjectKind, draw_object, slot_center
from iqa_audit.tasks.transforms import colour_patches, colourise, edge_drawing, monochrome

_FRUITS_BY_NAME = {f.name: f for f in FRUITS}

REPLICATE_PROMPT = "Produce an exact replica of the provided image, with no alterations."
_ADD_SUFFIX = " to the table. Keep everything else exactly the same."

Transform = Literal["none", "mirror", "rotate90"]
Adds = Literal["none", "apple", "fruit"]
Recolour = Literal["none", "grey", "colourise"]
Phase = Literal["patches", "edges", "keep"]

# The reconstruction cycle the study's users tried to escape the noise with: colour
# patches, then edges, then a photorealistic image from them. The study does not give its
# wording; these prompts are ours. Each phase's ideal edit is below (`_PHASE_EDITS`).
RECONSTRUCTION_CYCLE: tuple[tuple[str, Phase], ...] = (
    ("Turn this image into flat colour patches: fill each region with one solid colour, without lines or texture.", "patches"),
    ("Turn this image into a line drawing: black edges on a white background, nothing else.", "edges"),
    ("Reconstruct a photorealistic image from this drawing.", "keep"),
)


@dataclass(frozen=True)
class Task:
    """One prompt schedule and the behaviour a faithful editor must show under it."""

    name: str
    summary: str
    version: str  # enters chain keys: bump when prompts or ideal edits change
    prompt_text: str  # the prompt; add-fruits fills in {fruit}
    transform: Transform = "none"
    adds: Adds = "none"
    monochrome_seed: bool = False
    count_noun: str = "objects"  # what an object counter is asked to count on this task's images
    recolour: Recolour = "none"  # 'grey': make the image monochrome; 'colourise': give a grey image colour
    cycle: tuple[tuple[str, Phase], ...] = ()  # (prompt, phase) repeated in order: step k is cycle[(k-1) % n]
    # False: the task changes content on purpose (reconstruction); its chains are stored like
    # any other but the metric audit judges none of them, as the study left them out.
    metric_verdicts: bool = True

    # ----- the prompt ------------------------------------------------------------------
    def prompt(self, step: int) -> str:
        """The words the editor receives at `step` (1, 2, ...)."""
        _check_step(step, self.name)
        if self.adds == "fruit":
            return self.prompt_text.format(fruit=self.object_for_step(step).name)
        if self.cycle:
            return self.cycle[(step - 1) % len(self.cycle)][0]
        return self.prompt_text

    @property
    def prompts(self) -> tuple[str, ...]:
        """Every fixed prompt of the task (add-fruits' prompts are a pattern, not listed)."""
        return tuple(text for text, _ in self.cycle) if self.cycle else (self.prompt_text,)

    # ----- step 0 ----------------------------------------------------------------------
    def prepare_seed(self, seed: Image) -> Image:
        """Step 0 of the chain: the seed, or for colorize its luma replicated to RGB.

        Idempotent: preparing an already prepared seed returns the same pixels.
        """
        _check_image(seed, f"task {self.name!r} seed")
        if self.monochrome_seed:
            return Image(monochrome(seed.pixels))
        return seed

    # ----- the perfect editor ----------------------------------------------------------
    def ideal_edit(self, image: Image, step: int) -> Image:
        """What a perfect editor returns at `step` given the previous step's image.

        replicate*: the same pixels. mirror: left-right flip. rotate90: 90 degrees
        clockwise. monochrome: the BT.601 luma on all three channels (`monochrome`).
        colorize: a grey input coloured by its lightness (`colourise`: the original colours
        cannot be recovered from grey, so any colouring that keeps L* is faithful; this one
        is fixed so a chain is deterministic), a coloured input unchanged.
        reconstruct: the phase of `step` in the cycle: flat colour patches, an edge
        drawing, then the input unchanged (a photograph cannot be recovered from edges;
        whatever an editor paints is invented). add-apples / add-fruits: the step's
        object drawn at slot `step`.
        """
        _check_image(image, f"task {self.name!r} input")
        _check_step(step, self.name)
        if self.adds != "none":
            return self.place_object(image, slot=step, step=step)
        if self.cycle:
            return Image(_PHASE_EDITS[self.cycle[(step - 1) % len(self.cycle)][1]](image.pixels))
        if self.recolour == "grey":
            return Image(monochrome(image.pixels))
        if self.recolour == "colourise":
            return Image(colourise(image.pixels))
        return Image(_transform(image.pixels, self.transform, 1))

    def expected_geometry(self, seed: Image, step: int) -> Image:
        """The step-0 image as a faithful chain holds it after `step` steps (step >= 0).

        `seed` may be the raw seed or the prepared step 0 (preparation is idempotent).
        mirror: flipped `step` times; rotate90: rotated `step` times clockwise; add
        tasks: the seed itself, since added objects sit on top of it; colorize: the
        monochrome step 0 (a faithful colourisation keeps its luminance).
        """
        if not isinstance(step, (int, np.integer)) or isinstance(step, bool) or step < 0:
            raise ConfigError(
                explain(
                    f"task {self.name!r} step", expected="an integer >= 0", got=repr(step), fix="Steps count from 0 (the seed)."
                )
            )
        start = self.prepare_seed(seed)
        if self.transform == "none" or step == 0:
            return start
        return Image(_transform(start.pixels, self.transform, int(step)))

    def expected_count(self, seed_count: int, step: int) -> int | None:
        """How many objects a faithful chain shows after `step` steps.

        add tasks: one more per step. replicate, mirror, rotate90: the seed's count
        (geometry moves objects, it never adds or removes them). colorize, monochrome and
        reconstruct: None, because they create or remove the saturated regions a
        colour-blob counter counts, so a count says nothing about fidelity there.
        """
        if seed_count < 0 or step < 0:
            raise ConfigError(
                explain(
                    f"task {self.name!r} expected_count",
                    expected="seed_count >= 0 and step >= 0",
                    got=f"seed_count={seed_count}, step={step}",
                    fix="Pass counts and steps from 0 up.",
                )
            )
        if self.adds != "none":
            return seed_count + step
        if self.monochrome_seed or self.recolour != "none" or self.cycle:
            return None
        return seed_count

    @property
    def adds_objects(self) -> bool:
        return self.adds != "none"

    # ----- objects ---------------------------------------------------------------------
    def object_for_step(self, step: int) -> ObjectKind:
        """The object the prompt at `step` asks for (apple, or fruit number `step`, cycled)."""
        _check_step(step, self.name)
        if self.adds == "apple":
            return APPLE
        if self.adds == "fruit":
            return FRUITS[(step - 1) % len(FRUITS)]
        raise ConfigError(
            explain(
                f"task {self.name!r}",
                expected="an add task (add-apples, add-fruits)",
                got="a task that adds no objects",
                fix="Ask object_for_step only of add tasks.",
            )
        )

    def place_object(self, image: Image, *, slot: int, step: int) -> Image:
        """Draw the object that `step` asks for at grid slot `slot` (1-based).

        Simulators use this to add objects at other slots than a faithful edit would
        (several at once, or over an existing object).
        """
        _check_image(image, f"task {self.name!r} input")
        kind = self.object_for_step(step)
        cx, cy = slot_center(image.width, image.height, slot, kind)
        return Image(draw_object(image.pixels, kind, cx, cy))


# ----- the catalogue ------------------------------------------------------------------

_TASK_LIST = (
    Task("replicate", "the study's replication prompt, every step", "1", REPLICATE_PROMPT),
    # The study varied the phrasing of the replication prompt; its exact alternatives
    # are not in our notes, so these two are ours, written to mean the same thing.
    Task(
        "replicate-alt1",
        "replication, alternative phrasing 1",
        "1",
        "Reproduce this image exactly, pixel for pixel, without changing anything.",
    ),
    Task(
        "replicate-alt2",
        "replication, alternative phrasing 2",
        "1",
        "Return an identical copy of this image. Do not modify any detail.",
    ),
    Task(
        "mirror",
        "horizontal mirror every step (two steps return the original)",
        "1",
        "Mirror this image horizontally.",
        transform="mirror",
    ),
    Task(
        "rotate90",
        "rotate 90 degrees clockwise every step (four steps return the original)",
        "1",
        "Rotate this image 90 degrees clockwise.",
        transform="rotate90",
    ),
    # The study's users asked for monochrome and got images that were not grey.
    Task(
        "monochrome",
        "convert to black and white every step (the output must be grey, and stay grey)",
        "1",
        "Convert this image to black and white.",
        recolour="grey",
    ),
    # 2: the faithful colourisation colours a grey input (it used to return it unchanged).
    Task(
        "colorize",
        "reconstruction: colourise a monochrome version of the seed",
        "2",
        "Colorize this black-and-white image.",
        monochrome_seed=True,
        recolour="colourise",
    ),
    Task(
        "reconstruct",
        "reconstruction cycle: colour patches -> edges -> photorealistic, every 3 steps",
        "1",
        RECONSTRUCTION_CYCLE[0][0],
        cycle=RECONSTRUCTION_CYCLE,
        metric_verdicts=False,
    ),
    Task(
        "add-apples",
        "add one apple per step to the empty table",
        "1",
        "Add one apple" + _ADD_SUFFIX,
        adds="apple",
        count_noun="apples",
    ),
    Task(
        "add-fruits",
        "add one fruit per step, a different kind each step",
        "1",
        "Add one {fruit}" + _ADD_SUFFIX,
        adds="fruit",
        count_noun="pieces of fruit",
    ),
)

TASKS: Mapping[str, Task] = MappingProxyType({t.name: t for t in _TASK_LIST})

# Every fixed prompt maps to its task; add-fruits prompts are matched by pattern.
_PROMPT_TO_TASK = {text: t for t in _TASK_LIST if t.adds != "fruit" for text in t.prompts}
_FRUIT_PROMPT = re.compile(r"Add one (?P<fruit>.+?)" + re.escape(_ADD_SUFFIX))


def task_names() -> list[str]:
    return list(TASKS)


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise ConfigError(
            explain(
                f"task {name!r}", expected="one of " + ", ".join(TASKS), got=repr(name), fix="Use one of the listed task names."
            )
        ) from None


def task_for_prompt(prompt: str) -> Task:
    """The task whose prompt this is (editors that only see the prompt use this)."""
    if not isinstance(prompt, str):
        raise ConfigError(explain("prompt", expected="a string", got=type(prompt).__name__, fix="Pass the prompt text."))
    text = prompt.strip()
    if text in _PROMPT_TO_TASK:
        return _PROMPT_TO_TASK[text]
    m = _FRUIT_PROMPT.fullmatch(text)
    if m and m.group("fruit") in _FRUITS_BY_NAME:
        return TASKS["add-fruits"]
    raise ConfigError(
        explain(
            f"prompt {prompt[:80]!r}",
            expected="the prompt of one of the tasks " + ", ".join(TASKS),
            got="a prompt no task uses",
            fix="Take prompts from Task.prompt(step).",
        )
    )


# ----- the pixel edit of each phase and transform -----------------------------------------------

_PHASE_EDITS = {"patches": colour_patches, "edges": edge_drawing, "keep": lambda px: np.ascontiguousarray(px)}


def _transform(pixels: np.ndarray, transform: Transform, times: int) -> np.ndarray:
    if transform == "mirror":
        out = pixels if times % 2 == 0 else np.fliplr(pixels)
    elif transform == "rotate90":
        out = np.rot90(pixels, k=-(times % 4))  # negative k: clockwise
    else:
        out = pixels
    return np.ascontiguousarray(out)


# ----- validation ---------------------------------------------------------------------


def _check_step(step: int, task: str) -> None:
    if not isinstance(step, (int, np.integer)) or isinstance(step, bool) or step < 1:
        raise ConfigError(
            explain(
                f"task {task!r} step",
                expected="an integer >= 1 (step 0 is the seed)",
                got=repr(step),
                fix="Number edit steps from 1.",
            )
        )


def _check_image(image: Image, what: str) -> None:
    if not isinstance(image, Image):
        raise ConfigError(
            explain(
                what,
                expected="an iqa_audit.core.images.Image",
                got=type(image).__name__,
                fix="Wrap arrays with Image.from_array or load files with load_image.",
            )
        )


__all__ = ["RECONSTRUCTION_CYCLE", "REPLICATE_PROMPT", "TASKS", "Task", "get_task", "task_for_prompt", "task_names"]
