"""The audit of imported chains costs what the metrics cost (issue 23, part 6).

Chains: real photographs through real codecs (photo_chains.py: 6 of scikit-image's photos
x JPEG at a falling quality and WebP at a fixed one x 2 runs x steps 0-4 = 120 PNGs at
512 px), imported with the suite's own `iqa-audit import`. Metrics: pyiqa's piqe and
entropy. Two benchmarks, each measured side by side in one run, the two sides alternating
round by round so machine load hits both alike:

- cold: the metric audit of the import (`pytest tests_metrics/test_gap.py --dataset ...
  -n 0`, a fresh copy of the store each round: every score, every evidence pair, the HTML
  report drawn) against a bare pyiqa loop in its own process that decodes each distinct
  file once and runs pyiqa's metrics on exactly the forward passes the suite makes: each
  distinct image once per metric (the store is content-addressed: step 0 is one image in
  four chains), same-size images of a chain batched by the suite's CPU rule
  (metrics/batching.py). A loop over every file one at a time would do ~3x more piqe
  work (one 512 px image per forward is ~3x slower than six) and score step 0 four
  times, which hid the audit's own costs: the suite came out at 0.46x of it. Here the
  ratio is the audit's overhead. Target: median suite/bare <= 1.10.
- warm: the same audit again on its store (everything cached) against pytest's own floor:
  as many trivial cases, with the plugin configured by the same options (so the floor
  includes loading and checking the configuration, and the difference is the audit's own
  work per cell plus results.json and the report). Target: median warm <= median floor + 1 s.

Only test_gap.py: the metric sanity cases score the profile's clean seeds (other images
than the import's, ~40 more forwards per metric) and the stability and model-like cases
skip on a dataset, so the gap cases are the audit of exactly these files.

IQA_AUDIT_BENCH=short (CI) runs both once on 24 images (2 photos, 3 steps) and asserts
only that the audit and the bare loop agree, not the ratios (conftest.check_ratio): with
a dozen cells the fixed costs of two interpreters dominate and the ratio means nothing.
Full mode takes ~10 minutes on 2 cores.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import SHORT, check_ratio
from .photo_chains import LAYOUT, PHOTOS, make_photo_chains

ROOT = Path(__file__).resolve().parents[2]
METRICS = ("piqe", "entropy")
PHOTOS_USED = PHOTOS[:2] if SHORT else PHOTOS
STEPS = 3 if SHORT else 5  # steps 0..STEPS-1 per run
DELTAS = (2,) if SHORT else (2, 3, 4)
ROUNDS = 1 if SHORT else 3
NAME = "photos"

# The bare loop: decode each distinct file once, run each metric over the batches given
# (lists of files of one size) on stdin, print the scores by file.
BARE = """
import json, sys
import numpy as np, pyiqa, torch
from PIL import Image
job = json.load(sys.stdin)
metrics = {n: pyiqa.create_metric(n, device="cpu") for n in job["metrics"]}
pixels = {p: np.array(Image.open(p).convert("RGB")) for batch in job["batches"] for p in batch}
scores = {}
with torch.inference_mode():
    for name, metric in metrics.items():
        for batch in job["batches"]:
            x = torch.from_numpy(np.stack([pixels[p] for p in batch])).permute(0, 3, 1, 2).float().div_(255.0)
            for p, v in zip(batch, metric(x).reshape(-1).tolist()):
                scores.setdefault(p, {})[name] = v
