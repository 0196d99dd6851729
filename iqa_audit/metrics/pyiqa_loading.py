"""Building pyiqa models under download control: offline, every download is refused or answered by a stand-in.

Never hang on a network that is not there. pyiqa downloads a missing checkpoint on
first use, through torch.hub (pyiqa and torchvision files), its bundled CLIP loader, or
Hugging Face (timm backbones, VLM metrics). So creation
1. checks the predicted weight files (weights.required_weights) and raises
   MetricUnavailable, naming each missing file and the fetch command, before building
   anything; and
2. builds the model with every one of those download paths blocked, so a file the
   prediction does not know of fails at once with its URL and path instead of waiting
   on a connection.
Fetching happens only through fetch.fetch_weights (the `weights` CLI command).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from iqa_audit.core.errors import explain
from iqa_audit.metrics import random_weights, stand_ins
from iqa_audit.metrics.base import MetricUnavailable
from iqa_audit.metrics.weights import (
    WeightFile,
    arch_class,
    fetch_command,
    import_pyiqa,
    pyiqa_cache_dir,
    pyiqa_config,
    required_weights,
    unavailable,
)

# Patching download functions is process-wide; one creation at a time.
_PATCH_LOCK = threading.RLock()


@contextmanager
def hf_online() -> Iterator[None]:
    """Let Hugging Face download for the duration (fetching only)."""
    from huggingface_hub import constants

    with _PATCH_LOCK:
        old_const, old_env = constants.HF_HUB_OFFLINE, os.environ.get("HF_HUB_OFFLINE")
        constants.HF_HUB_OFFLINE = False
        os.environ["HF_HUB_OFFLINE"] = "0"
        try:
            yield
        finally:
            constants.HF_HUB_OFFLINE = old_const
            if old_env is None:
                os.environ.pop("HF_HUB_OFFLINE", None)
            else:
                os.environ["HF_HUB_OFFLINE"] = old_env


def _blocked(name: str, url: str, dst: str | os.PathLike) -> MetricUnavailable:
    return unavailable(name, [WeightFile("download", str(url), Path(dst))])


@contextmanager
def _pyiqa_loading(name: str, *, offline: bool) -> Iterator[None]:
    """Point pyiqa at the current TORCH_HOME and, offline, turn every download into MetricUnavailable."""

    import pyiqa.utils.download_util as dl
    import torch.hub
    from huggingface_hub import constants

    cache = str(pyiqa_cache_dir())
    patches: list[tuple[Any, str, Any]] = [(dl, "DEFAULT_CACHE_DIR", cache)]
    # Modules that copied DEFAULT_CACHE_DIR at import (liqe's text-feature cache, topiq's swin).
    for mod_name in ("pyiqa.archs.liqe_arch", "pyiqa.archs.topiq_arch"):
        mod = sys.modules.get(mod_name)
        if mod is not None and hasattr(mod, "DEFAULT_CACHE_DIR"):
            patches.append((mod, "DEFAULT_CACHE_DIR", cache))
    if offline:

        def refuse_download(url, dst, *args, **kwargs):
            raise _blocked(name, url, dst)

        patches += [
            (dl, "download_url_to_file", refuse_download),
            (torch.hub, "download_url_to_file", refuse_download),
            (constants, "HF_HUB_OFFLINE", True),
        ]
        clip = sys.modules.get("pyiqa.archs.clip_model")
        if clip is None:
            import pyiqa.archs.clip_model as clip
        real_clip_download = clip._download

        def clip_download_if_cached(url, root):
            target = os.path.join(root, os.path.basename(url))
            if not os.path.isfile(target):
                raise _blocked(name, url, target)
            return real_clip_download(url, root)

        patches.append((clip, "_download", clip_download_if_cached))
    else:
        patches.append((constants, "HF_HUB_OFFLINE", False))

    with _PATCH_LOCK:
        saved = [(obj, attr, getattr(obj, attr)) for obj, attr, _ in patches]
        try:
            for obj, attr, value in patches:
                setattr(obj, attr, value)
            yield
        finally:
            for obj, attr, value in reversed(saved):
                setattr(obj, attr, value)


def _hf_missing_errors() -> tuple[type[BaseException], ...]:
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    return (LocalEntryNotFoundError, OfflineModeIsEnabled)


def build_pyiqa_model(metric: str, device: str, *, offline: bool = True) -> Any:
    """pyiqa.create_metric under download control. Offline, a missing file raises MetricUnavailable."""
    pyiqa = import_pyiqa()
    name = f"pyiqa:{metric}"
    try:
        with nullcontext() if offline else hf_online(), _pyiqa_loading(name, offline=offline):
            return pyiqa.create_metric(metric, as_loss=False, device=device)
    except MetricUnavailable:
        raise
    except _hf_missing_errors() as e:
        # Hugging Face says only "not in the local cache"; name the files from the prediction.
        missing = [w for w in required_weights(name) if w.loader == "huggingface" and not w.present()]
        if missing:
            raise unavailable(name, missing) from None
        raise MetricUnavailable(
            explain(
                f"metric {name}",
                expected="its Hugging Face files in the local cache",
                got=f"{type(e).__name__}: {str(e).splitlines()[0]}",
                fix=f"Fetch them once with `{fetch_command(name)}` (or set HF_HOME to a cache that has them).",
            )
        ) from None
    except ImportError as e:
        raise MetricUnavailable(
            explain(
                f"metric {name}",
                expected="the Python packages it needs",
                got=f"{type(e).__name__}: {e}",
                fix=f"pip install {getattr(e, 'name', None) or 'the missing package'}",
            )
        ) from None
    except Exception as e:
        e.add_note(f"while creating pyiqa metric {metric!r} on {device} (weights under {pyiqa_cache_dir()})")
        raise


def build_random_pyiqa_model(metric: str, device: str, *, seed: int = random_weights.DEFAULT_SEED) -> Any:
    """pyiqa.create_metric with every download answered by a local stand-in (random_weights).

    The same seed builds the same weights; the caller's torch random state is left as it
    was. MetricUnavailable when the network cannot be built here (qalign: too large) or
    reads a file no stand-in exists for.
    """
    import torch

    pyiqa = import_pyiqa()
    name = f"pyiqa:{metric}{random_weights.VARIANT_SEPARATOR}{random_weights.RANDOM_VARIANT}"
    refusal = random_weights.not_buildable(name, pyiqa_config(metric)["metric_opts"]["type"])
    if refusal is not None:
        raise refusal
    arch_class(metric)  # import the arch module first, so its loader names are there to patch
    with _PATCH_LOCK, torch.random.fork_rng(devices=[]), stand_ins.random_downloads(name, seed):
        torch.manual_seed(seed)
        try:
            return pyiqa.create_metric(metric, as_loss=False, device=device)
        except FileNotFoundError as e:
            raise random_weights.missing_stand_in(name, e) from None
