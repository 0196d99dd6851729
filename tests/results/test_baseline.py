"""Baselines: the four ways a cell relates to its expected outcome, and the file format."""

import json

import pytest

from iqa_audit.core.errors import ConfigError
from iqa_audit.results import baseline


def _base(tmp_path):
    path = baseline.write(tmp_path / "b.json", [("gap:a", True, -1.5, "v1"), ("gap:b", False, 2.0, "v1")])
    return baseline.load(path)


def test_round_trip_is_plain_sorted_json(tmp_path):
    b = _base(tmp_path)
    assert b["gap:a"] == baseline.Expected(True, -1.5, "v1")
    data = json.loads((tmp_path / "b.json").read_text())
    assert data["format"] == baseline.FORMAT and list(data["cells"]) == ["gap:a", "gap:b"]


@pytest.mark.parametrize(
    "cell, passed, kind, fails",
    [
        ("gap:a", True, "pass", False),
        ("gap:a", False, "regression", True),
        ("gap:b", False, "expected-failure", False),
        ("gap:b", True, "improved", False),
        ("gap:new", False, "new-fail", True),
        ("gap:new", True, "new-pass", False),
    ],
)
def test_comparison_kinds(tmp_path, cell, passed, kind, fails):
    cmp = baseline.compare(cell, passed, 0.5, _base(tmp_path), has_baseline=True, describe="why")
    assert cmp.kind == kind and cmp.fails_test is fails


def test_without_a_baseline_the_raw_verdict_stands():
    assert baseline.compare("gap:x", False, 1.0, {}, has_baseline=False, describe="d").kind == "fail"
    assert baseline.compare("gap:x", True, -1.0, {}, has_baseline=False, describe="d").kind == "pass"


def test_a_missing_file_is_an_empty_baseline_and_a_bad_one_a_clear_error(tmp_path):
    assert baseline.load(tmp_path / "absent.json") == {}
    bad = tmp_path / "bad.json"
    bad.write_text('{"cells": {}}')
    with pytest.raises(ConfigError, match="bad.json.*--update-baseline"):
        baseline.load(bad)


# ----- the noise band: what counts as a change between two runs (band.py) ----------------
def _one(tmp_path, passed, value, stderr=None, verdict=None):
    path = baseline.write(tmp_path / "n.json", [("gap:c", passed, value, "v1", verdict, stderr)])
    return baseline.load(path)


def test_a_flip_by_a_thousandth_is_unstable_not_a_regression(tmp_path):
    b = _one(tmp_path, True, -0.001, stderr=0.0)
    cmp = baseline.compare("gap:c", False, 0.001, b, has_baseline=True, describe="d", stderr=0.0, noise_band=True)
    assert cmp.kind == "unstable" and cmp.test == "xfail" and not cmp.fails_test
    assert "UNSTABLE, not a regression" in cmp.message and "±0.500" in cmp.message
    back = baseline.compare("gap:c", True, -0.001, _one(tmp_path, False, 0.001), has_baseline=True, stderr=0.0, noise_band=True)
    assert back.kind == "unstable" and back.test == "pass"


def test_a_flip_beyond_the_band_is_a_regression(tmp_path):
    cmp = baseline.compare(
        "gap:c", False, 0.6, _one(tmp_path, True, -1.5, stderr=0.1), has_baseline=True, stderr=0.1, noise_band=True
    )
    assert cmp.kind == "regression" and cmp.fails_test


def test_the_band_widens_with_the_standard_error(tmp_path):
    # -2 with a standard error of 1.5 (band ±3) to +1 with 1.0 (band ±2): both inside.
    b = _one(tmp_path, True, -2.0, stderr=1.5)
    assert baseline.compare("gap:c", False, 1.0, b, has_baseline=True, stderr=1.0, noise_band=True).kind == "unstable"
    # Each side is judged against its own band: +1 with a standard error of 0.1 (band ±0.5) is a real miss.
    assert baseline.compare("gap:c", False, 1.0, b, has_baseline=True, stderr=0.1, noise_band=True).kind == "regression"
    # Without the band (editor cells) a flip is a flip.
    assert baseline.compare("gap:c", False, 0.001, _one(tmp_path, True, -0.001), has_baseline=True).kind == "regression"


def test_a_noticed_gap_that_lost_most_of_its_size_is_weaker(tmp_path):
    b = _one(tmp_path, True, -55.0, stderr=2.0)
    cmp = baseline.compare("gap:c", True, -0.01, b, has_baseline=True, stderr=0.0, noise_band=True)
    assert cmp.kind == "weaker" and cmp.test == "pass" and "WEAKER" in cmp.message
    assert baseline.compare("gap:c", True, -40.0, b, has_baseline=True, stderr=2.0, noise_band=True).kind == "pass"
    small = _one(tmp_path, True, -0.6, stderr=0.0)  # lost 2/3 of 0.6, but only 0.4 points: inside the band
    assert baseline.compare("gap:c", True, -0.2, small, has_baseline=True, stderr=0.0, noise_band=True).kind == "pass"