print(json.dumps(scores))
"""


def _env() -> dict[str, str]:
    # Bytecode is written and read back, as on a user's machine: with PYTHONDONTWRITEBYTECODE
    # every audit process would compile (and pytest assertion-rewrite) the package's ~200
    # modules again, while the bare loop's libraries come precompiled with their install.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """(store with the import and nothing else, the batches the suite scores, every file's
    (setting, seed, run, step), each distinct file by its content)."""
    base = tmp_path_factory.mktemp("cold-audit")
    tree = base / "tree"
    files = make_photo_chains(tree, photos=PHOTOS_USED, steps=STEPS)
    store = base / "imported"
    out = subprocess.run(
        [sys.executable, "-m", "iqa_audit", "import", str(tree), "--layout", LAYOUT, "--name", NAME, "--store", str(store)]
        + ["--quiet"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(),
        timeout=600,
    )
    assert out.returncode == 0 and f"{len(files)} images added" in out.stdout, out.stdout + out.stderr
    where, first = {}, {}
    for f in files:
        setting, seed, run, step = f.relative_to(tree).with_suffix("").parts
        where[str(f)] = (setting, seed, run.removeprefix("run"), step.removeprefix("step"))
        first.setdefault(hashlib.sha256(f.read_bytes()).hexdigest(), str(f))
    return store, suite_batches(files, tree, set(first.values())), where


def suite_batches(files, tree: Path, distinct: set[str]) -> list[list[str]]:
    """The forward passes of one metric's series: chains by (setting, seed) in the order the
    cells run, each distinct image once in run and step order, cut by the suite's CPU batch
    rule (every image of a chain has one size here)."""
    from PIL import Image as PILImage

    from iqa_audit.metrics.batching import planned_batch_size

    chains: dict[tuple[str, str], list[str]] = {}
    for f in files:
        setting, seed, _, _ = f.relative_to(tree).parts
        if str(f) in distinct:
            chains.setdefault((setting, seed), []).append(str(f))
    batches = []
    for key in sorted(chains):
        group = chains[key]
        width, height = PILImage.open(group[0]).size
        n = planned_batch_size("cpu", height, width)
        batches += [group[i : i + n] for i in range(0, len(group), n)]
    return batches


def _children_cpu() -> float:
    """CPU seconds (user + system) of every child process waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bare_loop(batches, cpu: list[float] | None = None) -> tuple[float, dict]:
    """Wall seconds of the bare loop's process and its scores; its CPU seconds appended to `cpu`."""
    c0, t0 = _children_cpu(), time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", BARE],
        input=json.dumps({"metrics": METRICS, "batches": batches}),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(),
        timeout=3600,
    )
    seconds = time.perf_counter() - t0
    if cpu is not None:
        cpu.append(_children_cpu() - c0)
    assert out.returncode == 0, out.stderr[-3000:]
    return seconds, json.loads(out.stdout)


def audit_options(store: Path, reports: Path, name: str) -> list[str]:
    """The audit's options: the import by name, the two metrics, the Δs, raw verdicts."""
    return [
        "-q",
        "-n",
        "0",
        "-p",
        "no:cacheprovider",
        "--dataset",
        NAME,
        "--store",
        str(store),
        "--metric",
        ",".join(f"pyiqa:{m}" for m in METRICS),
        "--delta-steps",
        ",".join(map(str, DELTAS)),
        "--baseline",
        "none",
        "--reports-dir",
        str(reports),
        "--run-name",
        name,
    ]


def audit(store: Path, reports: Path, cpu: list[float] | None = None) -> tuple[float, dict]:
    """Wall seconds of `pytest tests_metrics/test_gap.py --dataset NAME -n 0` on `store` and
    its results.json; its CPU seconds appended to `cpu`."""
    name = f"bench-{time.monotonic_ns()}"
    cmd = [sys.executable, "-m", "pytest", "tests_metrics/test_gap.py", *audit_options(store, reports, name)]
    c0, t0 = _children_cpu(), time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=3600)
    seconds = time.perf_counter() - t0
    if cpu is not None:
        cpu.append(_children_cpu() - c0)
    results = reports / name / "results.json"
    assert results.is_file(), f"no results from {' '.join(cmd)}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return seconds, json.loads(results.read_text())


def _verdicts(results: dict) -> dict:
    return {c["cell"]: (c["verdict"], c["outcome"]) for c in results["cells"]}


def _raw_scores(results: dict) -> dict:
    """{(setting, seed, run, step): {metric id: raw score}} from the gap cells."""
    out: dict = {}
    for c in results["cells"]:
        for run, steps in (c.get("raw") or {}).items():
            for step, value in steps.items():
                out.setdefault((c["setting"], c["seed"], run, step), {})[c["metric_id"]] = value
    return out


AUDITED: dict = {}  # the last cold round's store and results, for the warm benchmark


