"""The plugin end to end, in a child pytest: cells, results.json, baselines, xdist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iqa_audit.audit.cells import editor_cells, gap_cells
from iqa_audit.config.audit_config import resolve_config
from iqa_audit.metrics.registry import create_metric, metric_id
from iqa_audit.results import baseline
from tests.tiny_audit import GAP_TEST, tiny_audit_args

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def audit_dir(pytester, tmp_path, seed_dir):
    pytester.makepyfile(test_gap=GAP_TEST)
    args = tiny_audit_args(tmp_path, seed_dir)
    return pytester, args, tmp_path


def _results(tmp_path, run):
    return json.loads((tmp_path / "reports" / run / "results.json").read_text())


def test_ids_read_like_the_finding_and_are_sorted(seed_dir):
    cfg = resolve_config(
        {
            "seeds": ("tiny",),
            "seed_dirs": (str(seed_dir),),
            "editors": ("codec-jpeg",),
            "metrics": ("pyiqa:piqe", "iqa_audit:noise-sigma"),
            "delta_steps": (5, 10),
        }
    )
    ids = [c.id for c in gap_cells(cfg)]
    assert ids == [
        "noise-sigma-codec-jpeg-replicate-tiny-d5",
        "noise-sigma-codec-jpeg-replicate-tiny-d10",
        "piqe-codec-jpeg-replicate-tiny-d5",
        "piqe-codec-jpeg-replicate-tiny-d10",
    ]
    assert gap_cells(cfg) == gap_cells(cfg)  # every xdist worker collects the same list
    ed = [c for c in editor_cells(resolve_config({})) if c.check == "aspect_ratio"]
    assert "sim-crop-replicate-grid-perspective" in {c.id for c in ed}


@pytest.mark.parametrize("name", ["pyiqa:piqe", "iqa_audit:noise-sigma", "tests.plugin_metric_example:sharpness"])
def test_collection_time_metric_id_matches_the_loaded_metric(name):
    assert metric_id(name) == create_metric(name).id


@pytest.mark.slow
def test_results_baseline_regression_and_xfail(audit_dir):
    pytester, args, tmp = audit_dir
    first = pytester.runpytest_subprocess(*args, "--run-name", "r1", "--baseline", str(tmp / "b.json"), "--update-baseline")
    first.assert_outcomes(passed=2, xfailed=2)  # noise-sigma notices the noise; a sharpness measure takes noise for detail
    res = _results(tmp, "r1")
    cells = {c["cell"]: c for c in res["cells"]}
    assert set(cells) == {
        "gap:noise-sigma-sim-noise-tint-replicate-tiny-d3",
        "gap:noise-sigma-sim-noise-tint-replicate-tiny-d6",
        "gap:plugin_metric_example-sharpness-sim-noise-tint-replicate-tiny-d3",
        "gap:plugin_metric_example-sharpness-sim-noise-tint-replicate-tiny-d6",
    }
    c = cells["gap:noise-sigma-sim-noise-tint-replicate-tiny-d6"]
    assert c["passed"] and c["value"] < 0 and c["runs"] == 2 and set(c["mean_normalised"]) == {"0", "1", "3", "6"}
    assert res["metrics"]["noise-sigma"]["range"]["source"]
    saved = baseline.load(tmp / "b.json")
    assert saved["gap:noise-sigma-sim-noise-tint-replicate-tiny-d6"].passed

    # Against that baseline the known failures are xfail and the run is green.
    again = pytester.runpytest_subprocess(*args, "--run-name", "r2", "--baseline", str(tmp / "b.json"))
    again.assert_outcomes(passed=2, xfailed=2)

    # A baseline that says a failing cell used to pass turns it into a regression.
    data = json.loads((tmp / "b.json").read_text())
    # (passed and verdict together: an entry whose two say different things is refused by the schema)
    data["cells"]["gap:plugin_metric_example-sharpness-sim-noise-tint-replicate-tiny-d6"].update(passed=True, verdict="pass")
    (tmp / "b.json").write_text(json.dumps(data))
    third = pytester.runpytest_subprocess(*args, "--run-name", "r3", "--baseline", str(tmp / "b.json"))
    third.assert_outcomes(passed=2, xfailed=1, failed=1)
    third.stdout.fnmatch_lines(["*REGRESSION: passed in the baseline*"])

    # A run of another shape (1 run, not 2) may not update it: refused at configure, nothing ran.
    other = [*args, "--runs", "1", "--baseline", str(tmp / "b.json"), "--update-baseline"]
    fourth = pytester.runpytest_subprocess(*other, "--run-name", "r4")
    assert fourth.ret == pytest.ExitCode.USAGE_ERROR
    fourth.stderr.fnmatch_lines(["ERROR: --update-baseline into *b.json*runs: 2 in the baseline, 1 now*--replace-baseline*"])
    before = (tmp / "b.json").read_text()
    # ... unless the user chooses to replace it: the old file is kept, and the run says so.
    fifth = pytester.runpytest_subprocess(*other, "--replace-baseline", "--run-name", "r5")
    assert fifth.ret == pytest.ExitCode.OK
    fifth.stdout.fnmatch_lines(["baseline: *b.json written from this run alone*kept as *b.json.bak"])
    assert (tmp / "b.json.bak").read_text() == before and baseline.read(tmp / "b.json").shape["runs"] == 1


@pytest.mark.slow
def test_xdist_and_single_process_agree(audit_dir):
    pytester, args, tmp = audit_dir
    a = pytester.runpytest_subprocess(*args, "--run-name", "serial", "--baseline", "none", "-n", "0")
    b = pytester.runpytest_subprocess(*args, "--run-name", "parallel", "--baseline", "none", "-n", "2")
    a.assert_outcomes(passed=2, failed=2)
    b.assert_outcomes(passed=2, failed=2)
    ca = {c["cell"]: c["value"] for c in _results(tmp, "serial")["cells"]}
    cb = {c["cell"]: c["value"] for c in _results(tmp, "parallel")["cells"]}
    assert ca == cb and len(ca) == 4


def test_each_series_runs_on_one_worker_under_loadgroup(audit_dir):
    # xdist 3.8 cannot tag grouped ids under pytest 9; the plugin's scheduler groups them.
    import re

    pytester, args, tmp = audit_dir
    out = pytester.runpytest_subprocess(
        *args, "--run-name", "grouped", "--baseline", "none", "-n", "2", "--dist", "loadgroup", "-v"
    )
    workers: dict[str, set[str]] = {}
    for worker, cell in re.findall(r"\[(gw\d)\].*test_gap\[(.*)-d\d+\]", out.stdout.str()):
        workers.setdefault(cell, set()).add(worker)
    assert len(workers) == 2 and all(len(w) == 1 for w in workers.values()), workers


def test_param_ids_map_to_cell_groups(seed_dir):
    from iqa_audit.audit.cells import AuditCells
    from iqa_audit.audit.scheduling import param_id

    cfg = resolve_config(
        {
            "seeds": ("tiny",),
            "seed_dirs": (str(seed_dir),),
            "editors": ("codec-jpeg",),
            "metrics": ("iqa_audit:noise-sigma",),
            "delta_steps": (5, 10),
        }
    )
    groups = AuditCells.of(cfg).groups()
    assert (
        param_id("tests_metrics/test_gap.py::test_gap[noise-sigma-codec-jpeg-replicate-tiny-d5]")
        == "noise-sigma-codec-jpeg-replicate-tiny-d5"
    )
    assert param_id("tests/test_x.py::test_plain") is None
    assert groups["noise-sigma-codec-jpeg-replicate-tiny-d5"] == groups["noise-sigma-codec-jpeg-replicate-tiny-d10"]


EDITOR_TEST = (
    "def test_replication(editor_cell, audit):\n"
    "    audit.editor(editor_cell)\n"
    "test_replication.iqa_check = 'replication'\n\n"
    "def test_aspect_ratio(editor_cell, audit):\n"
    "    audit.editor(editor_cell)\n"
    "test_aspect_ratio.iqa_check = 'aspect_ratio'\n"
)


@pytest.mark.slow
def test_a_manifest_is_imported_once_by_the_controller_and_workers_read_the_import(pytester, tmp_path):
    from tests.datasets.test_datasets import _dataset

    csv = _dataset(tmp_path, steps=(0, 1, 5))
    # Once the controller has configured (and imported), the image files go away: a worker
    # that imported again would find them missing and error every cell.
    pytester.makeconftest(f"""
