"""One record per audit cell: the schema of results.json's `cells` entries.

Each audit kind's module (audit/gap_cells.py, stability_cells.py, sanity_cells.py,
editor_cells.py) makes the typed record of every cell it judges; audit.outcomes adds how
a gated verdict compares with the baseline (`baseline`, with dataclasses.replace). A
record stays typed from there on: the only JSON on its way is the one an xdist worker
must send to the controller (audit.shipping: `to_dict` there, `parse` on arrival, with
what only the test's report knows: `outcome`, `nodeid`), and results.json itself,
written once by results.writer; the report draws the same typed records. JSON becomes a
record in one place, `parse`, which dispatches on `kind` and refuses a malformed record
with a RecordError naming the cell, the field, what was expected and the fix.

Units: gaps, means and spreads of scores are in *normalised points*, the 0–100 scale on
which 0 and 100 are the ends of the metric's typical raw range and higher is better
(metrics.normalise; a score outside its typical range leaves [0, 100]). `raw` scores are
in the metric's own unit. Steps are chain steps (0: the original seed image, k: after the
k-th edit); steps and runs are JSON object keys, so they are strings there ("0", "1", ...).

Every record is a JSON object with `kind` plus the fields of its kind below, all of them
always written (null where a field does not apply). Reading, a field marked *required* must
be present; an absent optional field reads as its default (None, or empty).

Fields every kind has:
    kind        str    "gap" | "stability" | "editor" | "sanity" | "metric-status" | "profile"
    cell        str    the cell's key (cells.cell_name): "gap:<metric id>-<setting>-<seed>-d<Δ>",
                       "stability:<metric id>-<add task>-<seed>", "editor:<check>-<setting>-<seed>",
                       "sanity:<metric id>-<check>", "metric-status:<metric name>". Required.
    outcome     str?   pytest's outcome of the test: "passed" | "failed" | "xfailed" | "xpassed" |
                       "skipped" | "error" (a cell with no verdict: its `error`). Set by the plugin.
    nodeid      str?   the test's pytest node id. Set by the plugin.

Every collected cell that ran has exactly one record, whatever the code it runs did (a
user's metric or editor raising, returning the wrong type, a score that is NaN): a cell
that could not reach a verdict carries the error fields below (all null otherwise), and
its kind's verdict fields say "no verdict" (`passed` false, `value` null). Error fields,
every kind (core.tracebacks.describe fills them from the exception):
    error       str?   why the cell has no verdict: the full message (what was wrong,
                       expected, got, fix). A cell skipped because its metric cannot run
                       here carries the reason too (`outcome` "skipped").
    error_type  str?   the type of the exception that started it: the user's own where it
                       was their code ("ValueError" under the suite's ScoreError), else the
                       suite's ("NonFiniteScore", "EditorReturnError", "MetricUnavailable").
    error_where str?   the frame that raised, "path/to/file.py:LINE in function": the
                       innermost frame of the user's code (their metric, editor, test), else
                       the innermost frame there is; null when no frame is known.
    error_chain str?   for an error while building a chain (an editor raising or returning
                       the wrong type): the chain, "<setting>/<seed>/run <run>".
    error_step  int?   ... and the step it was making.

Gated kinds (gap, stability, editor) also have:
    baseline    str?   how the verdict compares with the baseline (baseline.Comparison.kind:
                       "pass", "fail", "regression", "improved", "unstable", "weaker", ...;
                       "error" for a gap cell with no verdict). Set when the test settles.
    passed      bool   the cell's verdict passed (false on an error record). Required.
    value       float? the number the verdict rests on (per kind below); the baseline's
                       `value`. Required; null on an error record (and for a gap not computed).
    version     str    the metric's version (gap, stability) or the editor's (editor) the
                       finding was made with; the baseline's `version`. Required; "" on an
                       error record whose metric or editor could not be made.

kind "gap" (GapRecord): does a metric notice the damage between step 1 and step Δ?
    metric      str    the metric as requested ("pyiqa:piqe"). Required.
    metric_id   str    its id ("piqe"). Required.
    setting     str    chain setting label "<editor label>-<task>". Required.
    editor, task str?  the setting's editor label and task.
    seed        str    seed image name. Required.
    delta_step  int    Δ, the step compared with step 1. Required.
    value       float? the gap Δ = step_mean − reference_mean, normalised points; < 0: the
                       score fell, the metric noticed. null when not computed (no paired run,
                       or `error`).
    reference_mean, step_mean  float?  mean normalised score at step 1 and at step Δ over
                       the paired runs.
    verdict     str?   "pass" (noticed) | "fail" (missed) | "inconclusive" (no paired run
                       changed visibly: nothing to notice). null for an `error` record.
    reason      str?   why a cell is inconclusive ("" when it is not).
    runs        int?   runs the gap is over (the paired runs; all of the series' for an error).
    paired_runs [int]  the runs with scores at both steps.
    left_out    [{"run": int, "why": str}]  runs left out of the gap, and why.
    per_run_gaps {run: float}  each paired run's gap, normalised points.
    gap_spread, gap_stderr  float?  sd (ddof 1) and standard error of the per-run gaps,
                       normalised points (0 for one run; band.spread).
    tolerance   float? half-width of the gap's noise band, normalised points (band.tolerance).
    evidence    [{"run", "reference_step", "step", "psnr_db", "ssim", "alignment", "visible"}]
                       per paired run: step Δ against step 1 (evidence.RunEvidence; PSNR in dB,
                       null for identical pixels; SSIM in [-1, 1], null where PSNR alone showed the change).
    range       {"lo", "hi", "higher_better", "source"}?  the metric's typical raw range,
                       mapped onto [0, 100] (metrics.base.TypicalRange).
    mean_normalised, spread_normalised {step: float}  mean and sd over runs of the
                       normalised score at every scored step of the series.
    raw         {run: {step: float}}  raw scores, the metric's unit.
    normalised  {run: {step: float}}  the same scores normalised (metrics.normalise with
                       `range`), normalised points: what the report shows beside `raw`.
    images      {run: {step: "<sha256>.<ext>"}}  the chain's images in the store.
    detection_delay {"per_run": [int?], "mean", "sd", "noticed_runs", "runs", "resolution": [int]}?
                       the series' metric detection delay in steps (stability.detection_delay).

kind "stability" (StabilityRecord): does the metric stay as steady on an add-objects chain
as on the replicate chain of the same editor and seed?
    metric, metric_id, seed  str   as for gap. Required.
    editor      str    the stability chains' editor. Required.
    task        str    the add task ("add-fruits"). Required.
    setting     str    the add chain's setting label. Required.
    replicate_setting str  the replicate chain's setting label. Required.
    value       float? add_spread / max(replicate_spread, stability.MIN_SPREAD). Required
                       (null on an error record).
    tolerance   float? the bound the ratio must not exceed (stability.STABILITY_BOUND).
    add_spread, replicate_spread  float?  robust spread of step-to-step differences of the
                       normalised score, normalised points.
    differences int?   step-to-step differences pooled per chain (the smaller of the two).
    message     str?   the finding in words.
    curves      {"add"|"replicate": {run: {step: float}}}  normalised scores of both chains.
    images      {run: {step: "<sha256>.<ext>"}}  the add chain's images.

kind "editor" (EditorRecord): does the editor keep what the task says to keep?
    check       str    the fidelity check ("aspect_ratio", "tint", ...). Required.
    setting, seed  str  as for gap. Required.
    editor, task str?  the setting's editor label and task.
    value       float? the check's headline number, in the check's own unit (fidelity
                       check table). Required (null on an error record).
    tolerance   float? its limit.
    message     str?   the finding in words.
    details     {..}   the check's per-run measurements (JSON-able, check-specific).
    images      {run: {step: "<sha256>.<ext>"}}  the chain's images.
    self_evaluation {"available": bool, "why"?, "per_run": [int?], "mean", "sd",
                       "noticed_runs", "runs"}  the editor's self-evaluation delay in steps.

kind "sanity" (SanityRecord), not gated by the baseline:
    metric, metric_id, check  str  the metric and its sanity check (sanity.SANITY_CHECKS). Required.
    passed      bool   true also for a warning-only check that failed; false on an error
                       record. Required.
    message     str?   what the check measured.
    warning     str?   the message when a warning-only check failed, else null.

kind "metric-status" (MetricStatusRecord): a requested metric that could not run here.
Not in results.json's `cells`: results summarises these in its `metrics` table.
    metric      str    the metric as requested. Required.
    status      str    "unavailable". Required.
    why         str?   the reason, with the fix.

kind "profile" (ProfileRecord): the artifact profile of one chain (setting, seed), not a
cell: results.json keeps these in its `profiles` list, written once at the end of the run
from the chains the cells' records name (audit.profiles).
    cell        str    "profile:<setting>-<seed>". Required.
    setting, seed  str  as for gap. Required.
    editor, task str?  the setting's editor spec and task ("imported" for --dataset chains).
    source      str    "simulator" (a built-in codec or simulator editor: editors.registry.
                       SIMULATORS), "model" (any other: gemini, the diffusers editors,
                       vae-roundtrip, a plugin's) or "imported" (--dataset). Required.
    version     int    analysis.artifact_profile.PROFILE_VERSION of the statistics. Required.
    reference_step int  the step each profile measures the change from (1, the study's reference).
    steps       {step: {statistic: float?}}  per profiled step (the run's Δ steps the chain
                       reached): the mean over runs of each ArtifactProfile statistic (units
                       and sources: analysis/artifact_profile.py's table), null where no run
                       defines it.
    runs        {step: int}  the runs each step's means are over.
    closest     [{"setting", "distance", "step"}]  model and imported chains: the simulator
                       settings nearest in profile space at the last profiled step, nearest
                       first (at most 3); distance in SCALES units (root mean square over
                       the statistics finite in both: 1 is one typical spread each). Empty
                       for a simulator, or with nothing to compare.
    closest_from str?  where the simulators' profiles came from: "run" (this run's
                       simulator chains on the same seed at the same step) or "reference"
                       (audit.profiles.REFERENCE_SETTINGS run from this chain's step-1 image,
                       cut to its central REFERENCE_SIDE px, and this chain's own profile
                       taken on the same cut).

Records written by the previous release carry alias keys for one value: a gap record
both `gap` and `value`, gap and stability records both `metric_version` and `version`, an
editor record both `editor_version` and `version`. `parse` reads those (LEGACY_ALIASES) so
an old results.json still compares; records made now have only `value` and `version`.
"""

