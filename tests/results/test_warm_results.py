"""Writing results.json on a warm run imports neither torch nor pyiqa: the weight files a
pyiqa metric loads (results.json's "weights") are remembered in the store under the
metric's identity fingerprint, like its id, version and range."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

WEIGHTS = """
import json, sys
from iqa_audit.config.audit_config import resolve_config
from iqa_audit.results.writer import weights_used
cfg = resolve_config(json.loads(sys.argv[1]))
print(json.dumps({"weights": weights_used(cfg), "torch": "torch" in sys.modules, "pyiqa": "pyiqa" in sys.modules}))
"""


def test_warm_results_remember_the_weights_without_importing_pyiqa(tmp_path):
    cfg = {"metrics": ["pyiqa:brisque", "pyiqa:piqe", "iqa_audit:noise-sigma"], "store": str(tmp_path / "store")}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}

    def run():
        out = subprocess.run(
            [sys.executable, "-c", WEIGHTS, json.dumps(cfg)], capture_output=True, text=True, timeout=300, env=env, cwd=ROOT
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    cold, warm = run(), run()
    assert cold["pyiqa"] and cold["weights"]["brisque"]  # piqe and noise-sigma load no weight files
    assert warm == {"weights": cold["weights"], "torch": False, "pyiqa": False}
