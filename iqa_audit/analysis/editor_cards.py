"""An editor's card: when its replication chains start to change visibly, how they decay, what it passes.

The study saw editors' re-edited images degrade "after around 5 to 10 steps"; the card
measures that per editor version with the suite's own rule of visible change
(evidence.py: PSNR < 38.59 dB or SSIM < 0.95), on its replication chains (a task that
asks for no change: any visible change is the editor's), against step 1 (the study's
reference: editors crop on the first step) and against the seed (step 0). Pure: the
measurements (evidence.Change per step) come from results/cards.py.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from iqa_audit.analysis.cards import EditorCard, fingerprint, wilson
from iqa_audit.analysis.evidence import Change
from iqa_audit.analysis.gaps import REFERENCE_STEP

PSNR_CAP = 100.0  # dB written for identical pixels (PSNR is infinite), so medians stay numbers
REFERENCES = ("step1", "seed")  # the two references a chain's steps are measured against


@dataclass(frozen=True)
class ChainChanges:
    """One replication chain: {step: (change against step 1, change against the seed)}
    for its steps after step 1 (against the seed, step 1 too)."""

    label: str
    steps: Mapping[int, tuple[Change | None, Change]]


def first_visible(changes: Mapping[int, Change | None]) -> int | None:
    """The first step whose change is visible (evidence.Change.visible), None when none is."""
    return next((k for k in sorted(changes) if changes[k] is not None and changes[k].visible), None)


def _psnr(c: Change | None) -> float | None:
    if c is None:
        return None
    return PSNR_CAP if c.psnr_db is None else min(c.psnr_db, PSNR_CAP)


def _median(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(statistics.median(known)) if known else None


def decay_curve(chains: Sequence[ChainChanges]) -> list[list[float | None]]:
    """[[step, PSNR vs step 1, SSIM vs step 1, PSNR vs seed, SSIM vs seed]] per step, the
    medians over the chains that reached it (SSIM None where it was not measured)."""
    steps = sorted({k for c in chains for k in c.steps})
    rows = []
    for k in steps:
        at = [c.steps[k] for c in chains if k in c.steps]
        rows.append(
            [
                k,
                _median(_psnr(a) for a, _ in at),
                _median(a.ssim for a, _ in at if a is not None),
                _median(_psnr(b) for _, b in at),
                _median(b.ssim for _, b in at),
            ]
        )
    return rows


def editor_card(
    *,
    subject: str,
    version: str,
    chains: Sequence[ChainChanges],
    checks: Iterable[tuple[str, str, bool]],
    shape: Mapping[str, Any],
    errors: int = 0,
    iqa_audit: str = "",
    run: str = "",
) -> EditorCard:
    """The card of one editor from its replication chains' changes and its fidelity
    cells as (check, task, passed) triples (cells without a verdict, and the `errors`
    cells whose code raised, left out)."""
    checks = list(checks)
    passed = sum(p for _, _, p in checks)
    tasks: dict[str, list[int]] = {}
    by_name: dict[str, list[int]] = {}
    for check, task, ok in sorted(checks):
        for table, key in ((tasks, task), (by_name, check)):
            entry = table.setdefault(key, [0, 0])
            entry[0] += ok
            entry[1] += 1
    firsts: dict[str, list[int | None]] = {ref: [] for ref in REFERENCES}
    for c in chains:
        firsts["step1"].append(first_visible({k: a for k, (a, _) in c.steps.items() if k > REFERENCE_STEP}))
        firsts["seed"].append(first_visible({k: b for k, (_, b) in c.steps.items()}))
    low, high = wilson(passed, len(checks)) if checks else (None, None)
    return EditorCard(
        subject=subject,
        version=version,
        score=passed / len(checks) if checks else None,
        low=low,
        high=high,
        checks_passed=passed,
        checks=len(checks),
        first_visible={ref: _median(firsts[ref]) for ref in REFERENCES},
        changed={ref: sum(v is not None for v in firsts[ref]) for ref in REFERENCES},
        chains=len(chains),
        decay=decay_curve(chains),
        tasks=tasks,
        checks_by_name=by_name,
        errors=errors,
        fingerprint=fingerprint(shape),
        shape=dict(shape),
        iqa_audit=iqa_audit,
        run=run,
    )
