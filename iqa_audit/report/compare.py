"""What changed between two runs: verdicts that flipped and numbers that moved.

Pure functions over two results.json dicts. Each change carries both sides' metric (or
editor) version, because a moved gap means something different when the metric itself
was upgraded than when the chains or the code around it changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .model import finite

# An editor value (an aspect-ratio error, a colour distance, ...) has its own unit, so it
# is compared relatively; gaps are all in normalised points and compare absolutely.
EDITOR_RELATIVE_TOLERANCE = 0.10


@dataclass(frozen=True)
class Side:
    passed: bool
    value: float | None
    version: str
    outcome: str | None


@dataclass(frozen=True)
class Change:
    cell: str
    kind: str  # 'gap' | 'editor'
    label: str  # what the cell is about, in words: "piqe · codec-jpeg-replicate · grid · Δ10"
    old: Side
    new: Side

    @property
    def flipped(self) -> bool:
        return self.old.passed != self.new.passed

    @property
    def moved_by(self) -> float | None:
        if self.old.value is None or self.new.value is None:
            return None
        return self.new.value - self.old.value

    @property
    def version_changed(self) -> bool:
        return self.old.version != self.new.version


@dataclass(frozen=True)
class Changes:
    old_run: str
    new_run: str
    gap_tolerance: float
    editor_tolerance: float
    flipped: tuple[Change, ...]  # verdict changed (pass <-> fail)
    moved: tuple[Change, ...]  # same verdict, value moved beyond the tolerance
    only_old: tuple[str, ...]  # cells the new run no longer has
    only_new: tuple[str, ...]  # cells new in this run
    compared: int = 0  # cells both runs have

    @property
    def empty(self) -> bool:
        return not (self.flipped or self.moved or self.only_old or self.only_new)


def _cells(results: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {c["cell"]: c for c in results.get("cells", []) if c.get("kind") in ("gap", "editor") and "cell" in c}


def _side(rec: Mapping[str, Any]) -> Side:
    if rec.get("kind") == "gap":
        value, version = rec.get("gap"), rec.get("metric_version")
    else:
        value, version = rec.get("value"), rec.get("editor_version")
    return Side(bool(rec.get("passed")), finite(value), str(version if version is not None else rec.get("version", "?")),
                rec.get("outcome"))


def _label(rec: Mapping[str, Any]) -> str:
    if rec.get("kind") == "gap":
        return f"{rec.get('metric_id')} · {rec.get('setting')} · {rec.get('seed')} · Δ{rec.get('delta_step')}"
    return f"{rec.get('check')} · {rec.get('setting')} · {rec.get('seed')}"


def moved_beyond(kind: str, old: float | None, new: float | None, *, gap_tolerance: float,
                 editor_tolerance: float = EDITOR_RELATIVE_TOLERANCE) -> bool:
    """Did the number move by more than its tolerance? A value appearing or disappearing
    (None on one side only) counts as moved; None on both sides does not."""
    if old is None or new is None:
        return (old is None) != (new is None)
    if kind == "gap":
        return abs(new - old) > gap_tolerance
    scale = max(abs(old), abs(new))
    # Both ~0 (a perfect aspect ratio before and after) is no move at all.
    return scale > 1e-12 and abs(new - old) > editor_tolerance * scale


def compare_results(old: Mapping[str, Any], new: Mapping[str, Any], *, gap_tolerance: float = 1.0,
                    editor_tolerance: float = EDITOR_RELATIVE_TOLERANCE) -> Changes:
    """Cells of `new` whose verdict differs from `old`, or whose value moved beyond tolerance
    (gaps: absolute normalised points; editor values: relative). A flipped cell is listed
    only under `flipped`, with its values, so nothing is counted twice."""
    a, b = _cells(old), _cells(new)
    flipped, moved = [], []
    for cell in sorted(a.keys() & b.keys()):
        ra, rb = a[cell], b[cell]
        change = Change(cell, str(rb.get("kind")), _label(rb), _side(ra), _side(rb))
        if change.flipped:
            flipped.append(change)
        elif moved_beyond(change.kind, change.old.value, change.new.value, gap_tolerance=gap_tolerance,
                          editor_tolerance=editor_tolerance):
            moved.append(change)
    return Changes(
        old_run=str(old.get("run", {}).get("name", "?")),
        new_run=str(new.get("run", {}).get("name", "?")),
        gap_tolerance=gap_tolerance,
        editor_tolerance=editor_tolerance,
        flipped=tuple(flipped),
        moved=tuple(moved),
        only_old=tuple(sorted(a.keys() - b.keys())),
        only_new=tuple(sorted(b.keys() - a.keys())),
        compared=len(a.keys() & b.keys()),
    )
