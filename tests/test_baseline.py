"""Baselines: the four ways a cell relates to its expected outcome, and the file format."""

import json

import pytest

from iqa_audit import baseline
from iqa_audit.errors import ConfigError


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
