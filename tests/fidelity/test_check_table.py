"""Checks as data: the fidelity check table and the sanity table drive cells, engine and tests.

Adding a check must be one table entry plus its function. These tests hold the pieces
that read the tables to it: a check added to the table (here, monkeypatched in) gets its
cells, its engine dispatch, its worst-of-runs direction and its memo key with no other
edit; the editor audit's test functions are generated from the table with the ids of
before the table existed; the sanity checks run through their own table.
"""

from __future__ import annotations

import importlib
import json
from types import MappingProxyType

import numpy as np
import pytest

import iqa_audit.fidelity.table as table
from iqa_audit.analysis import sanity
from iqa_audit.audit.cells import EditorCell, SanityCase, checks_for_task, editor_cells, sanity_cases
from iqa_audit.audit.services import Services
from iqa_audit.chains.plan import Setting
from iqa_audit.config.audit_config import resolve_config
from iqa_audit.fidelity.finding import Finding
from iqa_audit.fidelity.table import CHECKS, Check, dataset_checks
from iqa_audit.fidelity.table import checks_for_task as table_checks_for_task
from iqa_audit.tasks.table import TASKS

# What the hand-written dispatch said before the table (cells.CHECKS_BY_TASK, DATASET_CHECKS).
BEFORE_THE_TABLE = {
    "replicate": ("aspect_ratio", "colours", "tint", "replication"),
    "replicate-alt1": ("aspect_ratio", "colours", "tint", "replication"),
    "replicate-alt2": ("aspect_ratio", "colours", "tint", "replication"),
    "mirror": ("aspect_ratio", "colours", "tint", "replication"),
    "rotate90": ("aspect_ratio", "colours", "tint", "replication"),
    "add-apples": ("aspect_ratio", "object_count", "tint"),
    "add-fruits": ("aspect_ratio", "object_count", "tint"),
    "colorize": ("aspect_ratio",),
}
CORE = ("aspect_ratio", "object_count", "colours", "tint", "replication")


def _core(names) -> tuple[str, ...]:
    return tuple(n for n in names if n in CORE)


@pytest.mark.parametrize("task", sorted(BEFORE_THE_TABLE))
def test_the_table_keeps_every_task_on_its_checks(task):
    assert _core(checks_for_task(task)) == BEFORE_THE_TABLE[task]
    assert checks_for_task is table_checks_for_task  # one answer, from the table
    assert _core(dataset_checks()) == ("aspect_ratio", "colours", "tint", "replication")


def test_every_table_task_is_a_real_task_and_every_task_has_a_check():
    for check in CHECKS.values():
        assert check.tasks == table.ALL_TASKS or set(check.tasks) <= set(TASKS), check.name
        assert check.needs <= table.NEEDS and check.summary, check.name
    for name in TASKS:
        assert "aspect_ratio" in checks_for_task(name)


def test_a_check_needs_only_known_inputs():
    with pytest.raises(ValueError, match="unknown needs"):
        Check("x", lambda i: None, False, frozenset({"pixels"}), table.ALL_TASKS, False, "x")


def test_a_name_listed_twice_is_refused():
    entry = CHECKS["tint"]
    with pytest.raises(ValueError, match="listed twice"):
        table._table([entry, entry])


def test_editor_audit_test_functions_come_from_the_table():
    module = importlib.import_module("iqa_audit.suite.editors.test_fidelity")
    for name in CHECKS:
        fn = getattr(module, f"test_{name}")
        assert fn.__name__ == f"test_{name}" and fn.iqa_check == name


@pytest.mark.parametrize("higher,values,worst", [(True, [0.95, 0.91, 0.99], 0.91), (False, [0.01, -0.03, 0.02], -0.03)])
def test_worst_of_runs_follows_the_direction(higher, values, worst):
    check = Check("x", lambda i: None, higher, frozenset(), table.ALL_TASKS, False, "x")
    findings = [Finding("x", True, v, 1.0, {}, f"v={v}") for v in values]
    combined = check.combine_runs(findings)
    assert combined.value == worst and combined.passed and combined.message == f"v={worst} (worst of 3 runs)"
    failed = [*findings[:2], Finding("x", False, values[2], 1.0, {}, "bad")]
    assert check.combine_runs(failed).message.startswith("bad") and not check.combine_runs(failed).passed


# ----- one entry is enough ----------------------------------------------------------------------