from __future__ import annotations

import math
import types
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, Union

from iqa_audit.analysis.gaps import VERDICTS
from iqa_audit.core.errors import RecordError, explain
from iqa_audit.results.record_fields import conforms, hints, plain, short, tuples, type_name

RESULTS_FIX = (
    "Use a results.json written by iqa-audit (reports/<run-name>/results.json), unedited, or re-run the "
    "audit to write a fresh one."
)

Json = Mapping[str, Any]  # a nested JSON object whose shape the module doc gives


@dataclass(frozen=True, kw_only=True)
class _Record:
    """What every record has; see the module doc for each field. Every field is checked
    against its type when the record is made (RecordError: the cell, the field, the fix)."""

    kind: ClassVar[str]
    cell: str
    outcome: str | None = None
    nodeid: str | None = None
    error: str | None = None
    error_type: str | None = None
    error_where: str | None = None
    error_chain: str | None = None
    error_step: int | None = None

    def __post_init__(self) -> None:
        for f, hint in hints(type(self)).items():
            value = getattr(self, f)
            if not conforms(value, hint):
                raise RecordError(
                    explain(
                        f"record {self.cell!r} (kind {self.kind}): field {f}",
                        expected=type_name(hint),
                        got=f"{type(value).__name__} {short(value)}",
                        fix=RESULTS_FIX,
                    )
                )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object results.json holds: `kind`, every field (tuples as lists) and the
        old names this format version still writes (WRITTEN_ALIASES), each with its key's value."""
        d = {"kind": self.kind, **{f.name: plain(getattr(self, f.name)) for f in fields(self)}}
        for old in WRITTEN_ALIASES.get(self.kind, ()):
            d[old] = d[LEGACY_ALIASES[self.kind][old]]
        return d


