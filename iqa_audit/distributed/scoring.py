"""Scoring on a Ray cluster (`score --engine ray`): one loaded metric per actor, chunks of image bytes.

Holds the values (ChunkEvent, MetricRun), the worker (MetricWorker, a Ray actor holding one
loaded metric) and the driver (score_distributed, which keeps every actor busy, stores each
chunk as it returns and replaces dead actors; score_chains_ray, the CLI entry). The driver
alone touches the store; see the package docstring for the design and cluster.py for the session.
"""

from __future__ import annotations

import collections
import hashlib
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from iqa_audit.core.decode import decode_image
from iqa_audit.core.errors import AuditError, ConfigError, explain
from iqa_audit.distributed.cluster import (
    DEFAULT_MAX_RETRIES,
    check_reachable,
    cluster_slots,
    import_ray,
    log_to_stderr,
    ray_session,
    retryable_errors,
)
from iqa_audit.metrics.base import MetricUnavailable, ScoreError
from iqa_audit.metrics.registry import create_metric
from iqa_audit.scoring.batch import known_scores, nonfinite_error, score_batch, store_batch
from iqa_audit.scoring.cached import scored_objects
from iqa_audit.store.store import Store

DEFAULT_CHUNK_SIZE = 8  # images per task: small enough that a lost worker costs little; a project choice


# ----- values -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChunkEvent:
    """What happened to one chunk, in the order the driver saw it (kept for reports and tests)."""

    kind: str  # 'stored': its scores are in the store | 'lost': its actor died before answering
    chunk: int
    at: float  # time.time() on the driver


@dataclass(frozen=True)
class MetricRun:
    """The outcome of scoring one metric on the cluster."""

    name: str
    metric_id: str | None
    version: str | None
    scored: int  # scores computed (and stored) this run
    cached: int  # scores already in the store
    chunks: int
    actors: int  # actors started, replacements included
    replaced: int  # actors that died and were replaced
    seconds: float
    skipped: str | None = None  # why the metric could not run here (MetricUnavailable)
    events: tuple[ChunkEvent, ...] = ()
    # image hash -> the NaN/±inf the metric gave (this run or remembered): not stored as scores
    nonfinite: Mapping[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        if self.skipped:
            return f"skipped {self.name}: {self.skipped}"
        lost = f", {self.replaced} lost and replaced" if self.replaced else ""
        bad = f", {len(self.nonfinite)} not finite" if self.nonfinite else ""
        return (
            f"{self.name}: {self.scored} scored, {self.cached} cached{bad}, {self.seconds:.1f} s "
            f"({self.chunks} chunks on {self.actors - self.replaced} Ray actors{lost})"
        )


# ----- the worker side -----------------------------------------------------------------------------


class MetricWorker:
    """A Ray actor holding ONE loaded metric. Scores chunks of encoded images.

    Errors come back as values ({'error': ...}), not exceptions: the driver must tell a
    metric that fails (stop, report) from a worker that dies (replace, retry), and plain
    strings cross the wire whatever the exception class was."""

    def __init__(self, name: str, device: str, exit_on_chunk: int | None = None):
        # exit_on_chunk: a test hook. The process exits (as if the node died) when this
        # actor receives its Nth chunk, before scoring it. Never set outside tests.
        self._exit_on_chunk = exit_on_chunk
        self._chunks = 0
        self.metric = None
        self.problem: tuple[str, str] | None = None
        try:
            self.metric = create_metric(name, device=device)
        except MetricUnavailable as e:
            self.problem = ("unavailable", str(e))
        except Exception as e:  # reported to the driver, which raises it there with context
            self.problem = ("error", f"{type(e).__name__}: {e}")

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"pid": os.getpid(), "problem": self.problem}
        if self.metric is not None:
            out.update(id=self.metric.id, version=self.metric.version)
        return out

    def score(self, chunk: int, hashes: list[str], encoded: list[bytes]) -> dict[str, Any]:
        self._chunks += 1
        if self._exit_on_chunk is not None and self._chunks == self._exit_on_chunk:
            os._exit(1)
        if self.metric is None:
            return {"chunk": chunk, "error": f"the metric could not be created on this worker: {self.problem}"}
        try:
            images = []
            for h, data in zip(hashes, encoded, strict=True):
                if hashlib.sha256(data).hexdigest() != h:
                    return {"chunk": chunk, "error": f"image {h[:12]}… arrived with different content (sha256 mismatch)"}
                images.append(decode_image(data, source=f"image {h[:12]}… of chunk {chunk}"))
            t0 = time.perf_counter()
            raw = score_batch(self.metric, images)  # shape checked here; finiteness by the driver's store_batch
            seconds = time.perf_counter() - t0
        except Exception as e:
            return {"chunk": chunk, "error": f"{type(e).__name__}: {e}"}
        return {
            "chunk": chunk,
            "id": self.metric.id,
            "version": self.metric.version,
            "scores": raw.tolist(),
            "seconds": seconds,
            "pid": os.getpid(),
            "error": None,
        }


