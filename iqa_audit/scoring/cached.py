"""Scores through the cache: each (metric id, metric version, image hash) is computed once.

Missing scores of one request are computed as one batch (the metric batches images of
one size together), checked and written by the one scoring core (`score_core`), where
every later request, from any worker or run, finds them. A NaN or ±inf is never a
score: it is remembered apart, and whoever needs it gets a NonFiniteScore naming the image.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Container, Sequence

from iqa_audit.metrics.base import Metric
from iqa_audit.scoring.batch import Scores, known_scores, nonfinite_error, score_and_store
from iqa_audit.store.store import Store


def scores_of(store: Store, metric: Metric, objects: Sequence[tuple[str, str]]) -> Scores:
    """What `metric` says about `objects` = [(hash, ext), ...], computing only what the store
    does not know yet (one batch). Non-finite values come back in `.nonfinite`, never raised."""
    wanted = dict(objects)  # hash -> ext, de-duplicated, order kept
    have = known_scores(store, metric.id, metric.version, wanted)
    missing = [(h, ext) for h, ext in wanted.items() if h not in have.finite and h not in have.nonfinite]
    if missing:
        have = have.merged(score_and_store(store, metric, missing))
    return have


def cached_scores(store: Store, metric: Metric, objects: Sequence[tuple[str, str]]) -> dict[str, float]:
    """{image hash: raw score} for `objects` = [(hash, ext), ...], computing only what is missing.

    Raises NonFiniteScore (naming each image, its chain steps, file and size) when the
    metric returned NaN or ±inf for any of them; the finite scores are stored first."""
    got = scores_of(store, metric, objects)
    wanted = dict(objects)
    if got.nonfinite:
        raise nonfinite_error(store, metric.name, got.nonfinite, exts=wanted)
    return {h: got.finite[h] for h in wanted}


def missing_objects(objects: Sequence[tuple[str, str]] | dict[str, str], have: Container[str]) -> list[tuple[str, str]]:
    """The (hash, ext) of `objects` with no score in `have`, de-duplicated, order kept.

    Shared by the local engine (cached_scores) and the Ray engine (ray_scoring.py), so
    both ask the store the same question and the store stays the one truth."""
    wanted = dict(objects)
    return [(h, ext) for h, ext in wanted.items() if h not in have]


def scored_objects(cfg, store: Store, budget=None) -> list[tuple[str, str]]:
    """(hash, ext) of every step of every chain of `cfg` that a metric must score,
    building (or resuming) the chains first under `budget` (a paid.PaidBudget; None: no
    paid request). Raises BudgetExhausted when a paid chain needs more than it allows."""
    from iqa_audit.chains.chain import build_chain
    from iqa_audit.chains.plan import chain_specs

    objects: list[tuple[str, str]] = []
    for spec in chain_specs(cfg):
        chain = build_chain(store, spec, extra_seed_dirs=cfg.seed_dirs, budget=budget)
        for s in chain.ok_steps:
            if s.step in cfg.scored_steps:
                objects.append((s.image_hash, s.ext))
    return objects


def score_chains(cfg, store: Store, budget=None) -> int:
    """CLI `score`: fill the cache for every chain of `cfg` with every metric of `cfg`,
    building missing chains under `budget` (a paid.PaidBudget; None: no paid request).

    Returns 1 when a metric gave NaN or ±inf for some image (each printed as an error,
    every other score stored), or when a requested metric cannot run here (no silent green:
    a score job that scored nothing must not look done) unless cfg.allow_missing_metrics;
    else 0."""
    from iqa_audit.metrics.base import MetricUnavailable
    from iqa_audit.metrics.registry import create_metric

    objects = scored_objects(cfg, store, budget)
    status = 0
    for name in cfg.metrics:
        try:
            metric = create_metric(name, device=cfg.device)
        except MetricUnavailable as e:
            print(f"{'skipped' if cfg.allow_missing_metrics else 'error'}: {name}: {e}", file=sys.stderr)
            status = status if cfg.allow_missing_metrics else 1
            continue
        before = known_scores(store, metric.id, metric.version, dict(objects))
        t0 = time.perf_counter()
        got = scores_of(store, metric, objects)
        fresh = len(got.finite) - len(before.finite)
        bad = f", {len(got.nonfinite)} not finite" if got.nonfinite else ""
        print(f"{name}: {fresh} scored, {len(before.finite)} cached{bad}, {time.perf_counter() - t0:.1f} s")
        if got.nonfinite:
            print(f"error: {nonfinite_error(store, name, got.nonfinite, exts=dict(objects))}", file=sys.stderr)
            status = 1
    return status
