"""A careless user and a hostile environment, end to end: editor specs with commas,
credentials in an endpoint, two runs in one second, a disk that fills up while the report is
written, and `kill -9` of a parallel build. Each test fails on the code before issue 11."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from iqa_audit.audit.session import claim_run_dir
from iqa_audit.config.value_lists import split_specs
from iqa_audit.core.errors import ConfigError
from iqa_audit.core.urls import redact_urls, safe_url
from tests.chains.test_gemini_chains import LONG_SIDE, SEED, _cli_env, assert_key_absent, fake_server
from tests.tiny_audit import ONE_RUN_OF_SIX_STEPS

from .fake_gemini import read_log

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parent.parent
GAP_TEST = ROOT / "tests_metrics" / "test_gap.py"
SMALL = [
    "--seed",
    SEED,
    *ONE_RUN_OF_SIX_STEPS,
    "--long-side",
    str(LONG_SIDE),
    "--metric",
    "iqa_audit:noise-sigma",
    "--baseline",
    "none",
    "-p",
    "no:cacheprovider",
    "-q",
    "-n",
    "0",
]


def _pytest(*args: str, env: dict | None = None, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(GAP_TEST), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or _cli_env(),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "generate_fixtures.py"), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env or _cli_env(),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )


# ----- item 9: an editor spec's commas ----------------------------------------------------------


def test_commas_continue_an_editor_spec_when_a_parameter_follows():
    assert split_specs(["codec-jpeg:quality=50,size_table=gemini"]) == ("codec-jpeg:quality=50,size_table=gemini",)
    assert split_specs(["codec-jpeg:quality=50,size_table=gemini,identity", "sim-noise-tint"]) == (
        "codec-jpeg:quality=50,size_table=gemini",
        "identity",
        "sim-noise-tint",
    )
    assert split_specs("identity, codec-webp:quality=30") == ("identity", "codec-webp:quality=30")
    with pytest.raises(ConfigError, match="codec-jpeg:quality=50"):
        split_specs(["codec-jpeg,quality=50"])


def test_an_editor_spec_with_two_parameters_is_one_editor_in_pytest_and_the_cli(tmp_path):
    spec = "codec-jpeg:quality=50,size_table=gemini"
    collected = _pytest("--collect-only", "--editor", spec, *SMALL, "--store", str(tmp_path / "s"))
    assert collected.returncode == 0, collected.stdout + collected.stderr
    ids = [line for line in collected.stdout.splitlines() if "test_gap[" in line]
    assert len(ids) == 2 and all("codec-jpeg-quality50-size-tablegemini-replicate" in i for i in ids), collected.stdout
    built = _cli(
        "build",
        "--editor",
        spec,
        "--seed",
        SEED,
        "--runs",
        "1",
        "--steps",
        "20",
        "--long-side",
        "64",
        "--store",
        str(tmp_path / "s"),
        "--quiet",
    )
    assert built.returncode == 0 and "building 1 of 1 chains" in built.stdout, built.stdout + built.stderr


# ----- item 6: credentials in an endpoint reach no output ----------------------------------------


def test_safe_url_drops_user_info_query_and_fragment_everywhere_in_a_value():
    url = "http://user:PASSWORD@proxy.example:8080/v1/?key=QUERYKEY#frag"
    assert safe_url(url) == "http://proxy.example:8080/v1"
    nested = redact_urls({"editors": [f"gemini:base_url={url}"], "msg": (f"failed at {url}: timeout",)})
    assert "PASSWORD" not in json.dumps(nested) and "QUERYKEY" not in json.dumps(nested)
    assert nested["editors"] == ["gemini:base_url=http://proxy.example:8080/v1"]


@pytest.mark.slow
@pytest.mark.network
def test_endpoint_credentials_reach_neither_results_nor_report_nor_store_nor_output(tmp_path):
    store, reports = tmp_path / "store", tmp_path / "reports"
    with fake_server(tmp_path) as server:
        # Build the paid chain through a plain URL (the endpoint is not part of the chain key).
        built = _pytest(
            "--editor",
            server.editor_spec,
            *SMALL,
            "--store",
            str(store),
            "--reports-dir",
            str(reports),
            "--max-paid-steps",
            "6",
            "--run-name",
            "built",
        )
        assert len(read_log(server.log)) == 6, built.stdout[-2000:]
        host = server.base_url.removeprefix("http://")
        secret_url = f"http://user:PASSWORD-canary-91@{host}/?key=QUERY-canary-37"
        audited = _pytest(
            "--editor",
            f"gemini:base_url={secret_url}",
            *SMALL,
            "--store",
            str(store),
            "--reports-dir",
            str(reports),
            "--run-name",
            "secret",
        )
        bad_param = _cli(
            "build", "--editor", f"gemini:base_url={secret_url},nosuch=1", "--seed", SEED, "--steps", "20", "--store", str(store)
        )
        bad_option = _pytest("--editor", f"gemini:base_url={secret_url},nosuch=1", *SMALL, "--store", str(store))
        assert len(read_log(server.log)) == 6, "the audit of a stored chain must not request anything"
    results = reports / "secret" / "results.json"
    assert results.is_file() and (reports / "secret" / "index.html").is_file(), audited.stdout[-2000:]
    assert "gemini:base_url=http://" in results.read_text()  # the spec is there, without its secrets
    assert bad_param.returncode == 2 and "nosuch" in bad_param.stderr
    assert bad_option.returncode != 0 and "nosuch" in bad_option.stdout + bad_option.stderr
    for secret in ("PASSWORD-canary-91", "QUERY-canary-37"):
        for root in (store, reports):
            for path in (p for p in root.rglob("*") if p.is_file()):
                assert secret.encode() not in path.read_bytes(), f"{secret} is in {path}"
        for run in (audited, bad_param, bad_option):
            assert secret not in run.stdout + run.stderr, run.stdout + run.stderr
    assert_key_absent([store, reports], [])


def test_a_failing_test_that_quotes_a_credentialed_url_shows_it_without_the_secrets(pytester):
    pytester.makepyfile(
        test_leak="def test_sdk_error():\n"
        "    raise RuntimeError('POST http://me:PASSWORD-canary@api.example/v1?key=QUERY-canary failed')\n"
    )
    result = pytester.runpytest_subprocess(
        "-p", "iqa_audit.pytest_plugin", "-p", "no:cacheprovider", "--reports-dir", str(pytester.path / "reports")
    )
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == 1 and "POST http://api.example/v1 failed" in out, out
    assert "PASSWORD-canary" not in out and "QUERY-canary" not in out


# ----- item 8: two runs never share a report folder -----------------------------------------


def test_a_taken_run_folder_gets_the_next_free_name(tmp_path):
    first = claim_run_dir(tmp_path, "quick-20250101-120000", explicit=False)
    second = claim_run_dir(tmp_path, "quick-20250101-120000", explicit=False)
    assert first.name == "quick-20250101-120000" and second.name == "quick-20250101-120000-2"


@pytest.mark.slow
def test_two_runs_in_the_same_second_write_two_reports(tmp_path):
    reports, store = tmp_path / "reports", tmp_path / "store"
    # Another run of this second (and the next 60) already holds the default name: this run
    # must not write into that folder.
    now = time.time()
    taken = [reports / f"quick-{time.strftime('%Y%m%d-%H%M%S', time.localtime(now + d))}" for d in range(61)]
    for folder in taken:
        folder.mkdir(parents=True)
        (folder / "results.json").write_text('{"other": "run"}')
    done = _pytest("--editor", "codec-jpeg", *SMALL, "--store", str(store), "--reports-dir", str(reports), "--keep-reports", "0")
    assert all((f / "results.json").read_text() == '{"other": "run"}' for f in taken), "a run overwrote another's report"
    new = [p for p in reports.iterdir() if p not in taken]
    assert len(new) == 1 and new[0].name.endswith("-2") and (new[0] / "results.json").is_file(), done.stdout[-2000:]
    assert json.loads((new[0] / "results.json").read_text())["run"]["name"] == new[0].name
    # An explicit name that is taken is refused before any test runs (pytest's usage error).
    again = _pytest(
        "--editor", "codec-jpeg", *SMALL, "--store", str(store), "--reports-dir", str(reports), "--run-name", taken[0].name
    )
    assert again.returncode == 4 and "already exists" in again.stderr, again.stdout + again.stderr


# ----- item 9: the disk fills up while the report is written ----------------------------------

FULL_DISK_PLUGIN = """
import resource, signal
import pytest

