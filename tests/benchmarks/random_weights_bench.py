"""Cost of every study metric at the study's 2K size, measured with random weights.

    .venv/bin/python -m tests.benchmarks.random_weights_bench                  # all, 2816x1504, 1 and 2 threads
    .venv/bin/python -m tests.benchmarks.random_weights_bench --metrics musiq niqe --threads 1

Each (metric, thread count) runs in a process of its own, one after the other, never in
parallel: the process builds `pyiqa:<metric>@random`, scores one warm-up image and then one
timed image through the suite's adapter, and reports its peak resident memory (the whole
process: model, image and activations). Before each process starts, free memory must be
at least --min-free-gb, else the metric is recorded as skipped. With --batch-check the
one-thread process also checks that a batch of two 320x224 images scores as one by one.

Results go to --out (default random-weights-bench.json, or $OUT/ when set) and a table is
printed, with the projected wall time of scoring the study (28,000 images x the metrics).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from iqa_audit.metrics.random_weights import study_metrics

STUDY_METRICS = study_metrics()  # the study's Table 2 as the random mode builds it
STUDY_IMAGES = 28_000  # the study's images: 13 seeds x settings x 5 runs x steps (Banana100)


def child(metric: str, threads: int, width: int, height: int, batch_check: bool, warmup: bool = True) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    from iqa_audit.core.images import Image
    from iqa_audit.metrics.pyiqa_adapter import create_pyiqa_metric

    def image(w: int, h: int, seed: int) -> Image:
        rng = np.random.default_rng(seed)
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        base = 110 + 60 * np.sin(x / 17) * np.cos(y / 23) + 40 * ((x // 64 + y // 64) % 2)
        rgb = np.stack([base, base * 0.8 + 30, 200 - base * 0.5], -1) + rng.normal(0, 6, (h, w, 3))
        return Image.from_array(np.clip(rgb, 0, 255).astype(np.uint8))

    t0 = time.perf_counter()
    metric = create_pyiqa_metric(f"pyiqa:{metric}@random")
    build_s = time.perf_counter() - t0
    row: dict = {"metric": metric.name, "threads": threads, "size": f"{width}x{height}", "build_s": round(build_s, 2)}
    scores = []
    if warmup:  # lazy initialisation (kernels, caches) out of the timed forward
        t0 = time.perf_counter()
        scores.append(float(metric.score([image(width, height, 1)])[0]))
        row["first_forward_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    scores.append(float(metric.score([image(width, height, 2)])[0]))
    row["s_per_image"] = round(time.perf_counter() - t0, 3)
    row["scores"] = scores
    if batch_check:
        small = [image(320, 224, 3), image(320, 224, 4)]
        batch = metric.score(small)
        single = np.array([metric.score([im])[0] for im in small])
        row["batch_equals_one_by_one"] = bool(np.allclose(batch, single, rtol=1e-3, atol=1e-6))
        row["batch_max_abs_diff"] = float(np.max(np.abs(batch - single)))
    row["peak_rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)  # ru_maxrss is KiB on Linux
    return row


def free_gib() -> float:
    import psutil

    return psutil.virtual_memory().available / 2**30


def projection(rows: list[dict], workers: int) -> dict:
    """Study wall time from 1-thread s/image: 1 worker, N workers (one per core), a Ray cluster of M such machines."""
    per_image = sum(r["s_per_image"] for r in rows if r.get("threads") == 1 and "s_per_image" in r)
    one = STUDY_IMAGES * per_image / 3600
    return {
        "metrics": sorted({r["metric"] for r in rows if "s_per_image" in r}),
        "s_per_image_all_metrics": round(per_image, 2),
        "hours_1_worker": round(one, 1),
        f"hours_{workers}_workers": round(one / workers, 1),
        "hours_ray_8_machines_x_16_workers": round(one / (8 * 16), 2),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--metrics", nargs="+", default=list(STUDY_METRICS))
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--size", default="2816x1504", help="WxH of the timed images")
    p.add_argument("--min-free-gb", type=float, default=10.0, help="free memory a metric's process needs to start")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per process")
    p.add_argument("--batch-check", action="store_true")
    p.add_argument("--no-warmup", action="store_true", help="time the first forward (metrics of many minutes per image)")
    p.add_argument("--out", default=None)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    if args.child:
        print(json.dumps(child(args.child, args.threads[0], width, height, args.batch_check, warmup=not args.no_warmup)))
        return 0

    out = Path(args.out) if args.out else Path(os.environ.get("OUT", ".")) / "random-weights-bench.json"
    rows: list[dict] = []
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    for metric in args.metrics:
        for threads in args.threads:
            if free_gib() < args.min_free_gb:
                rows.append(
                    {"metric": f"pyiqa:{metric}@random", "threads": threads, "skipped": f"only {free_gib():.1f} GiB free"}
                )
                continue
            cmd = (
                [
                    sys.executable,
                    "-m",
                    "tests.benchmarks.random_weights_bench",
                    "--child",
                    metric,
                    "--threads",
                    str(threads),
                    "--size",
                    args.size,
                ]
                + (["--batch-check"] if args.batch_check and threads == 1 else [])
                + (["--no-warmup"] if args.no_warmup else [])
            )
            env["OMP_NUM_THREADS"] = str(threads)
            t0 = time.perf_counter()
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=env)
                lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
                row = (
                    json.loads(lines[-1])
                    if proc.returncode == 0 and lines
                    else {"metric": f"pyiqa:{metric}@random", "threads": threads, "error": (proc.stderr or proc.stdout)[-600:]}
                )
            except subprocess.TimeoutExpired:
                row = {"metric": f"pyiqa:{metric}@random", "threads": threads, "error": f"timed out after {args.timeout} s"}
            row["process_s"] = round(time.perf_counter() - t0, 1)
            rows.append(row)
            print(json.dumps(row), flush=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(
                json.dumps(
                    {
                        "machine": platform.processor() or platform.machine(),
                        "cpus": os.cpu_count(),
                        "rows": rows,
                        "projection": projection(rows, os.cpu_count() or 1),
                    },
                    indent=2,
                )
                + "\n"
            )
    print(json.dumps(projection(rows, os.cpu_count() or 1), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