def test_inconclusive_cells_are_skipped_and_remembered(tmp_path):
    b = _one(tmp_path, True, -3.0, stderr=0.1)
    assert baseline.compare("gap:c", False, 0.0, b, has_baseline=True, verdict="inconclusive").test == "skip"
    was = _one(tmp_path, False, 0.0, verdict="inconclusive")
    assert was["gap:c"].outcome == "inconclusive"
    now_fails = baseline.compare("gap:c", False, 4.0, was, has_baseline=True, noise_band=True)
    assert now_fails.kind == "was-inconclusive" and now_fails.test == "xfail"
    assert baseline.compare("gap:c", True, -4.0, was, has_baseline=True, noise_band=True).kind == "pass"


def test_entries_written_before_verdicts_had_three_values_still_load(tmp_path):
    p = tmp_path / "old.json"
    p.write_text(
        json.dumps({"format": baseline.FORMAT, "meta": {}, "cells": {"gap:a": {"passed": False, "value": 1.0, "version": "v"}}})
    )
    e = baseline.load(p)["gap:a"]
    assert e.outcome == "fail" and e.stderr is None


# ----- the schema: every field's type and range, one error naming the file, the cell, the field ---
from pathlib import Path  # noqa: E402

from iqa_audit.config.audit_config import resolve_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
GOOD = {"passed": False, "value": 1.5, "version": "v1", "verdict": "fail", "stderr": 0.2}


def _with(**changes):
    entry = {**GOOD, **changes}
    return {k: v for k, v in entry.items() if v is not _DROP}


_DROP = object()

# (id, the cell entry, words of the error besides the file)
BAD_ENTRIES = [
    ("passed-string-false", _with(passed="false"), ["field 'passed'", '"false" (a string)']),
    ("passed-number", _with(passed=0), ["field 'passed'", "a JSON boolean"]),
    ("passed-null", _with(passed=None), ["field 'passed'", "null"]),
    ("passed-missing", _with(passed=_DROP), ["field 'passed'", "required"]),
    ("value-missing", _with(value=_DROP), ["field 'value'", "required"]),
    ("version-missing", _with(version=_DROP), ["field 'version'", "required"]),
    ("value-string", _with(value="1.5"), ["field 'value'", "a finite number"]),
    ("value-boolean", _with(value=True), ["field 'value'", "a boolean"]),
    ("value-list", _with(value=[1.5]), ["field 'value'", "an array"]),
    ("version-number", _with(version=1), ["field 'version'", "a string or null"]),
    ("verdict-unknown", _with(verdict="maybe"), ["field 'verdict'", '"pass", "fail" or "inconclusive"']),
    ("verdict-against-passed", _with(verdict="pass"), ["field 'passed'", "true with verdict 'pass'"]),
    ("stderr-negative", _with(stderr=-0.1), ["field 'stderr'", "0 or more"]),
    ("stderr-string", _with(stderr="0.1"), ["field 'stderr'", "a string"]),
    ("field-typo", _with(pased=True), ["field 'pased'", "Did you mean 'passed'"]),
    ("entry-a-list", [False, 1.5, "v1"], ["cell 'gap:a-d5'", "an array"]),
    ("entry-null", None, ["cell 'gap:a-d5'", "null"]),
]


@pytest.mark.parametrize("entry, words", [pytest.param(e, w, id=i) for i, e, w in BAD_ENTRIES])
def test_a_bad_cell_entry_names_the_file_the_cell_and_the_field(tmp_path, entry, words):
    p = tmp_path / "b.json"
    p.write_text(json.dumps({"format": baseline.FORMAT, "meta": {}, "cells": {"gap:a-d5": entry}}))
    with pytest.raises(ConfigError) as e:
        baseline.load(p)
    message = str(e.value)
    assert f"baseline {p}" in message and ("'gap:a-d5'" in message)
    for word in words:
        assert word in message, message
    assert "--update-baseline --replace-baseline" in message  # a fix that works (test_the_suggested_fix_works)


