"""Interrupted is interrupted, however the run was stopped: a real pytest process that gets
two SIGINTs 50 ms apart, a KeyboardInterrupt raised by code, and -x (a stop, not an
interrupt, that keeps every cell that ran)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from iqa_audit.audit.interrupts import SigintCounter, sigint_deferred
from tests.tiny_audit import GAP_TEST, tiny_audit_args

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[2]

# The third case (of the process: IQA_TEST_WAIT_AT) writes a marker and waits: the parent
# sends its SIGINTs then.
WAIT_IN_THIRD_CASE = (
    "import os, pathlib, time\nimport pytest\nseen = []\n"
    "@pytest.hookimpl(tryfirst=True)\n"
    "def pytest_runtest_call(item):\n"
    "    seen.append(item.nodeid)\n"
    "    if len(seen) == int(os.environ.get('IQA_TEST_WAIT_AT', '3')):\n"
    "        pathlib.Path(os.environ['IQA_TEST_MARKER']).write_text('waiting')\n"
    "        time.sleep(120)\n"
)


def _args(tmp_path: Path, seed_dir: Path, *extra: str) -> list[str]:
    return tiny_audit_args(tmp_path, seed_dir, "-p", "no:randomly", *extra)


def _results(tmp_path: Path, run: str) -> dict:
    return json.loads((tmp_path / "reports" / run / "results.json").read_text())


def _stop_with_sigints(pytester, tmp_path, seed_dir, *extra: str, gaps: tuple[float, ...], wait_at: int = 3) -> tuple[int, str]:
    """Run the audit in a real child process, wait until a process's `wait_at`-th case is
    running, send one SIGINT per entry of `gaps` (each after that many seconds) to its whole
    process group, as a terminal's Ctrl-C does (xdist workers too); its exit code and output."""
    pytester.makepyfile(test_gap=GAP_TEST)
    pytester.makepyfile(wait_in_a_case=WAIT_IN_THIRD_CASE)  # a -p plugin: xdist workers load it too
    marker = tmp_path / "third-case-running"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join((str(ROOT), str(pytester.path))),
        "HF_HUB_OFFLINE": "1",
        "IQA_TEST_MARKER": str(marker),
        "IQA_TEST_WAIT_AT": str(wait_at),
    }
    cmd = [sys.executable, "-m", "pytest", "-p", "wait_in_a_case", *_args(tmp_path, seed_dir, *extra)]
    with open(tmp_path / "out.txt", "w") as out:
        proc = subprocess.Popen(cmd, cwd=pytester.path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 240
            while not marker.exists():
                assert proc.poll() is None, (tmp_path / "out.txt").read_text()[-3000:]
                assert time.monotonic() < deadline, "the third case never started"
                time.sleep(0.05)
            for gap in gaps:
                time.sleep(gap)
                os.killpg(proc.pid, signal.SIGINT)
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    return code, (tmp_path / "out.txt").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("gaps", [(0.0, 0.05), (0.0, 0.0), (0.0,)], ids=["two-50ms-apart", "two-at-once", "one"])
def test_ctrl_c_once_or_twice_is_an_interrupted_run_without_a_baseline(pytester, tmp_path, seed_dir, gaps):
    baseline = tmp_path / "b.json"
    code, text = _stop_with_sigints(
        pytester, tmp_path, seed_dir, "--run-name", "stopped", "--baseline", str(baseline), "--update-baseline", gaps=gaps
    )
    run = _results(tmp_path, "stopped")["run"]
    assert run["interrupted"] is True, text[-3000:]
    assert run["collected"] == 4 and len(_results(tmp_path, "stopped")["cells"]) == 2
    assert code == pytest.ExitCode.INTERRUPTED, text[-3000:]
    assert "INTERRUPTED: the report covers the 2 cases that finished" in text
    assert "INTERRUPTED" in (tmp_path / "reports" / "stopped" / "index.html").read_text()
    assert not baseline.exists()  # half a re-recording is no baseline


@pytest.mark.slow
def test_two_ctrl_c_under_xdist_are_an_interrupt(pytester, tmp_path, seed_dir):
    # The workers get the SIGINTs too (one process group, as a terminal sends them).
    code, text = _stop_with_sigints(
        pytester, tmp_path, seed_dir, "-n", "2", "--run-name", "x", "--baseline", "none", gaps=(0.0, 0.05), wait_at=2
    )
    assert _results(tmp_path, "x")["run"]["interrupted"] is True, text[-3000:]
    assert "INTERRUPTED" in text


@pytest.mark.slow
@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["n0", "n2"])
def test_a_keyboard_interrupt_raised_by_code_is_an_interrupt(pytester, tmp_path, seed_dir, workers):
    pytester.makepyfile(test_gap=GAP_TEST)
    pytester.makeconftest(
        "seen = []\n"
        "def pytest_runtest_teardown(item):\n"  # not in the test: in the teardown of the second
        "    seen.append(item.nodeid)\n"
        "    if len(seen) == 2:\n"
        "        raise KeyboardInterrupt\n"
    )
    out = pytester.runpytest_subprocess(*_args(tmp_path, seed_dir, *workers, "--run-name", "k", "--baseline", "none"))
    run = _results(tmp_path, "k")["run"]
    assert run["interrupted"] is True and run["stopped"] is None, out.stdout.str()[-3000:]
    assert "INTERRUPTED" in out.stdout.str()


@pytest.mark.slow
@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["n0", "n2"])
def test_x_is_a_stop_not_an_interrupt_and_keeps_every_cell_that_ran(pytester, tmp_path, seed_dir, workers):
    pytester.makepyfile(test_gap=GAP_TEST)
    # A cell that fails: a baseline that says every cell passed, so the first miss is a regression.
    out = pytester.runpytest_subprocess(*_args(tmp_path, seed_dir, *workers, "-x", "--run-name", "s", "--baseline", "none"))
    results = _results(tmp_path, "s")
    failed = out.parseoutcomes().get("failed", 0)
    assert failed == 1, out.stdout.str()[-3000:]
    assert results["run"]["interrupted"] is False and "stopping after 1 failures" in results["run"]["stopped"]
    cells = results["cells"]
    assert len(cells) == sum(out.parseoutcomes().get(k, 0) for k in ("passed", "failed", "xfailed", "skipped", "error"))
    assert "stopped early" in out.stdout.str() and "INTERRUPTED" not in out.stdout.str().split("iqa-audit")[-1]


# ----- the helpers, in this process ----------------------------------------------------------------


def test_the_second_sigint_is_counted_not_raised_and_the_third_forces():
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)  # whatever this session installed
    counter = SigintCounter()
    counter.install()
    try:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGINT)  # pytest is already stopping: counted only
        time.sleep(0.05)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        assert counter.count == 3
    finally:
        counter.uninstall()
        restored = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, outer)
    assert restored is signal.default_int_handler


def test_a_sigint_while_writing_is_counted_and_the_handler_comes_back():
    counter = SigintCounter()
    before = signal.getsignal(signal.SIGINT)
    with sigint_deferred(counter) as during:
        assert not during.requested()
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        assert during.requested() and counter.count == 1
    assert signal.getsignal(signal.SIGINT) is before