def _entropy_check(i) -> Finding:
    """A check written for this test: grey-level spread of the last step over all steps."""
    spreads = [float(img.pixels.std()) for _, img in i.steps]
    return Finding("spread", spreads[-1] > 0, spreads[-1], 0.0, {"steps": [k for k, _ in i.steps]}, "spread")


@pytest.fixture
def one_more_check(monkeypatch):
    entry = Check("spread", _entropy_check, True, frozenset({"steps"}), ("replicate",), False, "pixel spread")
    monkeypatch.setattr(table, "CHECKS", MappingProxyType({**table.CHECKS, "spread": entry}))
    return entry


def test_one_table_entry_makes_cells_and_runs_through_the_engine(one_more_check, tmp_path, seed_dir):
    cfg = resolve_config(
        {
            "seeds": ("tiny",),
            "seed_dirs": (str(seed_dir),),
            "store": str(tmp_path / "store"),
            "audit_editors": ("identity",),
            "audit_cases": ("replicate:tiny", "mirror:tiny"),
            "audit_steps": 3,
            "audit_runs": 2,
            "long_side": None,
        }
    )
    cells = [c for c in editor_cells(cfg) if c.check == "spread"]
    assert [c.cell for c in cells] == ["spread-identity-replicate-tiny"]  # the table's tasks, nothing else
    finding = Services.open(cfg).editors.finding(cells[0])
    assert finding.passed and json.loads(json.dumps(finding.details))["runs"][0]["steps"] == [0, 1, 2, 3]
    # The memo key of a whole-chain check covers every step: a warm run reads it back.
    warm = Services.open(cfg).editors
    warm._run_check = lambda *a: pytest.fail("recomputed a memoised whole-chain finding")
    assert warm.finding(cells[0]) == finding


# ----- sanity checks ------------------------------------------------------------------------------


def test_sanity_cases_come_from_the_sanity_table(monkeypatch):
    cfg = resolve_config({"metrics": ("iqa_audit:noise-sigma",)})
    assert [c.check for c in sanity_cases(cfg)] == sorted(sanity.SANITY_CHECKS)
    extra = sanity.SanityCheck("always", lambda i: (True, "ok"), False, "x")
    monkeypatch.setattr("iqa_audit.audit.cells.SANITY_CHECKS", {**sanity.SANITY_CHECKS, "always": extra})
    assert "always" in [c.check for c in sanity_cases(cfg)]


def test_engine_runs_a_sanity_check_from_its_entry(monkeypatch, tmp_path, seed_dir):
    seen = []

    def probe(i: sanity.SanityInput):
        imgs = i.seed_images(1)
        seen.append((len(imgs), float(i.cached_scores(imgs)[0]), float(i.metric.score(imgs)[0])))
        return False, "probe says no"

    monkeypatch.setattr(
        "iqa_audit.audit.sanity_cells.SANITY_CHECKS",
        {**sanity.SANITY_CHECKS, "probe": sanity.SanityCheck("probe", probe, True, "x")},
    )
    cfg = resolve_config(
        {
            "seeds": ("tiny",),
            "seed_dirs": (str(seed_dir),),
            "store": str(tmp_path / "store"),
            "metrics": ("iqa_audit:noise-sigma",),
            "long_side": None,
        }
    )
    result = Services.open(cfg).sanity._run(SanityCase("iqa_audit:noise-sigma", "noise-sigma", "probe"))
    assert result == (False, "probe says no", True)  # warning_only comes from the entry
    ((n, cached, direct),) = seen
    assert n == 1 and np.isclose(cached, direct)


def test_editor_cells_name_their_check_in_the_baseline_key():
    st = Setting("identity-replicate", "identity", "replicate")
    assert EditorCell(st, "grid-perspective", "tint", 10, 1).cell == "tint-identity-replicate-grid-perspective"


def test_a_metric_that_gives_nan_on_a_clean_seed_fails_sanity_naming_the_seed():
    class GivesUpOnTheSecond:
        def score(self, images):
            return np.array([1.0, float("nan"), 3.0][: len(images)])

    images = [object()] * 3
    passed, message = sanity.finite(
        sanity.SanityInput(GivesUpOnTheSecond(), lambda n: images[:n], None, ("deep-shadows", "flat-cartoon", "tiny"))
    )
    assert not passed
    assert "flat-cartoon nan (not finite)" in message and "deep-shadows 1.0" in message