# ----- the driver side -----------------------------------------------------------------------------


def score_distributed(
    store: Store,
    metric_names: Sequence[str],
    objects: Sequence[tuple[str, str]],
    *,
    device: str = "cpu",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_retries: int = DEFAULT_MAX_RETRIES,
    actors: int | None = None,
    crash_first_actor_on_chunk: int | None = None,
    log=None,
) -> list[MetricRun]:
    """Score `objects` = [(hash, ext), ...] with every metric on the open Ray session.

    Same cache keys and values as scoring.cached.Scorer; one MetricRun per metric, in
    order. `actors` caps actors per metric (default: one per CPU, or per GPU with cuda).
    `crash_first_actor_on_chunk` is a test hook (see MetricWorker). `log(line)` gets the
    progress lines (default: stderr)."""
    ray = import_ray()
    if not ray.is_initialized():
        raise AuditError(
            explain(
                "score_distributed",
                expected="an open Ray session",
                got="ray is not initialised",
                fix="Call it inside `with ray_session(...):`.",
            )
        )
    if chunk_size < 1 or max_retries < 0 or (actors is not None and actors < 1):
        raise ConfigError(
            explain(
                "Ray scoring options",
                expected="chunk_size >= 1, max_retries >= 0, actors >= 1",
                got=f"chunk_size={chunk_size}, max_retries={max_retries}, actors={actors}",
                fix="Pass positive values.",
            )
        )
    runs = []
    for name in metric_names:
        runs.append(
            _score_metric(
                store,
                name,
                list(objects),
                device=device,
                chunk_size=chunk_size,
                max_retries=max_retries,
                actors=actors,
                crash_on=crash_first_actor_on_chunk,
                log=log or log_to_stderr,
            )
        )
    return runs


class _Pool:
    """The actors of one metric. Slot i holds the current actor of that slot."""

    def __init__(self, name: str, device: str):
        ray = import_ray()
        resources = {"num_gpus": 1} if device.startswith("cuda") else {"num_cpus": 1}
        # max_restarts=0: a dead actor stays dead and we replace it ourselves, so the
        # driver knows exactly which chunk was lost and never double-counts one.
        self._cls = ray.remote(MetricWorker).options(max_restarts=0, max_task_retries=0, **resources)
        self.name, self.device = name, device
        self.slots: list[Any] = []
        self.started = 0

    def new(self, exit_on_chunk: int | None = None):
        self.started += 1
        return self._cls.remote(self.name, self.device, exit_on_chunk)

    def kill(self, actor) -> None:
        try:
            import_ray().kill(actor, no_restart=True)
        except Exception:  # already gone: nothing to free
            pass

    def close(self) -> None:
        for a in self.slots:
            self.kill(a)
        self.slots = []


def _score_metric(
    store: Store,
    name: str,
    objects: list[tuple[str, str]],
    *,
    device: str,
    chunk_size: int,
    max_retries: int,
    actors: int | None,
    crash_on: int | None,
    log,
) -> MetricRun:
    ray = import_ray()
    dead = retryable_errors()
    t0 = time.perf_counter()
    pool = _Pool(name, device)
    try:
        # The first actor tells us the metric's id and version (the cache key) before we
        # ask the store what is missing; loading the model once here is not wasted, the
        # actor then scores chunks like the others.
        info = None
        for attempt in range(max_retries + 1):
            pool.slots = [pool.new(exit_on_chunk=crash_on)]
            try:
                info = ray.get(pool.slots[0].describe.remote())
                break
            except dead as e:
                pool.close()
                if attempt == max_retries:
                    raise AuditError(
                        explain(
                            f"metric {name} on Ray",
                            expected="a worker that loads the metric",
                            got=f"{max_retries + 1} workers died while loading it: {e}",
                            fix="Check the worker logs above (memory? a missing package on the nodes?).",
                        )
                    ) from None
        assert info is not None
        if info["problem"] is not None:
            kind, text = info["problem"]
            if kind == "unavailable":
                log(f"skipped {name}: {text}")
                return MetricRun(name, None, None, 0, 0, 0, pool.started, 0, time.perf_counter() - t0, skipped=text)
            raise AuditError(
                explain(
                    f"metric {name} on Ray worker (pid {info['pid']})",
                    expected="the metric loads",
                    got=text,
                    fix="Fix the metric name or its module; the local engine shows the same error.",
                )
            )
        metric_id, version = info["id"], info["version"]
        wanted = dict(objects)
        have = known_scores(store, metric_id, version, wanted)
        missing = have.missing(wanted)
        chunks = [missing[i : i + chunk_size] for i in range(0, len(missing), chunk_size)]
        if not chunks:
            return MetricRun(
                name,
                metric_id,
                version,
                0,
                len(have.finite),
                0,
                pool.started,
                0,
                time.perf_counter() - t0,
                nonfinite=dict(have.nonfinite),
            )
        n_actors = min(len(chunks), actors or cluster_slots(device))
        pool.slots += [pool.new() for _ in range(n_actors - 1)]
        events, scored, replaced, bad = _run_chunks(store, pool, chunks, metric_id, version, max_retries, dead)
        return MetricRun(
            name,
            metric_id,
            version,
            scored,
            len(have.finite),
            len(chunks),
            pool.started,
            replaced,
            time.perf_counter() - t0,
            events=tuple(events),
            nonfinite={**have.nonfinite, **bad},
        )
    finally:
        pool.close()


