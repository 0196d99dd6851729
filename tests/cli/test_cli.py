"""The `iqa-audit` command as a user runs it: build cold then warm, import, list, errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from iqa_audit.store.store import Store

ROOT = Path(__file__).resolve().parents[2]


def run(*args, timeout=300, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "iqa_audit", *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd
    )


@pytest.mark.slow
def test_build_cold_then_warm_says_everything_is_cached(tmp_path, seed_dir):
    args = [
        "build",
        "--store",
        str(tmp_path / "s"),
        "--seed",
        "tiny",
        "--seed-dir",
        str(seed_dir),
        "--editor",
        "codec-jpeg",
        "--editor",
        "sim-noise-tint",
        "--runs",
        "2",
        "--steps",
        "4",
        "--long-side",
        "0",
        "--jobs",
        "2",
    ]
    cold = run(*args)
    assert cold.returncode == 0, cold.stderr
    assert "building 4 of 4 chains" in cold.stdout
    store = Store(tmp_path / "s")
    assert len(store.chains()) == 4 and all(len(store.steps(c.key)) == 5 for c in store.chains())
    warm = run(*args)
    assert warm.returncode == 0 and "are cached" in warm.stdout and "nothing to build" in warm.stdout
    longer = run(*[a if a != "4" else "6" for a in args])
    assert "building 4 of 4 chains (6 steps" in longer.stdout


def test_bad_names_are_clear_errors_not_tracebacks(tmp_path):
    out = run("build", "--store", str(tmp_path / "s"), "--editor", "no-such-editor", "--seed", "grid-perspective", "--steps", "2")
    assert out.returncode == 2
    assert "--editor no-such-editor" in out.stderr and "Traceback" not in out.stderr
    out = run("build", "--store", str(tmp_path / "s"), "--seed", "no-such-seed", "--steps", "2")
    assert out.returncode == 2 and "no-such-seed" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "setting, says",
    [('runs = "2"', "runs in [tool.iqa_audit] of"), ("[tool.iqa_audit.profiles.mine]\nruns = 1", None)],
    ids=["bad-key-of-this-project", "profile-of-this-project"],
)
def test_the_command_reads_the_pyproject_of_the_folder_it_runs_in(tmp_path, setting, says):
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    (project / "pyproject.toml").write_text(f"[tool.iqa_audit]\n{setting}\n" if says else setting + "\n")
    args = ["build", "--store", str(tmp_path / "s"), "--seed", "no-such-seed", "--steps", "2"]
    if says is None:
        args += ["--profile", "mine"]
    out = run(*args, cwd=project / "sub")  # from a subfolder, as pytest finds its rootdir
    assert out.returncode == 2 and "Traceback" not in out.stderr
    if says:
        assert says in out.stderr and str(project / "pyproject.toml") in out.stderr
    else:  # the profile was found: the error is the seed, not "no such profile"
        assert "no-such-seed" in out.stderr and "no such profile" not in out.stderr


def test_import_subcommand(tmp_path):
    from tests.datasets.test_datasets import _dataset

    csv = _dataset(tmp_path)
    out = run("import", str(csv), "--store", str(tmp_path / "s"), "--name", "banana100")
    assert out.returncode == 0, out.stderr
    assert "imported dataset 'banana100': 2 chains, 6 images added" in out.stdout
    (audit_it,) = [ln for ln in out.stdout.splitlines() if ln.startswith("audit it: ")]
    assert audit_it.endswith(f" audit --dataset banana100 --store {tmp_path / 's'}")  # iqa-audit audit: runs outside a checkout
    bad = run("import", str(tmp_path / "missing.csv"), "--store", str(tmp_path / "s"))
    assert bad.returncode == 2 and "missing.csv" in bad.stderr and "Traceback" not in bad.stderr


def test_list_names_seeds_editors_tasks_metrics():
    out = run("list")
    assert out.returncode == 0
    for word in ("eye-palette-faces", "sim-noise-tint", "nano-banana-pro", "add-apples", "pyiqa:musiq", "iqa_audit:noise-sigma"):
        assert word in out.stdout


def test_a_reader_that_stops_early_is_not_an_error():
    """`iqa-audit list | head -1`: the pipe closes under the command, which exits quietly."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "iqa_audit", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT
    )
    assert proc.stdout.readline()  # the first line, then the reader goes away
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0 and "Traceback" not in err and "BrokenPipe" not in err, err


def test_score_with_a_metric_that_cannot_run_fails_unless_allowed(tmp_path, seed_dir):
    """No silent green in the CLI either: a score job whose metric has no weights here
    exits 1 naming it, and --allow-missing-metrics turns that into a skip."""
    args = [
        "score",
        "--store",
        str(tmp_path / "s"),
        "--seed",
        "tiny",
        "--seed-dir",
        str(seed_dir),
        "--editor",
        "codec-jpeg",
        "--runs",
        "1",
        "--steps",
        "1",
        "--long-side",
        "0",
        "--metric",
        "pyiqa:musiq",
        "--metric",
        "iqa_audit:noise-sigma",
    ]
    env_home = {"TORCH_HOME": str(tmp_path / "no-weights")}
    strict = subprocess.run(
        [sys.executable, "-m", "iqa_audit", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **env_home},
        cwd=ROOT,
    )
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "error: pyiqa:musiq" in strict.stderr and "Traceback" not in strict.stderr
    assert "iqa_audit:noise-sigma: 2 scored" in strict.stdout  # the metric that can run still scores
    allowed = subprocess.run(
        [sys.executable, "-m", "iqa_audit", *args, "--allow-missing-metrics"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **env_home},
    )
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "skipped: pyiqa:musiq" in allowed.stderr
