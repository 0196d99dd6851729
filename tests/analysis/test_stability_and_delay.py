"""Metric stability under content change, and metric detection delay.

Stability: the robust spread of step-to-step differences on an add chain against the
replicate chain's, with the stated bound (iqa_audit.analysis.stability); a content metric
(tests/content_metric_example.py) trips it, a quality measure does not. Delay: the first
step from which the normalised score stays below step 1, per run, summarised over runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from iqa_audit.analysis.gaps import Series
from iqa_audit.analysis.stability import (
    MIN_SPREAD,
    STABILITY_BOUND,
    detection_delay,
    first_lasting_drop,
    robust_spread,
    stability,
    step_differences,
)
from iqa_audit.audit.cells import StabilityCell, stability_cells
from iqa_audit.audit.services import Services
from iqa_audit.config.audit_config import resolve_config
from iqa_audit.core.errors import ConfigError
from iqa_audit.metrics.base import NonFiniteScore

CONTENT_METRIC = "tests.content_metric_example:colourful_share"
GIVES_UP_METRIC = "tests.content_metric_example:gives_up_past_one_fruit"
pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[2]


def series(setting: str, runs: dict[int, list[float]], *, metric: str = "m", seed: str = "s") -> Series:
    norm = {r: dict(enumerate(v)) for r, v in runs.items()}
    steps = tuple(range(max(len(v) for v in runs.values())))
    return Series(metric, "1", setting, seed, tuple(sorted(runs)), steps, norm, norm)


# ----- pure functions ------------------------------------------------------------------------------


def test_differences_start_at_the_reference_step_and_never_bridge_a_gap():
    s = series("x", {0: [90, 50, 48, 47, 40], 1: [90, 60, 61, 59, 58]})
    assert step_differences(s).tolist() == [-2, -1, -7, 1, -2, -1]  # 0 -> 1 (the crop step) left out
    holey = Series("m", "1", "x", "s", (0,), (0, 1, 2, 4), {0: {0: 9, 1: 5, 2: 4, 4: 1}}, {0: {0: 9, 1: 5, 2: 4, 4: 1}})
    assert step_differences(holey).tolist() == [-1]


def test_robust_spread_is_about_no_change_and_ignores_one_outlier():
    assert robust_spread([2.0] * 9) == pytest.approx(1.4826 * 2)  # a steady drift moves the score
    assert robust_spread([0.1, -0.1, 0.1, -0.1, 0.1, -0.1, 0.1, -0.1, 40.0]) == pytest.approx(1.4826 * 0.1)
    assert robust_spread([5.0]) == 0.0


def test_a_score_that_jumps_with_content_is_unstable():
    rep = series("ed-replicate", {0: [80 - 0.5 * k + (0.3 if k % 2 else -0.3) for k in range(11)]})
    add = series("ed-add-fruits", {0: [80 + 6 * k + (0.3 if k % 2 else -0.3) for k in range(11)]})
    s = stability(add, rep)
    assert not s.passed and s.ratio > STABILITY_BOUND and "UNSTABLE" in s.explain()
    assert stability(rep, rep).passed and stability(rep, rep).ratio == pytest.approx(1.0)


def test_a_converged_replicate_chain_is_floored_and_small_jumps_pass():
    flat = series("ed-replicate", {0: [50.0] * 8})
    small = series("ed-add", {0: [50 + 0.3 * k for k in range(8)]})
    s = stability(small, flat)
    assert s.replicate_spread == 0.0 and s.ratio == pytest.approx(s.add_spread / MIN_SPREAD) and s.passed


def test_stability_compares_one_metric_on_one_seed():
    with pytest.raises(ValueError, match="one metric on one seed"):
        stability(series("a", {0: [1, 2, 3]}, metric="m1"), series("b", {0: [1, 2, 3]}, metric="m2"))


def test_the_bound_is_beyond_chance_for_the_default_chains():
    """Two chains from one distribution (18 differences each: 10 steps x 2 runs): the ratio
    of their spreads exceeds the bound in under 1 % of draws (mean 0, the widest case)."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(20000, 18)), rng.normal(size=(20000, 18))
    ratio = np.median(np.abs(a), axis=1) / np.median(np.abs(b), axis=1)
    assert np.mean(ratio > STABILITY_BOUND) < 0.01 and STABILITY_BOUND == 3.0
    cfg = resolve_config({})
    assert (cfg.stability_steps - 1) * cfg.stability_runs == 18


@pytest.mark.parametrize(
    "scores,first",
    [
        ([70, 60, 61, 58, 57, 55], 3),  # above step 1 at step 2, below from step 3 on
        ([70, 60, 59, 58, 57, 55], 2),
        ([70, 60, 59, 61, 57, 55], 4),
        ([70, 60, 62, 63, 64, 65], None),
        ([70, 60, 59, 58, 57, 61], None),  # the last step is back above step 1: not noticed for good
    ],
)
def test_first_lasting_drop_below_step_one(scores, first):
    assert first_lasting_drop(dict(enumerate(scores))) == first