@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    # From here on no file may grow past 1000 bytes: writes fail as on a full disk (EFBIG,
    # where a full disk gives ENOSPC: the same OSError from the same write call).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
"""


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_disk_that_fills_while_the_report_is_written_gives_one_clear_error_and_no_temp_files(tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "full_disk.py").write_text(FULL_DISK_PLUGIN)
    env = {**_cli_env(), "PYTHONPATH": os.pathsep.join([str(tmp_path / "plugins"), _cli_env()["PYTHONPATH"]])}
    reports = tmp_path / "reports"
    done = _pytest(
        "-p",
        "full_disk",
        "--editor",
        "codec-jpeg",
        *SMALL,
        "--store",
        str(tmp_path / "store"),
        "--reports-dir",
        str(reports),
        "--run-name",
        "full",
        env=env,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "ERROR: the run's report was not written" in out and "results.json" in out and "Free disk space" in out, out
    assert "Traceback" not in out and "INTERNALERROR" not in out, out
    left = [p.name for p in reports.rglob("*") if p.is_file()]
    assert not [n for n in left if n.startswith(".")], f"temporary files left behind: {left}"
    assert not [p for p in reports.rglob("*") if p.is_file() and p.stat().st_size == 0]


# ----- item 9: kill -9 of build --jobs 2 leaves no worker behind ----------------------------


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's bookkeeping is left


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_kill_9_of_a_parallel_build_leaves_no_worker_running(tmp_path):
    args = [
        sys.executable,
        str(ROOT / "generate_fixtures.py"),
        "build",
        "--editor",
        "sim-texture-loss",
        "--seed",
        "grid-perspective",
        "--seed",
        "smooth-gradient",
        "--runs",
        "2",
        "--steps",
        "20",
        "--long-side",
        "1024",
        "--store",
        str(tmp_path / "store"),
        "--jobs",
        "2",
        "--quiet",
    ]
    proc = subprocess.Popen(
        args, env=_cli_env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
    )
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(workers) < 2:
            workers = [p for p in _children(proc.pid) if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")]
            time.sleep(0.1)
        assert len(workers) >= 2, "the pool never started two workers"
        time.sleep(3)  # the workers are mid-chain now
        everything = _children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(p) for p in everything):
            time.sleep(0.1)
        orphans = [p for p in everything if _alive(p)]
        assert orphans == [], f"processes still running after kill -9 of the build: {orphans}"
    finally:
        for p in _children(proc.pid) + workers:
            if _alive(p):
                os.kill(p, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
