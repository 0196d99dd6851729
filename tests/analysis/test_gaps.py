"""Gaps exactly as the study defines them, checked by hand against stored raw scores."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iqa_audit.analysis.gaps import Series, gap, seed_passes
from iqa_audit.audit.cells import GapCell
from iqa_audit.audit.services import Services
from iqa_audit.chains.plan import Setting
from iqa_audit.config.audit_config import resolve_config


def _series(norm_by_run):
    raw = {r: {k: -v for k, v in steps.items()} for r, steps in norm_by_run.items()}
    return Series(
        "m", "v1", "set", "seed", tuple(sorted(norm_by_run)), tuple(sorted(next(iter(norm_by_run.values())))), raw, norm_by_run
    )


def test_gap_is_mean_over_runs_at_step_i_minus_at_step_1():
    s = _series({0: {0: 90.0, 1: 80.0, 5: 70.0}, 1: {0: 90.0, 1: 60.0, 5: 62.0}})
    g = gap(s, 5)
    assert g.gap == pytest.approx((70 + 62) / 2 - (80 + 60) / 2)
    assert g.noticed and g.reference_runs == (80.0, 60.0) and g.raw_step == (-70.0, -62.0)
    assert "Δ5 = -4.000" in g.explain() and "per run [80.00, 60.00]" in g.explain()


def test_step_0_is_not_the_reference():
    # Editors crop on their first step: a drop from step 0 to 1 must not count.
    s = _series({0: {0: 100.0, 1: 50.0, 5: 50.0}})
    assert gap(s, 5).gap == 0 and not gap(s, 5).noticed


def test_seed_verdict_needs_every_gap_negative():
    s = _series({0: {1: 50.0, 5: 49.0, 10: 48.0, 20: 50.5}})
    gaps = [gap(s, d) for d in (5, 10, 20)]
    assert not seed_passes(gaps)
    assert seed_passes(gaps[:2])
    assert not seed_passes([])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3)), min_size=1, max_size=6))
def test_gap_sign_matches_the_mean_difference(pairs):
    s = _series({r: {1: a, 5: b} for r, (a, b) in enumerate(pairs)})
    expected = np.mean([b for _, b in pairs]) - np.mean([a for a, _ in pairs])
    assert gap(s, 5).gap == pytest.approx(expected, abs=1e-9)


def test_engine_gap_equals_a_hand_computation_from_stored_raw_scores(tmp_path, seed_dir):
    cfg = resolve_config(
        {
            "seeds": ("tiny",),
            "seed_dirs": (str(seed_dir),),
            "editors": ("sim-noise-tint",),
            "runs": 2,
            "steps": 5,
            "delta_steps": (5,),
            "long_side": None,
            "metrics": ("iqa_audit:noise-sigma",),
            "store": str(tmp_path / "store"),
        }
    )
    services = Services.open(cfg)
    cell = GapCell(
        "iqa_audit:noise-sigma", "noise-sigma", Setting("sim-noise-tint-replicate", "sim-noise-tint", "replicate"), "tiny", 5
    )
    g = services.gaps.gap(cell)
    # By hand: read each run's stored step-1 and step-5 raw scores, normalise with the
    # declared range (0-20 grey levels, lower is better), average, subtract.
    store = services.store
    metric = services.scorer.metric("iqa_audit:noise-sigma")
    lo, hi = metric.range.lo, metric.range.hi
    per_step = {1: [], 5: []}
    for chain in store.chains():
        steps = {s.step: s for s in store.steps(chain.key)}
        for k in (1, 5):
            raw = store.get_scores(metric.id, metric.version, [steps[k].image_hash])[steps[k].image_hash]
            per_step[k].append(100 * (hi - raw) / (hi - lo))
    assert len(per_step[1]) == 2
    assert g.gap == pytest.approx(np.mean(per_step[5]) - np.mean(per_step[1]), abs=1e-9)
    assert g.noticed  # the positive control: more noise, lower normalised score
