"""results.json's published JSON Schema, generated from the typed records, and its version.

Another program reads results.json by its `format` (the major version, "iqa-audit-results/1")
and `format_version` ("MAJOR.MINOR"); `iqa_audit/results/results.schema.json` (shipped in the
package, JSON Schema draft 2020-12) says what each key holds. The schema is generated from
records.py (the one definition of a cell record) and the top-level table below, so it
cannot drift from what the writer writes: tests compare the shipped file with
`json_schema()` and validate every results.json the tests write against it.

Versioning policy (FORMAT_HISTORY holds every change):
- a key added: MINOR bump;
- a key renamed: MINOR bump, and the old name is still written beside the new one, with
  the same value, for that one minor version (records.ALIASES; `deprecated` in the schema),
  then dropped in the next MINOR bump; readers of this package read the old name always;
- a key's meaning or unit changed, or a key removed without that alias version: MAJOR bump
  (`format` changes too).
A consumer checks `format` for the major version and reads any `format_version` at or above
the minor version it was written for.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, fields
from importlib import resources
from typing import Any, Union, get_args, get_origin

from iqa_audit.analysis.cards import EditorCard, MetricCard
from iqa_audit.analysis.gaps import VERDICTS
from iqa_audit.results import records
from iqa_audit.results.record_fields import hints

FORMAT = "iqa-audit-results/1"
FORMAT_VERSION = "1.4"
SCHEMA_FILE = "results.schema.json"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

# Every change of results.json's shape, oldest first: (format_version, what changed).
FORMAT_HISTORY: tuple[tuple[str, str], ...] = (
    ("1.0", "cells carry the gap under `gap` and the metric's version under `metric_version`."),
    (
        "1.1",
        "`gap` renamed `value` and `metric_version` / `editor_version` renamed `version`; the "
        "old names written beside the new ones.",
    ),
    ("1.2", "the old names `gap`, `metric_version` and `editor_version` dropped; `format_version` added."),
    ("1.3", "`profiles` (each chain's artifact profile and closest simulators) and `cards` (robustness cards) added."),
    (
        "1.4",
        "an editor card's `errors` added: its cells whose code raised, no longer counted in `checks` as failed "
        "checks (a card with only errors has no score).",
    ),
)

# Record kinds results.json never holds: a metric's status is summarised in `metrics`.
NOT_CELLS = frozenset({"metric-status"})
_OUTCOMES = ("passed", "failed", "xfailed", "xpassed", "skipped", "error")
_OBJECT = {"type": "object"}
_STEP_FLOATS = {"type": "object", "additionalProperties": {"type": "number"}}
# results.json's top-level keys besides `cells` (writer.build_results): (schema, description).
TOP_LEVEL: Mapping[str, tuple[dict[str, Any], str]] = types.MappingProxyType(
    {
        "format": ({"const": FORMAT}, "the format's major version: another major means other meanings"),
        "format_version": ({"const": FORMAT_VERSION}, "MAJOR.MINOR of this file's shape (module doc: policy)"),
        "run": (
            {
                "type": "object",
                "required": [
                    "name",
                    "profile",
                    "started",
                    "duration_s",
                    "iqa_audit",
                    "machine",
                    "config",
                    "outcomes",
                    "interrupted",
                    "stopped",
                    "collected",
                    "verdicts",
                    "evidence_threshold",
                    "noise_band",
                    "store",
                ],  # fmt: skip
                "properties": {
                    "name": {"type": "string"},
                    "duration_s": {"type": "number", "minimum": 0},
                    "interrupted": {"type": "boolean"},
                    "collected": {"type": ["integer", "null"]},
                    "outcomes": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "verdicts": {"type": "object", "additionalProperties": {"type": "integer"}},
                },
            },
            "the run: name, profile, start time, duration in seconds, pytest's outcome counts, the "
            "resolved configuration, the machine, the evidence threshold and noise band in words",
        ),
        "metrics": (
            {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "required": ["name", "status"],
                    "properties": {
                        "name": {"type": "string"},
                        "status": {"enum": ["audited", "unavailable", "error", "not run"]},
                        "version": {"type": ["string", "null"]},
                        "why": {"type": ["string", "null"]},
                    },
                },
            },
            "every requested metric by id: its name, status, version and typical range",
        ),
        "weights": (_OBJECT, "where each metric's weights came from, by metric id"),
        "editors": (_OBJECT, "each editor setting of the editor audit: editor, version, task"),
        "detection_delays": (
            {"type": "object", "required": ["metrics", "editors"]},
            "metric detection delays and editor self-evaluation delays, in steps",
        ),
        "excluded_settings": ({"type": "array"}, "chain settings left out of the metric verdicts, and why"),
    }
)


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a results.json this version writes: every top-level
    key of TOP_LEVEL and `cells`, each cell validated by its `kind` against the fields of
    its record class, all of them required (the writer writes every field, null where one
    does not apply), no unknown key."""
    kinds = records.KINDS
    defs = {kind: _record_schema(cls) for kind, cls in kinds.items() if kind not in NOT_CELLS}
    cell_kinds = sorted(set(defs) - {"profile"})
    cell = {
        "type": "object",
        "required": ["kind"],
        "properties": {"kind": {"enum": cell_kinds}},
        "allOf": [{"if": {"properties": {"kind": {"const": kind}}}, "then": {"$ref": f"#/$defs/{kind}"}} for kind in cell_kinds],
    }
    props = {key: {**schema, "description": text} for key, (schema, text) in TOP_LEVEL.items()}
    props["cells"] = {"type": "array", "items": {"$ref": "#/$defs/cell"}, "description": "one record per audit cell"}
    props["cards"] = {
        "type": "object",
        "required": ["metrics", "editors", "history"],
        "additionalProperties": False,
        "properties": {
            "metrics": {"type": "array", "items": {"$ref": "#/$defs/metric_card"}},
            "editors": {"type": "array", "items": {"$ref": "#/$defs/editor_card"}},
            "history": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "object", "required": list(_HISTORY_KEYS)}},
            },
        },
        "description": "one robustness card per metric (ranked) and per editor, and each subject's stored "
        "cards on the same chain set, oldest first (results/cards.py)",
    }
    props["profiles"] = {
        "type": "array",
        "items": {"$ref": "#/$defs/profile"},
        "description": "each chain's artifact profile (setting, seed) and its closest simulators",
    }
    return {
        "$schema": DRAFT,
        "title": f"iqa-audit results.json, format {FORMAT} version {FORMAT_VERSION}",
        "description": __doc__.split("\n\n", 1)[1].strip(),
        "type": "object",
        "required": sorted(props),
        "properties": props,
        "additionalProperties": False,
        "$defs": {"cell": cell, **defs, "metric_card": _card_schema(MetricCard), "editor_card": _card_schema(EditorCard)},
    }