@pytest.mark.parametrize(
    "text, words",
    [
        pytest.param("", ["not JSON"], id="empty"),
        pytest.param('{"format": "iqa-audit-baseline/1", "cells": {"gap:a-d5": {"passed": tr', ["not JSON"], id="truncated"),
        pytest.param("<<<<<<< HEAD\n{}", ["not JSON"], id="merge-conflict"),
        pytest.param("[]", ["a JSON object", "an array"], id="top-level-array"),
        pytest.param('"cells"', ["a JSON object", "a string"], id="top-level-string"),
        pytest.param('{"cells": {}}', ["field 'format'", "null"], id="format-missing"),
        pytest.param('{"format": "iqa-audit-baseline/0", "cells": {}}', ["field 'format'"], id="format-other"),
        pytest.param('{"format": "iqa-audit-baseline/1"}', ["field 'cells'", "null"], id="cells-missing"),
        pytest.param('{"format": "iqa-audit-baseline/1", "cells": []}', ["field 'cells'", "an array"], id="cells-array"),
        pytest.param('{"format": "iqa-audit-baseline/1", "cells": {}, "meta": "x"}', ["field 'meta'"], id="meta-string"),
        pytest.param('{"format": "iqa-audit-baseline/1", "cells": {}, "meta": {"shape": []}}', ["'shape'"], id="shape-array"),
        pytest.param('{"format": "iqa-audit-baseline/1", "cells": {}, "cels": {}}', ["key 'cels'"], id="unknown-key"),
        pytest.param(
            '{"format": "iqa-audit-baseline/1", "cells": {"gap:a-d5": {"passed": true, "value": NaN, "version": "v"}}}',
            ["field 'value'", "NaN"],
            id="value-nan",
        ),
        pytest.param(
            '{"format": "iqa-audit-baseline/1", "cells": {"gap:a-d5": {"passed": true, "value": -Infinity, "version": "v"}}}',
            ["field 'value'", "-Infinity"],
            id="value-infinite",
        ),
        pytest.param(
            '{"format": "iqa-audit-baseline/1", "cells": {"a-d5": {"passed": true, "value": 1, "version": "v"}}}',
            ["cell 'a-d5'", "<gap|editor|stability>"],
            id="cell-key-without-kind",
        ),
    ],
)
def test_a_bad_file_is_one_clear_error_naming_it(tmp_path, text, words):
    p = tmp_path / "b.json"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        baseline.load(p)
    message = str(e.value)
    assert f"baseline {p}" in message and "--replace-baseline" in message
    for word in words:
        assert word in message, message


def test_bytes_that_are_not_text_are_one_clear_error(tmp_path):
    p = tmp_path / "b.json"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="UTF-8"):
        baseline.load(p)


def test_the_committed_baseline_matches_the_schema():
    assert len(baseline.read(ROOT / "baselines" / "quick.json").cells) > 0


# ----- updating: only from a run of the shape the file records, or replaced on purpose -----------
def _cfg(tmp_path, **over):
    over = {"baseline": str(tmp_path / "b.json"), "update_baseline": True, "seeds": ["grid-perspective"], **over}
    return resolve_config(over)


GAP = {"gap:piqe-x-d5": ("gap:piqe-x-d5", True, -2.0, "v1", "pass", 0.1)}


def test_a_written_baseline_records_its_run_shape_and_reads_back(tmp_path):
    cfg = _cfg(tmp_path)
    path, saved = baseline.write_update(cfg, GAP, {"pyiqa:piqe": "v1"})
    assert saved is None
    read = baseline.read(path)
    shape = read.shape
    assert shape["runs"] == cfg.runs and shape["long_side"] == cfg.long_side and shape["delta_steps"] == [5, 10, 20]
    assert shape["seeds"] == ["grid-perspective"] and shape["editors"] == sorted(cfg.editors)
    assert shape["metrics"] == {"pyiqa:piqe": "v1"} and shape["stability"]["editor"] == cfg.stability_editor
    baseline.check_update(cfg)  # the same shape may update it again


def test_the_standard_profile_writes_a_baseline_that_reads_and_updates():
    """What `--update-baseline` with the quick profile writes passes the schema and can be updated."""
    cfg = resolve_config({"update_baseline": True})
    shape = baseline.run_shape(cfg)
    assert json.loads(json.dumps(shape)) == shape  # plain JSON
    assert len(shape["seeds"]) == 13 and shape["long_side"] == 512


@pytest.mark.parametrize(
    "change, words",
    [
        ({"runs": 1}, "runs: 2 in the baseline, 1 now"),
        ({"long_side": 128}, "long side: 512 in the baseline, 128 now"),
        ({"long_side": 0}, "long side: 512 in the baseline, native now"),
        ({"steps": 30}, "steps: 20 in the baseline, 30 now"),
        ({"delta_steps": ("5", "10")}, "delta steps: 5,10,20 in the baseline, 5,10 now"),
        ({"audit_runs": 2}, "editor audit"),
        ({"stability_editor": "sim-scatter"}, "stability: editor sim-noise-tint"),
    ],
)
def test_an_update_from_a_run_of_another_shape_is_refused_saying_what_differs(tmp_path, change, words):
    baseline.write_update(_cfg(tmp_path), GAP, {"pyiqa:piqe": "v1"})
    other = _cfg(tmp_path, **change)
    with pytest.raises(ConfigError) as e:
        baseline.check_update(other)
    message = str(e.value)
    assert words in message and "--replace-baseline" in message and "1 cells now in it" in message
    baseline.check_update(_cfg(tmp_path, **change, replace_baseline=True))  # the explicit choice


