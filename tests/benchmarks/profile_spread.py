"""The spread of each artifact-profile statistic over the suite's degradations: the scales of
ArtifactProfile.distance (iqa_audit.analysis.artifact_profile.SCALES).

    .venv/bin/python -m tests.benchmarks.profile_spread                 # prints the table, writes results/profile-spread.json

For each editor and seed: a 10-step replicate chain at 384 px, built in memory; the profile
of step 10 against step 1. Each statistic goes through its SCALES transform (log2 where the
table says so); its spread is the standard deviation over every (editor, seed) pair where
it is finite. SCALES holds these numbers rounded to one significant figure. The robust
spread (1.4826 x the median absolute deviation) is printed beside it and is not used: most
degradations leave a given statistic near its neutral value (no tint, no block grid) and
the few that move it are the signal, which the median discards (blockiness: MAD-spread 0.1
against a standard deviation of 0.5).
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import numpy as np

EDITORS = ("codec-jpeg:quality=30", "codec-reupload", "sim-noise-tint", "sim-grain-tint", "sim-texture-loss", "sim-wrinkles")
SEEDS = ("grid-perspective", "low-contrast-haze", "high-contrast-particles", "deep-shadows")
STEPS, LONG_SIDE = 10, 384


def main() -> int:
    from iqa_audit.analysis.artifact_profile import PROFILE_FIELDS, SCALES, artifact_profile
    from iqa_audit.editors import create_editor
    from iqa_audit.seeds import get_seed
    from iqa_audit.tasks.table import get_task

    task = get_task("replicate")
    rows = []
    for seed_name in SEEDS:
        seed = get_seed(seed_name).render(LONG_SIDE)
        for spec in EDITORS:
            editor, image, first = create_editor(spec), seed, None
            for k in range(1, STEPS + 1):
                image = editor.edit(image, task.prompt(k), seed=0, step=k).image
                first = image if k == 1 else first
            profile = artifact_profile(first.pixels, image.pixels)
            rows.append(
                {"editor": spec, "seed": seed_name, **{k: v if math.isfinite(v) else None for k, v in profile.as_dict().items()}}
            )
            print(spec, seed_name, {k: round(v, 3) for k, v in profile.as_dict().items()}, file=sys.stderr)
    spreads = {}
    for name in PROFILE_FIELDS:
        scale = SCALES[name]
        values = [float(scale.transform(r[name])) for r in rows if r[name] is not None]
        values = [v for v in values if math.isfinite(v)]
        mad = 1.4826 * float(np.median(np.abs(np.asarray(values) - np.median(values))))
        spreads[name] = {
            "n": len(values),
            "spread": round(float(np.std(values)), 4),
            "robust": round(mad, 4),
            "scale_in_use": scale.spread,
        }
    out = Path(os.environ.get("OUT") or Path(__file__).parent / "results") / "profile-spread.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"editors": EDITORS, "seeds": SEEDS, "steps": STEPS, "spreads": spreads, "rows": rows}, indent=2))
    print(f"{'statistic':24} {'n':>3} {'std':>8} {'robust':>8} {'scale':>6}")
    for name, s in spreads.items():
        print(f"{name:24} {s['n']:>3} {s['spread']:>8} {s['robust']:>8} {s['scale_in_use']:>6}")
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
