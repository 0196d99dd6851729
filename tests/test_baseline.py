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


@pytest.mark.parametrize("cell, passed, kind, fails", [
    ("gap:a", True, "pass", False),
    ("gap:a", False, "regression", True),
    ("gap:b", False, "expected-failure", False),
    ("gap:b", True, "improved", False),
    ("gap:new", False, "new-fail", True),
    ("gap:new", True, "new-pass", False),
])
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
