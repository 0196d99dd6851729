"""Random weights for pyiqa metrics: every download answered by a stand-in built here.

For tests and cost measurement only. `pyiqa:<metric>@random` builds the metric's real
pyiqa network (pyiqa.create_metric, its real loading code) while each file it would
download is answered locally by a file of the right shape:

- pyiqa's own network checkpoints: the network's own freshly initialised state dict,
  written where pyiqa expects the file and then read back by pyiqa's loader (strict key
  matching, `weight_keys`, prefix cleaning all run);
- torchvision backbones: the torchvision builder's state dict for the URL's weights;
- timm backbones (Hugging Face): `timm.create_model(arch.tag, pretrained=False)` handed
  to timm's own `load_pretrained` (its filter functions and class adaptation run);
- OpenAI CLIP backbones: a state dict of pyiqa's CLIP class at the backbone's published
  shape (CLIP_SPECS), which pyiqa's `build_model` infers the architecture from;
- statistical models (BRISQUE's SVM, NIQE/ILNIQE/NRQM parameter files): stand-ins of
  the real files' layout and dimensions, drawn from a seeded generator (STAT_FORGES);
- ARNIQA's encoder and TorchScript regressor, QualiCLIP's checkpoint: the same idea;
- Hugging Face VLMs (Q-ReAlign): a processor and a small model of the real architecture
  built by local_vlm (the checkpoint's own config is on the hub only, so this shows the
  path works, not its cost).

Nothing touches the network or the user's weight caches: while the model is built,
torch.hub's folder and pyiqa's cache point at a temporary folder that is deleted after.
Everything is drawn from torch/numpy generators seeded with `seed`, so a model is the
same on every build. Random scores are not findings: the audit refuses `@random` names
(config.AuditConfig) and their id and version say `random`.
This module holds the names (`@random`), the recipes' digest and the refusals; the
stand-ins themselves and the download hooks that hand them out are stand_ins.py's.
"""

from __future__ import annotations

import sys

from iqa_audit.core import keys
from iqa_audit.core.errors import explain
from iqa_audit.metrics import local_vlm, stand_ins
from iqa_audit.metrics.base import MetricUnavailable
from iqa_audit.metrics.normalise import TABLE2

VARIANT_SEPARATOR = "@"
RANDOM_VARIANT = "random"
DEFAULT_SEED = 0

# Metrics whose random build is not possible here, and why (shown as MetricUnavailable).
NOT_BUILDABLE = {
    "QAlign": (
        "q-future/one-align is an 8.2-billion-parameter mPLUG-Owl2 (LLaMA-2 7B + ViT-L): 33 GB of float32 "
        "weights before its first forward pass, more than this 24 GB machine has; its tokenizer and "
        "image processor also come only from the Hugging Face repository"
    )
}


# Table 2 rows that are not a pyiqa 0.1.16 network built here: entropy is not in the study,
# VisualQuality-R1 and RALI are not in pyiqa, qalign is NOT_BUILDABLE above.
_NOT_STUDY_PYIQA = frozenset({"entropy", "visualquality-r1", "rali", "qalign"})


def study_metrics() -> tuple[str, ...]:
    """The study's Table 2 metrics (normalise.TABLE2) that `pyiqa:<name>@random` builds here,
    sorted by name: 20 of its 21 pyiqa metrics (qalign is too large). The one list the
    random-weights tests and both cost benchmarks use."""

    return tuple(sorted(set(TABLE2) - _NOT_STUDY_PYIQA))


def split_variant(metric: str) -> tuple[str, bool]:
    """'musiq@random' -> ('musiq', True); 'musiq' -> ('musiq', False). Raises ValueError for other variants."""
    bare, sep, variant = metric.partition(VARIANT_SEPARATOR)
    if not sep:
        return metric, False
    if variant != RANDOM_VARIANT:
        raise ValueError(f"unknown variant {variant!r} (only {RANDOM_VARIANT!r})")
    return bare, True


def is_random_name(name: str) -> bool:
    """True for a metric name that asks for random weights ('pyiqa:musiq@random')."""
    return name.strip().endswith(VARIANT_SEPARATOR + RANDOM_VARIANT)


def variant_id(metric: str) -> str:
    """Test-id form: 'musiq@random' -> 'musiq-random'; 'musiq' -> 'musiq'."""
    bare, random = split_variant(metric)
    return f"{bare}-{RANDOM_VARIANT}" if random else bare


def code_digest() -> str:
    """sha256 (12 hex) of the stand-in recipes (this module, stand_ins and local_vlm;
    keys.code_digest): a new recipe is a new metric version."""
    return keys.code_digest(sys.modules[__name__], stand_ins, local_vlm)[:12]


def not_buildable(name: str, arch_type: str) -> MetricUnavailable | None:
    """MetricUnavailable saying why `name` has no random build here, or None when it has one."""
    why = NOT_BUILDABLE.get(arch_type)
    if why is None:
        return None
    return MetricUnavailable(
        explain(
            f"metric {name}",
            expected="a network that can be built with random weights here",
            got=why,
            fix="Measure it on a machine with its weights (or a large GPU).",
        )
    )


def missing_stand_in(name: str, error: BaseException) -> MetricUnavailable:
    """The build read a file no stand-in was made for: say which."""
    return MetricUnavailable(
        explain(
            f"metric {name}",
            expected="a stand-in for every file the network reads",
            got=f"{type(error).__name__}: {error}",
            fix="Add a writer for this file to stand_ins.STAT_FORGES.",
        )
    )
