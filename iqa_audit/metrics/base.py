"""The Metric role, its typical range, and how a user declares a metric of their own.

A metric turns images into one raw score each. Everything the audit needs to know
about a metric besides its scores is fixed when it is created:
- `id`, test-id friendly ('piqe', 'noise-sigma', 'plugin_metric_example-sharpness');
- `name`, exactly what the user typed ('pyiqa:piqe', 'mypkg.mod:sharpness');
- `version`, which enters every score-cache key, so new weights, a new pyiqa or a new
  algorithm never reuse old scores;
- `range`, the typical range and direction used to normalise scores to [0, 100].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from iqa_audit.core.errors import AuditError, BadImageError, ConfigError, explain
from iqa_audit.core.images import Image
from iqa_audit.metrics.batching import chunks, size_groups

# The attribute a user metric carries its declaration in. A plain dict, so a module can
# declare a metric without importing iqa_audit at all.
DECLARATION_ATTR = "IQA_AUDIT"


@dataclass(frozen=True)
class TypicalRange:
    """Where a metric's scores usually lie and which way is better.

    `source` says where the numbers come from ("Banana100 Table 2", "pyiqa score_range",
    "declared by mypkg.mod:sharpness", ...); the report prints it next to every metric.
    """

    lo: float
    hi: float
    higher_better: bool
    source: str

    def __post_init__(self) -> None:
        for label, v in (("lo", self.lo), ("hi", self.hi)):
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                raise ConfigError(
                    explain(
                        f"typical range {label} ({self.source})",
                        expected="a finite number",
                        got=repr(v),
                        fix="Give both ends of the range as numbers, e.g. range=(0, 1).",
                    )
                )
        if self.lo == self.hi:
            raise ConfigError(
                explain(
                    f"typical range ({self.source})",
                    expected="lo != hi",
                    got=f"lo = hi = {self.lo}",
                    fix="A zero-width range cannot normalise scores; give the range scores really span.",
                )
            )
        if self.lo > self.hi:
            raise ConfigError(
                explain(
                    f"typical range ({self.source})",
                    expected="lo < hi",
                    got=f"lo={self.lo}, hi={self.hi}",
                    fix="Write the range low end first; direction goes in higher_better / lower_better.",
                )
            )

    def to_dict(self) -> dict[str, Any]:
        """{"lo", "hi", "higher_better", "source"}: the range as JSON (identity memos, gap records)."""
        return {"lo": self.lo, "hi": self.hi, "higher_better": self.higher_better, "source": self.source}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TypicalRange:
        """The range `to_dict` wrote. KeyError for a missing part, ConfigError for a bad one."""
        return cls(d["lo"], d["hi"], d["higher_better"], d["source"])


@runtime_checkable
class Metric(Protocol):
    id: str
    name: str
    version: str
    range: TypicalRange

    def score(self, images: Sequence[Image]) -> np.ndarray:
        """float64 array, one raw score per image, in order. Images may differ in size."""
        ...


class MetricUnavailable(AuditError):
    """A metric cannot be created here (weights or a package missing); tests skip with this message."""


class ScoreError(AuditError):
    """A metric failed on an image or returned something that is not one number per image."""


class NonFiniteScore(ScoreError):
    """A metric returned NaN or ±inf for an image a result needs. The message names the
    metric, the chain steps using each image, its file and size; `image_hashes` lists them."""

    def __init__(self, message: str, image_hashes: tuple[str, ...] = ()):
        super().__init__(message)
        self.image_hashes = tuple(image_hashes)


# ----- user declarations ---------------------------------------------------------------

HOW_TO_DECLARE = (
    "Declare it with the decorator\n"
    "    import iqa_audit.metrics\n"
    '    @iqa_audit.metrics.declare(lower_better=False, range=(0, 1), version="1")\n'
    "    def my_metric(pixels): ...\n"
    "or, without importing iqa_audit, with a dict attribute on the callable:\n"
    '    my_metric.IQA_AUDIT = {"lower_better": False, "range": (0, 1), "version": "1"}\n'
    "lower_better says which way is better, range=(lo, hi) is where scores usually lie "
    "(it maps them to [0, 100]); version is optional (default: a hash of the module file); "
    "batch=True means the callable takes a list of images and returns a list of floats."
)

_KNOWN_KEYS = {"lower_better", "range", "version", "batch"}


@dataclass(frozen=True)
class Declaration:
    """What a user metric declares about itself (validated)."""

    lower_better: bool
    lo: float
    hi: float
    version: str | None = None
    batch: bool = False


def declare(
    *,
    lower_better: bool | None = None,
    range: tuple[float, float] | None = None,  # noqa: A002 - the user-facing word
    version: str | None = None,
    batch: bool = False,
) -> Callable[[Callable], Callable]:
    """Decorator that marks a callable as an iqa-audit metric.

    The callable takes one (H, W, 3) uint8 array and returns a float, or with batch=True
    a list of such arrays and returns a list of floats. The declaration is stored as the
    dict attribute `IQA_AUDIT`, the same form a module may write by hand.
    """
    spec = {"lower_better": lower_better, "range": range, "version": version, "batch": batch}

    def mark(fn: Callable) -> Callable:
        where = f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"
        parse_declaration(spec, where)  # fail at import time, next to the mistake
        setattr(fn, DECLARATION_ATTR, dict(spec))
        return fn

    return mark


def parse_declaration(spec: Any, where: str) -> Declaration:
    """Validate a declaration dict; errors name the metric and say how to declare it."""
    if spec is None:
        raise ConfigError(
            explain(
                f"metric {where}",
                expected="a declared direction and typical range",
                got="no declaration (direction and range undeclared)",
                fix=HOW_TO_DECLARE,
            )
        )
    if not isinstance(spec, Mapping):
        raise ConfigError(
            explain(f"metric {where}: {DECLARATION_ATTR}", expected="a dict", got=type(spec).__name__, fix=HOW_TO_DECLARE)
        )
    unknown = set(spec) - _KNOWN_KEYS
    if unknown:
        raise ConfigError(
            explain(
                f"metric {where}: {DECLARATION_ATTR}",
                expected="keys among " + ", ".join(sorted(_KNOWN_KEYS)),
                got=", ".join(sorted(unknown)),
                fix=HOW_TO_DECLARE,
            )
        )
    lower_better = spec.get("lower_better")
    if not isinstance(lower_better, bool):
        raise ConfigError(
            explain(
                f"metric {where}",
                expected="lower_better=True or lower_better=False",
                got="an undeclared direction" if lower_better is None else repr(lower_better),
                fix=HOW_TO_DECLARE,
            )
        )
    rng = spec.get("range")
    try:
        lo, hi = (float(v) for v in rng)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ConfigError(
            explain(
                f"metric {where}",
                expected="range=(lo, hi), two numbers",
                got="no range" if rng is None else repr(rng),
                fix=HOW_TO_DECLARE,
            )
        ) from None
    version = spec.get("version")
    if version is not None and not (isinstance(version, str) and version.strip()):
        raise ConfigError(
            explain(
                f"metric {where}",
                expected="version as a non-empty string",
                got=repr(version),
                fix='Write version="1" and bump it whenever the scores change.',
            )
        )
    batch = spec.get("batch", False)
    if not isinstance(batch, bool):
        raise ConfigError(explain(f"metric {where}", expected="batch=True or batch=False", got=repr(batch), fix=HOW_TO_DECLARE))
    # TypicalRange validates the numbers (finite, lo < hi) with the same kind of message.
    TypicalRange(lo, hi, not lower_better, f"declared by {where}")
    return Declaration(lower_better=lower_better, lo=lo, hi=hi, version=version, batch=batch)


# ----- helpers shared by the metric kinds ------------------------------------------------


def check_images(images: Sequence[Image], metric_name: str) -> list[Image]:
    """A list of Image, or a clear error (a bare array or path is the usual mistake)."""
    if isinstance(images, (Image, np.ndarray, str, bytes)):
        raise BadImageError(
            explain(
                f"metric {metric_name}: score(images)",
                expected="a sequence of iqa_audit Image",
                got=f"a single {type(images).__name__}",
                fix="Pass a list, e.g. metric.score([image]).",
            )
        )
    out = list(images)
    for i, im in enumerate(out):
        if not isinstance(im, Image):
            raise BadImageError(
                explain(
                    f"metric {metric_name}: image {i}",
                    expected="an iqa_audit Image",
                    got=type(im).__name__,
                    fix="Wrap arrays with Image.from_array or load files with load_image.",
                )
            )
    return out


def same_size_batches(images: Sequence[Image], batch_size: int) -> Iterator[list[int]]:
    """Indices of `images`, grouped by size (first-seen order), in chunks of `batch_size`.

    Metrics batch only images of one size; a lone size comes out as a batch of one.
    """

    for group in size_groups([im.size for im in images]):
        yield from chunks(group, batch_size)


# Below this many pixels on the shorter side many metrics cannot work: pyiqa's networks
# crop or pool to 32-64 px patches (PIQE 16 px blocks, NIQE 96 px patches, CNN backbones
# downsample 32x), and skimage's measures need a few pixels per filter. The study's
# images are 1024-5632 px; this threshold only decides which hint an error carries.
SMALL_IMAGE_PX = 64


def failure_hint(width: int, height: int) -> str:
    """The fix to suggest when a metric fails on a width x height image: the small-image
    hint only for a small image, else where to look."""
    if min(width, height) < SMALL_IMAGE_PX:
        return (
            f"This image is {width}x{height}: very small images (under ~{SMALL_IMAGE_PX} px a side) fail on many "
            "metrics; audit larger images (a larger --long-side)."
        )
    return (
        "The error above comes from the metric itself; check the image decodes as expected (load_image) and report "
        "it to the metric's authors with the image if it does."
    )


def detached(values: Any) -> Any:
    """What a scorer returned, with every tensor in it (one, or a list or tuple of them)
    detached from autograd and moved to the CPU, floating tensors as float32: a torch
    score that still requires grad, lives on a GPU or is bfloat16 cannot become a NumPy
    number as it is (torch raises "Can't call numpy() on Tensor that requires grad"), and a
    metric's score is a number, not part of a graph. A tensor of booleans or integers keeps
    its dtype, so `not_a_number` still sees booleans for what they are. Anything else is
    returned unchanged. Duck-typed (detach, cpu, float, is_floating_point), so torch is
    never imported here."""
    if isinstance(values, (list, tuple)):
        return type(values)(detached(v) for v in values) if any(_is_tensor(v) for v in values) else values
    if not _is_tensor(values):
        return values
    out = values.detach()
    out = out.cpu() if callable(getattr(out, "cpu", None)) else out
    floating = getattr(out, "is_floating_point", None)
    return out.float() if callable(floating) and floating() else out


def _is_tensor(value: Any) -> bool:
    return callable(getattr(value, "detach", None)) and hasattr(value, "requires_grad")


# What a scoring callable must return, said in every error about what it returned instead.
SCORE_CONTRACT = (
    "a number per image: a Python float or int, a NumPy number or a one-element tensor "
    "(a batch=True callable: a sequence or 1-D array/tensor of them, one per image)"
)


def not_a_number(values: Any) -> str | None:
    """Why `values` holds no score (None, a string, a boolean, a dict, a list holding one,
    an array of booleans or objects), worded for an error; None when it may be numbers.
    NumPy would read None as NaN and "0.5" as 0.5: a metric that returned nothing would be
    blamed on the image (a non-finite score) and a string taken for a number."""
    if values is None:
        return "None (not a number: did the function forget to return its score?)"
    if isinstance(values, (str, bytes)):
        return f"the {type(values).__name__} {values!r:.60} (not a number)"
    if isinstance(values, (bool, np.bool_)):
        return f"{values!r} (a boolean, not a number)"
    if isinstance(values, (dict, set, frozenset)):
        return f"a {type(values).__name__} (not a number)"
    if isinstance(values, (list, tuple)):
        for v in values:
            why = not_a_number(v)
            if why is not None:
                return f"a {type(values).__name__} holding {why}"
        return None
    dtype = getattr(values, "dtype", None)  # NumPy arrays and scalars, torch tensors
    if isinstance(dtype, np.dtype) and dtype.kind not in "iuf":
        return f"an array of {dtype} (not numbers)"
    if dtype is not None and not isinstance(dtype, np.dtype) and ("bool" in str(dtype) or "complex" in str(dtype)):
        return f"a tensor of {dtype} (not numbers)"
    return None


def as_scores(values: Any, n: int, metric_name: str) -> np.ndarray:
    """Coerce what a scorer returned into n float64 scores, or raise ScoreError saying what
    it returned and what a metric must return (SCORE_CONTRACT). Tensors are detached first."""
    values = detached(values)
    why = not_a_number(values)
    if why is None:
        try:
            arr = np.asarray(values, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError, RuntimeError) as e:  # RuntimeError: torch, e.g. a tensor that requires grad
            why = f"a {type(values).__name__} that is not numbers ({e})"
    if why is not None:
        raise ScoreError(
            explain(
                f"metric {metric_name}",
                expected=f"{n} number(s), {SCORE_CONTRACT}",
                got=why,
                fix="Make the scoring callable return its score(s) as numbers (e.g. float(score), tensor.item()).",
            )
        )
    if arr.shape != (n,):
        raise ScoreError(
            explain(
                f"metric {metric_name}",
                expected=f"{n} score(s), {SCORE_CONTRACT}",
                got=f"{arr.size} numbers (shape {tuple(np.shape(values))})",
                fix="Return exactly one score per image (reduce a score map to one number, e.g. its mean).",
            )
        )
    return arr