def test_detection_delay_summarises_runs_like_the_self_evaluation_delay():
    s = series("x", {0: [70, 60, 59, 58, 57], 1: [70, 60, 61, 58, 57], 2: [70, 60, 61, 62, 63]})
    d = detection_delay(s)
    assert d.steps == (2, 3, None) and d.noticed_runs == 2 and d.mean == 2.5 and d.sd == pytest.approx(0.7071, abs=1e-4)


# ----- cells and the engine --------------------------------------------------------------------------


def test_one_stability_case_per_metric_and_add_case():
    cfg = resolve_config({"metrics": ("iqa_audit:noise-sigma", "pyiqa:piqe")})
    ids = [c.id for c in stability_cells(cfg)]
    assert ids == [
        "noise-sigma-add-apples-empty-table",
        "noise-sigma-add-fruits-empty-table",
        "piqe-add-apples-empty-table",
        "piqe-add-fruits-empty-table",
    ]
    cell = stability_cells(cfg)[0]
    assert cell.add_setting.label == "sim-noise-tint-add-apples" and cell.replicate_setting.task == "replicate"
    own_images = resolve_config({"metrics": ("iqa_audit:noise-sigma",), "seed_dirs": (str(ROOT / "tests"),)})
    assert stability_cells(own_images) == []  # --seed-dir alone: only the user's images, no built-in table
    with_builtins = resolve_config(
        {"metrics": ("iqa_audit:noise-sigma",), "seed_dirs": (str(ROOT / "tests"),), "seeds": ("all-procedural",)}
    )
    assert len(stability_cells(with_builtins)) == 2
    with pytest.raises(ConfigError, match="add task"):
        stability_cells(resolve_config({"metrics": ("iqa_audit:noise-sigma",), "stability_cases": ("replicate:grid",)}))


@pytest.mark.slow
def test_a_content_metric_fails_and_a_quality_measure_passes(tmp_path):
    cfg = resolve_config(
        {
            "store": str(tmp_path / "store"),
            "metrics": ("iqa_audit:noise-sigma", CONTENT_METRIC),
            "stability_cases": ("add-fruits:empty-table",),
            "stability_steps": 6,
            "stability_runs": 1,
            "stability_long_side": 128,
        }
    )
    stability_of = Services.open(cfg).stability
    found = {c.metric: stability_of.finding(c) for c in stability_cells(cfg)}
    content, quality = found[CONTENT_METRIC], found["iqa_audit:noise-sigma"]
    assert not content.passed and content.ratio > STABILITY_BOUND, content.explain()
    assert quality.passed, quality.explain()
    add = stability_of.series(
        CONTENT_METRIC,
        StabilityCell(CONTENT_METRIC, "x", "sim-noise-tint", "add-fruits", "empty-table").add_setting,
        "empty-table",
    )
    assert add.steps == tuple(range(7)) and len(add.runs) == 1  # every step scored


def test_a_step_the_metric_could_not_score_is_an_error_not_a_skipped_difference():
    add = series("add", {0: [50, 52, 51, 53, 52]})
    add = Series(add.metric_id, "1", "add", "s", (0,), add.steps, add.raw, add.normalised, {0: {3: "step 3: a.png got NaN"}})
    with pytest.raises(NonFiniteScore, match="a.png got NaN"):
        stability(add, series("rep", {0: [50, 50, 51, 50, 50]}))


STABILITY_TEST = "def test_stability(stability_cell, stability_inputs, audit):\n    audit.stability(stability_cell)\n"


def _stability_run(pytester, tmp_path, metric: str, *extra: str):
    pytester.makepyprojecttoml(
        "[tool.iqa_audit]\n"
        'stability_cases = ["add-fruits:empty-table"]\nstability_steps = 4\nstability_runs = 1\nstability_long_side = 64\n'
    )
    pytester.makepyfile(test_stability=STABILITY_TEST)
    args = f"-p iqa_audit.pytest_plugin -p no:cacheprovider --metric {metric} --store {tmp_path / 'store'}"
    return pytester.runpytest_subprocess(*args.split(), "--reports-dir", str(tmp_path / "reports"), "--baseline", "none", *extra)


@pytest.mark.slow
def test_a_stability_cell_with_a_nan_score_is_an_error_naming_the_image(pytester, tmp_path):
    out = _stability_run(pytester, tmp_path, GIVES_UP_METRIC)
    out.assert_outcomes(errors=1)
    text = out.stdout.str()
    assert "Traceback" not in text and "got NaN" in text and "sim-noise-tint-add-fruits/empty-table/run 0/step 2" in text


@pytest.mark.slow
def test_a_stability_only_run_of_a_metric_that_cannot_run_is_not_green(pytester, tmp_path):
    # pyiqa:musiq's weights are not here: the cell skips, and the run fails unless allowed.
    out = _stability_run(pytester, tmp_path, "pyiqa:musiq")
    assert out.ret == pytest.ExitCode.TESTS_FAILED
    out.assert_outcomes(skipped=1)
    allowed = _stability_run(pytester, tmp_path, "pyiqa:musiq", "--allow-missing-metrics")
    assert allowed.ret == pytest.ExitCode.OK