def test_cold_audit_vs_bare_pyiqa_loop(benchmark, imported, tmp_path):
    store, batches, where = imported
    bare_s, suite_s, bare_cpu, suite_cpu, rounds = [], [], [], [], []

    def bare_round():
        seconds, scores = bare_loop(batches, bare_cpu)
        bare_s.append(seconds)
        fresh = tmp_path / f"store-{len(bare_s)}"
        shutil.copytree(store, fresh)  # the import only: every score, evidence pair and figure is cold
        return (fresh, scores), {}

    def suite(fresh, scores):
        seconds, results = audit(fresh, tmp_path / "reports", suite_cpu)
        suite_s.append(seconds)
        rounds.append((fresh, scores, results))

    benchmark.pedantic(suite, setup=bare_round, rounds=ROUNDS, iterations=1)
    fresh, scores, results = rounds[-1]
    AUDITED.update(store=fresh, results=results)
    cells = [c for c in results["cells"] if c["kind"] == "gap"]
    assert len(cells) == len(METRICS) * 2 * len(PHOTOS_USED) * len(DELTAS) and all(c["error"] is None for c in cells)
    assert all(_verdicts(r) == _verdicts(results) for _, _, r in rounds)
    suite_raw = _raw_scores(results)
    for path, (setting, seed, run, step) in where.items():  # the same numbers as the bare loop
        if path in scores:
            assert suite_raw[(setting, seed, run, step)] == pytest.approx(scores[path], rel=1e-4), path
    ratios = [s / b for s, b in zip(suite_s, bare_s)]
    benchmark.extra_info.update(
        images=len(where),
        forwards_per_metric=sum(map(len, batches)),
        cells=len(cells),
        inconclusive=sum(c["verdict"] == "inconclusive" for c in cells),
        bare_s=[round(s, 2) for s in bare_s],
        suite_s=[round(s, 2) for s in suite_s],
        bare_cpu_s=[round(s, 2) for s in bare_cpu],
        suite_cpu_s=[round(s, 2) for s in suite_cpu],
        cpu_ratio=round(statistics.median(s / b for s, b in zip(suite_cpu, bare_cpu)), 4),
        ratio_per_round=[round(r, 3) for r in ratios],
        load_average=os.getloadavg()[0],
    )
    print(
        f"\n{len(where)} images, {len(cells)} cells: bare {[round(s, 1) for s in bare_s]} s, "
        f"suite {[round(s, 1) for s in suite_s]} s (load {os.getloadavg()[0]:.1f}); CPU bare "
        f"{[round(s, 1) for s in bare_cpu]} s, suite {[round(s, 1) for s in suite_cpu]} s"
    )
    check_ratio(benchmark, "cold audit/bare pyiqa loop", statistics.median(ratios), at_most=1.10)


def pytest_floor(folder: Path, cases: int, store: Path) -> float:
    """Seconds pytest needs for `cases` trivial cases with the plugin configured exactly as
    for the audit (the same rootdir, pyproject and options, so the same import and checks
    of the configuration): what a warm audit of that many cells cannot go below, whatever
    the suite does. No cell records a finding, so no report is written."""
    folder.mkdir(exist_ok=True)
    test = folder / "test_floor.py"
    test.write_text(f"import pytest\n\n\n@pytest.mark.parametrize('i', range({cases}))\ndef test_case(i):\n    pass\n")
    cmd = [sys.executable, "-m", "pytest", "--rootdir", str(ROOT), str(test), *audit_options(store, folder, "floor")]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=600)
    seconds = time.perf_counter() - t0
    assert out.returncode == 0 and f"{cases} passed" in out.stdout, out.stdout[-3000:] + out.stderr[-3000:]
    return seconds


def test_warm_audit_vs_pytest_floor(benchmark, imported, tmp_path):
    if not AUDITED:  # run alone: one cold audit first
        store = tmp_path / "store"
        shutil.copytree(imported[0], store)
        AUDITED.update(store=store, results=audit(store, tmp_path / "reports")[1])
    store, cold = AUDITED["store"], AUDITED["results"]
    floor_s, warm_s, warm_results = [], [], []

    def floor_round():
        floor_s.append(pytest_floor(tmp_path / "floor", len(cold["cells"]), store))
        return (), {}

    def warm():
        seconds, results = audit(store, tmp_path / "reports")
        warm_s.append(seconds)
        warm_results.append(results)

    pytest_floor(tmp_path / "floor", len(cold["cells"]), store)  # untimed: bytecode and pytest's caches written once
    benchmark.pedantic(warm, setup=floor_round, rounds=ROUNDS, iterations=1)
    assert all(_verdicts(r) == _verdicts(cold) for r in warm_results)
    over = statistics.median(warm_s) - statistics.median(floor_s)
    benchmark.extra_info.update(
        cells=len(cold["cells"]),
        floor_s=[round(s, 2) for s in floor_s],
        warm_s=[round(s, 2) for s in warm_s],
        load_average=os.getloadavg()[0],
    )
    print(f"\nwarm {[round(s, 2) for s in warm_s]} s, pytest floor {[round(s, 2) for s in floor_s]} s: +{over:.2f} s")
    check_ratio(benchmark, "warm audit - pytest floor (s)", over, at_most=1.0)
