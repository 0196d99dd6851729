"""Scoring (and free-chain building) spread over a Ray cluster: `--engine ray`.

    iqa-audit score --engine ray                     # a local Ray instance
    iqa-audit score --engine ray --address HOST:6379 # an existing cluster
    iqa-audit build --engine ray --address HOST:6379 # free editors only

Ray is an extra: `pip install 'iqa-audit[ray]'` (bin/setup installs it).

Who does what, and why:

- The DRIVER (the process running `iqa-audit`) is the only one that touches the
  store. It works out which (metric, image) scores are missing, reads those images'
  bytes, and writes every finished chunk's scores the moment the chunk comes back. The
  store stays the single truth: a worker lost mid-run loses at most the chunk it was on,
  and a re-run (of either engine) scores only what is still missing.
- WORKERS get image BYTES, never store paths: a remote node has no access to the
  driver's disk. Each worker is a Ray actor holding ONE loaded metric (created once, in
  its constructor, with create_metric), so a model is loaded once per actor, not once
  per chunk. An actor asks for one GPU with --device cuda, else one CPU.
- An actor that dies (node lost, OOM kill, segfault) is replaced and its unfinished chunk
  re-submitted, a bounded number of times per chunk; then the run stops with an error
  naming the metric and the chunk. Chunks that finished are never sent again.
- Building: each free chain is built by one Ray task from the chain's last stored image;
  the task returns the new steps' bytes and metadata, and the driver stores them in
  order under the chain's lock. Paid editors are refused: their budget and the
  never-re-request guarantee live in the driver's store, not on a remote node.

Everything that crosses the wire is plain data (bytes, str, float, lists and dicts of
them); Ray itself moves it (Ray's own transport serialises with cloudpickle: that is the
framework's business, no iqa_audit value is pickled into the store or any file).
Ray is imported lazily: the local engine, and everything else, works without it.
"""

from __future__ import annotations

import collections
import hashlib
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .errors import AuditError, ConfigError, explain
from .metrics.base import MetricUnavailable, ScoreError
from .score_core import known_scores, nonfinite_error, score_batch, store_batch
from .scoring import missing_objects, scored_objects
from .store import Store

DEFAULT_CHUNK_SIZE = 8
DEFAULT_MAX_RETRIES = 3
PACKAGE_DIR = Path(__file__).resolve().parent


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


# ----- the Ray session ------------------------------------------------------------------------


def _ray():
    # On Linux Ray binds a local instance to the host's network address; with this unset it
    # uses loopback, so a local run never listens beyond this machine. A real cluster
    # (--address) is unaffected: its head decides its own address.
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise ConfigError(
            explain(
                "--engine ray",
                expected="the ray package installed",
                got="no module named 'ray'",
                fix="pip install 'iqa-audit[ray]' (or use the default --engine local).",
            )
        ) from None
    return ray


def local_cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 2
    except AttributeError:  # not on Linux
        return os.cpu_count() or 2


@contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None, object_store_mb: int | None = None) -> Iterator[str]:
    """Connect to the cluster at `address`, or start a local instance; yields a description.

    If Ray is already initialised in this process (a test fixture, a notebook) that
    session is used and left running: we shut down only what we started."""
    ray = _ray()
    if ray.is_initialized():
        yield "the Ray session already open in this process"
        return
    if address:
        _check_reachable(address)
        # A remote node has no copy of this checkout: ship the package with the job (Ray
        # caches it by content hash). Its dependencies (numpy, torch, pyiqa, ...) must be
        # installed on the nodes; a user's own metric module must be importable there too.
        runtime_env = {"py_modules": [str(PACKAGE_DIR)], "excludes": ["__pycache__", "*.pyc"]}
        try:
            ray.init(address=address, runtime_env=runtime_env, logging_level="WARNING", log_to_driver=True)
        except (ConnectionError, ValueError, RuntimeError) as e:
            raise ConfigError(
                explain(
                    f"Ray cluster address {address!r}",
                    expected="a running cluster (ray start --head)",
                    got=f"{type(e).__name__}: {e}",
                    fix="Check the address (HOST:PORT of the head node, or 'auto'), or leave --address out "
                    "to start a local instance.",
                )
            ) from None
        where = f"Ray cluster at {address}"
    else:
        # address='local': a fresh instance, never an unrelated cluster that RAY_ADDRESS or
        # /tmp/ray happen to point at.
        cpus = num_cpus or local_cpu_count()
        kwargs: dict[str, Any] = {
            "address": "local",
            "num_cpus": cpus,
            "include_dashboard": False,
            "logging_level": "WARNING",
            "log_to_driver": True,
        }
        if object_store_mb:
            kwargs["object_store_memory"] = int(object_store_mb) * 1024 * 1024
        ray.init(**kwargs)
        where = f"local Ray instance ({cpus} CPUs)"
    try:
        yield where
    finally:
        ray.shutdown()