def _run_chunks(
    store: Store,
    pool: _Pool,
    chunks: list[list[tuple[str, str]]],
    metric_id: str,
    version: str,
    max_retries: int,
    dead: tuple[type[BaseException], ...],
) -> tuple[list[ChunkEvent], int, int, dict[str, float]]:
    """Keep every actor busy with one chunk; store each chunk as it returns (through the one
    scoring core: finite scores stored, NaN/±inf returned); replace the dead."""
    ray = import_ray()
    todo = collections.deque(range(len(chunks)))
    losses = collections.Counter()
    inflight: dict[Any, tuple[int, int]] = {}  # object ref -> (slot, chunk)
    idle = collections.deque(range(len(pool.slots)))
    events: list[ChunkEvent] = []
    scored = replaced = 0
    bad: dict[str, float] = {}
    while todo or inflight:
        while todo and idle:
            slot, c = idle.popleft(), todo.popleft()
            hashes = [h for h, _ in chunks[c]]
            # Read (and hash-check) the bytes only now: memory holds the in-flight chunks, not the run.
            encoded = [store.read_bytes(h, ext) for h, ext in chunks[c]]
            inflight[pool.slots[slot].score.remote(c, hashes, encoded)] = (slot, c)
        ready, _ = ray.wait(list(inflight), num_returns=1)
        slot, c = inflight.pop(ready[0])
        try:
            result = ray.get(ready[0])
        except dead as e:
            events.append(ChunkEvent("lost", c, time.time()))
            losses[c] += 1
            if losses[c] > max_retries:
                raise AuditError(
                    explain(
                        f"chunk {c} ({len(chunks[c])} images, first {chunks[c][0][0][:12]}…) of metric {pool.name} on Ray",
                        expected=f"scored within {max_retries + 1} tries",
                        got=f"its worker died {losses[c]} times; last: {type(e).__name__}",
                        fix="Every other finished chunk is stored; check the worker logs (out of memory? a bad image?) and run "
                        "the same command again to score only what is missing.",
                    )
                ) from None
            pool.kill(pool.slots[slot])
            pool.slots[slot] = pool.new()
            replaced += 1
            todo.appendleft(c)  # the lost chunk goes first, to the replacement or any idle actor
            idle.append(slot)
            continue
        if result.get("error"):
            raise ScoreError(
                explain(
                    f"metric {pool.name}, chunk {c} (first image {chunks[c][0][0][:12]}…) on Ray",
                    expected="one score per image",
                    got=result["error"],
                    fix="Scores of the chunks that finished are stored; fix the metric or the image and run again.",
                )
            )
        if (result["id"], result["version"]) != (metric_id, version):
            raise AuditError(
                explain(
                    f"metric {pool.name} on Ray worker pid {result['pid']}",
                    expected=f"id {metric_id} version {version} (as on the first worker)",
                    got=f"id {result['id']} version {result['version']}",
                    fix="Install the same package versions and weights on every node.",
                )
            )
        hashes = [h for h, _ in chunks[c]]
        got = store_batch(store, metric_id, version, hashes, result["scores"], result["seconds"] / len(hashes))
        events.append(ChunkEvent("stored", c, time.time()))
        scored += len(got.finite)
        bad.update(got.nonfinite)
        idle.append(slot)
    return events, scored, replaced, bad


def score_chains_ray(
    cfg,
    store: Store,
    *,
    address: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_retries: int = DEFAULT_MAX_RETRIES,
    num_cpus: int | None = None,
    object_store_mb: int | None = None,
    budget=None,
) -> int:
    """CLI `score --engine ray`: like scoring.score_chains, with the metrics run on Ray.
    Missing chains are built here first, under `budget` (a paid.PaidBudget; None: none)."""
    if address:
        check_reachable(address)  # before building anything
    objects = scored_objects(cfg, store, budget)  # builds missing chains here, as the local engine does
    with ray_session(address, num_cpus=num_cpus, object_store_mb=object_store_mb) as where:
        print(f"scoring {len(dict(objects))} images with {len(cfg.metrics)} metrics on {where}")
        runs = score_distributed(store, cfg.metrics, objects, device=cfg.device, chunk_size=chunk_size, max_retries=max_retries)
    status = 0
    for r in runs:
        if not r.skipped:  # skips were reported on stderr as they happened, like the local engine
            print(r.summary())
        elif not cfg.allow_missing_metrics:  # no silent green, as the local engine
            status = 1
        if r.nonfinite:  # as the local engine: every other score is stored, each bad image named
            print(f"error: {nonfinite_error(store, r.name, r.nonfinite, exts=dict(objects))}", file=sys.stderr)
            status = 1
    return status
