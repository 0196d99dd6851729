"""`generate_fixtures.py import` as a user runs it, and the audit of what it imported by
name (`--dataset NAME`), with the reasoning the chains carried."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from iqa_audit.datasets.registry import dataset_record
from iqa_audit.store.store import Store
from tests.audit.test_plugin import EDITOR_TEST, GAP_TEST
from tests.conftest import textured_image
from tests.datasets.test_layouts import LAYOUT, make_tree

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[2]


def run(*args, timeout=300, env=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, str(ROOT / "generate_fixtures.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


@pytest.mark.slow
def test_import_a_tree_then_audit_it_by_name_with_its_reasoning(pytester, tmp_path):
    root = make_tree(tmp_path / "tree", steps=(0, 1, 5, 10))
    (root / "README.md").write_text("notes")
    store = tmp_path / "store"
    out = run("import", str(root), "--layout", LAYOUT, "--name", "My Tree", "--store", str(store), "--ignore", "README.md")
    assert out.returncode == 0, out.stderr
    assert "imported dataset 'my-tree': 4 chains, 16 images added" in out.stdout
    assert f"--dataset my-tree --store {store}" in out.stdout
    pytester.makepyfile(test_gap=GAP_TEST, test_editor=EDITOR_TEST)
    res = pytester.runpytest_subprocess(
        "-p",
        "iqa_audit.pytest_plugin",
        "-p",
        "no:cacheprovider",
        "--dataset",
        "my-tree",
        "--metric",
        "iqa_audit:noise-sigma",
        "--delta-steps",
        "5,10",
        "--store",
        str(store),
        "--reports-dir",
        str(tmp_path / "reports"),
        "--run-name",
        "by name",
        "--baseline",
        "none",
        "-v",
    )
    text = res.stdout.str()
    assert "test_gap[noise-sigma-nano-banana-grid-d10]" in text and "test_aspect_ratio[nano-banana-grid]" in text
    cells = json.loads((tmp_path / "reports" / "by-name" / "results.json").read_text())["cells"]
    editor = next(c for c in cells if c["kind"] == "editor" and c["seed"] == "grid")
    # The self-evaluation delay ran on the imported reasoning: every run noticed at step 10.
    assert editor["self_evaluation"]["available"] is True and editor["self_evaluation"]["per_run"] == [10, 10]
    assert {c["seed"] for c in cells if c["kind"] == "gap"} == {"grid", "猫"}


def test_an_unknown_dataset_name_is_one_clear_line(pytester, tmp_path):
    pytester.makepyfile(test_gap=GAP_TEST)
    res = pytester.runpytest_subprocess(
        "-p",
        "iqa_audit.pytest_plugin",
        "-p",
        "no:cacheprovider",
        "--dataset",
        "nope",
        "--metric",
        "iqa_audit:noise-sigma",
        "--store",
        str(tmp_path / "s"),
    )
    assert res.ret == 4
    err = res.stderr.str()
    assert "--dataset nope: expected an imported dataset in the store" in err and "Traceback" not in err


def test_import_options_that_need_a_folder_are_refused_for_a_manifest(tmp_path):
    from tests.datasets.test_datasets import _dataset

    out = run("import", str(_dataset(tmp_path)), "--layout", LAYOUT, "--store", str(tmp_path / "s"))
    assert out.returncode == 2 and "a manifest file, which names its own columns" in out.stderr and "Traceback" not in out.stderr
    out = run("import", str(tmp_path / "absent"), "--store", str(tmp_path / "s"))
    assert out.returncode == 2 and "no such file or folder" in out.stderr


@pytest.mark.slow
def test_a_killed_import_resumes_and_only_then_is_visible(tmp_path):
    root = tmp_path / "big"
    root.mkdir()
    png = textured_image(32, 24).data()
    for run_ in range(4):
        for k in range(150):  # 600 images; identical bytes: the store keeps one object
            (root / f"r{run_}_s{k}.png").write_bytes(png)
    store_dir = tmp_path / "store"
    args = [
        sys.executable,
        str(ROOT / "generate_fixtures.py"),
        "import",
        str(root),
        "--layout",
        "r{run}_s{step}.png",
        "--set",
        "setting=ed,seed=s",
        "--store",
        str(store_dir),
        "--quiet",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    store = Store(store_dir)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            done = store._db().execute("SELECT COUNT(*) FROM steps").fetchone()[0]
        except Exception:
            done = 0
        if done >= 50:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the import finished before it could be killed: make the dataset larger"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert dataset_record(store, "big") is None  # killed: nothing visible to audits
    written = store._db().execute("SELECT COUNT(*) FROM steps").fetchone()[0]
    again = run(*args[2:])
    assert again.returncode == 0, again.stderr
    assert f"{600 - written} images added, {written} already stored" in again.stdout
    assert sum(len(c.steps) for c in dataset_record(store, "big").chains) == 600