def _record_schema(cls: type) -> dict[str, Any]:
    field_hints = hints(cls)
    props: dict[str, Any] = {"kind": {"const": cls.kind}}
    for f in fields(cls):
        props[f.name] = _type_schema(field_hints[f.name])
    props["outcome"] = {"enum": [*_OUTCOMES, None]}
    for old in records.WRITTEN_ALIASES.get(cls.kind, ()):
        key = records.LEGACY_ALIASES[cls.kind][old]
        props[old] = {**props[key], "deprecated": True, "description": f"the old name of {key!r}, same value"}
    if "verdict" in props:
        props["verdict"] = {"enum": [*VERDICTS, None]}
    required = sorted(props)
    documented = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
    return {
        "type": "object",
        "description": (cls.__doc__ or "").strip() + " Required when read back: " + ", ".join(["kind", *documented]) + ".",
        "required": required,
        "properties": props,
        "additionalProperties": False,
    }


# What every stored card has, whichever iqa-audit version wrote it (the history's items).
_HISTORY_KEYS = ("kind", "subject", "version", "score", "fingerprint")


def _card_schema(cls: type) -> dict[str, Any]:
    """A robustness card as Card.to_dict writes it: every field, nothing else."""
    field_hints = hints(cls)
    return {
        "type": "object",
        "description": (cls.__doc__ or "").strip(),
        "required": sorted(field_hints),
        "properties": {name: _type_schema(hint) for name, hint in field_hints.items()},
        "additionalProperties": False,
    }


def _type_schema(hint: Any) -> dict[str, Any]:
    """The JSON Schema of a record field's type (the JSON records.to_dict writes for it)."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return {}
    if origin in (Union, types.UnionType):
        return {"anyOf": [_type_schema(a) for a in args]}
    if hint is type(None):
        return {"type": "null"}
    if origin is tuple or origin is Sequence:
        return {"type": "array", "items": _type_schema(args[0])}
    if origin in (Mapping, dict):
        return {"type": "object", "additionalProperties": _type_schema(args[1])}
    simple = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if hint in simple:
        return {"type": simple[hint]}
    raise TypeError(f"results schema: no JSON Schema for the field type {hint!r}; add it to _type_schema")


def shipped_schema() -> dict[str, Any]:
    """The schema file shipped in the package (results.schema.json). Raises OSError when the
    installation lacks it."""
    return json.loads(resources.files("iqa_audit.results").joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))


def problems(data: Any, schema: Mapping[str, Any] | None = None) -> list[str]:
    """Where `data` (a parsed results.json) breaks the schema: one line per problem, the JSON
    path and what is wrong, at most 20; [] when it conforms. Needs `jsonschema`."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema or shipped_schema())
    found = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message[:300]}" for e in found[:20]]


def main() -> None:
    """`python -m iqa_audit.results.schema > iqa_audit/results/results.schema.json`: write
    the schema again after a change of records.py or TOP_LEVEL (bump FORMAT_VERSION first)."""
    json.dump(json_schema(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
