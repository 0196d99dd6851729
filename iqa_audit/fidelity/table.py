"""The check table: every editor-fidelity check of the editor audit, one entry each.

An entry says everything the rest of the suite needs to know about a check:

- `name`: the check's name; the editor audit's test function is `test_<name>` and its
  baseline keys `editor:<name>-<setting>-<seed>`;
- `run`: the function, `CheckInput -> Finding`;
- `higher_is_better`: its direction (SSIM: higher is better; an aspect-ratio change or a
  count difference: the larger |value|, the worse), which picks the worst run;
- `needs`: what the engine must prepare for it (decoding every step of a chain costs,
  so a check that needs only the last step gets only that);
- `tasks`: the tasks it judges (`ALL_TASKS` for every one), and `datasets`: whether it also
  judges imported chains, which have no task and are compared with their step 0.

Adding a check is one entry in `CHECKS` plus its function; the cells, the engine, the
editor audit's test functions, the report's columns and the memo keys all read this table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from iqa_audit.core.errors import ConfigError, explain
from iqa_audit.core.images import Image
from iqa_audit.fidelity.checks import check_aspect_ratio, check_object_count, check_replication, check_tint
from iqa_audit.fidelity.finding import Finding
from iqa_audit.fidelity.palette import check_colours
from iqa_audit.fidelity.task_checks import check_colour_returns, check_monochrome, check_transform_steps, pooled_rate

if TYPE_CHECKING:  # types only: the table is below the tasks' users, not below tasks
    from iqa_audit.tasks.table import Task
    from iqa_audit.vlm.counting import ObjectCounter

Need = Literal["reference", "steps", "count"]
NEEDS: frozenset[str] = frozenset({"reference", "steps", "count"})
ALL_TASKS = ("*",)  # every task in the catalogue

# Task families, by name (iqa_audit.tasks.table._TASK_LIST).
REPLICA_TASKS = ("replicate", "replicate-alt1", "replicate-alt2", "mirror", "rotate90")
ADD_TASKS = ("add-apples", "add-fruits")


@dataclass(frozen=True)
class CheckInput:
    """What a check may read about one run of one editor cell.

    Always there: `task` (None for imported chains), `seed` (step 0 as stored), `output`
    (the judged step) and `step` (its number). The rest only when the entry `needs` it:
    - 'reference': `reference`, the faithful output at `step` (the task's ideal edit
      applied `step` times to step 0; step 0 itself for imported chains);
    - 'steps': `steps`, every stored (step number, image) from 0 to `step`, in order;
    - 'count': `counter` (an ObjectCounter, cached in the store) and `expected_count`
      (the task's expected count at `step`, from the counter's count of step 0).
    """

    task: Task | None
    seed: Image
    output: Image
    step: int
    reference: Image | None = None
    steps: tuple[tuple[int, Image], ...] = ()
    expected_count: int | None = None
    counter: ObjectCounter | None = field(default=None, compare=False)


def worst_of_runs(check: Check, findings: Sequence[Finding]) -> Finding:
    """The cell's finding over its runs: the worst run's numbers; it passes when every run does.

    Failed runs come first, then the worst value in the check's direction."""
    worst = min(findings, key=lambda f: (f.passed, check.badness(f.value)))
    suffix = f" (worst of {len(findings)} runs)" if len(findings) > 1 else ""
    return replace(worst, passed=all(f.passed for f in findings), message=worst.message + suffix)


@dataclass(frozen=True)
class Check:
    """One row of the check table (see the module docstring)."""

    name: str
    run: Callable[[CheckInput], Finding]
    higher_is_better: bool
    needs: frozenset[str]
    tasks: tuple[str, ...]
    datasets: bool
    summary: str
    # Findings of the runs -> the cell's finding. Default: the worst run, failing if any run
    # fails; a rate over steps and runs pools them instead.
    combine: Callable[[Check, Sequence[Finding]], Finding] = worst_of_runs

    def __post_init__(self) -> None:
        unknown = set(self.needs) - NEEDS
        if unknown:
            raise ValueError(f"check {self.name}: unknown needs {sorted(unknown)} (known: {sorted(NEEDS)})")

    def badness(self, value: float) -> float:
        """Smaller is worse: SSIM as it is, a deviation by its size."""
        return value if self.higher_is_better else -abs(value)

    def applies_to(self, task: str) -> bool:
        return self.tasks == ALL_TASKS or task in self.tasks

    def combine_runs(self, findings: Sequence[Finding]) -> Finding:
        return self.combine(self, findings)


