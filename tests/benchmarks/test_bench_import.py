"""Importing a folder of 10,000 images (issue 17, item 4): speed, peak memory, and a kill
halfway that the next import resumes from.

The import runs as a user runs it (`generate_fixtures.py import DIR --layout ...`, a child
process), so the numbers include interpreter start-up, and the child's own peak resident
memory is read from the kernel (wait4). IQA_AUDIT_BENCH=short imports 500 images.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from iqa_audit.datasets.registry import dataset_record
from iqa_audit.store.store import Store

from .conftest import SHORT

ROOT = Path(__file__).resolve().parents[2]
IMAGES = 500 if SHORT else 10_000
SEEDS, RUNS = 10, 10
STEPS = IMAGES // (SEEDS * RUNS)
SIZE = (256, 192)  # small, so the benchmark measures the import and not the disk
LAYOUT = "{seed}/run{run}/step{step}.png"


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """IMAGES distinct PNGs laid out as LAYOUT (smooth gradients with a few noisy pixels)."""
    root = tmp_path_factory.mktemp("import-bench") / "tree"
    w, h = SIZE
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // w, y * 255 // h, (x + y) * 127 // (w + h)], axis=2).astype(np.uint8)
    rng = np.random.default_rng(0)
    for seed in range(SEEDS):
        for run in range(RUNS):
            folder = root / f"seed{seed}" / f"run{run}"
            folder.mkdir(parents=True)
            for step in range(STEPS):
                a = base.copy()
                a[rng.integers(0, h, 64), rng.integers(0, w, 64)] = rng.integers(0, 256, (64, 3))
                buf = io.BytesIO()
                PILImage.fromarray(a).save(buf, format="PNG", compress_level=1)
                (folder / f"step{step}.png").write_bytes(buf.getvalue())
    return root


def _command(tree: Path, store: Path) -> list[str]:
    return [
        sys.executable,
        str(ROOT / "generate_fixtures.py"),
        "import",
        str(tree),
        "--layout",
        LAYOUT,
        "--set",
        "setting=bench",
        "--name",
        "bench",
        "--store",
        str(store),
        "--quiet",
    ]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}


def _timed_import(tree: Path, store: Path) -> tuple[float, float, str]:
    """(seconds, peak resident MiB of the import process, its stdout)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(_command(tree, store), env=_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t0
    assert proc.returncode == 0, err.decode()
    return seconds, usage.ru_maxrss / 1024, out.decode()


def test_import_speed_and_peak_memory(benchmark, tree, tmp_path):
    runs = []

    def cold_import():
        store = tmp_path / f"store{len(runs)}"
        runs.append(_timed_import(tree, store))
        return store

    store = benchmark.pedantic(cold_import, rounds=1, iterations=1)
    seconds, peak_mib, out = runs[-1]
    assert f"{IMAGES} images added" in out
    warm_seconds, _, warm_out = _timed_import(tree, store)  # everything stored: read and hash only
    assert f"{IMAGES} already stored" in warm_out
    benchmark.extra_info.update(
        images=IMAGES,
        image_size=f"{SIZE[0]}x{SIZE[1]}",
        images_per_s=round(IMAGES / seconds, 1),
        peak_rss_mib=round(peak_mib, 1),
        reimport_s=round(warm_seconds, 2),
    )
    print(
        f"\nimport of {IMAGES} images: {seconds:.1f} s = {IMAGES / seconds:.0f} images/s, peak RSS {peak_mib:.0f} MiB; "
        f"re-import (all stored) {warm_seconds:.1f} s"
    )


def test_a_killed_import_resumes_where_it_stopped(benchmark, tree, tmp_path):
    store_dir = tmp_path / "store"
    proc = subprocess.Popen(_command(tree, store_dir), env=_env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store, target, stored = Store(store_dir), IMAGES * 2 // 5, 0
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None and stored < target:
        time.sleep(0.05)
        try:
            stored = store._db().execute("SELECT COUNT(*) FROM steps").fetchone()[0]  # benchmark-only peek
        except Exception:  # the import has not created its tables yet
            stored = 0
    assert proc.poll() is None, "the import ended before the kill"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert dataset_record(store, "bench") is None  # killed: invisible to audits
    kept = store._db().execute("SELECT COUNT(*) FROM steps").fetchone()[0]
    runs = []
    benchmark.pedantic(lambda: runs.append(_timed_import(tree, store_dir)), rounds=1, iterations=1)
    seconds, _, out = runs[-1]
    assert f"{IMAGES - kept} images added, {kept} already stored" in out
    assert sum(len(c.steps) for c in dataset_record(store, "bench").chains) == IMAGES
    benchmark.extra_info.update(images=IMAGES, kept_after_kill=kept, resume_s=round(seconds, 2))
    print(f"\nkilled after {kept} of {IMAGES} images were stored; the resumed import took {seconds:.1f} s")
