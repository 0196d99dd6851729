"""The editor audit's controls: identity fails nothing, each simulator exactly its `trips`.

The editor audit (tests_editors/) is only evidence if its checks separate the failures
the study saw: a green tint must fail the tint check, not the colour check too; scatter
points must fail replication, not the apple count. Each failure simulator declares the
fidelity checks it models (`trips`) and the seeds it has nothing to act on
(`inert_on`), and this module builds the audit's own cells for every control editor on
every case of the audit (config.AUDIT_CASES) and holds the whole matrix to it:

- identity: every applicable check passes, on every case;
- a simulator on a seed it acts on: the checks that fail are exactly `trips` ∩ the
  checks that apply to the task (add tasks have no colour or replication check);
- a simulator on a seed in its `inert_on`: nothing fails.

Chains run 10 steps, like the quick profile, at a 384 px long side to stay fast; the
failures are defined in image-relative units, so they look the same as at 512 px.
"""

from __future__ import annotations

import pytest

from iqa_audit.audit.cells import checks_for_task, editor_cells
from iqa_audit.audit.services import Services
from iqa_audit.config.audit_config import AUDIT_CASES, resolve_config
from iqa_audit.editors.simulators import SIMULATORS, Identity
from iqa_audit.fidelity.table import CHECKS
from iqa_audit.seeds import get_seed
from iqa_audit.store.store import Store

STEPS = 10
LONG_SIDE = 384
CONTROLS = {cls.id: cls for cls in SIMULATORS}


def _seed(case: str) -> str:
    return case.partition(":")[2]


def _task(case: str) -> str:
    return case.partition(":")[0]


def expected_failures(editor: str, case: str) -> set[str]:
    """What the declaration says must fail for `editor` on `case`, and nothing else may."""
    cls = CONTROLS[editor]
    if _seed(case) in cls.inert_on:
        return set()
    return set(cls.trips) & set(checks_for_task(_task(case)))


MATRIX = [(editor, case) for editor in CONTROLS for case in AUDIT_CASES]


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """One engine and chain store per worker process: each (editor, case) chain is built once."""
    cfg = resolve_config(
        {
            "profile": "quick",
            "store": str(tmp_path_factory.mktemp("controls-store")),
            "long_side": LONG_SIDE,
            "audit_editors": tuple(CONTROLS),
            "audit_cases": AUDIT_CASES,
            "audit_steps": STEPS,
            "audit_runs": 1,
        }
    )
    store = Store(cfg.store)
    yield Services.open(cfg, store)
    store.close()


@pytest.mark.slow
@pytest.mark.parametrize("editor,case", MATRIX, ids=[f"{e}-{c.replace(':', '-')}" for e, c in MATRIX])
def test_control_fails_exactly_its_declared_checks(engine, editor, case):
    task, seed = _task(case), _seed(case)
    cells = [c for c in editor_cells(engine.cfg) if c.setting.editor == editor and c.setting.task == task and c.seed == seed]
    assert {c.check for c in cells} == set(checks_for_task(task))
    findings = {c.check: engine.editors.finding(c) for c in cells}
    failed = {check for check, f in findings.items() if not f.passed}
    expected = expected_failures(editor, case)
    report = "\n".join(f"  {'FAIL' if not f.passed else 'pass'} {check}: {f.message}" for check, f in sorted(findings.items()))
    assert failed == expected, (
        f"{editor} on {case} after {STEPS} steps at {LONG_SIDE} px: failed {sorted(failed) or 'nothing'}, "
        f"declared {sorted(expected) or 'nothing'}\n{report}"
    )


# ----- the declaration itself --------------------------------------------------------------


def test_identity_declares_nothing_and_every_simulator_something():
    assert Identity.trips == frozenset() and not Identity.inert_on
    for editor, cls in CONTROLS.items():
        assert set(cls.trips) <= set(CHECKS), editor
        if cls is not Identity:
            assert cls.trips, f"{editor} declares no check it trips"


def test_inert_seeds_are_real_seeds_with_a_reason():
    for editor, cls in CONTROLS.items():
        for seed, why in cls.inert_on.items():
            assert get_seed(seed).name == seed, editor
            assert isinstance(why, str) and len(why) > 20, f"{editor} on {seed}: say why the failure has nothing to act on"


def test_every_declared_trip_is_exercised_by_the_matrix():
    """Each simulator fails each of its checks on at least one audit case, and identity
    meets every check: otherwise the controls would prove nothing about that check."""
    for editor, cls in CONTROLS.items():
        exercised = set().union(*(expected_failures(editor, case) for case in AUDIT_CASES))
        assert exercised == set(cls.trips), f"{editor}: no audit case exercises {sorted(set(cls.trips) - exercised)}"
    met_by_identity = set().union(*(checks_for_task(_task(case)) for case in AUDIT_CASES))
    assert met_by_identity == set(CHECKS)
