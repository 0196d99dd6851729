"""GPU scoring benchmark: the suite's batched, cached scoring vs the loop a user writes.

One prepared run for a machine with a GPU: no network (pyiqa's piqe and entropy need no
weights), a few minutes at the defaults. It
1. builds a few degradation chains (offline simulator editor) into a temporary store;
2. for each metric, times side by side, alternating which goes first each round so
   machine load and clocks hit both alike:
   - suite: iqa_audit.scoring.cached.Scorer.scores on a score table with nothing cached
     (a new metric version per round), i.e. decode, batch by size, score, store;
   - bare:  pyiqa.create_metric(name, device=...) then metric(path) per file;
3. checks the scores: suite vs bare on the same device, and the device vs the CPU,
   within a relative tolerance of 1e-3;
4. prints a table and writes the figures as JSON to $OUT/gpu-bench.json if $OUT is set,
   else ./gpu-bench.json (or --out).

It runs on the CPU too (`--device cpu`), which is how it is tested without a GPU.
Exit status: 0 all scores agree, 1 a score check failed, 2 the device is not usable here.

    bin/gpu-bench                         # cuda, 1024 and 2048 px
    bin/gpu-bench --device cpu --sizes 256 --steps 3 --rounds 2
    bin/gpu-bench --random --metrics study  # every metric of the study's Table 2, random weights

With --random the metrics are built as `pyiqa:<name>@random` (their real networks with
random weights, no download: see iqa_audit/metrics/random_weights.py), so one run on a
machine without weight files measures every study metric; the bare loop then calls that
same pyiqa model per file, and the CPU comparison builds the same seed on the CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iqa_audit.metrics.random_weights import study_metrics

# The study's Table 2 (qalign excluded: 8.2 B parameters, refused by the random mode).
STUDY_METRICS = study_metrics()
RTOL = 1e-3
# Entropy is exactly 0 on a flat image; a relative tolerance alone would demand bit equality there.
ATOL = 1e-6


@dataclass(frozen=True)
class MetricFigures:
    metric: str
    device: str
    images: int
    megapixels: float
    sizes: dict[str, int]  # "WxH" -> number of images of that size
    planned_batch: dict[str, int]  # "WxH" -> first batch the suite tries there
    learned_limits: dict[str, int]  # "WxH" -> batch the OOM back-off settled on (empty: no OOM)
    bare_seconds: list[float]  # one per round
    suite_seconds: list[float]
    bare_images_per_s: float  # from the median round
    suite_images_per_s: float
    suite_over_bare: float  # throughput ratio, > 1: the suite is faster
    max_rel_diff_suite_vs_bare: float
    max_rel_diff_device_vs_cpu: float | None  # None on the CPU (nothing to compare)
    peak_gpu_memory_gib: float | None
    scores_ok: bool


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="gpu-bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    p.add_argument(
        "--metrics",
        nargs="+",
        default=["piqe", "entropy"],
        help="pyiqa metric names (weight-free ones run offline); 'study' = the study's Table 2",
    )
    p.add_argument("--random", action="store_true", help="build each metric with random weights (pyiqa:<name>@random)")
    p.add_argument("--sizes", nargs="+", type=int, default=[1024, 2048], help="long sides in px of the chains")
    p.add_argument("--seeds", nargs="+", default=["grid-perspective", "smooth-gradient"])
    p.add_argument("--editor", default="sim-noise-tint")
    p.add_argument("--steps", type=int, default=6, help="chain steps (each chain gives steps+1 images)")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds per path, after one untimed warm-up")
    p.add_argument("--out", default=None, help="JSON path (default: $OUT/gpu-bench.json, else ./gpu-bench.json)")
    p.add_argument("--store", default=None, help="chain store folder to reuse (default: a temporary one)")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.steps < 0:
        p.error("--rounds must be >= 1 and --steps >= 0")
    args.metrics = [m for name in args.metrics for m in (STUDY_METRICS if name == "study" else (name,))]
    return args


def output_path(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    out_dir = os.environ.get("OUT")
    return Path(out_dir) / "gpu-bench.json" if out_dir else Path("gpu-bench.json")


def usable_device(device: str) -> str | None:
    """The normalised device, or None after printing why it cannot be used here."""
    from iqa_audit.core.errors import ConfigError
    from iqa_audit.metrics.pyiqa_adapter import check_device

    try:
        return check_device(device)
    except ConfigError as e:
        print(f"gpu-bench: cannot benchmark on {device!r} here. {e}", file=sys.stderr)
        return None


def environment(device: str) -> dict[str, Any]:
    import pyiqa
    import torch

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "pyiqa": pyiqa.__version__,
        "cpu_threads": torch.get_num_threads(),
        "machine": platform.machine(),
    }
    if device.startswith("cuda"):
        dev = torch.device(device)
        free, total = torch.cuda.mem_get_info(dev)
        env.update(
            gpu=torch.cuda.get_device_name(dev),
            cuda=torch.version.cuda,
            gpu_free_gib=round(free / 2**30, 2),
            gpu_total_gib=round(total / 2**30, 2),
        )
    return env


def build_objects(store, args) -> list[tuple[str, str]]:
    """(hash, ext) of every step of every chain, building the chains (offline editor)."""
    from iqa_audit.chains.chain import ChainSpec, build_chain

    objects: list[tuple[str, str]] = []
    for size in args.sizes:
        for seed in args.seeds:
            chain = build_chain(store, ChainSpec(seed=seed, editor=args.editor, steps=args.steps, long_side=size))
            objects += [(s.image_hash, s.ext) for s in chain.ok_steps]
    return list(dict(objects).items())  # de-duplicated by hash, order kept


def synchronized(device: str) -> Callable[[], None]:
    import torch

    if device.startswith("cuda"):
        return lambda: torch.cuda.synchronize(torch.device(device))
    return lambda: None


def timed(fn: Callable[[], Any], sync: Callable[[], None]) -> tuple[float, Any]:
    sync()
    t0 = time.perf_counter()
    result = fn()
    sync()
    return time.perf_counter() - t0, result


def max_rel_diff(a: Sequence[float], b: Sequence[float]) -> float:
    import numpy as np

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), ATOL / RTOL)))


def agree(a: Sequence[float], b: Sequence[float]) -> bool:
    import numpy as np

    return bool(np.allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=RTOL, atol=ATOL))


def bench_metric(
    name: str, device: str, store, objects: list[tuple[str, str]], rounds: int, *, random: bool = False
) -> MetricFigures:
    import pyiqa
    import torch

    from iqa_audit.metrics.batching import planned_batch_size
    from iqa_audit.metrics.pyiqa_adapter import create_pyiqa_metric
    from iqa_audit.scoring.cached import Scorer

    paths = [str(store.object_path(h, e)) for h, e in objects]
    images = [store.get_image(h, e) for h, e in objects]
    sizes: dict[str, int] = {}
    for im in images:
        sizes[f"{im.width}x{im.height}"] = sizes.get(f"{im.width}x{im.height}", 0) + 1
    planned = {f"{im.width}x{im.height}": planned_batch_size(device, im.height, im.width) for im in images}
    del images  # the suite decodes from the store itself, as in a real run

    full_name = f"pyiqa:{name}@random" if random else f"pyiqa:{name}"
    suite_metric = create_pyiqa_metric(full_name, device=device)
    # What a user writes by hand; with random weights, the very pyiqa model the suite wraps.
    bare_metric = suite_metric.model if random else pyiqa.create_metric(name, device=device)
    sync = synchronized(device)
    fresh_versions = iter(range(10**6))
    last_suite_metric = [suite_metric]

    def bare() -> list[float]:
        with torch.inference_mode():
            return [float(bare_metric(p)) for p in paths]

    def suite() -> list[float]:
        # A version never used before: nothing cached, every image decoded and scored,
        # exactly as a first run of the suite. New instance, so no learned batch limits either.
        m = dataclasses.replace(suite_metric, version=f"{suite_metric.version}+gpu-bench-{next(fresh_versions)}")
        last_suite_metric[0] = m
        scores = Scorer(store).scores(m, objects).finite
        return [scores[h] for h, _ in objects]

    bare_scores, suite_scores = bare(), suite()  # warm-up: CUDA context, cuDNN, allocator, page cache
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(torch.device(device))
    bare_s: list[float] = []
    suite_s: list[float] = []
    for r in range(rounds):
        order = [("bare", bare), ("suite", suite)]
        for label, fn in order if r % 2 == 0 else order[::-1]:
            seconds, scores = timed(fn, sync)
            if label == "bare":
                bare_s.append(seconds)
                bare_scores = scores
            else:
                suite_s.append(seconds)
                suite_scores = scores
    peak = torch.cuda.max_memory_allocated(torch.device(device)) / 2**30 if device.startswith("cuda") else None

    ok = agree(suite_scores, bare_scores)
    vs_cpu = None
    if not device.startswith("cpu"):
        cpu_scores = create_pyiqa_metric(full_name, device="cpu").score([store.get_image(h, e) for h, e in objects])
        vs_cpu = max_rel_diff(suite_scores, cpu_scores)
        ok = ok and agree(suite_scores, cpu_scores)

    n = len(objects)
    bare_med, suite_med = statistics.median(bare_s), statistics.median(suite_s)
    learned = {f"{w}x{h}": b for (w, h), b in last_suite_metric[0].batch_limits.known().items()}
    return MetricFigures(
        metric=full_name,
        device=device,
        images=n,
        megapixels=round(sum(int(k.split("x")[0]) * int(k.split("x")[1]) * c for k, c in sizes.items()) / 1e6, 2),
        sizes=sizes,
        planned_batch=planned,
        learned_limits=learned,
        bare_seconds=[round(s, 4) for s in bare_s],
        suite_seconds=[round(s, 4) for s in suite_s],
        bare_images_per_s=round(n / bare_med, 3),
        suite_images_per_s=round(n / suite_med, 3),
        suite_over_bare=round(bare_med / suite_med, 3),
        max_rel_diff_suite_vs_bare=max_rel_diff(suite_scores, bare_scores),
        max_rel_diff_device_vs_cpu=vs_cpu,
        peak_gpu_memory_gib=None if peak is None else round(peak, 3),
        scores_ok=ok,
    )


def table(rows: list[MetricFigures]) -> str:
    head = ("metric", "device", "images", "MP", "bare img/s", "suite img/s", "suite/bare", "rel diff vs bare", "vs cpu", "ok")
    body = [
        (
            r.metric,
            r.device,
            str(r.images),
            f"{r.megapixels:.1f}",
            f"{r.bare_images_per_s:.2f}",
            f"{r.suite_images_per_s:.2f}",
            f"{r.suite_over_bare:.2f}x",
            f"{r.max_rel_diff_suite_vs_bare:.1e}",
            "-" if r.max_rel_diff_device_vs_cpu is None else f"{r.max_rel_diff_device_vs_cpu:.1e}",
            "yes" if r.scores_ok else "NO",
        )
        for r in rows
    ]
    widths = [max(len(c) for c in col) for col in zip(head, *body)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)) for line in [head, *body])


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never wait on a network that is not there
    args = parse_args(argv)
    started = time.perf_counter()
    device = usable_device(args.device)
    if device is None:
        return 2

    from iqa_audit.store.store import Store

    with tempfile.TemporaryDirectory(prefix="gpu-bench-") as tmp:
        store = Store(Path(args.store) if args.store else Path(tmp) / "store")
        try:
            t0 = time.perf_counter()
            objects = build_objects(store, args)
            build_s = time.perf_counter() - t0
            print(
                f"gpu-bench: {len(objects)} images from {len(args.seeds)} seed(s) x {len(args.sizes)} size(s) "
                f"x {args.steps + 1} steps, built in {build_s:.1f} s; scoring on {device}",
                flush=True,
            )
            rows = []
            for name in args.metrics:
                rows.append(bench_metric(name, device, store, objects, args.rounds, random=args.random))
                print(f"  {name}: done ({time.perf_counter() - started:.0f} s so far)", flush=True)
        finally:
            store.close()

    report = {
        "what": "suite (iqa_audit.scoring.cached.Scorer.scores, cold cache) vs bare pyiqa loop (metric(path) per file)",
        "device": device,
        "environment": environment(device),
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "store")},
        "tolerance": {"rtol": RTOL, "atol": ATOL},
        "chain_build_seconds": round(build_s, 2),
        "total_seconds": round(time.perf_counter() - started, 2),
        "metrics": [dataclasses.asdict(r) for r in rows],
    }
    out = output_path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(rows))
    print(
        f"suite/bare = throughput ratio on the median round (> 1: the suite is faster). "
        f"Figures: {out} ({report['total_seconds']:.0f} s)"
    )
    if not all(r.scores_ok for r in rows):
        print(f"gpu-bench: scores disagree beyond rtol {RTOL} (see the 'rel diff' columns)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
