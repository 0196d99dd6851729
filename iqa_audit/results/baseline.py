"""Expected outcomes, committed as plain JSON, so CI can gate on changes in findings.

A baseline maps a cell id (the test id inside the brackets, prefixed by the audit kind:
'gap:piqe-codec-jpeg-replicate-grid-perspective-d10', 'editor:aspect_ratio-sim-crop-...')
to the verdict and the number measured when it was written (for a gap: also its standard
error over runs, and 'inconclusive' where there was nothing to notice). One mechanism
for the metric audit and the editor audit; gap cells compare through the noise band of
band.py, so a flip inside it is 'unstable', not a regression.

The file's schema (`read` checks all of it, and names the file, the cell and the field of
the first thing wrong):

    {"format": "iqa-audit-baseline/1",
     "meta": {"profile": str, "iqa_audit": str, "shape": {...}},       (all optional)
     "cells": {"<gap|editor|stability>:<test id>": {
         "passed":  true | false                                       (required)
         "value":   a finite number | null                             (required)
         "version": str | null                                         (required)
         "verdict": "pass" | "fail" | "inconclusive"                  (optional; pass iff passed)
         "stderr":  a finite number >= 0 | null                        (optional)}}}

`meta.shape` is the run the numbers came from (`run_shape`): the chain shape every cell's
number depends on without its key saying so (runs, steps, long side, Δ steps, the editor
audit's steps and runs, the stability chains' editor, steps, runs and long side, the
dataset), and what the file covers (seeds, editors with their parameters, tasks, metrics
with their versions, cases). `--update-baseline` merges a run into the file only when the
first part matches (`check_update`, at configure); otherwise, or when the file cannot be
read or records no shape (written before shapes were), it refuses with the differences,
and `--replace-baseline` writes the file from this run alone, keeping the old one as
FILE.bak (`backup`).
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping, Sequence

from iqa_audit import __version__
from iqa_audit.analysis import band
from iqa_audit.analysis.gaps import VERDICTS
from iqa_audit.chains.plan import audit_seeds
from iqa_audit.core.errors import ConfigError, explain
from iqa_audit.core.files import write_file_atomic
from iqa_audit.results.records import verdict_or_sign

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
        return verdict_or_sign(self.verdict, self.passed)


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


# Every field of a cell entry: (required, what it must be, test). Checked in this order.
def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


CELL_FIELDS: Mapping[str, tuple[bool, str, Callable[[Any], bool]]] = {
    "passed": (True, "true or false (a JSON boolean)", lambda v: isinstance(v, bool)),
    "value": (True, "a finite number or null", lambda v: v is None or _finite(v)),
    "version": (True, "a string or null", lambda v: v is None or isinstance(v, str)),
    "verdict": (False, '"pass", "fail" or "inconclusive"', lambda v: v in VERDICTS),
    "stderr": (False, "a finite number, 0 or more, or null", lambda v: v is None or (_finite(v) and v >= 0)),
}
CELL_KINDS = ("gap", "editor", "stability")  # cells.cell_name's key prefixes
META_FIELDS = {"profile": str, "iqa_audit": str, "shape": dict}


@dataclass(frozen=True)
class Baseline:
    """A whole baseline file: its cells and its meta (with `shape`, when recorded)."""

    cells: Mapping[str, Expected]
    meta: Mapping[str, Any]

    @property
    def shape(self) -> Mapping[str, Any] | None:
        return self.meta.get("shape")


def load(path: str | Path | None) -> Mapping[str, Expected]:
    """The cells of the baseline at `path` ({} when there is none). Raises ConfigError
    (read's) for a file that is not a valid baseline."""
    if path is None or not Path(path).exists():
        return MappingProxyType({})
    return read(path).cells


def read(path: str | Path) -> Baseline:
    """Parse and check a baseline file against the schema (module doc). Raises ConfigError
    naming the file, the cell and the field, what was expected and found, and a fix that
    works (--replace-baseline can rewrite a file this refuses)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise _broken(p, "", "a readable UTF-8 file", str(e)) from None
    except ValueError as e:  # truncated, a merge conflict, ...
        raise _broken(p, "", f"a JSON file in format {FORMAT}", f"not JSON ({e})") from None
    if not isinstance(data, dict):
        raise _broken(p, "", f"a JSON object in format {FORMAT}", _json_words(data))
    extra = sorted(set(data) - {"format", "meta", "cells"})
    if extra:
        raise _broken(p, f"key {extra[0]!r}", "only the keys format, meta and cells", "an unknown key")
    if data.get("format") != FORMAT:
        raise _broken(p, "field 'format'", repr(FORMAT), _json_words(data.get("format")))
    meta = data.get("meta", {})
    if not isinstance(meta, dict):
        raise _broken(p, "field 'meta'", "an object", _json_words(meta))
    for key, kind in META_FIELDS.items():
        if key in meta and not isinstance(meta[key], kind):
            raise _broken(p, f"meta field {key!r}", "an object" if kind is dict else "a string", _json_words(meta[key]))
    cells = data.get("cells")
    if not isinstance(cells, dict):
        raise _broken(p, "field 'cells'", "an object of cell entries", _json_words(cells))
    out = {}
    for cell, entry in cells.items():
        out[cell] = _entry(p, cell, entry)
    return Baseline(MappingProxyType(out), MappingProxyType(dict(meta)))


def _entry(p: Path, cell: str, entry: Any) -> Expected:
    kind, sep, rest = cell.partition(":")
    if not sep or kind not in CELL_KINDS or not rest:
        raise _broken(p, f"cell {cell!r}", "a key '<" + "|".join(CELL_KINDS) + ">:<test id>'", "another key")
    if not isinstance(entry, dict):
        raise _broken(p, f"cell {cell!r}", "an object with passed, value and version", _json_words(entry))
    for name in entry:
        if name not in CELL_FIELDS:
            close = difflib.get_close_matches(name, list(CELL_FIELDS), n=1)
            raise _broken(
                p, f"cell {cell!r}, field {name!r}", "fields among " + ", ".join(CELL_FIELDS), "an unknown field", hint=close
            )
    for name, (required, expected, ok) in CELL_FIELDS.items():
        if name not in entry:
            if required:
                raise _broken(p, f"cell {cell!r}, field {name!r}", expected, "no such field (it is required)")
        elif not ok(entry[name]):
            raise _broken(p, f"cell {cell!r}, field {name!r}", expected, _json_words(entry[name]))
    verdict = entry.get("verdict")
    if verdict is not None and (verdict == "pass") != entry["passed"]:  # which one would a comparison believe?
        raise _broken(
            p,
            f"cell {cell!r}, field 'passed'",
            f"{'true' if verdict == 'pass' else 'false'} with verdict {verdict!r}",
            _json_words(entry["passed"]),
        )
    return Expected(entry["passed"], entry["value"], entry["version"], verdict, entry.get("stderr"))


def _json_words(value: Any) -> str:
    """A JSON value as found, with its type: '"false" (a string)'."""
    kind = {bool: "a boolean", str: "a string", dict: "an object", list: "an array", type(None): "null"}.get(type(value))
    if kind is None:
        kind = "a number"
    text = json.dumps(value, allow_nan=True)
    return f"{text[:60]}{'…' if len(text) > 60 else ''} ({kind})"


def _broken(p: Path, where: str, expected: str, got: str, hint: Sequence[str] = ()) -> ConfigError:
    did = f"Did you mean {hint[0]!r}? " if hint else ""
    return ConfigError(
        explain(
            f"baseline {p}" + (f": {where}" if where else ""),
            expected=expected,
            got=got,
            fix=did + f"Fix it by hand or restore it (git checkout -- {p}), or write it anew from a full run with "
            f"--baseline {p} --update-baseline --replace-baseline (the broken file is kept as {backup_name(p)}).",
        )
    )


# ----- the run's shape, and updating --------------------------------------------------------
# Keys of run_shape that every cell's number depends on without its key saying so: a run
# that differs in one of them measures other numbers under the same cell names, so its
# entries must not be merged with the file's. The other keys say what the file covers and
# grow by union when a run adds cells (a run of one metric or one seed updates its cells).
FIXED_SHAPE = ("runs", "steps", "long_side", "delta_steps", "dataset", "editor_audit", "stability")
COVERAGE = ("seeds", "editors", "tasks", "metrics", "audit_editors", "audit_cases", "stability_cases")


def run_shape(cfg: Any, versions: Mapping[str, str | None] | None = None) -> dict[str, Any]:
    """The shape of the run `cfg` describes (module doc), as JSON values. `versions`:
    metric id -> version, known once the metrics ran (None at configure)."""

    seeds = [] if cfg.dataset else [s.name for s in audit_seeds(cfg)]
    return {
        "runs": cfg.runs,
        "steps": cfg.steps,
        "long_side": cfg.long_side,
        "delta_steps": list(cfg.delta_steps),
        "dataset": cfg.dataset,
        "editor_audit": {"steps": cfg.audit_steps, "runs": cfg.audit_runs},
        "stability": {
            "editor": cfg.stability_editor,
            "steps": cfg.stability_steps,
            "runs": cfg.stability_runs,
            "long_side": cfg.stability_long_side,
        },
        "seeds": sorted(seeds),
        "editors": sorted(cfg.editors),
        "tasks": sorted(cfg.tasks),
        "metrics": dict(sorted((versions or {m: None for m in cfg.metrics}).items())),
        "audit_editors": sorted(cfg.audit_editors),
        "audit_cases": sorted(cfg.audit_cases),
        "stability_cases": sorted(cfg.stability_cases),
    }


def shape_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """'runs: 2 in the baseline, 1 in this run' for each fixed part of the shape that differs."""
    out = []
    for key in FIXED_SHAPE:
        if old.get(key) != new.get(key):
            out.append(f"{key.replace('_', ' ')}: {_shape_words(old.get(key))} in the baseline, {_shape_words(new.get(key))} now")
    return out


def _shape_words(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')} {_shape_words(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "native" if value is None else str(value)


def merged_shape(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """The shape a merged file records: this run's fixed part, the union of what both cover
    (this run's metric versions win: its entries replaced the old ones)."""
    out = dict(new)
    for key in COVERAGE:
        if old and key != "metrics":
            out[key] = sorted(set(old.get(key, ())) | set(new.get(key, ())))
    out["metrics"] = dict(sorted({**((old or {}).get("metrics") or {}), **new["metrics"]}.items()))
    return out


def baseline_path(cfg: Any) -> Path:
    """The file --update-baseline writes: --baseline (or the profile's `baseline`), else
    baselines/<profile>.json under the current folder."""
    return Path(cfg.baseline) if cfg.baseline else Path("baselines") / f"{cfg.profile}.json"


def gating_differences(cfg: Any) -> list[str]:
    """How the run `cfg` describes differs, in the fixed part of its shape, from the run
    that recorded the baseline it is gated by (shape_differences' words); [] when they
    match, when there is no baseline file or it records no shape, and when this run
    updates it (check_update refuses a mismatch then)."""
    if cfg.update_baseline or cfg.baseline is None or cfg.baseline.lower() == "none":
        return []
    path = Path(cfg.baseline)
    if not path.is_file():
        return []
    shape = read(path).shape
    return [] if shape is None else shape_differences(shape, run_shape(cfg))


def check_update(cfg: Any) -> None:
    """Refuse, at configure, an --update-baseline that could not do what it says: with
    --baseline none (there is no file to write: name one); into a file that cannot be
    read, records no shape, or records another shape (the fixed part differs), unless
    --replace-baseline says to write it from this run alone (the old file kept as .bak)."""
    if cfg.replace_baseline and not cfg.update_baseline:
        raise ConfigError(
            explain(
                cfg.label("replace_baseline"),
                expected="--update-baseline with it",
                got="--replace-baseline alone",
                fix="Pass --update-baseline --replace-baseline to write the baseline from this run alone.",
            )
        )
    if cfg.baseline is not None and cfg.baseline.lower() == "none":
        raise ConfigError(
            explain(
                "--update-baseline with --baseline none",
                expected="a baseline file to write",
                got="none (raw verdicts: no baseline)",
                fix=f"Name the file: --baseline {baseline_path(replace(cfg, baseline=None))} --update-baseline; "
                "or drop --update-baseline to audit with raw verdicts.",
            )
        )
    path = baseline_path(cfg)
    if cfg.replace_baseline or not path.exists():
        return  # a new file, or one replaced on purpose (write_update keeps the old one as .bak)
    old = read(path)  # a broken file: its error says how to fix or replace it
    new = run_shape(cfg)
    if old.shape is None:
        why = "records no run shape (written before baselines recorded one), so this run cannot be checked against it"
    else:
        differences = shape_differences(old.shape, new)
        if not differences:
            return
        why = "was written by a run of another shape: " + "; ".join(differences)
    raise ConfigError(
        explain(
            f"--update-baseline into {path}",
            expected="a baseline written by a run of this run's shape (its numbers would otherwise mix two kinds of run)",
            got=f"a file that {why}",
            fix="Run with the baseline's shape (its profile's settings), or write it from this run alone with "
            f"--update-baseline --replace-baseline ({len(old.cells)} cells now in it; the old file is kept as {backup_name(path)}).",
        )
    )


def backup_name(path: str | Path) -> Path:
    """Where --replace-baseline keeps the file it replaces: FILE.bak (FILE.N.bak when taken)."""
    p = Path(path)
    candidate, n = p.with_name(p.name + ".bak"), 1
    while candidate.exists():
        n += 1
        candidate = p.with_name(f"{p.name}.{n}.bak")
    return candidate


def write_update(cfg: Any, entries: Mapping[str, tuple], versions: Mapping[str, str | None]) -> tuple[Path, Path | None]:
    """--update-baseline's write: this run's `entries` (cell -> row, see `write`) merged into
    the file, or, with --replace-baseline, alone, the old file first moved to backup_name.
    Returns (the baseline, the backup or None)."""
    path = baseline_path(cfg)
    new = run_shape(cfg, versions)
    saved = None
    if cfg.replace_baseline:
        if path.exists():
            saved = backup_name(path)
            path.replace(saved)
        rows, shape = dict(entries), new
    else:
        old = read(path) if path.exists() else Baseline(MappingProxyType({}), MappingProxyType({}))
        rows = {cell: (cell, e.passed, e.value, e.version, e.verdict, e.stderr) for cell, e in old.cells.items()}
        rows.update(entries)
        shape = merged_shape(old.shape, new)
    meta = {"profile": cfg.profile, "iqa_audit": _version(), "shape": shape}
    return write(path, rows.values(), meta=meta), saved


def _version() -> str:

    return __version__


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
    now = verdict_or_sign(verdict, passed)
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
