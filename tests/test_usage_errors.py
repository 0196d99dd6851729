"""A mistake in an option is one `ERROR:` line and pytest's usage-error exit code (4),
found when pytest configures, before any test runs or any model loads; the `iqa-audit`
command says the same in one `error:` line (exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from iqa_audit.config.option_definition import PYTEST
from iqa_audit.config.options import OPTIONS

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parent.parent

GAP_TEST = "def test_gap(gap_cell):\n    pass\n"

# (id, arguments, words the one line must hold, words it must not hold)
CASES = [
    ("metric-typo-suggests-the-pyiqa-name", ["--metric", "pyiqa:piqee"], ["--metric pyiqa:piqee", "Did you mean pyiqa:piqe"], []),
    ("metric-without-prefix-suggests-pyiqa", ["--metric", "piqe"], ["--metric piqe", "Did you mean pyiqa:piqe"], []),
    ("builtin-metric-typo", ["--metric", "iqa_audit:noise-sigm"], ["Did you mean iqa_audit:noise-sigma"], []),
    (
        "unimportable-module-says-how-to-make-it-importable",
        ["--metric", "nosuchmod_xyz:sharp"],
        ["importable module 'nosuchmod_xyz'", "PYTHONPATH", "path/to/file.py:callable"],
        [],
    ),
    ("missing-metric-file", ["--metric", "no/such/file.py:sharp"], ["no/such/file.py", "no such file"], []),
    ("callable-not-in-module", ["--metric", "tests.plugin_metric_example:nosuch"], ["a callable 'nosuch'"], []),
    ("editor-typo", ["--editor", "codec-jpgg"], ["--editor codec-jpgg", "Did you mean codec-jpeg"], []),
    ("editor-parameter-typo", ["--editor", "codec-jpeg:qualty=50"], ["qualty", "Did you mean quality"], []),
    ("audit-editor-typo", ["--audit-editor", "codec-jpgg"], ["--audit-editor codec-jpgg", "Did you mean codec-jpeg"], []),
    ("compare-editor-typo", ["--compare-editor", "codec-jpgg"], ["--compare-editor codec-jpgg", "Did you mean codec-jpeg"], []),
    ("fail-on-drop-above-one", ["--fail-on-drop", "5"], ["--fail-on-drop", "5"], []),
    ("unknown-task", ["--task", "upscale"], ["--task upscale", "replicate"], []),
    ("task-typo", ["--task", "mirorr"], ["Did you mean mirror"], []),
    ("seed-typo", ["--seed", "grid-perspectiv"], ["--seed grid-perspectiv", "Did you mean grid-perspective"], []),
    ("missing-seed-folder", ["--seed-dir", "no/such/folder"], ["no/such/folder", "no such folder"], []),
    ("negative-steps-blames-steps", ["--steps", "-3"], ["--steps", "0 or more", "got -3"], ["--delta-steps", "Traceback"]),
    ("steps-not-a-number", ["--steps", "many"], ["--steps", "a whole number", "'many'"], []),
    ("zero-runs", ["--runs", "0"], ["--runs", "1 or more"], []),
    ("negative-long-side", ["--long-side", "-1"], ["--long-side", "0 or more"], []),
    (
        "delta-step-1-is-the-reference",
        ["--delta-steps", "1,5"],
        ["--delta-steps", "step 1 is the reference", "got 1,5."],
        ["(1, 5)"],
    ),
    ("delta-steps-not-numbers", ["--delta-steps", "5,ten"], ["--delta-steps", "'ten'"], []),
    ("delta-steps-beyond-the-chain", ["--steps", "8", "--delta-steps", "5,10"], ["--delta-steps", "at most --steps (8)"], []),
    ("unknown-device", ["--device", "tpu"], ["--device", "cpu, cuda or cuda:N"], []),
    ("unknown-profile", ["--profile", "quik"], ["--profile quik", "Did you mean quick"], []),
    ("missing-dataset", ["--dataset", "no/such/manifest.csv"], ["no/such/manifest.csv"], []),
    ("missing-baseline", ["--baseline", "no/such/baseline.json"], ["--baseline no/such/baseline.json", "--update-baseline"], []),
    ("missing-compare", ["--compare", "no/such/results.json"], ["--compare", "results.json"], []),
    ("negative-paid-steps", ["--max-paid-steps", "-1"], ["--max-paid-steps", "0 or more"], []),
    ("unknown-counter", ["--counter", "gpt"], ["--counter", "'blob' or 'vlm:<gemini model>'"], []),
    ("unknown-judge", ["--judge", "gpt"], ["--judge", "'keyword' or 'llm:<gemini model>'"], []),
    ("negative-keep-reports", ["--keep-reports", "-1"], ["--keep-reports", "0 or more"], []),
    (
        "update-baseline-with-baseline-none-names-the-file-to-pass",
        ["--baseline", "none", "--update-baseline"],
        ["--update-baseline with --baseline none", "--baseline baselines/quick.json --update-baseline"],
        [],
    ),
    ("replace-baseline-without-update", ["--replace-baseline"], ["--replace-baseline", "--update-baseline with it"], []),
    (
        "reports-folder-that-cannot-be-written",
        ["--reports-dir", "/proc/iqa-audit-reports"],
        ["--reports-dir /proc/iqa-audit-reports", "refuses it", "Pass --reports-dir with a folder you can write"],
        [],
    ),
    (
        "store-folder-that-cannot-be-created",
        ["--store", "/proc/iqa-audit-store"],
        ["--store /proc/iqa-audit-store", "a writable folder"],
        [],
    ),
]


def _run(pytester, *args, env=None):
    pytester.makepyfile(test_gap=GAP_TEST)
    base = [
        "-p",
        "iqa_audit.pytest_plugin",
        "-p",
        "no:cacheprovider",
        "--store",
        str(pytester.path / "store"),
        "--reports-dir",
        str(pytester.path / "reports"),
    ]
    if env is None:
        return pytester.runpytest_inprocess(*base, *args)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return pytester.runpytest_subprocess(*base, *args)
    finally:
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def _one_error_line(result) -> str:
    lines = [ln for ln in (result.stderr.lines + result.stdout.lines) if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR:")]
    assert len(errors) == 1, "\n".join(lines)
    assert not any("Traceback" in ln or ln.startswith("E ") for ln in lines), "\n".join(lines)
    return errors[0]


@pytest.mark.parametrize("args, must, must_not", [pytest.param(a, m, n, id=i) for i, a, m, n in CASES])
def test_a_bad_option_is_one_usage_error_line_at_configure(pytester, monkeypatch, args, must, must_not):
    monkeypatch.syspath_prepend(str(ROOT))  # tests.plugin_metric_example
    result = _run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    line = _one_error_line(result)
    for word in must:
        assert word in line
    for word in must_not:
        assert word not in line
    assert "collected" not in result.stdout.str()  # nothing ran


def test_every_checked_option_has_a_usage_error_case():
    """A new option with a check or a lookup needs a case above."""
    covered = {a for _, args, _, _ in CASES for a in args if a.startswith("--")}
    checked = {o.flag for o in OPTIONS if PYTEST in o.commands and (o.check or o.lookup) and o.lookup != "results"} | {
        "--compare",
        "--reports-dir",  # checked by the plugin (the default folder depends on pyproject.toml's place)
    }
    assert checked <= covered, sorted(checked - covered)


def test_a_damaged_store_manifest_is_one_usage_error_line_naming_it(pytester):
    store = pytester.path / "damaged-store"
    store.mkdir()
    (store / "manifest.sqlite").write_bytes(b"not a database, " * 64)
    result = _run(pytester, "--store", str(store))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    line = _one_error_line(result)
    assert "--store" in line and "manifest.sqlite" in line


def test_a_manifest_with_a_bad_row_is_refused_at_configure_listing_the_row(pytester):
    data = pytester.path / "data"
    data.mkdir()
    (data / "0.png").write_bytes(b"not an image")
    (data / "manifest.csv").write_text("seed,setting,run,step,path\ns,ed,1,0,0.png\ns,ed,1,1,missing.png\n")
    result = _run(pytester, "--dataset", str(data / "manifest.csv"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    out = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in out and "collected" not in out and "nothing was imported" in out
    assert "line 2" in out and "line 3" in out and "missing.png" in out  # every problem, with its row


def _tiny_audit(seed_dir) -> list[str]:
    """A one-cell audit: the tiny seed, 2 steps of sim-noise-tint, noise-sigma, raw verdicts."""
    return (
        f"--seed tiny --seed-dir {seed_dir} --editor sim-noise-tint --runs 1 --steps 2 --delta-steps 2 --long-side 0"
        " --metric iqa_audit:noise-sigma --baseline none"
    ).split()


def test_a_store_lost_after_configure_is_one_error_line_not_an_internal_error(pytester, seed_dir):
    store = pytester.path / "store"
    # Between configure (which checked the store) and collection, the folder becomes a file.
    pytester.makeconftest(f"""
