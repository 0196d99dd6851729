"""Expected outcomes, committed as plain JSON, so CI can gate on changes in findings.

A baseline maps a cell id (the test id inside the brackets, prefixed by the audit kind:
'gap:piqe-codec-jpeg-replicate-grid-perspective-d10', 'editor:aspect_ratio-sim-crop-...')
to the verdict and the number measured when it was written (for a gap: also its standard
error over runs, and 'inconclusive' where there was nothing to notice). One mechanism
for the metric audit and the editor audit; gap cells compare through the noise band of
band.py, so a flip inside it is 'unstable', not a regression.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from . import band
from .errors import ConfigError, explain
from .files import write_file_atomic

FORMAT = "iqa-audit-baseline/1"


@dataclass(frozen=True)
class Expected:
    passed: bool
    value: float | None
    version: str | None  # metric or editor version the entry was measured with
    verdict: str | None = None  # 'pass' | 'fail' | 'inconclusive' (None in entries written before verdicts had a third value)
    stderr: float | None = None  # a gap's standard error over its runs (band.py), normalised points

    @property
    def outcome(self) -> str:
        return self.verdict or ("pass" if self.passed else "fail")


@dataclass(frozen=True)
class Comparison:
    """How a cell's outcome now relates to the baseline, and what the test does about it.

    kind: 'pass' | 'fail' | 'regression' | 'expected-failure' | 'improved' | 'new-pass' |
    'new-fail' | 'recorded-failure' | 'inconclusive' | 'unstable' | 'weaker' | 'was-inconclusive';
    test: 'pass' | 'fail' | 'xfail' | 'skip'."""

    kind: str
    message: str
    test: str = ""

    def __post_init__(self) -> None:
        if not self.test:
            object.__setattr__(self, "test", _DEFAULT_TEST.get(self.kind, "pass"))

    @property
    def fails_test(self) -> bool:
        return self.test == "fail"


_DEFAULT_TEST = {
    "fail": "fail",
    "regression": "fail",
    "new-fail": "fail",
    "expected-failure": "xfail",
    "recorded-failure": "xfail",
    "was-inconclusive": "xfail",
    "inconclusive": "skip",
}


def load(path: str | Path | None) -> Mapping[str, Expected]:
    if path is None:
        return MappingProxyType({})
    p = Path(path)
    if not p.exists():
        return MappingProxyType({})
    try:
        data = json.loads(p.read_text())
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}")
        cells = {
            k: Expected(bool(v["passed"]), v.get("value"), v.get("version"), v.get("verdict"), v.get("stderr"))
            for k, v in data["cells"].items()
        }
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ConfigError(
            explain(
                f"baseline {p}",
                expected=f"a JSON file in format {FORMAT}",
                got=str(e),
                fix="Regenerate it with --update-baseline.",
            )
        ) from None
    return MappingProxyType(cells)


def compare(
    cell: str,
    passed: bool,
    value: float | None,
    baseline: Mapping[str, Expected] | None,
    *,
    has_baseline: bool,
    describe: str = "",
    verdict: str | None = None,
    stderr: float | None = None,
    noise_band: bool = False,
) -> Comparison:
    """How (verdict, value) now relates to the baseline's entry for `cell`.

    `verdict` defaults to pass/fail from `passed`; an inconclusive cell is skipped whatever
    the baseline says. With `noise_band` (gap cells: `value` is the gap, `stderr` its
    standard error), a flip with both gaps inside the band is 'unstable' (a failing verdict
    is then xfail, not a regression) and a noticed gap that lost most of its size is
    'weaker' (the test passes; the run lists it). band.py states the tolerance."""
    now = verdict or ("pass" if passed else "fail")
    value_s = "" if value is None else f" ({value:+.3f})"
    if now == "inconclusive":
        return Comparison("inconclusive", describe)
    expected = (baseline or {}).get(cell)
    if expected is None:
        if has_baseline:
            return Comparison(
                "new-pass" if passed else "new-fail", f"{cell} is not in the baseline; raw verdict{value_s}\n{describe}"
            )
        return Comparison("pass" if passed else "fail", describe)
    was = "" if expected.value is None else f" ({expected.value:+.3f})"
    if expected.outcome == "inconclusive":
        if passed:
            return Comparison("pass", describe)
        return Comparison(
            "was-inconclusive", f"inconclusive in the baseline (nothing to notice then), fails now{value_s}\n{describe}"
        )
    banded = noise_band and value is not None and expected.value is not None
    if banded and expected.passed != passed and band.unstable_flip(expected.value, expected.stderr, value, stderr):
        tol = max(band.tolerance(expected.stderr), band.tolerance(stderr))
        message = (
            f"UNSTABLE, not a regression: {'passed' if expected.passed else 'failed'} in the baseline{was}, "
            f"{'passes' if passed else 'fails'} now{value_s}; both gaps lie within the noise band ±{tol:.3f}\n{describe}"
        )
        return Comparison("unstable", message, "pass" if passed else "xfail")
    if passed and expected.passed:
        if banded and band.weaker(expected.value, expected.stderr, value, stderr):
            return Comparison(
                "weaker",
                f"WEAKER: noticed in the baseline{was} and now{value_s}, but the gap lost more than "
                f"{100 * band.WEAKER_SHARE:g} % of its size\n{describe}",
            )
        return Comparison("pass", describe)
    if passed and not expected.passed:
        return Comparison("improved", f"improved: failed in the baseline{was}, passes now{value_s}")
    if not passed and expected.passed:
        return Comparison("regression", f"REGRESSION: passed in the baseline{was}, fails now{value_s}\n{describe}")
    return Comparison("expected-failure", f"known failure, as in the baseline{was}: now{value_s}")


def write(path: str | Path, entries: Iterable[tuple], *, meta: Mapping[str, Any] | None = None) -> Path:
    """Write (cell, passed, value, version[, verdict[, stderr]]) rows, sorted by cell, atomically."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    cells = {}
    for row in sorted(entries, key=lambda r: r[0]):
        cell, passed, value, version, verdict, stderr = (*row, None, None)[:6]
        entry = {"passed": passed, "value": _rounded(value), "version": version}
        if verdict is not None:
            entry["verdict"] = verdict
        if stderr is not None:
            entry["stderr"] = _rounded(stderr)
        cells[cell] = entry
    text = json.dumps({"format": FORMAT, "meta": dict(meta or {}), "cells": cells}, indent=1, sort_keys=True) + "\n"
    return write_file_atomic(p, text.encode("utf-8"))


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)
