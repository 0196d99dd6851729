"""Metric sanity checks: before trusting a metric's gaps, does it behave like a measurement?

One entry per check in `SANITY_CHECKS` (name -> function, whether a failure is only a
warning, a summary); the metric audit's `test_metric_sanity[<metric>-<check>]` cases, the
engine and the memo keys read this table. Adding a check is one entry plus its function.

Each function takes a `SanityInput` and returns (passed, message). The scores here bypass
the score cache on purpose (the checks are about the metric's own behaviour, not the
stored numbers), except where an entry says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from iqa_audit.core.images import Image


@dataclass(frozen=True)
class SanityInput:
    """What a sanity check may use.

    metric: the loaded metric (`score(list[Image]) -> sequence of floats`, `range`);
    seed_images(n): the audit's clean seeds, rendered at the audit's size (the first n, or
      all for None);
    cached_scores(images): the metric's scores of `images` through the store's score cache,
      as a float array of len(images) (the chains' step-0 images are the same bytes);
    seed_names: the names of the seeds seed_images(None) renders, in the same order.
    """

    metric: Any
    seed_images: Callable[[int | None], list[Image]]
    cached_scores: Callable[[list[Image]], np.ndarray]
    seed_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class SanityCheck:
    name: str
    run: Callable[[SanityInput], tuple[bool, str]]
    warning_only: bool  # a failure warns instead of failing the test
    summary: str


def finite(i: SanityInput) -> tuple[bool, str]:
    """The first 3 clean seeds score finite; the message names each seed with its score."""
    s = np.asarray(i.metric.score(i.seed_images(3)), dtype=float)
    names = i.seed_names[: len(s)] if len(i.seed_names) >= len(s) else tuple(f"seed {k}" for k in range(len(s)))
    listed = ", ".join(f"{n} {v!r}" + ("" if np.isfinite(v) else " (not finite)") for n, v in zip(names, s.tolist()))
    return bool(np.all(np.isfinite(s))), f"scores of {len(s)} clean seeds: {listed}"


def deterministic(i: SanityInput) -> tuple[bool, str]:
    """The same image twice gives the same score (relative tolerance 1e-6)."""
    img = i.seed_images(1)[0]
    a, b = float(i.metric.score([img])[0]), float(i.metric.score([img])[0])
    return a == b or abs(a - b) <= 1e-6 * max(1.0, abs(a)), f"same image scored {a!r} then {b!r}"


def batch_equals_single(i: SanityInput) -> tuple[bool, str]:
    """A batch of 3 scores as the 3 images one by one (rtol 1e-4, atol 1e-5: float32 batching)."""
    imgs = i.seed_images(3)
    batch = np.asarray(i.metric.score(imgs), dtype=float)
    single = np.asarray([i.metric.score([im])[0] for im in imgs], dtype=float)
    ok = bool(np.allclose(batch, single, rtol=1e-4, atol=1e-5))
    return ok, f"batch {batch.tolist()} vs one by one {single.tolist()}"


def clean_seeds_in_range(i: SanityInput) -> tuple[bool, str]:
    """Clean seeds score inside the typical range used for normalisation (through the cache)."""
    s = i.cached_scores(i.seed_images(None))
    r = i.metric.range
    lo, hi = min(r.lo, r.hi), max(r.lo, r.hi)
    names = i.seed_names or tuple(str(k) for k in range(len(s)))
    outside = [f"{name} {v:.4g}" for name, v in zip(names, s.tolist()) if not lo <= v <= hi]
    listed = (": " + ", ".join(outside[:5]) + (", …" if len(outside) > 5 else "")) if outside else ""
    return not outside, f"{len(outside)} of {len(s)} clean seeds score outside the typical range {lo}–{hi} ({r.source}){listed}"


SAME_SCORE_RTOL = 1e-6  # scores this close count as one (float32 noise, as deterministic's tolerance)
# With one clean seed, the other picture is that seed under Gaussian noise of σ 25 grey levels
# (the usual strong level of denoising benchmarks, e.g. BSD68 σ = 25): every metric of the
# study's Table 2 scores it differently from the clean seed.
PROBE_NOISE_SIGMA = 25.0


def responds_to_content(i: SanityInput) -> tuple[bool, str]:
    """Different pictures do not all score alike: the clean seeds (through the cache), and
    with only one seed that seed and a noisy copy of it (PROBE_NOISE_SIGMA). A metric that
    gives every picture one score can never notice a degradation, and its gaps of 0 would
    only read as 'missed'."""
    seeds = i.seed_images(None)
    scores = [float(v) for v in i.cached_scores(seeds)]
    what = f"{len(seeds)} clean seeds"
    if len(seeds) == 1:
        pixels = seeds[0].pixels.astype(np.float64)
        noise = np.random.default_rng(0).normal(0.0, PROBE_NOISE_SIGMA, pixels.shape)
        noisy = Image.from_array(np.clip(np.rint(pixels + noise), 0, 255).astype(np.uint8))
        scores.append(float(np.asarray(i.metric.score([noisy]), dtype=float)[0]))
        what = f"the clean seed and it under noise of σ {PROBE_NOISE_SIGMA:g}"
    s = np.asarray(scores, dtype=float)
    same = float(np.max(s) - np.min(s)) <= SAME_SCORE_RTOL * max(1.0, float(np.max(np.abs(s))))
    return not same, f"{what} score from {float(np.min(s)):.6g} to {float(np.max(s)):.6g}" + (
        ": every picture gets the same score" if same else ""
    )


def _table(entries: Iterable[SanityCheck]) -> Mapping[str, SanityCheck]:
    rows = list(entries)
    if len({c.name for c in rows}) != len(rows):
        raise ValueError("sanity check names listed twice")
    return MappingProxyType({c.name: c for c in rows})


SANITY_CHECKS: Mapping[str, SanityCheck] = _table(
    [
        SanityCheck("finite", finite, False, "scores of 3 clean seeds are finite"),
        SanityCheck("deterministic", deterministic, False, "one image scored twice gives one score"),
        SanityCheck("batch-equals-single", batch_equals_single, False, "batching does not change scores"),
        SanityCheck("responds-to-content", responds_to_content, False, "the clean seeds do not all score alike"),
        # A warning, not a failure: the study's ranges are typical, and scores outside them
        # are kept unclamped.
        SanityCheck("clean-seeds-in-range", clean_seeds_in_range, True, "clean seeds score inside the typical range"),
    ]
)
