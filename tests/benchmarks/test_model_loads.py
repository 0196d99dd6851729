"""Counted, not timed: an audit loads each metric exactly once per worker process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
from iqa_audit.audit.cells import gap_cells
from iqa_audit.config.audit_config import resolve_config
from iqa_audit.audit.services import Services
from iqa_audit.metrics.registry import load_count
cfg = resolve_config({"seeds": ("grid-perspective", "smooth-gradient"), "editors": ("sim-noise-tint", "codec-jpeg"),
                      "runs": 1, "steps": 5, "delta_steps": (2, 5), "long_side": 128, "store": sys.argv[1],
                      "metrics": ("pyiqa:piqe", "iqa_audit:noise-sigma")})
gaps = Services.open(cfg).gaps
cells = gap_cells(cfg)
for cell in cells:
    gaps.gap(cell)
print(json.dumps({"cells": len(cells), "piqe": load_count("pyiqa:piqe"), "noise": load_count("iqa_audit:noise-sigma")}))
"""


def test_one_model_load_per_metric_per_process(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "store")], capture_output=True, text=True, timeout=300, env=env, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    counts = json.loads(out.stdout.strip().splitlines()[-1])
    assert counts == {"cells": 16, "piqe": 1, "noise": 1}