def _check_reachable(address: str) -> None:
    """Fail in seconds, not minutes, on a wrong HOST:PORT: ray.init keeps retrying the GCS
    for a long time. Other forms ('auto', 'ray://...') are left to Ray."""
    import socket

    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except OSError as e:
        raise ConfigError(
            explain(
                f"Ray cluster address {address!r}",
                expected="a head node listening there (ray start --head)",
                got=f"cannot connect: {e}",
                fix="Check HOST:PORT (the head's GCS port, 6379 by default), or leave --address out to "
                "start a local Ray instance.",
            )
        ) from None


def _retryable_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean 'the worker is gone', not 'the metric failed': retry elsewhere."""
    ex = _ray().exceptions
    return tuple(
        getattr(ex, n)
        for n in (
            "RayActorError",
            "ActorDiedError",
            "ActorUnavailableError",
            "WorkerCrashedError",
            "ObjectLostError",
            "NodeDiedError",
        )
        if hasattr(ex, n)
    )


def _cluster_slots(device: str) -> int:
    """How many one-metric actors fit the cluster at once: one per GPU for cuda, else per CPU."""
    res = _ray().cluster_resources()
    if device.startswith("cuda"):
        gpus = int(res.get("GPU", 0))
        if gpus < 1:
            raise ConfigError(
                explain(
                    "--device cuda with --engine ray",
                    expected="a cluster with at least one GPU",
                    got=f"cluster resources {dict(res)}",
                    fix="Add GPU nodes or score with --device cpu.",
                )
            )
        return gpus
    return max(1, int(res.get("CPU", 1)))


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
            from .metrics.registry import create_metric

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
            from .images import decode_image

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

    Same cache keys and values as scoring.cached_scores; one MetricRun per metric, in
    order. `actors` caps actors per metric (default: one per CPU, or per GPU with cuda).
    `crash_first_actor_on_chunk` is a test hook (see MetricWorker). `log(line)` gets the
    progress lines (default: stderr)."""
    ray = _ray()
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
                log=log or _stderr,
            )
        )
    return runs


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


class _Pool:
    """The actors of one metric. Slot i holds the current actor of that slot."""

    def __init__(self, name: str, device: str):
        ray = _ray()
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
            _ray().kill(actor, no_restart=True)
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
    ray = _ray()
    dead = _retryable_errors()
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
        missing = missing_objects(wanted, {**have.finite, **have.nonfinite})
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
        n_actors = min(len(chunks), actors or _cluster_slots(device))
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
    ray = _ray()
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
        _check_reachable(address)  # before building anything
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


# ----- building free chains --------------------------------------------------------------------


def build_steps(
    editor_spec: str, task_name: str, run: int, first: int, last: int, previous: bytes, exit_on_step: int | None = None
) -> Iterator[dict[str, Any]]:
    """The worker side of one chain: steps first..last from the encoded image of step first-1.

    A Ray streaming generator: each step is yielded (and so reaches the driver, which
    stores it) as soon as it is made, so a worker lost at step k loses only step k. Each
    step is chains.make_step, the function the local engine calls, sent as its plain-data
    form (StepOutcome.to_wire); the driver records it with chains.record_step, so both
    engines make and store steps the same way and chains end byte-identical.
    The first item names the editor (id, version), which the driver checks against the
    chain key it computed. `exit_on_step` is a test hook: the process exits (as if the
    node died) just before making that step."""
    from .chains import make_step
    from .editors import create_editor
    from .images import decode_image
    from .tasks import get_task

    editor = create_editor(editor_spec)
    yield {"editor_id": editor.id, "editor_version": editor.version, "paid": bool(editor.paid)}
    if editor.paid:
        return  # refused by the driver; never request a paid edit from a worker
    task = get_task(task_name)
    image = decode_image(previous, source=f"step {first - 1} of a {editor_spec} chain")
    for k in range(first, last + 1):
        if exit_on_step == k:
            os._exit(1)
        try:
            outcome = make_step(editor, task, image, k, run)
        except Exception as e:  # the chain fails, the others go on (as in build.build_all)
            yield {"step": k, "error": f"{type(e).__name__}: {e}"}
            return
        yield outcome.to_wire()
        if outcome.status != "ok":
            return
        image = outcome.image


