"""Fetching a pyiqa metric's weight files into the local caches (the `weights` CLI command).

The one place that downloads. It sits above both weights.py (which files, where) and
pyiqa_adapter.py (building the model, used here to prove the fetched files load), so
neither of those imports the other's caller: the import graph stays acyclic.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import ConfigError
from . import pyiqa_adapter
from .base import MetricUnavailable
from .pyiqa_adapter import hf_online
from .weights import WeightFile, pyiqa_name, required_weights


def _download(w: WeightFile) -> None:
    if w.loader == "pyiqa":
        from pyiqa.utils.download_util import load_file_from_url

        load_file_from_url(w.url, model_dir=str(w.path.parent), file_name=w.path.name)
    elif w.loader == "torch.hub":
        import torch.hub

        w.path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(w.url, str(w.path), progress=True)
    elif w.loader == "clip":
        from pyiqa.archs.clip_model import _download as clip_download

        clip_download(w.url, str(w.path.parent))
    elif w.loader == "huggingface":
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError

        with hf_online():
            if w.hf_filenames == ("config.json",):  # a whole model repo (qalign): fetched when created below
                return
            for fname in w.hf_filenames:
                try:
                    hf_hub_download(w.hf_repo, fname)
                    return
                except EntryNotFoundError:
                    continue
    else:  # pragma: no cover - a new loader kind without a fetch rule is a bug here
        raise ConfigError(f"no fetch rule for loader {w.loader!r}")


def fetch_weights(name: str, *, verify: bool = True) -> list[Path]:
    """Download every file metric `name` needs into the caches; return their paths.

    Files are fetched with the loader that will read them (pyiqa's load_file_from_url
    for pyiqa checkpoints, so they land in $TORCH_HOME/hub/pyiqa). With `verify`, the
    metric is then created once with network allowed, which also pulls anything the
    prediction does not know of and proves the files load.
    """
    metric = pyiqa_name(name)
    if metric is None:
        return []
    for w in required_weights(name):
        if not w.present():
            _download(w)
    if verify:
        pyiqa_adapter.build_pyiqa_model(metric, "cpu", offline=False)
    return [w.resolved() for w in required_weights(name)]


def weights_main(metric_names: list[str]) -> int:
    """CLI `weights`: fetch what each metric lacks, say what was fetched or already here."""
    status = 0
    for name in metric_names:
        if pyiqa_name(name) is None:
            print(f"{name}: needs no weight files (built-in or user metric)")
            continue
        try:
            before = {w.path: w.present() for w in required_weights(name)}
            files = fetch_weights(name)
        except (ConfigError, MetricUnavailable) as e:
            print(f"{name}: FAILED: {e}", file=sys.stderr)
            status = 1
            continue
        except Exception as e:  # network, disk, corrupt download: report and go on to the next metric
            print(f"{name}: FAILED to fetch: {type(e).__name__}: {e}", file=sys.stderr)
            status = 1
            continue
        if not files:
            print(f"{name}: needs no weight files")
        for w in required_weights(name):
            state = "already present" if before.get(w.path) else "fetched"
            print(f"{name}: {state}: {w.resolved()}")
    return status
