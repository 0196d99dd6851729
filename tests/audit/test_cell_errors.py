"""No cell disappears when user code fails: every collected cell of every audit kind has one
record in results.json, counted in the summary and drawn in the report, with the error's
type, message and user frame, and for an editor the chain and step it was making."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from iqa_audit.chains.chain import ChainSpec, build_chain, load_chain, resolve
from iqa_audit.core.errors import EditorStepError
from iqa_audit.core.tracebacks import describe, is_user_file, user_frame
from iqa_audit.metrics.base import as_scores, detached
from iqa_audit.metrics.registry import create_metric
from tests import user_code_that_fails as user

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[2]
USER = "tests.user_code_that_fails"


# ----- describing an error -----------------------------------------------------------------------


def test_a_user_metrics_error_is_described_by_its_own_type_and_line():
    metric = create_metric(f"{USER}:small_images_raise")
    from iqa_audit.core.images import Image

    with pytest.raises(Exception) as info:
        metric.score([Image.from_array(np.zeros((40, 60, 3), np.uint8))])
    d = describe(info.value)
    assert d.error_type == "ValueError"  # the user's, under the suite's ScoreError
    assert "image under 100 px: 60x40" in d.error and "metric tests.user_code_that_fails:small_images_raise" in d.error
    assert d.error_where is not None and d.error_where.startswith("tests/user_code_that_fails.py:")
    assert d.error_where.endswith("in small_images_raise") and d.error_chain is None


def test_the_user_frame_skips_libraries_and_the_suite():
    def user_calls_numpy():
        return np.asarray([1, 2]).reshape(3)  # raises inside numpy

    try:
        user_calls_numpy()
    except ValueError as e:
        where = user_frame(e)
    assert where is not None and "test_cell_errors.py" in where and where.endswith("in user_calls_numpy")
    assert not is_user_file(np.__file__) and not is_user_file(json.__file__)
    assert not is_user_file(str(ROOT / "iqa_audit" / "chains" / "chain.py")) and is_user_file(__file__)


def test_an_error_the_suite_raises_in_a_fixture_is_placed_at_the_suites_raise_not_pytests_call():
    """No user frame (a shipped audit module, a VAE that is not there): the frame is where
    iqa-audit raised, not pytest's fixture call around it."""
    from functools import partial

    from iqa_audit.config.audit_config import resolve_config

    runner = {}
    exec(compile("def call(f):\n    try:\n        f()\n    except Exception as e:\n        return e\n",
                 "/venv/lib/site-packages/_pytest/fixtures.py", "exec"), runner)  # fmt: skip
    error = runner["call"](partial(resolve_config, {"runs": 0}))
    where = user_frame(error)
    assert where is not None and "iqa_audit/config/" in where and "_pytest" not in where, where


# ----- editors: a wrong return or an exception names the chain and step --------------------------


def _chain(seed_dir, editor, steps=4):
    spec = ChainSpec(seed="tiny", editor="identity", run=1, steps=steps, long_side=None)
    return resolve(spec, extra_seed_dirs=[str(seed_dir)], editor=editor)


@pytest.mark.parametrize(
    "editor, got",
    [(user.ReturnsPil(), "PIL.Image.Image"), (user.ReturnsNone(), "None (did edit() forget to return?)")],
    ids=["pil", "none"],
)
def test_an_editor_returning_the_wrong_type_is_a_clear_error(store, seed_dir, editor, got):
    rc = _chain(seed_dir, editor)
    with pytest.raises(EditorStepError) as info:
        build_chain(store, rc)
    text = str(info.value)
    for part in (f"editor {editor.id}", "user_code_that_fails.py:", "making step 1 of chain identity-replicate/tiny/run 1"):
        assert part in text, text
    assert "iqa_audit.editors.EditResult" in text and got in text and "Image.from_array" in text
    d = describe(info.value)
    assert (d.error_chain, d.error_step, d.error_type) == ("identity-replicate/tiny/run 1", 1, "EditorStepError")
    assert d.error_where is not None and "user_code_that_fails.py" in d.error_where
    assert "AttributeError" not in text


