"""pyiqa behind the Metric protocol: `pyiqa:<name>` for every pyiqa no-reference metric.

The adapter's one job is the boundary with pyiqa: find its weights, build the model
offline, feed it [0, 1] NCHW float tensors, and hand back float64 scores.

Building the model offline (every download refused, or answered by a stand-in for
`@random`) is pyiqa_loading.py's; this module scores with it.
"""

from __future__ import annotations

import difflib
import gc
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from iqa_audit.core import keys
from iqa_audit.core.console import cli_command
from iqa_audit.core.errors import ConfigError, explain
from iqa_audit.core.images import Image
from iqa_audit.core.keys import digest
from iqa_audit.metrics import random_weights
from iqa_audit.metrics.base import ScoreError, TypicalRange, as_scores, check_images, failure_hint
from iqa_audit.metrics.batching import (
    BatchLimits,
    OutOfMemory,
    OutOfMemoryAtOne,
    is_out_of_memory,
    planned_batch_size,
    run_with_backoff,
    size_groups,
    start_batch,
)
from iqa_audit.metrics.names import SET_LEVEL_TYPES  # networks under NR that do not score one image
from iqa_audit.metrics.normalise import TABLE2
from iqa_audit.metrics.pyiqa_loading import build_pyiqa_model, build_random_pyiqa_model
from iqa_audit.metrics.weights import import_pyiqa, pyiqa_config, required_weights, unavailable, weights_digest

# Metrics whose pyiqa network cannot score a batch of more than one image, and why: the
# adapter gives them one image per forward (found by the random-weights batch checks,
# tests/metrics/test_random_weights.py::test_random_weights_batch_equals_one_by_one).
ONE_IMAGE_PER_FORWARD = {
    "ilniqe": "pyiqa 0.1.16's ILNIQE resizes with matlab_utils.imresize, whose .view fails on a batch of 2+ RGB "
    "images (RuntimeError: view size is not compatible with input tensor's size and stride)"
}


def nr_metric_names() -> list[str]:
    """pyiqa's per-image no-reference metrics, sorted as pyiqa lists them."""
    pyiqa = import_pyiqa()
    from pyiqa.default_model_configs import DEFAULT_CONFIGS

    return [n for n in pyiqa.list_models(metric_mode="NR") if DEFAULT_CONFIGS[n]["metric_opts"]["type"] not in SET_LEVEL_TYPES]


# ----- ranges -----------------------------------------------------------------------------------


def _parse_bound(text: str) -> float | None:
    t = text.strip().lstrip("~").strip()
    if not t:
        return None
    try:
        return float(t)
    except ValueError:
        return None


def pyiqa_range(metric: str) -> TypicalRange:
    """Table 2 for the study's metrics, else pyiqa's own score_range (approximate, '~')."""
    cfg = pyiqa_config(metric)
    lower_better = bool(cfg.get("lower_better", False))
    if metric in TABLE2:
        return TABLE2[metric]
    raw = str(cfg.get("score_range", ""))
    parts = raw.split(",")
    lo, hi = (_parse_bound(parts[0]), _parse_bound(parts[1])) if len(parts) == 2 else (None, None)
    if lo is None or hi is None or lo >= hi:
        raise ConfigError(
            explain(
                f"metric pyiqa:{metric}",
                expected="a finite typical range to normalise its scores",
                got=f"none in Table 2 and pyiqa's score_range {raw!r}",
                fix="Wrap it as your own metric (module:callable) and declare range=(lo, hi) with iqa_audit.metrics.declare.",
            )
        )
    return TypicalRange(lo, hi, not lower_better, f"pyiqa score_range {raw!r}")


def scoring_code_digest() -> str:
    """sha256 hex of the code between pixels and a raw pyiqa score: this adapter (tensor
    conversion, crops, batching) and its model loading (pyiqa_loading; keys.code_digest), and
    the installed pyiqa package's source (keys.installed_code_digest). It enters every pyiqa
    metric's version, so editing either, say to try a patched network, re-scores instead of
    reusing scores of the old code."""

    modules = (sys.modules[__name__], sys.modules[build_pyiqa_model.__module__], sys.modules[run_with_backoff.__module__])
    return digest([keys.code_digest(*modules), keys.installed_code_digest("pyiqa")])


# ----- the metric ---------------------------------------------------------------------------------