import shutil
import pytest

@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    if not hasattr(config, "workerinput"):
        shutil.rmtree({str(csv.parent / "img")!r})
""")
    pytester.makepyfile(test_gap=GAP_TEST)
    args = f"-p iqa_audit.pytest_plugin -p no:cacheprovider -n 2 --dataset {csv} --metric iqa_audit:noise-sigma"
    args += f" --delta-steps 5 --store {tmp_path / 'store'} --reports-dir {tmp_path / 'reports'} --baseline none"
    out = pytester.runpytest_subprocess(*args.split(), "--run-name", "once")
    assert not (csv.parent / "img").exists()
    outcomes = out.parseoutcomes()
    assert "errors" not in outcomes and "error" not in outcomes, out.stdout.str()[-2000:]
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 1
    assert "does not exist" not in out.stdout.str()  # no worker went back to the files
    (cell,) = [c for c in _results(tmp_path, "once")["cells"] if c["kind"] == "gap"]
    assert cell["verdict"] in ("pass", "fail") and cell["runs"] == 2  # a verdict, from the imported chains


@pytest.mark.slow
def test_dataset_chains_get_the_same_cases(pytester, tmp_path):
    from tests.datasets.test_datasets import _dataset

    csv = _dataset(tmp_path, steps=(0, 1, 5))
    pytester.makepyfile(test_gap=GAP_TEST, test_editor=EDITOR_TEST)
    out = pytester.runpytest_subprocess(
        "-p",
        "iqa_audit.pytest_plugin",
        "-p",
        "no:cacheprovider",
        "--dataset",
        str(csv),
        "--metric",
        "iqa_audit:noise-sigma",
        "--delta-steps",
        "5",
        "--store",
        str(tmp_path / "store"),
        "--reports-dir",
        str(tmp_path / "reports"),
        "--run-name",
        "ds",
        "--baseline",
        "none",
        "-v",
    )
    text = out.stdout.str()
    for test_id in (
        "test_gap[noise-sigma-nano-banana-pro-2k-building-d5]",
        "test_replication[nano-banana-pro-2k-building]",
        "test_aspect_ratio[nano-banana-pro-2k-building]",
    ):
        assert test_id in text
    res = _results(tmp_path, "ds")
    gap_cell = next(c for c in res["cells"] if c["kind"] == "gap")
    assert gap_cell["runs"] == 2 and set(gap_cell["mean_normalised"]) == {"0", "1", "5"}
    assert {c["check"] for c in res["cells"] if c["kind"] == "editor"} == {"replication", "aspect_ratio"}


@pytest.mark.slow
def test_an_interrupted_run_says_so_and_keeps_the_finished_runs(audit_dir):
    pytester, args, tmp = audit_dir
    finished = pytester.runpytest_subprocess(*args, "--run-name", "finished", "--baseline", "none")
    assert (tmp / "reports" / "finished" / "results.json").is_file(), finished.stdout.str()[-1500:]
    # Ctrl-C during the third case (a KeyboardInterrupt, as pytest gets from SIGINT).
    pytester.makeconftest(
        "import pytest\n"
        "seen = []\n"
        "@pytest.hookimpl(tryfirst=True)\n"
        "def pytest_runtest_call(item):\n"
        "    seen.append(item.nodeid)\n"
        "    if len(seen) == 3:\n"
        "        raise KeyboardInterrupt\n"
    )
    baseline = tmp / "b.json"
    out = pytester.runpytest_subprocess(
        *args, "--run-name", "stopped", "--baseline", str(baseline), "--update-baseline", "--keep-reports", "1"
    )
    assert out.ret == pytest.ExitCode.INTERRUPTED
    assert "INTERRUPTED: the report covers the 2 cases that finished" in out.stdout.str()
    run = _results(tmp, "stopped")["run"]
    assert run["interrupted"] is True and run["collected"] == 4 and len(_results(tmp, "stopped")["cells"]) == 2
    assert "INTERRUPTED" in (tmp / "reports" / "stopped" / "index.html").read_text()
    assert not baseline.exists()  # half a re-recording is no baseline
    assert (tmp / "reports" / "finished" / "results.json").is_file()  # --keep-reports 1 pruned nothing
    assert _results(tmp, "finished")["run"]["interrupted"] is False