@dataclass(frozen=True, kw_only=True)
class _Gated(_Record):
    """The kinds the baseline gates: a verdict, its number and the version it was made with."""

    passed: bool
    value: float | None
    version: str
    baseline: str | None = None
    # Whether `value` may be null only on an error record (stability, editor); a gap's may
    # also be null when it was not computed (no paired run).
    value_needs_error: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.value is None and self.error is None and self.value_needs_error:
            raise RecordError(
                explain(
                    f"record {self.cell!r} (kind {self.kind}): field value",
                    expected="a number",
                    got="NoneType None on a record without an error (null is for a cell that could not be judged)",
                    fix=RESULTS_FIX,
                )
            )


@dataclass(frozen=True, kw_only=True)
class GapRecord(_Gated):
    """A metric-audit cell: the gap Δ between step 1 and step `delta_step` (module doc, kind "gap")."""

    kind: ClassVar[str] = "gap"
    value_needs_error: ClassVar[bool] = False
    metric: str
    metric_id: str
    setting: str
    seed: str
    delta_step: int
    editor: str | None = None
    task: str | None = None
    reference_mean: float | None = None
    step_mean: float | None = None
    verdict: str | None = None
    reason: str | None = None
    runs: int | None = None
    paired_runs: tuple[int, ...] = ()
    left_out: tuple[Json, ...] = ()
    per_run_gaps: Mapping[str, float] = field(default_factory=dict)
    gap_spread: float | None = None
    gap_stderr: float | None = None
    tolerance: float | None = None
    evidence: tuple[Json, ...] = ()
    range: Json | None = None
    mean_normalised: Mapping[str, float] = field(default_factory=dict)
    spread_normalised: Mapping[str, float] = field(default_factory=dict)
    raw: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    normalised: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    images: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    detection_delay: Json | None = None

    @property
    def shown_verdict(self) -> str:
        """'pass', 'fail' or 'inconclusive' (verdict_or_sign), or 'error' for a cell that
        could not be judged (a non-finite score, the metric raising: the record carries `error`)."""
        return "error" if self.error else verdict_or_sign(self.verdict, self.passed)


