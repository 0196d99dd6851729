"""Scores through the cache: each (metric id, metric version, image hash) is computed once.

`Scorer.scores` is the one way to ask for scores: it reads what the store knows, computes
what it lacks as one batch (the metric batches images of one size together), checked and
written by the one scoring core (`scoring.batch`), where every later request, from any
worker or run, finds them. A NaN or ±inf is never a score: it is remembered apart, and
whoever needs it gets a NonFiniteScore naming the image (`batch.nonfinite_error`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from iqa_audit.chains.chain import build_chain
from iqa_audit.chains.plan import chain_specs
from iqa_audit.core.errors import ConfigError
from iqa_audit.core.heap import freeze_long_lived
from iqa_audit.metrics.base import Metric, MetricUnavailable
from iqa_audit.metrics.identity import MetricIdentity, fingerprint
from iqa_audit.metrics.registry import create_metric
from iqa_audit.scoring.batch import Scores, known_scores, nonfinite_error, score_batch, store_batch
from iqa_audit.store.store import Store


class Scorer:
    """Metric scores through the store's score cache, in one process.

    Loads each metric once (the registry caches it per (name, device)) and only when the
    store lacks a score; a metric that cannot run here is remembered, so every cell of it
    gets the same MetricUnavailable at once. A metric's identity (id, version, range) is
    memoised in the store under its fingerprint, so a warm run imports neither torch nor
    pyiqa. Caches are plain dicts: one Scorer per process, not shared between threads."""

    def __init__(self, store: Store, device: str = "cpu"):
        self.store = store
        self.device = device
        self._identities: dict[str, MetricIdentity] = {}
        self._unavailable: dict[str, Exception] = {}

    def metric(self, name: str) -> Metric:
        """The loaded metric. MetricUnavailable when it cannot run here: missing weights or
        packages, or a name, import or declaration the registry refuses (ConfigError),
        remembered for this process."""

        if name in self._unavailable:
            raise self._unavailable[name]
        try:
            metric = create_metric(name, device=self.device)
            freeze_long_lived()  # torch, pyiqa and the network now stay to the end (core/heap.py)
            return metric
        except MetricUnavailable as e:
            self._unavailable[name] = e
            raise
        except ConfigError as e:
            self._unavailable[name] = MetricUnavailable(str(e))
            raise self._unavailable[name] from e

    def identity(self, name: str) -> MetricIdentity:
        """id, version and range of metric `name`: from the store's memo when its fingerprint
        is unchanged, else from the loaded metric (raising MetricUnavailable as `metric`
        does), then memoised for a pyiqa metric. Cached per process."""
        if name not in self._identities:
            fp = fingerprint(name)
            memo = None if fp is None else self.store.get_memo("identity", fp)
            if memo is not None:
                self._identities[name] = MetricIdentity.from_json(memo)
            else:
                self._remember(name, self.metric(name))
        return self._identities[name]

    def _remember(self, name: str, metric: Metric) -> None:
        identity = self._identities[name] = MetricIdentity.of(metric)
        fp = fingerprint(name)
        if fp is not None:
            self.store.put_memo("identity", fp, identity.to_json())

    def scores(self, metric: str | Metric, objects: Sequence[tuple[str, str]]) -> Scores:
        """What `metric` says about `objects` = [(image sha256, ext), ...], computing only
        what the store does not know yet, as one batch, and storing it.

        `metric`: a name (loaded only when the store lacks a score; its identity from the
        memo until then, the loaded metric's after), or a loaded metric. Returns Scores:
        `.finite` {hash: raw score in the metric's own units}, `.nonfinite` {hash: NaN/±inf},
        never raised. Raises MetricUnavailable, ScoreError (a batch of the wrong shape),
        CorruptObject or BadImageError (an image that cannot be read), StoreError (a
        read-only store lacking scores)."""
        wanted = dict(objects)  # hash -> ext, de-duplicated, order kept
        if isinstance(metric, str):
            identity = self.identity(metric)
            have = known_scores(self.store, identity.id, identity.version, wanted)
            if not have.missing(wanted):
                return have
            name, metric = metric, self.metric(metric)
            self._remember(name, metric)  # the loaded metric's word is final
        have = known_scores(self.store, metric.id, metric.version, wanted)
        missing = have.missing(wanted)
        if missing:
            hashes = [h for h, _ in missing]
            images = [self.store.get_image(h, ext) for h, ext in missing]
            t0 = time.perf_counter()
            raw = score_batch(metric, images)
            seconds = (time.perf_counter() - t0) / max(len(hashes), 1)
            have = have.merged(store_batch(self.store, metric.id, metric.version, hashes, raw, seconds))
        return have


def scored_objects(cfg, store: Store, budget=None) -> list[tuple[str, str]]:
    """(hash, ext) of every step of every chain of `cfg` that a metric must score,
    building (or resuming) the chains first under `budget` (a paid.PaidBudget; None: no
    paid request). Raises BudgetExhausted when a paid chain needs more than it allows."""

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

    objects = scored_objects(cfg, store, budget)
    scorer = Scorer(store, cfg.device)
    status = 0
    for name in cfg.metrics:
        try:
            metric = scorer.metric(name)
        except MetricUnavailable as e:
            print(f"{'skipped' if cfg.allow_missing_metrics else 'error'}: {name}: {e}", file=sys.stderr)
            status = status if cfg.allow_missing_metrics else 1
            continue
        before = known_scores(store, metric.id, metric.version, dict(objects))
        t0 = time.perf_counter()
        got = scorer.scores(metric, objects)
        fresh = len(got.finite) - len(before.finite)
        bad = f", {len(got.nonfinite)} not finite" if got.nonfinite else ""
        print(f"{name}: {fresh} scored, {len(before.finite)} cached{bad}, {time.perf_counter() - t0:.1f} s")
        if got.nonfinite:
            print(f"error: {nonfinite_error(store, name, got.nonfinite, exts=dict(objects))}", file=sys.stderr)
            status = 1
    return status