import shutil
from pathlib import Path

def pytest_collection_modifyitems(session, config, items):
    shutil.rmtree({str(store)!r}, ignore_errors=True)
    Path({str(store)!r}).write_text("not a folder")
""")
    # A subprocess (env={}): in this process tests_metrics' own test_gap may already be imported.
    result = _run(pytester, *_tiny_audit(seed_dir), env={})
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert str(store) in _one_error_line(result)


@pytest.mark.slow
def test_cuda_without_a_gpu_is_refused_even_when_every_score_is_cached(pytester, tmp_path, seed_dir):
    common = _tiny_audit(seed_dir)
    no_gpu = {"CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    warm = _run(pytester, *common, env=no_gpu)
    warm.assert_outcomes(passed=1)  # every score is now in the store
    result = _run(pytester, *common, "--device", "cuda", env=no_gpu)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    line = _one_error_line(result)
    assert "--device cuda" in line and "Pass --device cpu" in line


def _cli(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run(
        [sys.executable, "-m", "iqa_audit", *args], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT
    )


@pytest.mark.parametrize(
    "args, must",
    [
        pytest.param(["build", "--editor", "codec-jpgg"], ["--editor codec-jpgg", "Did you mean codec-jpeg"], id="editor-typo"),
        pytest.param(["build", "--steps", "-3"], ["--steps", "0 or more"], id="negative-steps"),
        pytest.param(["build", "--task", "upscale"], ["--task upscale"], id="unknown-task"),
        pytest.param(["build", "--seed", "grid-perspectiv"], ["Did you mean grid-perspective"], id="seed-typo"),
        pytest.param(["build", "--jobs", "0"], ["--jobs", "1 or more"], id="zero-jobs"),
        pytest.param(["build", "--profile", "quik"], ["Did you mean quick"], id="profile-typo"),
        pytest.param(["score", "--metric", "pyiqa:piqee"], ["Did you mean pyiqa:piqe"], id="metric-typo"),
        pytest.param(["score", "--metric", "nosuchmod_xyz:f"], ["importable module 'nosuchmod_xyz'"], id="unimportable-metric"),
        pytest.param(["score", "--device", "cuda"], ["--device cuda", "Pass --device cpu"], id="cuda-without-gpu"),
    ],
)
def test_the_cli_checks_the_same_way(tmp_path, args, must):
    out = _cli(*args, "--store", str(tmp_path / "s"))
    assert out.returncode == 2, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    for word in must:
        assert word in lines[0]
    assert not (tmp_path / "s").exists()  # refused before anything was built or stored


# ----- pyproject.toml: every key checked at configure, one line naming the key and the file -------
# (id, [tool.iqa_audit] lines, words the one line must hold besides the file's path)
SETTING_CASES = [
    ("string-for-a-count", 'stability_steps = "10"', ["stability_steps in [tool.iqa_audit]", '"10" (a string)']),
    ("string-for-a-long-side", 'stability_long_side = "256"', ["stability_long_side", "stability_long_side = 256"]),
    ("string-false-for-a-flag", 'every_step = "false"', ["every_step", "true or false", "every_step = true"]),
    ("float-for-runs", "runs = 2.5", ["runs in [tool.iqa_audit]", "2.5 (a float)"]),
    ("negative-steps", "audit_steps = -1", ["audit_steps", "0 or more"]),
    ("list-for-a-string", 'device = ["cpu"]', ["device", "a string"]),
    ("misspelt-key", "stabilty_runs = 2", ["'stabilty_runs'", "Did you mean stability_runs"]),
    ("misspelt-stability-editor", 'stability_editor = "sim-noise-tnt"', ["stability_editor", "Did you mean sim-noise-tint"]),
    ("stability-case-of-a-non-add-task", 'stability_cases = ["replicate:empty-table"]', ["stability_cases", "an add task"]),
    ("stability-case-seed-typo", 'stability_cases = ["add-apples:empty-tabel"]', ["Did you mean empty-table"]),
    ("audit-editor-typo", 'audit_editors = ["sim-crp"]', ["audit_editors", "Did you mean sim-crop"]),
    ("audit-case-task-typo", 'audit_cases = ["mirorr:flat-cartoon"]', ["audit_cases", "Did you mean mirror"]),
    ("metric-typo", 'metrics = ["pyiqa:piqee"]', ["metrics in [tool.iqa_audit]", "Did you mean pyiqa:piqe"]),
    (
        "editor-typo-in-a-profile",
        '[tool.iqa_audit.profiles.quick]\neditors = ["codec-jpgg"]',
        ["editors in [tool.iqa_audit.profiles.quick]", "Did you mean codec-jpeg"],
    ),
    ("seed-typo", 'seeds = ["grid-perspectiv"]', ["seeds in [tool.iqa_audit]", "Did you mean grid-perspective"]),
]


@pytest.mark.parametrize("lines, must", [pytest.param(text, m, id=i) for i, text, m in SETTING_CASES])
def test_a_bad_pyproject_setting_is_one_usage_error_line_naming_the_key_and_the_file(pytester, lines, must):
    pytester.makepyprojecttoml("[tool.iqa_audit]\n" + lines + "\n")
    result = _run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    line = _one_error_line(result)
    assert str(pytester.path / "pyproject.toml") in line, line
    for word in must:
        assert word in line, line
    assert "collected" not in result.stdout.str()


def test_a_bad_baseline_is_refused_at_configure_naming_the_cell_and_the_field(pytester):
    bad = pytester.path / "b.json"
    cell = {"passed": "false", "value": -1.0, "version": "1"}
    bad.write_text('{"format": "iqa-audit-baseline/1", "cells": {"gap:x-d5": %s}}' % json.dumps(cell))
    result = _run(pytester, "--baseline", str(bad))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    line = _one_error_line(result)
    assert str(bad) in line and "'gap:x-d5'" in line and "'passed'" in line and "--replace-baseline" in line
