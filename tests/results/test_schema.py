"""results.json's published JSON Schema (results/schema.py): shipped equal to what the
records generate, met by what the writer writes, strict enough to catch a wrong type, a
missing or unknown key, and versioned by a stated policy."""

from __future__ import annotations

import json
from dataclasses import fields, replace

import pytest

from iqa_audit.config.audit_config import resolve_config
from iqa_audit.core.errors import AuditError
from iqa_audit.results import records, schema
from iqa_audit.results.writer import CHECK_SCHEMA, build_results, write_results

from .test_records import full_records


def written(tmp_path) -> dict:
    cfg = resolve_config({"baseline": "none", "metrics": ["pyiqa:piqe"], "run_name": "schema"})
    return json.loads(json.dumps(build_results(cfg, full_records(), started=0.0, finished=1.0).to_json(), default=str))


def test_the_shipped_schema_is_the_one_the_records_generate():
    assert schema.shipped_schema() == schema.json_schema(), (
        "results.schema.json is stale: python -m iqa_audit.results.schema > iqa_audit/results/results.schema.json "
        "(and bump FORMAT_VERSION by the policy in results/schema.py)"
    )


def test_a_results_json_with_every_kind_and_every_field_conforms(tmp_path):
    data = written(tmp_path)
    assert {c["kind"] for c in data["cells"]} == {"gap", "stability", "editor", "sanity"}
    assert "profiles" in data
    assert data["format"] == schema.FORMAT and data["format_version"] == schema.FORMAT_VERSION
    assert schema.problems(data) == []


@pytest.mark.parametrize(
    "break_it, where",
    [
        (lambda d: d["cells"][0].update(value="-4.25"), "cells/0/value"),
        (lambda d: d["cells"][0].pop("seed"), "cells/0: 'seed' is a required property"),
        (lambda d: d["cells"][1].update(bogus=1), "cells/1: Additional properties are not allowed ('bogus'"),
        (lambda d: d["cells"][0].update(verdict="maybe"), "cells/0/verdict"),
        (lambda d: d["cells"][2].update(kind="editr"), "cells/2/kind"),
        (lambda d: d.update(format_version="1.1"), "format_version"),
        (lambda d: d.pop("run"), "(top): 'run' is a required property"),
        (lambda d: d["cells"][0].update(gap=-4.25), "('gap' was unexpected)"),  # dropped in 1.2
    ],
    ids=["wrong-type", "missing-field", "unknown-field", "unknown-verdict", "unknown-kind", "old-version", "no-run", "old-name"],
)
def test_a_broken_results_json_is_refused_naming_the_place(tmp_path, break_it, where):
    data = written(tmp_path)
    break_it(data)
    found = schema.problems(data)
    assert found and any(where in line for line in found), found


def test_the_writer_refuses_a_results_json_that_breaks_the_schema_when_checking(tmp_path, monkeypatch):
    cfg = resolve_config({"baseline": "none", "metrics": ["pyiqa:piqe"], "run_name": "schema"})
    bad = [replace(full_records()[0], outcome="exploded")]  # records take any string; the schema knows pytest's words
    monkeypatch.setenv(CHECK_SCHEMA, "1")
    with pytest.raises(AuditError) as e:
        write_results(cfg, tmp_path / "run", bad, started=0.0, finished=1.0)
    assert "results.json" in str(e.value) and "cells/0/outcome" in str(e.value) and CHECK_SCHEMA in str(e.value)
    assert not (tmp_path / "run" / "results.json").exists()
    monkeypatch.delenv(CHECK_SCHEMA)
    write_results(cfg, tmp_path / "run", bad, started=0.0, finished=1.0)
    assert (tmp_path / "run" / "results.json").is_file()


def test_every_field_of_every_record_kind_is_in_the_schema():
    defs = schema.json_schema()["$defs"]
    for kind, cls in records.KINDS.items():
        if kind in schema.NOT_CELLS:  # summarised in `metrics`, never written
            continue
        assert set(defs[kind]["properties"]) == {"kind"} | {f.name for f in fields(cls)}, kind


def test_the_version_history_ends_at_the_current_version_and_old_names_are_only_read():
    versions = [v for v, _ in schema.FORMAT_HISTORY]
    assert versions == sorted(versions, key=lambda v: tuple(map(int, v.split(".")))) and versions[-1] == schema.FORMAT_VERSION
    defs = schema.json_schema()["$defs"]
    for kind, aliases in records.LEGACY_ALIASES.items():
        for old, new in aliases.items():
            assert old not in defs[kind]["properties"] and new in defs[kind]["properties"], (kind, old)


def test_a_renamed_key_keeps_its_old_name_written_and_deprecated_for_its_minor_version(monkeypatch):
    monkeypatch.setattr(records, "WRITTEN_ALIASES", {"gap": ("gap",)})
    gap = full_records()[0]
    d = gap.to_dict()
    assert d["gap"] == d["value"] == gap.value and records.parse(d) == gap
    prop = schema.json_schema()["$defs"]["gap"]["properties"]["gap"]
    assert prop["deprecated"] is True and prop["anyOf"] == schema.json_schema()["$defs"]["gap"]["properties"]["value"]["anyOf"]
    data = {"cells": [d]}
    assert not [p for p in schema.problems(data, schema.json_schema()) if p.startswith("cells/0")]