def test_an_editor_raising_at_step_3_keeps_steps_0_to_2_and_names_the_step(store, seed_dir):
    rc = _chain(seed_dir, user.RaisesAtStep3())
    with pytest.raises(EditorStepError) as info:
        build_chain(store, rc)
    d = describe(info.value)
    assert (d.error_type, d.error_step, d.error_chain) == ("RuntimeError", 3, "identity-replicate/tiny/run 1")
    assert "the GPU fell over at step 3" in d.error and "resumes at step 3" in d.error
    assert "not raise" in d.error and "EditResult" not in d.error  # it raised: what it returns is not the point
    assert d.error_where is not None and "user_code_that_fails.py:" in d.error_where and d.error_where.endswith("in edit")
    assert [s.step for s in load_chain(store, rc).ok_steps] == [0, 1, 2]


# ----- tensors that still require grad are scores ------------------------------------------------


def test_a_tensor_that_requires_grad_is_detached_and_scored():
    torch = pytest.importorskip("torch")
    w = torch.tensor(2.0, requires_grad=True)
    assert as_scores(torch.tensor(3.0) * w, 1, "m").tolist() == [6.0]
    assert as_scores([torch.tensor(1.0) * w, torch.tensor(2.0) * w], 2, "m").tolist() == [2.0, 4.0]
    assert as_scores((torch.tensor([1.5, 2.5]) * w).to(torch.bfloat16), 2, "m").tolist() == [3.0, 5.0]
    assert detached([1.0, 2.0]) == [1.0, 2.0]  # not a tensor: unchanged
    from iqa_audit.core.images import Image

    scores = create_metric(f"{USER}:grad_tensor").score([Image.from_array(np.full((8, 8, 3), 7, np.uint8))])
    assert scores.tolist() == [0.0]


# ----- the terminal: each distinct error once, briefly -------------------------------------------


class _Config:
    def __init__(self, tbstyle="auto", fulltrace=False):
        self.options = {"tbstyle": tbstyle, "fulltrace": fulltrace}

    def getoption(self, name, default=None):
        return self.options.get(name, default)


def _failed(shown, exc, nodeid, config=None):
    """What ShownErrors leaves in a failed report of `exc` raised by cell `nodeid`."""
    from types import SimpleNamespace

    try:
        raise exc
    except BaseException:
        info = pytest.ExceptionInfo.from_current()
    report = SimpleNamespace(failed=True, longrepr="pytest's own traceback")
    shown.shorten(SimpleNamespace(config=config or _Config(), nodeid=nodeid), SimpleNamespace(excinfo=info), report)
    if isinstance(report.longrepr, str):
        return report.longrepr
    # The short summary prints this crash line, and on CI nothing more (pytest's running_on_ci):
    assert report.longrepr.reprcrash.message == str(report.longrepr).splitlines()[0]
    return str(report.longrepr).rstrip("\n")


def test_a_users_error_is_shown_once_with_their_frames_then_one_line_per_cell():
    from iqa_audit.audit.error_text import ShownErrors
    from iqa_audit.core.images import Image

    metric, image = create_metric(f"{USER}:small_images_raise"), Image.from_array(np.zeros((40, 60, 3), np.uint8))
    errors = []
    for _ in range(2):
        try:
            metric.score([image])
        except Exception as e:  # noqa: BLE001 - the ScoreError under test
            errors.append(e)
    shown = ShownErrors()
    first, second = _failed(shown, errors[0], "cell-a"), _failed(shown, errors[1], "cell-b")
    assert first.startswith("tests/user_code_that_fails.py:") and "under 100 px" in first
    assert "Your code raised it" in first and "user_code_that_fails.py" in first.splitlines()[-3]
    assert second.count("\n") == 0 and second.endswith("(the same error as cell-a)")
    assert _failed(shown, errors[1], "cell-c", _Config(tbstyle="long")) == "pytest's own traceback"
    assert _failed(shown, AssertionError("gap not negative"), "cell-d") == "pytest's own traceback"  # a verdict


def test_a_fault_of_the_suite_keeps_pytests_traceback_the_first_time():
    from iqa_audit.audit.error_text import ShownErrors

    shown = ShownErrors()
    assert _failed(shown, IndexError("list index out of range"), "cell-a") == "pytest's own traceback"
    assert "(the same error as cell-a)" in _failed(shown, IndexError("list index out of range"), "cell-b")