def test_a_run_covering_fewer_or_other_names_merges_and_the_file_covers_both(tmp_path):
    baseline.write_update(_cfg(tmp_path, metrics=["pyiqa:piqe"]), GAP, {"pyiqa:piqe": "v1"})
    cfg = _cfg(tmp_path, metrics=["iqa_audit:noise-sigma"], seeds=["flat-cartoon"])
    baseline.check_update(cfg)
    row = ("gap:noise-sigma-x-d5", False, 1.0, "2", "fail", 0.3)
    path, _ = baseline.write_update(cfg, {row[0]: row}, {"iqa_audit:noise-sigma": "2"})
    read = baseline.read(path)
    assert set(read.cells) == {"gap:piqe-x-d5", "gap:noise-sigma-x-d5"}
    assert read.shape["metrics"] == {"iqa_audit:noise-sigma": "2", "pyiqa:piqe": "v1"}
    assert read.shape["seeds"] == ["flat-cartoon", "grid-perspective"]


def test_a_baseline_without_a_shape_is_updated_only_by_replacing_it(tmp_path):
    baseline.write(tmp_path / "b.json", [("gap:a-d5", True, -1.0, "v1")])  # as written before shapes
    with pytest.raises(ConfigError, match="records no run shape.*--update-baseline --replace-baseline"):
        baseline.check_update(_cfg(tmp_path))


def test_update_baseline_with_baseline_none_is_refused_naming_the_file_to_pass(tmp_path):
    with pytest.raises(ConfigError, match="--baseline none.*--baseline baselines/quick.json --update-baseline"):
        baseline.check_update(resolve_config({"baseline": "none", "update_baseline": True}))
    with pytest.raises(ConfigError, match="--replace-baseline alone"):
        baseline.check_update(resolve_config({"replace_baseline": True}))


@pytest.mark.parametrize("broken", ["{", '{"format": "iqa-audit-baseline/1", "cells": {"gap:a-d5": {"passed": "false"}}}', "[]"])
def test_the_suggested_fix_works_and_keeps_the_broken_file(tmp_path, broken):
    """The fix a broken baseline's error names is followed literally: it must not loop."""
    p = tmp_path / "b.json"
    p.write_text(broken)
    with pytest.raises(ConfigError) as e:
        baseline.check_update(_cfg(tmp_path))  # --update-baseline alone refuses, and says what works
    assert f"--baseline {p} --update-baseline --replace-baseline" in str(e.value)
    fixed = _cfg(tmp_path, replace_baseline=True)
    baseline.check_update(fixed)
    path, saved = baseline.write_update(fixed, GAP, {"pyiqa:piqe": "v1"})
    assert saved == tmp_path / "b.json.bak" and saved.read_text() == broken  # nothing lost silently
    assert set(baseline.read(path).cells) == set(GAP)
    baseline.check_update(_cfg(tmp_path))  # and from now on a plain update works


def test_replacing_keeps_every_earlier_file(tmp_path):
    for n in range(3):
        baseline.write_update(_cfg(tmp_path, replace_baseline=True), GAP, {"pyiqa:piqe": f"v{n}"})
    assert sorted(q.name for q in tmp_path.iterdir()) == ["b.json", "b.json.2.bak", "b.json.bak"]
    assert baseline.read(tmp_path / "b.json.2.bak").shape["metrics"] == {"pyiqa:piqe": "v1"}


def test_a_run_gated_by_a_baseline_of_another_shape_is_told_what_differs(tmp_path):
    baseline.write_update(_cfg(tmp_path), GAP, {"pyiqa:piqe": "v1"})
    gated = _cfg(tmp_path, runs=1, long_side=128, update_baseline=False)
    assert baseline.gating_differences(gated) == ["runs: 2 in the baseline, 1 now", "long side: 512 in the baseline, 128 now"]
    same = _cfg(tmp_path, seeds=["flat-cartoon"], update_baseline=False)
    assert baseline.gating_differences(same) == []  # fewer or other seeds: the same kind of run
    assert baseline.gating_differences(_cfg(tmp_path, runs=1, baseline="none", update_baseline=False)) == []
