"""Building free chains on a Ray cluster (`build --engine ray`): one streaming Ray task per chain.

Holds the worker side (build_steps: the steps of one chain from its last stored image,
yielded one by one), the guard (refuse_paid_editors: paid budgets live in the driver's
store) and the driver (build_chains_distributed, which stores each step in order under the
chain's lock and resumes a chain whose worker died; build_chains_ray, the CLI entry).
See the package docstring for the design and cluster.py for the session.
"""

from __future__ import annotations

import collections
import dataclasses
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from iqa_audit.chains.build import BuildOutcome
from iqa_audit.chains.chain import build_chain, resolve, setting_label
from iqa_audit.chains.step import StepOutcome, make_step, record_step
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
from iqa_audit.editors import create_editor
from iqa_audit.store.store import Store
from iqa_audit.tasks.table import get_task


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
            outcome = make_step(editor, task, image, k, run, chain=f"{setting_label(editor_spec, task_name)}/run {run}")
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

    ray = import_ray()
    log = log or log_to_stderr
    refuse_paid_editors(specs)
    dead = retryable_errors()
    remote_build = ray.remote(build_steps).options(num_returns="streaming", max_retries=0, num_cpus=1)
    limit = max_inflight or 2 * cluster_slots("cpu")  # a few queued per CPU; bounds locks held and bytes in flight
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
                    log(f"lost the worker of {job.rc.spec.label}; resuming from its last stored step")
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


def _store_built_step(store: Store, job: _ChainJob, item: dict[str, Any]) -> str | None:
    """Store one item a build task yielded; returns an error text that ends the chain, or None."""

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
        check_reachable(address)
    with ray_session(address, num_cpus=num_cpus, object_store_mb=object_store_mb) as where:
        print(f"building {len(todo)} chains ({cfg.steps} steps, long side {cfg.long_side}) on {where} into {store.root}")
        return build_chains_distributed(store, todo, seed_dirs=cfg.seed_dirs, max_retries=max_retries, budget=budget)
