"""Cost of one vae-roundtrip step on the CPU, with the real VAE architectures and random weights.

    .venv/bin/python -m tests.benchmarks.vae_cost_bench                       # all VAEs, 512 and 1024 px, 2 threads
    .venv/bin/python -m tests.benchmarks.vae_cost_bench --vaes sd --sizes 512 --threads 1

No weights can be downloaded here, so each VAE is built from its diffusers class with the
architecture of the released model (the config below: block widths, depth, latent
channels, tile size) and random weights, saved with save_pretrained and loaded back by the
editor through `model=<folder>`: the path a downloaded model takes. Random weights cost the
same arithmetic as trained ones (nothing in these networks branches on values), so the
times are those of the real models; only the pixels are meaningless.

Each VAE runs in a process of its own, one after the other: the process loads the VAE,
runs one warm-up step at the smallest size, then one timed step per size, in increasing
order, through `VaeRoundTripEditor.edit` (faithful edit, crop, encode, latent mean,
decode, tiling as the editor sets it). It reports wall and CPU seconds per step and its
peak resident memory after each size (the whole process: model, image and activations).
Wall time on a shared machine includes waiting for a core; CPU seconds do not.

Results go to --out (default results/vae-cost-bench-cpu.json beside this file, or $OUT/)
and a table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The released models' VAE architectures (their config.json, as diffusers reads them).
ARCHITECTURES = {
    # stabilityai/sd-vae-ft-mse and SD 1.x/2.x's vae/: AutoencoderKL, 83.7 M parameters.
    # SDXL's VAE is the same network with sample_size 1024 (a 1024 px tile).
    "sd": (
        "AutoencoderKL",
        dict(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(128, 256, 512, 512),
            layers_per_block=2,
            act_fn="silu",
            latent_channels=4,
            norm_num_groups=32,
            sample_size=512,
        ),
    ),
    # black-forest-labs/FLUX.2-dev's vae/: AutoencoderKLFlux2 at its diffusers defaults
    # (the class was written for this model): the FLUX.1 network (128-256-512-512, 2 layers
    # per block) with 32 latent channels. Its tile, sample_size 1024, is diffusers' default
    # (annotated "not sure" there); the released config.json could not be read offline.
    "flux2": ("AutoencoderKLFlux2", {}),
    # Qwen/Qwen-Image's vae/: AutoencoderKLQwenImage at its diffusers defaults (base 96,
    # z 16, 256 px tiles at a 192 px stride).
    "qwen": ("AutoencoderKLQwenImage", {}),
}


def child(name: str, sizes: list[int], threads: int) -> list[dict]:
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    import diffusers

    from iqa_audit.core.images import Image
    from iqa_audit.editors.vae_roundtrip import VaeRoundTripEditor
    from iqa_audit.tasks.table import get_task

    class_name, config = ARCHITECTURES[name]
    torch.manual_seed(0)
    model = getattr(diffusers, class_name)(**config)
    params = sum(p.numel() for p in model.parameters())
    folder = Path(tempfile.mkdtemp(prefix=f"vae-{name}-"))
    model.save_pretrained(folder / "vae")
    del model

    def image(side: int, seed: int) -> Image:
        rng = np.random.default_rng(seed)
        y, x = np.mgrid[0:side, 0:side].astype(np.float32)
        base = 110 + 60 * np.sin(x / 17) * np.cos(y / 23) + 40 * ((x // 64 + y // 64) % 2)
        rgb = np.stack([base, base * 0.8 + 30, 200 - base * 0.5], -1) + rng.normal(0, 6, (side, side, 3))
        return Image.from_array(np.clip(rgb, 0, 255).astype(np.uint8))

    prompt = get_task("replicate").prompt(1)
    editor = VaeRoundTripEditor(model=str(folder))
    t0 = time.perf_counter()
    editor.edit(image(64, 0), prompt, seed=0, step=1)  # load + warm-up (kernels, allocator)
    load_s = time.perf_counter() - t0
    rows = []
    for side in sizes:
        img = image(side, 1)
        vae = editor._vae().vae
        tiles = {"encoder": 0, "decoder": 0}
        hooks = [
            getattr(vae, part).register_forward_pre_hook(lambda *a, p=part: tiles.__setitem__(p, tiles[p] + 1)) for part in tiles
        ]
        t0, c0 = time.perf_counter(), time.process_time()
        out = editor.edit(img, prompt, seed=0, step=1)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        for h in hooks:
            h.remove()
        assert out.image.size == (side, side)
        row = {
            "vae": name,
            "class": class_name,
            "params_M": round(params / 1e6, 1),
            "threads": threads,
            "size": f"{side}x{side}",
            "tile_px": int(getattr(vae, "tile_sample_min_height", getattr(vae, "tile_sample_min_size", 0))),
            "encoder_passes": tiles["encoder"],
            "decoder_passes": tiles["decoder"],
            "step_wall_s": round(wall, 2),
            "step_cpu_s": round(cpu, 2),
            "load_and_warmup_s": round(load_s, 2),
            "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        }
        print(json.dumps(row), flush=True)  # one line per size, as soon as it is measured
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vaes", nargs="+", default=list(ARCHITECTURES), choices=list(ARCHITECTURES))
    ap.add_argument("--sizes", nargs="+", type=int, default=[512, 1024])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child, sorted(args.sizes), args.threads)
        return 0
    rows, started = [], time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load = os.getloadavg()
    out = Path(args.out or (Path(os.environ["OUT"]) if os.environ.get("OUT") else Path(__file__).parent / "results"))
    if out.suffix != ".json":
        out = out / "vae-cost-bench-cpu.json"
    for name in args.vaes:
        cmd = [sys.executable, "-m", "tests.benchmarks.vae_cost_bench", "--child", name, "--threads", str(args.threads)]
        cmd += ["--sizes", *map(str, args.sizes)]
        with subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
        ) as proc:
            for line in proc.stdout:
                if line.startswith("{"):
                    rows.append(json.loads(line))
                    print(line.strip(), flush=True)
            err = proc.stderr.read()
        if proc.returncode:
            rows.append({"vae": name, "error": err.strip().splitlines()[-1:]})
            print(json.dumps(rows[-1]), flush=True)
        _write(out, started, load, rows)
    _table(rows, out)
    return 0


def _write(out: Path, started: str, load, rows: list[dict]) -> None:
    report = {
        "what": "tests/benchmarks/vae_cost_bench.py: one vae-roundtrip step (latent mean, editor's tiling), random weights, "
        "real architectures, one process per VAE",
        "machine": f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), shared with other jobs; no GPU",
        "when": started,
        "load_average_at_start": [round(x, 1) for x in load],
        "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
        "rows": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")


def _table(rows: list[dict], out: Path) -> None:
    print(f"\n{'vae':6} {'size':>9} {'tile':>5} {'enc/dec passes':>14} {'wall s':>7} {'cpu s':>7} {'peak GB':>7}")
    for r in rows:
        if "error" in r:
            print(f"{r['vae']:6} error: {r['error']}")
            continue
        passes = f"{r['encoder_passes']}/{r['decoder_passes']}"
        print(
            f"{r['vae']:6} {r['size']:>9} {r['tile_px']:>5} {passes:>14} {r['step_wall_s']:>7} {r['step_cpu_s']:>7} {r['peak_rss_gb']:>7}"
        )
    print(f"-> {out}")


if __name__ == "__main__":
    raise SystemExit(main())