@dataclass(frozen=True, kw_only=True)
class StabilityRecord(_Gated):
    """A metric-stability cell: add chain vs replicate chain spread ratio (module doc, kind "stability")."""

    kind: ClassVar[str] = "stability"
    metric: str
    metric_id: str
    editor: str
    task: str
    setting: str
    replicate_setting: str
    seed: str
    tolerance: float | None = None
    add_spread: float | None = None
    replicate_spread: float | None = None
    differences: int | None = None
    message: str | None = None
    curves: Mapping[str, Mapping[str, Mapping[str, float]]] = field(default_factory=dict)
    images: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class EditorRecord(_Gated):
    """An editor-audit cell: one fidelity check of one chain (module doc, kind "editor")."""

    kind: ClassVar[str] = "editor"
    check: str
    setting: str
    seed: str
    editor: str | None = None
    task: str | None = None
    tolerance: float | None = None
    message: str | None = None
    details: Json = field(default_factory=dict)
    images: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    self_evaluation: Json = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SanityRecord(_Record):
    """A metric sanity check; not gated by the baseline (module doc, kind "sanity")."""

    kind: ClassVar[str] = "sanity"
    metric: str
    metric_id: str
    check: str
    passed: bool
    message: str | None = None
    warning: str | None = None


@dataclass(frozen=True, kw_only=True)
class MetricStatusRecord(_Record):
    """A requested metric that could not run here (module doc, kind "metric-status")."""

    kind: ClassVar[str] = "metric-status"
    metric: str
    status: str
    why: str | None = None


@dataclass(frozen=True, kw_only=True)
class ProfileRecord(_Record):
    """The artifact profile of one chain setting on one seed (module doc, kind "profile")."""

    kind: ClassVar[str] = "profile"
    NOT_BUILT: ClassVar[str] = "not-built"  # closest_from: no simulator chain in the run, no reference set asked for
    setting: str
    seed: str
    source: str
    version: int
    editor: str | None = None
    task: str | None = None
    reference_step: int = 1
    steps: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)
    runs: Mapping[str, int] = field(default_factory=dict)
    closest: tuple[Json, ...] = ()
    closest_from: str | None = None

    @property
    def last_step(self) -> str | None:
        """The last profiled step (a `steps` key), or None when none was profiled."""
        return max(self.steps, key=int) if self.steps else None


def verdict_or_sign(verdict: str | None, passed: bool) -> str:
    """A verdict: `verdict` ('pass', 'fail' or 'inconclusive'), else pass/fail from `passed`
    (records and baselines written before verdicts had a third value, and the kinds
    without one: stability, editor)."""
    return verdict if verdict in VERDICTS else ("pass" if passed else "fail")