def _table(entries: Iterable[Check]) -> Mapping[str, Check]:
    rows = list(entries)
    names = [c.name for c in rows]
    if len(set(names)) != len(names):
        raise ValueError(f"check names listed twice: {sorted(n for n in set(names) if names.count(n) > 1)}")
    return MappingProxyType({c.name: c for c in rows})


CHECKS: Mapping[str, Check] = _table(
    [
        Check(
            "aspect_ratio",
            lambda i: check_aspect_ratio(i.reference, i.output),
            higher_is_better=False,
            needs=frozenset({"reference"}),
            tasks=ALL_TASKS,
            datasets=True,
            summary="relative change of height/width against the faithful output",
        ),
        # Add tasks change the picture on purpose, so they are held to their object count, not
        # to similarity with the seed.
        Check(
            "object_count",
            lambda i: check_object_count(i.output, i.expected_count, counter=i.counter),
            higher_is_better=False,
            needs=frozenset({"count"}),
            tasks=ADD_TASKS,
            datasets=False,
            summary="counted minus expected objects",
        ),
        Check(
            "colours",
            lambda i: check_colours(i.reference, i.output),
            higher_is_better=False,
            needs=frozenset({"reference"}),
            tasks=REPLICA_TASKS,
            datasets=True,
            summary="reference palette colours the output lost (CIEDE2000)",
        ),
        Check(
            "tint",
            lambda i: check_tint(i.reference, i.output),
            higher_is_better=False,
            needs=frozenset({"reference"}),
            tasks=REPLICA_TASKS + ADD_TASKS,
            datasets=True,
            summary="global colour cast in CIELAB a*, b*",
        ),
        Check(
            "replication",
            lambda i: check_replication(i.reference, i.output),
            higher_is_better=True,
            needs=frozenset({"reference"}),
            tasks=REPLICA_TASKS,
            datasets=True,
            summary="SSIM to the faithful output after aligning crops",
        ),
        Check(
            "monochrome",
            lambda i: check_monochrome(i.steps),
            higher_is_better=False,
            needs=frozenset({"steps"}),
            tasks=("monochrome",),
            datasets=False,
            summary="every step grey: CIELAB chroma within one JND (2.3)",
        ),
        Check(
            "colour_returns",
            lambda i: check_colour_returns(i.steps),
            higher_is_better=True,
            needs=frozenset({"steps"}),
            tasks=("colorize",),
            datasets=False,
            summary="colourising a monochrome image brings colour back",
        ),
        Check(
            "transform_steps",
            lambda i: check_transform_steps(i.task, i.steps),
            higher_is_better=True,
            needs=frozenset({"steps"}),
            tasks=("mirror", "rotate90"),
            datasets=False,
            combine=pooled_rate,
            summary="share of steps that mirrored or rotated the previous step, over steps and runs",
        ),
    ]
)


def checks_for_task(task: str) -> tuple[str, ...]:
    """Names of the checks that judge chains of `task`, in table order."""
    return tuple(c.name for c in CHECKS.values() if c.applies_to(task))


def dataset_checks() -> tuple[str, ...]:
    """Names of the checks that judge imported chains (no task: compared with step 0)."""
    return tuple(c.name for c in CHECKS.values() if c.datasets)


def get_check(name: str) -> Check:
    """The table entry of check `name`; ConfigError naming the known checks otherwise."""
    try:
        return CHECKS[name]
    except KeyError:
        raise ConfigError(
            explain(
                f"fidelity check {name!r}",
                expected="one of " + ", ".join(CHECKS),
                got=repr(name),
                fix="Use a check name from iqa_audit.fidelity.table.CHECKS.",
            )
        ) from None
