"""Typed cell records (records.py): one class per audit kind, one name per value, a
round trip through JSON that loses nothing, the previous release's results.json still
read, and a malformed record refused with the cell, the field and the fix."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import fields, replace

import pytest

from iqa_audit.config.audit_config import resolve_config
from iqa_audit.core.errors import AuditError, ConfigError, RecordError
from iqa_audit.results import baseline, records
from iqa_audit.results.records import EditorRecord, GapRecord, MetricStatusRecord, SanityRecord, StabilityRecord, parse, parse_all
from iqa_audit.results.schema import FORMAT
from iqa_audit.results.writer import RunResults, build_results, load_results, update_baseline

IMAGES = {"0": {"0": "a" * 64 + ".png", "1": "b" * 64 + ".png", "5": "c" * 64 + ".png"}}


# ----- every kind with every field set (none left at its default) ---------------------------
def full_records() -> list:
    return [
        GapRecord(
            cell="gap:piqe-codec-jpeg-replicate-grid-d5",
            metric="pyiqa:piqe",
            metric_id="piqe",
            version="pyiqa-0.1.16",
            setting="codec-jpeg-replicate",
            editor="codec-jpeg",
            task="replicate",
            seed="grid",
            delta_step=5,
            passed=True,
            value=-4.25,
            reference_mean=61.5,
            step_mean=57.25,
            verdict="pass",
            reason="",
            runs=2,
            paired_runs=(0, 1),
            left_out=({"run": 2, "why": "no step 5"},),
            per_run_gaps={"0": -4.0, "1": -4.5},
            gap_spread=0.3536,
            gap_stderr=0.25,
            tolerance=0.5,
            evidence=(
                {
                    "run": 0,
                    "reference_step": 1,
                    "step": 5,
                    "psnr_db": 31.2,
                    "ssim": 0.91,
                    "alignment": "identity",
                    "visible": True,
                },
            ),
            range={"lo": 0.0, "hi": 100.0, "higher_better": False, "source": "Banana100 Table 2"},
            mean_normalised={"0": 64.0, "1": 61.5, "5": 57.25},
            spread_normalised={"0": 0.0, "1": 0.5, "5": 0.25},
            raw={"0": {"0": 36.0, "1": 38.5, "5": 42.75}},
            images=IMAGES,
            detection_delay={"per_run": [5, None], "mean": 5.0, "sd": None, "noticed_runs": 1, "runs": 2, "resolution": [5]},
            error="a made-up reason",
            baseline="pass",
            outcome="passed",
            nodeid="tests_metrics/test_gap.py::test_gap[piqe-codec-jpeg-replicate-grid-d5]",
        ),
        StabilityRecord(
            cell="stability:piqe-add-fruits-grid",
            metric="pyiqa:piqe",
            metric_id="piqe",
            version="pyiqa-0.1.16",
            editor="sim-noise-tint",
            task="add-fruits",
            setting="sim-noise-tint-add-fruits",
            replicate_setting="sim-noise-tint-replicate",
            seed="grid",
            passed=False,
            value=4.4,
            tolerance=3.0,
            add_spread=13.2,
            replicate_spread=3.0,
            differences=18,
            message="ratio 4.4",
            curves={"add": {"0": {"1": 60.0, "2": 70.0}}, "replicate": {"0": {"1": 60.0, "2": 59.0}}},
            images=IMAGES,
            baseline="expected-failure",
            outcome="xfailed",
            nodeid="tests_metrics/test_stability.py::test_stability[x]",
        ),
        EditorRecord(
            cell="editor:tint-sim-crop-replicate-grid",
            check="tint",
            setting="sim-crop-replicate",
            editor="sim-crop",
            version="1",
            task="replicate",
            seed="grid",
            passed=True,
            value=0.4,
            tolerance=3.0,
            message="tint 0.4",
            details={"runs": [{"run": 0, "delta_e": 0.4}]},
            images=IMAGES,
            self_evaluation={"available": True, "per_run": [4, None], "mean": 4.0, "sd": None, "noticed_runs": 1, "runs": 2},
            baseline="pass",
            outcome="passed",
            nodeid="tests_editors/test_fidelity.py::test_tint[sim-crop-replicate-grid]",
        ),
        SanityRecord(
            cell="sanity:piqe-batch-equals-single",
            metric="pyiqa:piqe",
            metric_id="piqe",
            check="batch-equals-single",
            passed=True,
            message="batch differs",
            warning="batch differs",
            outcome="passed",
            nodeid="tests_metrics/test_metric_sanity.py::test_metric_sanity[x]",
        ),
        MetricStatusRecord(
            cell="metric-status:pyiqa:musiq",
            metric="pyiqa:musiq",
            status="unavailable",
            why="weights missing",
            outcome="skipped",
            nodeid="tests_metrics/test_gap.py::test_gap[x]",
        ),
    ]


@pytest.mark.parametrize("rec", full_records(), ids=lambda r: r.kind)
def test_each_kind_round_trips_through_json_unchanged(rec):
    written = json.loads(json.dumps(rec.to_dict(), sort_keys=True))
    assert parse(written) == rec
    assert written["kind"] == rec.kind and set(written) == {"kind"} | {f.name for f in fields(rec)}


def test_new_records_carry_one_name_per_value():
    for rec in full_records():
        keys = set(rec.to_dict())
        assert not keys & {"gap", "metric_version", "editor_version"}, rec.kind
        if rec.kind in ("gap", "stability", "editor"):
            assert {"value", "version", "passed"} <= keys


# ----- the previous release's records (verdicts.py before records.py) -----------------------
def old_gap() -> dict:
    """A gap record exactly as the previous release wrote it: the gap under `gap` and
    `value`, the metric version under `metric_version` and `version`."""
    return {
        "kind": "gap",
        "cell": "gap:piqe-codec-jpeg-replicate-grid-d5",
        "metric": "pyiqa:piqe",
        "metric_id": "piqe",
        "metric_version": "pyiqa-0.1.16",
        "version": "pyiqa-0.1.16",
        "range": {"lo": 0.0, "hi": 100.0, "higher_better": False, "source": "Banana100 Table 2"},
        "setting": "codec-jpeg-replicate",
        "editor": "codec-jpeg",
        "task": "replicate",
        "seed": "grid",
        "delta_step": 5,
        "runs": 2,
        "mean_normalised": {"1": 61.5, "5": 57.25},
        "spread_normalised": {"1": 0.5, "5": 0.25},
        "raw": {"0": {"1": 38.5, "5": 42.75}},
        "images": IMAGES,
        "detection_delay": {"per_run": [5, 5], "mean": 5.0, "sd": 0.0, "noticed_runs": 2, "runs": 2, "resolution": [5]},
        "gap": -4.25,
        "value": -4.25,
        "reference_mean": 61.5,
        "step_mean": 57.25,
        "verdict": "pass",
        "passed": True,
        "reason": "",
        "paired_runs": [0, 1],
        "left_out": [],
        "per_run_gaps": {"0": -4.0, "1": -4.5},
        "gap_spread": 0.3536,
        "gap_stderr": 0.25,
        "tolerance": 0.5,
        "evidence": [],
        "baseline": "pass",
        "outcome": "passed",
        "nodeid": "tests_metrics/test_gap.py::test_gap[piqe-codec-jpeg-replicate-grid-d5]",
    }


def old_records() -> list[dict]:
    error = {
        **old_gap(),
        "cell": "gap:piqe-codec-jpeg-replicate-grid-d9",
        "delta_step": 9,
        "gap": None,
        "value": None,
        "passed": False,
        "error": "a score is NaN",
        "baseline": "error",
        "outcome": "error",
    }
    for k in (
        "reference_mean",
        "step_mean",
        "verdict",
        "reason",
        "paired_runs",
        "left_out",
        "per_run_gaps",
        "gap_spread",
        "gap_stderr",
        "tolerance",
        "evidence",
    ):
        del error[k]  # the previous release's gap_error_payload had none of these
    return [
        old_gap(),
        error,
        {
            "kind": "stability",
            "cell": "stability:piqe-add-fruits-grid",
            "metric": "pyiqa:piqe",
            "metric_id": "piqe",
            "metric_version": "pyiqa-0.1.16",
            "version": "pyiqa-0.1.16",
            "editor": "sim-noise-tint",
            "task": "add-fruits",
            "setting": "sim-noise-tint-add-fruits",
            "replicate_setting": "sim-noise-tint-replicate",
            "seed": "grid",
            "passed": True,
            "value": 0.71,
            "tolerance": 3.0,
            "add_spread": 1.3,
            "replicate_spread": 1.85,
            "differences": 18,
            "message": "stable",
            "curves": {"add": {}, "replicate": {}},
            "images": IMAGES,
            "baseline": "pass",
            "outcome": "passed",
            "nodeid": "n",
        },
        {
            "kind": "editor",
            "cell": "editor:tint-codec-jpeg-replicate-grid",
            "check": "tint",
            "setting": "codec-jpeg-replicate",
            "editor": "codec-jpeg",
            "editor_version": "1",
            "version": "1",
            "task": "replicate",
            "seed": "grid",
            "passed": False,
            "value": 3.5,
            "tolerance": 3.0,
            "message": "tint 3.5",
            "details": {},
            "images": IMAGES,
            "self_evaluation": {"available": False, "why": "this editor returns no reasoning"},
            "baseline": "regression",
            "outcome": "failed",
            "nodeid": "n",
        },
        {
            "kind": "sanity",
            "cell": "sanity:piqe-batch-equals-single",
            "metric": "pyiqa:piqe",
            "metric_id": "piqe",
            "check": "batch-equals-single",
            "passed": True,
            "message": "ok",
            "warning": None,
            "outcome": "passed",
            "nodeid": "n",
        },
        {
            "kind": "metric-status",
            "cell": "metric-status:pyiqa:musiq",
            "metric": "pyiqa:musiq",
            "status": "unavailable",
            "why": "weights missing",
        },
    ]


def test_a_previous_release_record_reads_with_one_name_per_value():
    gap, error, stability, editor, sanity, status = parse_all(old_records())
    assert isinstance(gap, GapRecord) and (gap.value, gap.version) == (-4.25, "pyiqa-0.1.16")
    assert gap.paired_runs == (0, 1) and gap.verdict == "pass" and gap.baseline == "pass" and gap.error is None
    assert isinstance(error, GapRecord) and error.value is None and error.error == "a score is NaN" and error.verdict is None
    assert isinstance(stability, StabilityRecord) and (stability.value, stability.version) == (0.71, "pyiqa-0.1.16")
    assert isinstance(editor, EditorRecord) and (editor.value, editor.version) == (3.5, "1")
    assert isinstance(sanity, SanityRecord) and isinstance(status, MetricStatusRecord)
    # Written again, an old record has the one name only.
    again = gap.to_dict()
    assert again["value"] == -4.25 and "gap" not in again and "metric_version" not in again


def test_an_old_results_json_still_compares(tmp_path):
    old = {"format": FORMAT, "run": {"name": "old"}, "cells": old_records()}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(old))
    loaded = load_results(path)
    assert loaded.summary == {"format": FORMAT, "run": {"name": "old"}} and loaded.cells == tuple(parse_all(old["cells"]))
    new = copy.deepcopy(old)
    new["cells"] = [r.to_dict() for r in parse_all(old["cells"])]
    new["cells"][0].update(value=2.0, verdict="fail", passed=False)  # the gap flipped
    from iqa_audit.report.compare import compare_results

    ch = compare_results(loaded, RunResults.from_json(new))
    assert [c.cell for c in ch.flipped] == ["gap:piqe-codec-jpeg-replicate-grid-d5"]
    assert (ch.flipped[0].old.value, ch.flipped[0].new.value, ch.flipped[0].old.version) == (-4.25, 2.0, "pyiqa-0.1.16")


# ----- malformed records -------------------------------------------------------------------
@pytest.mark.parametrize(
    "change, words",
    [
        (lambda d: d.update(kind="gapp"), ["'gap:piqe-codec-jpeg-replicate-grid-d5'", "field kind", "one of gap, stability"]),
        (lambda d: d.pop("delta_step"), ["(kind gap)", "required field(s) delta_step"]),
        (lambda d: d.update(delta_step="5"), ["field delta_step", "an integer", "str '5'"]),
        (lambda d: d.update(passed="yes"), ["field passed", "true/false"]),
        (lambda d: d.update(paired_runs=[0, "x"]), ["field paired_runs", "a list of an integer"]),
        (lambda d: d.update(raw={"0": {"1": "high"}}), ["field raw", "an object of an object of a number"]),
        (lambda d: d.update(colour="red"), ["unknown field(s) colour", "newer iqa-audit"]),
        (lambda d: d.update(gap=-1.0), ["'gap' (an older name of 'value') equal to 'value'", "gap=-1.0, value=-4.25"]),
    ],
)
def test_a_malformed_record_is_refused_naming_the_cell_the_field_and_the_fix(change, words):
    d = old_gap()
    change(d)
    with pytest.raises(RecordError) as e:
        parse(d)
    text = str(e.value)
    assert isinstance(e.value, AuditError) and "Use a results.json written by iqa-audit" in text
    for w in words:
        assert w in text, text


def test_a_record_is_checked_where_it_is_made_too():
    with pytest.raises(RecordError, match="field value: expected a number, got NoneType"):
        EditorRecord(cell="editor:x", check="tint", setting="s", seed="grid", passed=True, value=None, version="1")
    with pytest.raises(RecordError, match="not an object|a JSON object"):
        parse(["kind", "gap"])


def test_a_malformed_compare_file_is_a_usage_error_before_any_test(tmp_path):
    bad = {"format": FORMAT, "run": {}, "cells": [{**old_gap(), "delta_step": "five"}]}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(ConfigError) as e:
        load_results(path)
    assert str(e.value).startswith(f"--compare {path}: record 'gap:") and "field delta_step" in str(e.value)


# ----- the schema is documented ------------------------------------------------------------
def test_the_module_doc_documents_every_field_of_every_kind():
    doc = records.__doc__
    for cls in records.KINDS.values():
        assert f'"{cls.kind}"' in doc, cls.kind
        for f in fields(cls):
            assert re.search(rf"(?<![A-Za-z_]){f.name}(?![A-Za-z_])", doc), (cls.kind, f.name)


# ----- results.json and the baseline read the typed fields ---------------------------------
def test_results_json_cells_and_baseline_rows_come_from_the_typed_fields(tmp_path):
    cfg = resolve_config({"baseline": str(tmp_path / "base.json"), "metrics": ["pyiqa:piqe", "pyiqa:musiq"]})
    recs = parse_all(old_records())
    res = build_results(cfg, recs, started=0.0, finished=1.0).to_json()
    assert [c["cell"] for c in res["cells"]] == [r.cell for r in recs if r.kind != "metric-status"]
    assert res["cells"][0] == recs[0].to_dict() and "gap" not in res["cells"][0]
    assert res["metrics"]["piqe"]["version"] == "pyiqa-0.1.16" and res["metrics"]["musiq"]["status"] == "unavailable"
    assert res["editors"]["codec-jpeg-replicate"] == {"editor": "codec-jpeg", "version": "1", "task": "replicate"}
    assert res["run"]["verdicts"] == {"pass": 1, "fail": 0, "inconclusive": 0}  # the error cell has no verdict

    update_baseline(cfg, recs)
    rows = json.loads((tmp_path / "base.json").read_text())["cells"]
    assert rows == {  # the errored gap, the sanity case and the metric status have no row
        "gap:piqe-codec-jpeg-replicate-grid-d5": {
            "passed": True,
            "value": -4.25,
            "version": "pyiqa-0.1.16",
            "verdict": "pass",
            "stderr": 0.25,
        },
        "stability:piqe-add-fruits-grid": {"passed": True, "value": 0.71, "version": "pyiqa-0.1.16"},
        "editor:tint-codec-jpeg-replicate-grid": {"passed": False, "value": 3.5, "version": "1"},
    }
    expected = baseline.load(tmp_path / "base.json")
    assert expected["gap:piqe-codec-jpeg-replicate-grid-d5"] == baseline.Expected(True, -4.25, "pyiqa-0.1.16", "pass", 0.25)
    skipped = [replace(recs[3], outcome="skipped")]  # a skipped cell keeps its old row
    update_baseline(cfg, skipped)
    assert json.loads((tmp_path / "base.json").read_text())["cells"] == rows
