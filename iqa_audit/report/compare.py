"""What changed between two runs: verdicts that flipped and numbers that moved.

Pure functions over two runs' cell records (records.py; `compare_results` takes them
from two runs' results, results.writer.RunResults). Each change carries both sides' metric (or editor) version, because a moved gap means something different when the metric itself
was upgraded than when the chains or the code around it changed.

Gaps compare through the noise band (band.py): a flip whose gaps both lie within their
band is *unstable* (shown apart, not as a flip), a noticed gap that lost more than half
its size is *weaker*, and a move inside either side's band is not a move.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from iqa_audit.analysis import band
from iqa_audit.report.model import finite
from iqa_audit.results.records import GATED, GapRecord, GatedRecord, Record, StabilityRecord, verdict_or_sign
from iqa_audit.results.writer import RunResults

# An editor value (an aspect-ratio error, a colour distance, ...) has its own unit, so it
# is compared relatively; gaps are all in normalised points and compare absolutely.
EDITOR_RELATIVE_TOLERANCE = 0.10


@dataclass(frozen=True)
class Side:
    passed: bool
    value: float | None
    version: str
    outcome: str | None
    verdict: str = ""  # 'pass' | 'fail' | 'inconclusive' | 'error' (a gap cell with no verdict)
    stderr: float | None = None  # a gap's standard error over runs (normalised points)


@dataclass(frozen=True)
class Change:
    cell: str
    kind: str  # 'gap' | 'editor' | 'stability'
    label: str  # what the cell is about, in words: "piqe · codec-jpeg-replicate · grid · Δ10"
    old: Side
    new: Side

    @property
    def flipped(self) -> bool:
        return (self.old.verdict or self.old.passed) != (self.new.verdict or self.new.passed)

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
    unstable: tuple[Change, ...] = ()  # gap verdict flipped, both gaps inside their noise band
    weaker: tuple[Change, ...] = ()  # noticed on both sides, the gap lost more than band.WEAKER_SHARE of its size

    @property
    def empty(self) -> bool:
        return not (self.flipped or self.moved or self.only_old or self.only_new or self.unstable or self.weaker)


def _cells(records: Iterable[Record]) -> dict[str, GatedRecord]:
    return {c.cell: c for c in records if isinstance(c, GATED)}


def _side(rec: GatedRecord) -> Side:
    if isinstance(rec, GapRecord):
        return Side(rec.passed, finite(rec.value), rec.version, rec.outcome, rec.shown_verdict, finite(rec.gap_stderr))
    return Side(rec.passed, finite(rec.value), rec.version, rec.outcome, verdict_or_sign(None, rec.passed))


def _label(rec: GatedRecord) -> str:
    if isinstance(rec, GapRecord):
        return f"{rec.metric_id} · {rec.setting} · {rec.seed} · Δ{rec.delta_step}"
    if isinstance(rec, StabilityRecord):
        return f"{rec.metric_id} · stability · {rec.setting} · {rec.seed}"
    return f"{rec.check} · {rec.setting} · {rec.seed}"


def moved_beyond(
    kind: str, old: float | None, new: float | None, *, gap_tolerance: float, editor_tolerance: float = EDITOR_RELATIVE_TOLERANCE
) -> bool:
    """Did the number move by more than its tolerance? A value appearing or disappearing
    (None on one side only) counts as moved; None on both sides does not."""
    if old is None or new is None:
        return (old is None) != (new is None)
    if kind == "gap":
        return abs(new - old) > gap_tolerance
    scale = max(abs(old), abs(new))
    # Both ~0 (a perfect aspect ratio before and after) is no move at all.
    return scale > 1e-12 and abs(new - old) > editor_tolerance * scale


def compare_results(
    old: RunResults, new: RunResults, *, gap_tolerance: float = 1.0, editor_tolerance: float = EDITOR_RELATIVE_TOLERANCE
) -> Changes:
    """`compare_records` of two runs' results (their cells, named by their runs)."""
    return compare_records(
        old.cells,
        new.cells,
        old_run=str(old.run.get("name", "?")),
        new_run=str(new.run.get("name", "?")),
        gap_tolerance=gap_tolerance,
        editor_tolerance=editor_tolerance,
    )


def compare_records(
    old: Iterable[Record],
    new: Iterable[Record],
    *,
    old_run: str = "?",
    new_run: str = "?",
    gap_tolerance: float = 1.0,
    editor_tolerance: float = EDITOR_RELATIVE_TOLERANCE,
) -> Changes:
    """Cells of `new` whose verdict differs from `old`, or whose value moved beyond tolerance
    (gaps: absolute normalised points, at least either side's noise band; editor values:
    relative). A gap flip inside both noise bands is listed under `unstable`, not
    `flipped`; a noticed gap that lost most of its size under `weaker`. Each cell is
    listed once, so nothing is counted twice. Sanity cells are not compared."""
    a, b = _cells(old), _cells(new)
    flipped, moved, unstable, weaker = [], [], [], []
    for cell in sorted(a.keys() & b.keys()):
        ra, rb = a[cell], b[cell]
        change = Change(cell, rb.kind, _label(rb), _side(ra), _side(rb))
        o, n = change.old, change.new
        banded = change.kind == "gap" and o.value is not None and n.value is not None
        if change.flipped:
            conclusive = "inconclusive" not in (o.verdict, n.verdict)
            if banded and conclusive and band.unstable_flip(o.value, o.stderr, n.value, n.stderr):
                unstable.append(change)
            else:
                flipped.append(change)
        elif banded and o.verdict == "pass" and band.weaker(o.value, o.stderr, n.value, n.stderr):
            weaker.append(change)
        elif moved_beyond(
            change.kind,
            o.value,
            n.value,
            editor_tolerance=editor_tolerance,
            gap_tolerance=max(gap_tolerance, band.tolerance(o.stderr), band.tolerance(n.stderr)) if banded else gap_tolerance,
        ):
            moved.append(change)
    return Changes(
        old_run=old_run,
        new_run=new_run,
        gap_tolerance=gap_tolerance,
        editor_tolerance=editor_tolerance,
        flipped=tuple(flipped),
        moved=tuple(moved),
        only_old=tuple(sorted(a.keys() - b.keys())),
        only_new=tuple(sorted(b.keys() - a.keys())),
        compared=len(a.keys() & b.keys()),
        unstable=tuple(unstable),
        weaker=tuple(weaker),
    )
