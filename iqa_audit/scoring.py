"""Scores through the cache: each (metric id, metric version, image hash) is computed once.

Missing scores of one request are computed as one batch (the metric batches images of
one size together), then written to the store's score table, where every later request,
from any worker or run, finds them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Container, Sequence

import numpy as np

from .errors import AuditError, explain
from .metrics.base import Metric
from .store import Store


def cached_scores(store: Store, metric: Metric, objects: Sequence[tuple[str, str]]) -> dict[str, float]:
    """{image hash: raw score} for `objects` = [(hash, ext), ...], computing only what is missing."""
    wanted = dict(objects)  # hash -> ext, de-duplicated, order kept
    have = store.get_scores(metric.id, metric.version, wanted)
    missing = [h for h, _ in missing_objects(wanted, have)]
    if missing:
        images = [store.get_image(h, wanted[h]) for h in missing]
        t0 = time.perf_counter()
        raw = np.asarray(metric.score(images), dtype=np.float64)
        seconds = (time.perf_counter() - t0) / len(missing)
        if raw.shape != (len(missing),):
            raise AuditError(explain(f"metric {metric.name}", expected=f"{len(missing)} scores", got=f"shape {raw.shape}",
                                     fix="score(images) must return one float per image."))
        fresh = dict(zip(missing, raw.tolist()))
        store.put_scores(metric.id, metric.version, fresh, seconds)
        have.update(fresh)
    return {h: have[h] for h in wanted}


def missing_objects(objects: Sequence[tuple[str, str]] | dict[str, str], have: Container[str]) -> list[tuple[str, str]]:
    """The (hash, ext) of `objects` with no score in `have`, de-duplicated, order kept.

    Shared by the local engine (cached_scores) and the Ray engine (distributed.py), so
    both ask the store the same question and the store stays the one truth."""
    wanted = dict(objects)
    return [(h, ext) for h, ext in wanted.items() if h not in have]


def scored_objects(cfg, store: Store) -> list[tuple[str, str]]:
    """(hash, ext) of every step of every chain of `cfg` that a metric must score,
    building (or resuming) the chains first."""
    from .chains import build_chain
    from .plan import chain_specs

    objects: list[tuple[str, str]] = []
    for spec in chain_specs(cfg):
        chain = build_chain(store, spec, extra_seed_dirs=cfg.seed_dirs)
        for s in chain.ok_steps:
            if s.step in cfg.scored_steps:
                objects.append((s.image_hash, s.ext))
    return objects


def score_chains(cfg, store: Store) -> int:
    """CLI `score`: fill the cache for every chain of `cfg` with every metric of `cfg`."""
    from .metrics.base import MetricUnavailable
    from .metrics.registry import create_metric

    objects = scored_objects(cfg, store)
    status = 0
    for name in cfg.metrics:
        try:
            metric = create_metric(name, device=cfg.device)
        except MetricUnavailable as e:
            print(f"skipped {name}: {e}", file=sys.stderr)
            continue
        before = len(store.get_scores(metric.id, metric.version, dict(objects)))
        t0 = time.perf_counter()
        cached_scores(store, metric, objects)
        print(f"{name}: {len(dict(objects)) - before} scored, {before} cached, {time.perf_counter() - t0:.1f} s")
    return status
