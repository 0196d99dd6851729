"""The study's other findings end to end, in a child pytest: stability cases, detection
delays and the reconstruction task's exclusion reach results.json and the report.

One small run: a user seed, sim-noise-tint on replicate and reconstruct chains, every step
scored, noise-sigma and a content metric; stability on small add-fruits chains.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iqa_audit.audit.cells import gap_cells
from iqa_audit.chains.chain import build_chain, load_chain, resolve
from iqa_audit.chains.plan import chain_specs
from iqa_audit.config.audit_config import resolve_config
from iqa_audit.store.store import Store
from iqa_audit.tasks.table import RECONSTRUCTION_CYCLE

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parent.parent

TESTS = {
    "test_gap": "def test_gap(gap_cell, audit):\n    audit.gap(gap_cell)\n",
    "test_stability": "def test_stability(stability_cell, audit):\n    audit.stability(stability_cell)\n",
}
SETTINGS = """
[tool.iqa_audit]
every_step = true
stability_cases = ["add-fruits:empty-table"]
stability_steps = 5
stability_runs = 1
stability_long_side = 128
"""


def _cfg(seed_dir, tmp_path, **kw):
    return resolve_config(
        {
            "seeds": ("tiny",),
            "seed_dirs": (str(seed_dir),),
            "editors": ("sim-noise-tint",),
            "tasks": ("replicate", "reconstruct"),
            "runs": 2,
            "steps": 4,
            "delta_steps": (2, 4),
            "long_side": None,
            "store": str(tmp_path / "store"),
            **kw,
        }
    )


def test_reconstruction_chains_are_stored_like_any_chain_and_never_judged(seed_dir, tmp_path):
    cfg = _cfg(seed_dir, tmp_path, metrics=("iqa_audit:noise-sigma",))
    assert {c.setting.task for c in gap_cells(cfg)} == {"replicate"}
    specs = [s for s in chain_specs(cfg) if s.task == "reconstruct"]
    assert len(specs) == 2  # built by `generate_fixtures.py build` like the others
    store = Store(cfg.store)
    try:
        rc = resolve(specs[0], extra_seed_dirs=cfg.seed_dirs)
        build_chain(store, rc)
        stored = load_chain(store, rc)
        assert [s.step for s in stored.ok_steps] == [0, 1, 2, 3, 4]
        assert [s.prompt for s in stored.steps[1:]] == [p for p, _ in RECONSTRUCTION_CYCLE] + [RECONSTRUCTION_CYCLE[0][0]]
    finally:
        store.close()


@pytest.mark.slow
def test_stability_delays_and_exclusions_reach_results_and_report(pytester, seed_dir, tmp_path):
    pytester.makepyfile(**TESTS)
    pytester.makefile(".toml", pyproject=SETTINGS)
    args = [
        "-p",
        "iqa_audit.pytest_plugin",
        "--seed",
        "tiny",
        "--seed-dir",
        str(seed_dir),
        "--editor",
        "sim-noise-tint",
        "--task",
        "replicate,reconstruct",
        "--runs",
        "2",
        "--steps",
        "4",
        "--delta-steps",
        "2,4",
        "--long-side",
        "0",
        "--store",
        str(tmp_path / "store"),
        "--reports-dir",
        str(tmp_path / "reports"),
        "--baseline",
        "none",
        "--metric",
        "iqa_audit:noise-sigma",
        "--metric",
        "tests.content_metric_example:colourful_share",
        "--run-name",
        "r",
        "-p",
        "no:cacheprovider",
        f"--rootdir={pytester.path}",
    ]  # where the pyproject.toml is
    run = pytester.runpytest_subprocess(*args)
    run.stdout.fnmatch_lines(["*test_stability*content_metric_example-colourful_share-add-fruits-empty-table*"])
    res = json.loads((tmp_path / "reports" / "r" / "results.json").read_text())
    cells = {c["cell"]: c for c in res["cells"]}
    content = cells["stability:content_metric_example-colourful_share-add-fruits-empty-table"]
    quality = cells["stability:noise-sigma-add-fruits-empty-table"]
    assert not content["passed"] and content["value"] > content["tolerance"] == 3.0 and content["outcome"] == "failed"
    assert quality["passed"] and set(quality["curves"]) == {"add", "replicate"}
    assert not any("reconstruct" in c for c in cells)  # excluded from the metric verdicts ...
    assert res["excluded_settings"] == [
        {"setting": "sim-noise-tint-reconstruct", "task": "reconstruct", "why": res["excluded_settings"][0]["why"]}
    ]  # ... and said so
    delays = {(d["metric_id"], d["seed"]): d for d in res["detection_delays"]["metrics"]}
    noise = delays[("noise-sigma", "tiny")]
    assert noise["resolution"] == [2, 3, 4] and noise["per_run"] == [2, 2] and noise["mean"] == 2.0  # every step scored
    page = (tmp_path / "reports" / "r" / "index.html").read_text(encoding="utf-8")
    for marker in ('id="stability"', 'id="delays"', "ratio (bound 3)", "sim-noise-tint-reconstruct", "2 ± 0 (2/2)"):
        assert marker in page, marker