def refuse_paid_editors(specs: Sequence[Any]) -> None:
    """--engine ray builds free editors only: the paid budget and the guarantee that a paid
    step is never requested twice live in the driver's store and its locks."""
    from .editors import create_editor

    paid = sorted({s.editor for s in specs if create_editor(s.editor).paid})
    if paid:
        raise ConfigError(
            explain(
                "build --engine ray",
                expected="free editors only",
                got=f"paid editor(s) {', '.join(paid)}",
                fix="Build paid chains with the default --engine local (its --max-paid-steps budget and "
                "never-re-request guarantee need the store on this machine); pass --editor to pick "
                "the free ones for Ray.",
            )
        )


@dataclass
class _ChainJob:
    """Driver-side state of one chain being built on the cluster (mutable, driver only)."""

    rc: Any  # chains.ResolvedChain
    lock: Any  # the entered chain-lock context manager, released when the chain is done
    added: int = 0
    losses: int = 0


def build_chains_distributed(
    store: Store,
    specs: Sequence[Any],
    *,
    seed_dirs: Sequence[str] = (),
    max_retries: int = DEFAULT_MAX_RETRIES,
    max_inflight: int | None = None,
    crash_first_chain_on_step: int | None = None,
    log=None,
    budget=None,
) -> list[Any]:
    """Build (or resume) free chains on the open Ray session; one build.BuildOutcome per spec.

    Step 0 (the rendered seed, which may come from a folder only this machine has) is made
    here; the rest by one Ray task per chain, from the chain's last stored image. Each
    chain's lock is held from dispatch until its last step is stored, so a local builder
    of the same chain waits and then finds it built. A chain whose worker dies resumes
    from its last stored step, at most `max_retries` times. `budget` (a paid.PaidBudget) is
    the run's, as for every builder; paid editors are refused before anything starts, so
    it is never drawn on here."""
    import dataclasses

    from .build import BuildOutcome
    from .chains import build_chain, resolve

    ray = _ray()
    log = log or _stderr
    refuse_paid_editors(specs)
    dead = _retryable_errors()
    remote_build = ray.remote(build_steps).options(num_returns="streaming", max_retries=0, num_cpus=1)
    limit = max_inflight or 2 * _cluster_slots("cpu")  # a few queued per CPU; bounds locks held and bytes in flight
    outcomes: dict[int, BuildOutcome] = {}
    todo = collections.deque(enumerate(specs))
    inflight: dict[Any, tuple[int, _ChainJob]] = {}
    crash_on = crash_first_chain_on_step

    def finish(i: int, job: _ChainJob, *, error: str | None = None) -> None:
        steps = store.steps(job.rc.key)
        job.lock.__exit__(None, None, None)
        ok = [s for s in steps if s.ok]
        stopped = next((str(s.meta.get("reason", "refused")) for s in steps if not s.ok), None)
        outcomes[i] = BuildOutcome(job.rc.spec, len(ok), stopped is None and len(ok) >= job.rc.spec.steps + 1, stopped, error)
        log(
            f"{'FAILED' if error else 'built'} {outcomes[i].label}: {len(ok) - 1} steps stored ({job.added} new)"
            + (f": {error}" if error else "")
        )

    def submit(i: int, job: _ChainJob, exit_on_step: int | None = None) -> None:
        steps = store.steps(job.rc.key)
        last = steps[-1]
        if not last.ok or len(steps) > job.rc.spec.steps:
            finish(i, job)  # stopped by a refusal, or already long enough
            return
        previous = store.read_bytes(last.image_hash, last.ext)
        gen = remote_build.remote(
            job.rc.spec.editor, job.rc.spec.task, job.rc.spec.run, len(steps), job.rc.spec.steps, previous, exit_on_step
        )
        inflight[gen] = (i, job)

    try:
        while todo or inflight:
            while todo and len(inflight) < limit:
                i, spec = todo.popleft()
                try:
                    rc = resolve(spec, extra_seed_dirs=seed_dirs)
                    # Verify what is stored (dropping a corrupt tail) and make step 0, here.
                    build_chain(
                        store,
                        resolve(dataclasses.replace(spec, steps=0), extra_seed_dirs=seed_dirs, editor=rc.editor),
                        budget=budget,
                    )
                except AuditError as e:
                    outcomes[i] = BuildOutcome(spec, -1, False, None, str(e))
                    continue
                lock = store.chain_lock(rc.key)
                lock.__enter__()
                submit(i, _ChainJob(rc, lock), crash_on)
                crash_on = None  # the test hook applies to the first chain's first task only
            if not inflight:
                continue
            ready, _ = ray.wait(list(inflight), num_returns=1)
            gen = ready[0]
            i, job = inflight[gen]
            try:
                item = ray.get(next(gen))
            except StopIteration:
                del inflight[gen]
                finish(i, job)
                continue
            except ray.exceptions.RayTaskError as e:  # raised on the worker before any step: a bad spec there
                del inflight[gen]
                cause = getattr(e, "cause", None)
                finish(i, job, error=f"{type(cause).__name__}: {cause}" if cause is not None else str(e))
                continue
            except dead as e:
                del inflight[gen]
                job.losses += 1
                if job.losses > max_retries:
                    finish(
                        i,
                        job,
                        error=f"its worker died {job.losses} times (last: {type(e).__name__}); finished steps "
                        "are stored, run the same command again to resume",
                    )
                else:
                    log(f"lost the worker of {_label(job.rc.spec)}; resuming from its last stored step")
                    submit(i, job)
                continue
            error = _store_built_step(store, job, item)
            if error:
                del inflight[gen]
                finish(i, job, error=error)
    finally:
        for gen, (_, job) in list(inflight.items()):  # interrupted: free the locks; stored steps stay
            try:
                ray.cancel(gen, force=True)
            except Exception:
                pass
            job.lock.__exit__(None, None, None)
    return [outcomes[i] for i in range(len(specs))]