LEAKY = """
import pytest

def test_sdk_error():
    raise RuntimeError("POST https://me:hunter2@api.example/v1/edit?key=hunter2 failed")

def test_prints_then_fails():
    print("calling https://api.example/v1/edit?key=hunter2")
    assert False

def test_skips():
    pytest.skip("https://api.example/v1/edit?key=hunter2 is unreachable")
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["n0", "n2"])
def test_no_report_quotes_a_urls_credentials_and_each_keeps_its_form(pytester, monkeypatch, workers):
    pytester.makepyfile(test_leaky=LEAKY)
    monkeypatch.setenv("CI", "1")  # the short summary then prints each report's message whole
    junit = pytester.path / "junit.xml"
    out = pytester.runpytest_subprocess(
        "-p", "iqa_audit.pytest_plugin", "-p", "no:cacheprovider", *workers, "-rA", f"--junitxml={junit}",
        "--store", str(pytester.path / "store"), "--reports-dir", str(pytester.path / "reports"), "--baseline", "none",
    )  # fmt: skip
    text = out.stdout.str() + out.stderr.str()
    out.assert_outcomes(failed=2, skipped=1)
    assert "hunter2" not in text and "hunter2" not in junit.read_text(), text
    assert "https://api.example/v1/edit" in text  # the endpoint itself stays readable
    summary = [ln for ln in text.splitlines() if ln.startswith("FAILED test_leaky.py::test_sdk_error")]
    assert len(summary) == 1 and summary[0].endswith("RuntimeError: POST https://api.example/v1/edit failed"), text
    assert any(ln.startswith("SKIPPED [1] test_leaky.py:") and "is unreachable" in ln for ln in text.splitlines()), text


# ----- end to end: every cell of every kind has its record ----------------------------------------

SETTINGS = """
[tool.iqa_audit]
stability_cases = ["add-fruits:empty-table"]
stability_steps = 4
stability_runs = 1
stability_long_side = 64
audit_editors = ["returns-pil", "raises-at-step-3", "identity"]
audit_cases = ["replicate:empty-table"]
audit_steps = 4
audit_runs = 1
"""
TESTS = {
    "test_gap": "def test_gap(gap_cell, gap_inputs, audit):\n    audit.gap(gap_cell)\n",
    "test_stability": "def test_stability(stability_cell, stability_inputs, audit):\n    audit.stability(stability_cell)\n",
    "test_sanity": "def test_metric_sanity(sanity_case, audit):\n    audit.sanity(sanity_case)\n",
    "test_editors": "def test_tint(editor_cell, audit):\n    audit.editor(editor_cell)\ntest_tint.iqa_check = 'tint'\n",
}


def _install_editors(root: Path) -> None:
    """A fake installed distribution registering the failing editors by entry point."""
    dist = root / "user_failing_editors-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: user-failing-editors\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[iqa_audit.editors]\nreturns-pil = {USER}:make_returns_pil\nraises-at-step-3 = {USER}:make_raises_at_step_3\n"
    )


@pytest.mark.slow
@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["n0", "n2"])
def test_every_cell_of_every_kind_has_one_record_whatever_user_code_did(pytester, tmp_path, monkeypatch, workers):
    pytester.makepyfile(**TESTS)
    pytester.makefile(".toml", pyproject=SETTINGS)
    _install_editors(tmp_path / "site")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "site"), prepend=os.pathsep)
    # On CI pytest's short summary prints each failure's report whole (running_on_ci):
    # the user's frames must still show once.
    monkeypatch.setenv("CI", "1")
    metrics = ("small_images_raise", "grad_tensor", "always_keyerror")
    out = pytester.runpytest_subprocess(
        "-p", "iqa_audit.pytest_plugin", "-p", "no:cacheprovider", "-p", "no:randomly", *workers,
        f"--rootdir={pytester.path}", "--seed", "empty-table", "--editor", "sim-noise-tint", "--runs", "1",
        "--steps", "3", "--delta-steps", "3", "--long-side", "128", "--store", str(tmp_path / "store"),
        "--reports-dir", str(tmp_path / "reports"), "--baseline", "none", "--run-name", "r",
        *[a for m in metrics for a in ("--metric", f"{USER}:{m}")],
    )  # fmt: skip
    text = out.stdout.str()
    results = json.loads((tmp_path / "reports" / "r" / "results.json").read_text())
    cells = {c["cell"]: c for c in results["cells"]}
    assert len(results["cells"]) == len(cells)  # one record per cell
    # Every test pytest ran is a cell here: its counts are results.json's.
    counted = {k: v for k, v in out.parseoutcomes().items() if k in ("passed", "failed", "errors", "error", "skipped")}
    counted = {("error" if k == "errors" else k): v for k, v in counted.items()}
    by_outcome: dict[str, int] = {}
    for c in cells.values():
        by_outcome[c["outcome"]] = by_outcome.get(c["outcome"], 0) + 1
    assert by_outcome == counted == results["run"]["outcomes"], text[-4000:]
    assert len(cells) == 3 * 5 + 3 + 3 + 3  # sanity, gap (one Δ), stability, editor (tint of 3 editors)
    assert "metric sanity checks: 5 pass, 0 fail, 10 raised (pytest's failed)" in text, text[-3000:]
    assert "; 2 gap cells raised (no verdict)" in text and "gap, stability and editor cells: " in text, text[-3000:]
    line = "cells in results.json: " + str(len(cells))
    assert any(ln.startswith(line) and "other tests" not in ln for ln in text.splitlines()), text[-3000:]

    small = cells["stability:user_code_that_fails-small_images_raise-add-fruits-empty-table"]  # 64 px chains
    assert small["outcome"] == "error" and small["error_type"] == "ValueError" and small["value"] is None
    assert "user_code_that_fails.py:" in small["error_where"] and "under 100 px" in small["error"]
    keyerror = cells["gap:user_code_that_fails-always_keyerror-sim-noise-tint-replicate-empty-table-d3"]
    assert keyerror["error_type"] == "KeyError" and keyerror["error_where"].endswith("in always_keyerror")
    sanity = cells["sanity:user_code_that_fails-always_keyerror-finite"]
    assert sanity["outcome"] == "failed" and sanity["error_type"] == "KeyError" and sanity["passed"] is False
    grad = [c for k, c in cells.items() if "grad_tensor" in k]
    assert grad and all(c["error"] is None for c in grad)  # detached and scored
    pil = cells["editor:tint-returns-pil-replicate-empty-table"]
    assert (pil["error_type"], pil["error_chain"], pil["error_step"]) == (
        "EditorStepError", "returns-pil-replicate/empty-table/run 0", 1
    )  # fmt: skip
    assert "iqa_audit.editors.EditResult" in pil["error"] and "user_code_that_fails.py" in pil["error_where"]
    step3 = cells["editor:tint-raises-at-step-3-replicate-empty-table"]
    assert (step3["error_type"], step3["error_step"]) == ("RuntimeError", 3)
    assert cells["editor:tint-identity-replicate-empty-table"]["error"] is None  # the other editors still ran

    statuses = {k: v["status"] for k, v in results["metrics"].items()}
    assert statuses["user_code_that_fails-always_keyerror"] == "error"  # not "not run", not "audited"
    assert statuses["user_code_that_fails-small_images_raise"] == "error"  # every image here is under 100 px
    assert statuses["user_code_that_fails-grad_tensor"] == "audited"
    page = (tmp_path / "reports" / "r" / "index.html").read_text()
    for part in ("KeyError", "returns-pil-replicate/empty-table/run 0", "raised at", "EditorStepError"):
        assert part in page, part

    # The terminal shows each distinct error once per process, briefly (audit/error_text.py):
    # no pytest traceback with the frames' image arrays, the user's frames once.
    assert "array([[" not in text and "shape=(" not in text, text[-3000:]
    processes = 2 if workers else 1
    assert 1 <= text.count('return {"a": 1.0}["missing"]') <= processes, text[-3000:]  # always_keyerror's line
    assert "the same error as" in text and len(text.splitlines()) < 400, len(text.splitlines())
