"""Expected outcomes, committed as plain JSON, so CI can gate on changes in findings.

A baseline maps a cell id (the test id inside the brackets, prefixed by the audit kind:
'gap:piqe-codec-jpeg-replicate-grid-perspective-d10', 'editor:aspect_ratio-sim-crop-...')
to the verdict and the number measured when it was written. One mechanism for the metric
audit and the editor audit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from .errors import ConfigError, explain
from .files import write_file_atomic

FORMAT = "iqa-audit-baseline/1"


@dataclass(frozen=True)
class Expected:
    passed: bool
    value: float | None
    version: str | None  # metric or editor version the entry was measured with


@dataclass(frozen=True)
class Comparison:
    """How a cell's outcome now relates to the baseline."""

    kind: str  # 'pass' | 'fail' | 'regression' | 'expected-failure' | 'improved' | 'new-pass' | 'new-fail'
    message: str

    @property
    def fails_test(self) -> bool:
        return self.kind in ("fail", "regression", "new-fail")


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
        cells = {k: Expected(bool(v["passed"]), v.get("value"), v.get("version")) for k, v in data["cells"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ConfigError(explain(f"baseline {p}", expected=f"a JSON file in format {FORMAT}", got=str(e),
                                  fix="Regenerate it with --update-baseline.")) from None
    return MappingProxyType(cells)


def compare(cell: str, passed: bool, value: float | None, baseline: Mapping[str, Expected] | None, *,
            has_baseline: bool, describe: str = "") -> Comparison:
    value_s = "" if value is None else f" ({value:+.3f})"
    expected = (baseline or {}).get(cell)
    if expected is None:
        if has_baseline:
            return Comparison("new-pass" if passed else "new-fail", f"{cell} is not in the baseline; raw verdict{value_s}\n{describe}")
        return Comparison("pass" if passed else "fail", describe)
    was = "" if expected.value is None else f" ({expected.value:+.3f})"
    if passed and expected.passed:
        return Comparison("pass", describe)
    if passed and not expected.passed:
        return Comparison("improved", f"improved: failed in the baseline{was}, passes now{value_s}")
    if not passed and expected.passed:
        return Comparison("regression", f"REGRESSION: passed in the baseline{was}, fails now{value_s}\n{describe}")
    return Comparison("expected-failure", f"known failure, as in the baseline{was}: now{value_s}")


def write(path: str | Path, entries: Iterable[tuple[str, bool, float | None, str | None]], *, meta: Mapping[str, Any] | None = None) -> Path:
    """Write (cell, passed, value, version) rows, sorted, atomically."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    cells = {cell: {"passed": passed, "value": None if value is None else round(float(value), 6), "version": version}
             for cell, passed, value, version in sorted(entries)}
    text = json.dumps({"format": FORMAT, "meta": dict(meta or {}), "cells": cells}, indent=1, sort_keys=True) + "\n"
    return write_file_atomic(p, text.encode("utf-8"))