def _label(spec: Any) -> str:
    return f"{spec.setting}/{spec.seed}/run{spec.run}"


def _store_built_step(store: Store, job: _ChainJob, item: dict[str, Any]) -> str | None:
    """Store one item a build task yielded; returns an error text that ends the chain, or None."""
    from .chains import StepOutcome, record_step

    rc = job.rc
    if "editor_id" in item:
        if (item["editor_id"], item["editor_version"]) != (rc.editor.id, rc.editor.version) or item["paid"]:
            return (
                f"the worker's editor is {item['editor_id']} {item['editor_version']}, this machine's "
                f"{rc.editor.id} {rc.editor.version}: install the same iqa_audit on every node"
            )
        return None
    if item.get("error"):
        return f"step {item['step']}: {item['error']}"
    k = item["step"]
    have = len(store.steps(rc.key))
    if k != have:  # cannot happen while we hold the chain's lock; never store a gap
        return f"step {k} arrived while the store holds steps 0..{have - 1}"
    record_step(store, rc.key, rc.spec.run, StepOutcome.from_wire(item))
    job.added += 1
    return None


def build_chains_ray(
    cfg,
    store: Store,
    todo: Sequence[Any],
    *,
    address: str | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    num_cpus: int | None = None,
    object_store_mb: int | None = None,
    budget=None,
) -> list[Any]:
    """CLI `build --engine ray`: the pending free chains `todo` of `cfg`, built on Ray."""
    refuse_paid_editors(todo)  # before starting anything
    if address:
        _check_reachable(address)
    with ray_session(address, num_cpus=num_cpus, object_store_mb=object_store_mb) as where:
        print(f"building {len(todo)} chains ({cfg.steps} steps, long side {cfg.long_side}) on {where} into {store.root}")
        return build_chains_distributed(store, todo, seed_dirs=cfg.seed_dirs, max_retries=max_retries, budget=budget)