Record = Union[GapRecord, StabilityRecord, EditorRecord, SanityRecord, MetricStatusRecord, ProfileRecord]
GatedRecord = Union[GapRecord, StabilityRecord, EditorRecord]
GATED = (GapRecord, StabilityRecord, EditorRecord)  # the kinds the baseline gates (isinstance)
KINDS: Mapping[str, type] = types.MappingProxyType(
    {cls.kind: cls for cls in (GapRecord, StabilityRecord, EditorRecord, SanityRecord, MetricStatusRecord, ProfileRecord)}
)

# Every older name of a key: {kind: {old name: the key now}}. Read by `parse`, always
# (results/schema.py FORMAT_HISTORY: renamed in format 1.1).
LEGACY_ALIASES: Mapping[str, Mapping[str, str]] = types.MappingProxyType(
    {
        "gap": {"gap": "value", "metric_version": "version"},
        "stability": {"metric_version": "version"},
        "editor": {"editor_version": "version"},
    }
)
# The old names still written beside their key, with its value, in this format version:
# {kind: (old name, ...)}, each of LEGACY_ALIASES. The schema's versioning policy keeps a
# renamed key's old name written for the one minor version that renames it; none now.
WRITTEN_ALIASES: Mapping[str, tuple[str, ...]] = types.MappingProxyType({})


def parse(d: Any) -> Record:
    """The record a results.json `cells` entry (or a record shipped from an xdist worker)
    holds, by its `kind`. Reads the previous release's alias keys (LEGACY_ALIASES).

    Raises RecordError (an AuditError: the cell, the field, expected, got, fix) when `d` is
    not an object, its kind is unknown, a required field is missing, a field is unknown,
    or a value has the wrong type."""
    if not isinstance(d, Mapping):
        raise RecordError(
            explain("a cell record", expected="a JSON object", got=f"{type(d).__name__} {short(d)}", fix=RESULTS_FIX)
        )
    name = repr(d.get("cell", "<no cell>"))
    kind = d.get("kind")
    cls = KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise RecordError(
            explain(f"record {name}: field kind", expected="one of " + ", ".join(KINDS), got=repr(kind), fix=RESULTS_FIX)
        )
    values = _unalias(dict(d), name, kind)
    del values["kind"]
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise RecordError(
            explain(
                f"record {name} (kind {kind})",
                expected="only the fields of records.py's schema",
                got="unknown field(s) " + ", ".join(unknown),
                fix=f"{RESULTS_FIX} A file written by a newer iqa-audit needs that version to read it.",
            )
        )
    missing = [n for n, f in known.items() if n not in values and f.default is MISSING and f.default_factory is MISSING]
    if missing:
        raise RecordError(
            explain(
                f"record {name} (kind {kind})",
                expected="required field(s) " + ", ".join(missing),
                got="a record without them",
                fix=RESULTS_FIX,
            )
        )
    field_hints = hints(cls)
    return cls(**{k: tuples(v, field_hints[k]) for k, v in values.items()})


def parse_all(ds: Any) -> list[Record]:
    """`parse` of each entry of a results.json `cells` list, in order. Raises RecordError
    (also when `ds` is not a list)."""
    if not isinstance(ds, (list, tuple)):
        raise RecordError(
            explain("results.json's cells", expected="a list of records", got=f"{type(ds).__name__} {short(ds)}", fix=RESULTS_FIX)
        )
    return [parse(d) for d in ds]


def _unalias(d: dict[str, Any], name: str, kind: str) -> dict[str, Any]:
    for alias, key in LEGACY_ALIASES.get(kind, {}).items():
        if alias not in d:
            continue
        value = d.pop(alias)
        if key in d and not _same(d[key], value):
            raise RecordError(
                explain(
                    f"record {name} (kind {kind})",
                    expected=f"{alias!r} (an older name of {key!r}) equal to {key!r}",
                    got=f"{alias}={short(value)}, {key}={short(d[key])}",
                    fix=RESULTS_FIX,
                )
            )
        d.setdefault(key, value)
    return d


def _same(a: Any, b: Any) -> bool:
    nan = isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    return nan or a == b
