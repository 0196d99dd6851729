"""The manifest's rows as values: what `Store` reads from and writes to its SQLite tables.

StepRecord (a `steps` row) and ChainRecord (a `chains` row) are the frozen values the rest
of the package passes around; step_from_row / chain_from_row turn a SELECT's columns (in the
order Store selects them) into them, and row_json / jsonable turn metadata into the JSON the
manifest stores. The tables themselves, column by column, are schema.SCHEMA.

Values are JSON, never pickle (store's module docstring says why), and one damaged row must
not stop a build or an audit: its JSON reads as {UNREADABLE_META: what was wrong}.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

# The one key of a damaged row's JSON object (_loads_row): its value says what was wrong.
UNREADABLE_META = "unreadable_meta"


@dataclass(frozen=True)
class StepRecord:
    """One `steps` row: step `step` (0 = the seed; k = the editor on step k-1) of a chain.
    status: 'ok', or why the chain stopped there ('refused', 'failed', 'unknown';
    chains.StepOutcome). image_hash (sha256 hex), ext ('png', ...), width, height (px): the
    image, hash and ext None unless 'ok'. prompt: None for step 0. meta: read-only JSON
    object ({UNREADABLE_META: why} for a damaged row). editor_seed: the run (None for step
    0 and imported steps). seconds: wall time of the edit."""

    chain_key: str
    step: int
    status: str
    image_hash: str | None
    ext: str | None
    width: int | None
    height: int | None
    prompt: str | None
    reasoning: str | None
    meta: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    editor_seed: int | None = None
    seconds: float | None = None

    @property
    def ok(self) -> bool:
        """True when the step has an image (status 'ok')."""
        return self.status == "ok"


@dataclass(frozen=True)
class ChainRecord:
    """One `chains` row: a chain's identity. key: 24 hex digits of keys.digest(spec)
    (chains.resolve; datasets.imported_chain_key for imported chains). spec: read-only JSON
    of all that determines the chain (seed, editor, task with versions; run), URLs redacted.
    setting: '<editor label>-<task>' (chains.setting_label). run: from 0 (also the editor's
    seed). paid: the editor bills per request (imported chains too: they cannot be rebuilt)."""

    key: str
    spec: Mapping[str, Any]
    seed: str
    setting: str
    editor_id: str
    editor_version: str
    task: str
    run: int
    paid: bool


def jsonable(value: Any) -> Any:
    """Plain JSON values (dicts, lists, numbers, strings) from mappings, tuples, numpy scalars.

    For stored records only (step metadata, finding details): anything else becomes its
    str(), so an editor's odd metadata never loses a built step. Never for keys: those go
    through iqa_audit.core.keys, which refuses what it cannot key."""
    return json.loads(json.dumps(value, sort_keys=True, default=_json_default))


def row_json(value: Mapping[str, Any]) -> str:
    """`value` as the manifest stores it (a chain's spec, a step's meta): canonical JSON
    text, keys sorted, no spaces; values JSON cannot hold as jsonable() turns them."""
    return json.dumps(dict(value), sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(o: Any) -> Any:
    if isinstance(o, Mapping):
        return dict(o)
    if isinstance(o, (tuple, set, frozenset)):
        return list(o)
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    return str(o)


def chain_from_row(row: tuple) -> ChainRecord:
    """The ChainRecord of a `chains` row selected as (key, spec, seed, setting, editor_id,
    editor_version, task, run, paid)."""
    key, spec, seed, setting, editor_id, editor_version, task, run, paid = row
    return ChainRecord(
        key, _loads_row(spec, f"chain {key}"), seed, setting, editor_id, editor_version, task, int(run), bool(paid)
    )


def step_from_row(row: tuple) -> StepRecord:
    """The StepRecord of a `steps` row selected as (chain_key, step, status, image_hash,
    ext, width, height, prompt, reasoning, meta, editor_seed, seconds)."""
    (chain_key, step, status, image_hash, ext, width, height, prompt, reasoning, meta, editor_seed, seconds) = row
    return StepRecord(
        chain_key,
        int(step),
        status,
        image_hash,
        ext,
        width,
        height,
        prompt,
        reasoning,
        _loads_row(meta, f"step {step} of chain {chain_key}"),
        editor_seed,
        seconds,
    )


def _loads_row(text: Any, where: str) -> Mapping[str, Any]:
    """A row's JSON object. One damaged row (hand-edited, written by a broken tool) must not
    stop every build and audit that reads the chain: its value becomes
    {UNREADABLE_META: what was wrong}, which the step keeps (its image is checked by hash
    as always), and whoever shows the metadata shows that."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as e:
        return MappingProxyType({UNREADABLE_META: f"{where}: not JSON ({e}); first bytes {str(text)[:40]!r}"})
    if not isinstance(value, dict):
        return MappingProxyType({UNREADABLE_META: f"{where}: a JSON {type(value).__name__}, not an object"})
    return MappingProxyType(value)
