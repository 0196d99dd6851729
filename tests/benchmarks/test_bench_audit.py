"""The default audit end to end, as users run it: `pytest tests_metrics tests_editors -n N`.

Measured side by side in one session, each on its own fresh store:
- cold with 2 workers (chains built, every metric scored, every check computed);
- warm: the same command again on that store (target <= 0.05x the cold time);
- cold with no workers (-n 2 must be >= 1.7x faster than -n 0).
Every run must reach the same verdict for every cell, and the peak memory of the
largest process (controller or one worker) is recorded per run.

Full mode audits the default (quick) profile; IQA_AUDIT_BENCH=short (CI) the one-seed
smoke profile, so the harness cannot rot without costing CI minutes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import SHORT, check_ratio

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ["--profile", "smoke"] if SHORT else []
# Runs the audit and prints the peak RSS (KiB) of the largest process under it: the
# pytest controller or one xdist worker (Linux counts waited-for grandchildren too).
PEAK_RSS = (
    "import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
    "print('peak-rss-kib', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)"
)


@dataclass(frozen=True)
class AuditRun:
    seconds: float
    peak_rss_mib: float
    verdicts: dict
    store: Path


def run_audit(store: Path, workers: int, reports: Path) -> AuditRun:
    name = f"bench-{workers}-{time.monotonic_ns()}"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "tests_metrics",
        "tests_editors",
        "-q",
        "-p",
        "no:cacheprovider",
        "-n",
        str(workers),
        "--store",
        str(store),
        "--reports-dir",
        str(reports),
        "--run-name",
        name,
        *PROFILE,
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "IQA_AUDIT_STORE": str(store)}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PEAK_RSS, *cmd], capture_output=True, text=True, cwd=ROOT, env=env, timeout=3600)
    seconds = time.perf_counter() - t0
    results = reports / name / "results.json"
    assert results.is_file(), f"no results from {' '.join(cmd)}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    cells = json.loads(results.read_text())["cells"]
    rss = [line.split()[1] for line in out.stdout.splitlines() if line.startswith("peak-rss-kib")]
    return AuditRun(seconds, int(rss[-1]) / 1024 if rss else float("nan"), {c["cell"]: c["passed"] for c in cells}, store)


@pytest.fixture(scope="module")
def cold_parallel(tmp_path_factory) -> AuditRun:
    base = tmp_path_factory.mktemp("audit-cold-n2")
    return run_audit(base / "store", 2, base / "reports")


def pytest_floor(tmp_path: Path, cases: int, xfailed: int, workers: int) -> float:
    """Seconds pytest itself needs for `cases` trivial cases (`xfailed` of them xfail) with
    the same workers: what a warm audit cannot go below, whatever the suite does."""
    folder = tmp_path / "floor"
    folder.mkdir(exist_ok=True)
    (folder / "test_floor.py").write_text(
        "import pytest\n\n"
        f"@pytest.mark.parametrize('i', range({cases}))\n"
        "def test_case(i):\n"
        f"    if i < {xfailed}:\n"
        "        pytest.xfail('known')\n"
    )
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", str(workers), str(folder)],
        capture_output=True,
        cwd=folder,
        timeout=600,
        check=True,
    )
    return time.perf_counter() - t0


def test_warm_audit_vs_cold(benchmark, cold_parallel, tmp_path, rounds):
    runs: list[AuditRun] = []

    def warm():
        runs.append(run_audit(cold_parallel.store, 2, tmp_path / "reports"))

    benchmark.pedantic(warm, rounds=min(rounds, 3), iterations=1)
    assert all(r.verdicts == cold_parallel.verdicts for r in runs)
    failing = sum(not passed for passed in cold_parallel.verdicts.values())
    floor = pytest_floor(tmp_path, len(cold_parallel.verdicts), failing, 2)
    benchmark.extra_info.update(
        cold_s=round(cold_parallel.seconds, 2),
        warm_s=[round(r.seconds, 2) for r in runs],
        pytest_floor_s=round(floor, 2),
        pytest_floor_over_cold=round(floor / cold_parallel.seconds, 4),
        peak_rss_mib_cold=round(cold_parallel.peak_rss_mib),
        peak_rss_mib_warm=round(runs[-1].peak_rss_mib),
    )
    print(
        f"\npytest's own floor for {len(cold_parallel.verdicts)} trivial cases with -n 2: {floor:.2f} s "
        f"({floor / cold_parallel.seconds:.3f}x the cold audit)"
    )
    check_ratio(benchmark, "warm/cold audit", min(r.seconds for r in runs) / cold_parallel.seconds, at_most=0.05)


def test_two_workers_vs_none(benchmark, cold_parallel, tmp_path):
    runs: list[AuditRun] = []

    def serial():
        runs.append(run_audit(tmp_path / f"store-{len(runs)}", 0, tmp_path / "reports"))

    benchmark.pedantic(serial, rounds=1, iterations=1)
    assert runs[0].verdicts == cold_parallel.verdicts
    benchmark.extra_info.update(
        n0_s=round(runs[0].seconds, 2),
        n2_s=round(cold_parallel.seconds, 2),
        peak_rss_mib_n0=round(runs[0].peak_rss_mib),
        peak_rss_mib_n2=round(cold_parallel.peak_rss_mib),
    )
    check_ratio(benchmark, "speed-up -n 2 vs -n 0", runs[0].seconds / cold_parallel.seconds, at_least=1.7)