def check_device(device: str) -> str:
    """'cpu', 'cuda' or 'cuda:N', usable here; ConfigError otherwise."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(
            explain("device", expected="'cpu', 'cuda' or 'cuda:N'", got=repr(device), fix="Pass --device cpu or --device cuda.")
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                explain(
                    "device",
                    expected="a CUDA GPU for device 'cuda'",
                    got=f"torch {torch.__version__} sees no CUDA device",
                    fix="Use --device cpu, or install a CUDA build of torch on a machine with a GPU.",
                )
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(
                explain(
                    "device",
                    expected=f"a GPU index below {torch.cuda.device_count()}",
                    got=repr(device),
                    fix="Pick an existing GPU, e.g. cuda:0.",
                )
            )
    elif dev.type != "cpu":
        raise ConfigError(
            explain("device", expected="'cpu', 'cuda' or 'cuda:N'", got=repr(device), fix="Pass --device cpu or --device cuda.")
        )
    return str(dev)


@dataclass(frozen=True, eq=False)
class PyiqaMetric:
    """A pyiqa model behind the Metric protocol.

    Images of one size are scored together, others one by one. `batch_size` None means
    the batch is chosen per call: CPU_BATCH_SIZE on the CPU, sized to free memory on a
    GPU (see batching.py); a number fixes the first batch tried. Either way an
    out-of-memory error halves the batch and retries, and `batch_limits` remembers the
    batch that worked per image size for the rest of the process.
    """

    id: str
    name: str
    version: str
    range: TypicalRange
    model: Any
    device: str
    batch_size: int | None
    weight_files: tuple[Path, ...]
    # Not an init field: dataclasses.replace (and every new instance) starts with no
    # learned limits, since another model or device may tolerate other batches.
    batch_limits: BatchLimits = field(default_factory=BatchLimits, init=False, repr=False)

    def score(self, images: Sequence[Image]) -> np.ndarray:
        import torch

        imgs = check_images(images, self.name)
        out = np.empty(len(imgs), dtype=np.float64)
        with torch.inference_mode():
            for group in size_groups([im.size for im in imgs]):
                size = imgs[group[0]].size
                width, height = size
                first = start_batch(
                    size, planned_batch_size(self.device, height, width, fixed=self.batch_size), self.batch_limits
                )
                try:
                    done = run_with_backoff(
                        group,
                        lambda idx: self._forward(imgs, idx),
                        batch_size=first,
                        oom=OutOfMemory,
                        limits=self.batch_limits,
                        key=size,
                        after_oom=self._release_cached_memory,
                    )
                except OutOfMemoryAtOne as e:
                    on_gpu = self.device.startswith("cuda")
                    raise ScoreError(
                        explain(
                            f"metric {self.name}: image(s) [{e.index}] ({width}x{height}) on {self.device}",
                            expected="one image to fit in the device's free memory" if on_gpu else "one image to fit in free RAM",
                            got=f"out of memory even at batch size 1 ({e.message})",
                            fix=(
                                "Score on the CPU with --device cpu, or audit smaller images with a smaller --long-side."
                                if on_gpu
                                else "Free memory (fewer pytest-xdist workers, -n 1; a higher `ulimit -v`), or audit "
                                "smaller images with a smaller --long-side."
                            ),
                        )
                    ) from None
                for idx, scores in done:
                    out[idx] = scores
        return out

    def _forward(self, imgs: list[Image], idx: list[int]) -> np.ndarray:
        """Scores of imgs[idx] (all one size) in one model call. Running out of memory, on
        a GPU or the CPU, raises OutOfMemory for the back-off; any other failure a ScoreError."""
        import torch

        try:
            # uint8 over the bus (4x less than float), converted to [0, 1] on the device.
            x = torch.from_numpy(np.stack([imgs[i].pixels for i in idx]))
            x = x.to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
            y = self.model(x)
        except (RuntimeError, MemoryError) as e:
            if is_out_of_memory(e):
                # torch.OutOfMemoryError (CUDA), a plain RuntimeError from cuDNN or the CPU
                # allocator, numpy's MemoryError: all back off the same way.
                raise OutOfMemory(str(e)) from None
            raise self._score_error(imgs, idx, e) from e
        except (AssertionError, ValueError, IndexError) as e:
            raise self._score_error(imgs, idx, e) from e
        if isinstance(y, (tuple, list)):
            y = y[0]
        return as_scores(y.detach().float().cpu().numpy(), len(idx), self.name)

    def _score_error(self, imgs: list[Image], idx: list[int], e: BaseException) -> ScoreError:
        im = imgs[idx[0]]
        return ScoreError(
            explain(
                f"metric {self.name}: image(s) {idx} ({im.width}x{im.height})",
                expected="an image pyiqa can score",
                got=f"{type(e).__name__}: {e}",
                fix=failure_hint(im.width, im.height),
            )
        )

    def _release_cached_memory(self) -> None:
        # Hand the failed batch's memory back before the smaller retry asks for it: cached
        # GPU blocks (else the retry is fragmented out of memory), and on the CPU anything
        # only a collection frees.

        import torch

        gc.collect()
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()


def create_pyiqa_metric(name: str, *, device: str = "cpu", batch_size: int | None = None) -> PyiqaMetric:
    """Build `pyiqa:<metric>` offline; MetricUnavailable (naming files and the fetch command) if weights are missing.

    `batch_size` None (the default) sizes batches per call: fixed on the CPU, to free
    memory on a GPU. A number fixes the first batch tried (out-of-memory still halves it).
    """

    try:
        metric, random = random_weights.split_variant(name.split(":", 1)[1])
    except ValueError as e:
        raise ConfigError(
            explain(
                f"metric {name!r}",
                expected=f"pyiqa:<name> or pyiqa:<name>@{random_weights.RANDOM_VARIANT}",
                got=str(e),
                fix=f"Drop the '@...' part, or write @{random_weights.RANDOM_VARIANT} for random weights (tests and cost measurement only).",
            )
        ) from None
    names = nr_metric_names()
    if metric not in names:
        from pyiqa.default_model_configs import DEFAULT_CONFIGS

        why = "a no-reference pyiqa metric"
        if metric in DEFAULT_CONFIGS:
            why += f" ({metric} is {DEFAULT_CONFIGS[metric]['metric_mode']}"
            why += ", scores image sets)" if DEFAULT_CONFIGS[metric]["metric_opts"]["type"] in SET_LEVEL_TYPES else ")"
        close = difflib.get_close_matches(metric, names, n=5, cutoff=0.5)
        raise ConfigError(
            explain(
                f"metric {name!r}",
                expected=why,
                got=repr(metric),
                fix=("Did you mean " + ", ".join(f"pyiqa:{c}" for c in close) + "? " if close else "")
                + f"Run `{cli_command('list')}` to see every metric.",
            )
        )
    dev = check_device(device)
    rng = pyiqa_range(metric)
    pyiqa = import_pyiqa()
    if random:
        return PyiqaMetric(
            id=random_weights.variant_id(f"{metric}@{random_weights.RANDOM_VARIANT}"),
            name=name,
            version=f"pyiqa-{pyiqa.__version__}+{random_weights.RANDOM_VARIANT}-seed{random_weights.DEFAULT_SEED}-"
            f"{random_weights.code_digest()}+code-{scoring_code_digest()[:12]}",
            range=rng,
            model=build_random_pyiqa_model(metric, dev),
            device=dev,
            batch_size=_check_batch_size(batch_size, name),
            weight_files=(),
        )
    files = required_weights(name)
    missing = [w for w in files if not w.present()]
    if missing:
        raise unavailable(name, missing)
    model = build_pyiqa_model(metric, dev, offline=True)
    digest = weights_digest(files)
    return PyiqaMetric(
        id=metric,
        name=name,
        version=f"pyiqa-{pyiqa.__version__}+{digest[:12] or 'noweights'}+code-{scoring_code_digest()[:12]}",
        range=rng,
        model=model,
        device=dev,
        batch_size=_check_batch_size(batch_size, name),
        weight_files=tuple(w.resolved() for w in files),
    )


def _check_batch_size(batch_size: int | None, name: str) -> int | None:
    bare = name.split(":", 1)[-1].split(random_weights.VARIANT_SEPARATOR)[0]
    if bare in ONE_IMAGE_PER_FORWARD:
        return 1  # its network fails on batches; out-of-memory back-off never goes below 1 anyway
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(
            explain(
                f"metric {name}: batch_size",
                expected="a whole number >= 1, or None to size batches automatically",
                got=repr(batch_size),
                fix="Leave batch_size out unless you need a fixed batch.",
            )
        )
    return batch_size
