"""Degradation chains: seed -> editor -> step 1 -> editor -> step 2 -> ...

A chain is identified by (seed + its version and size, editor id + version + params,
task + version, run). The number of steps is *not* part of the identity: asking for 20
steps after 10 were built extends the same chain, and asking for 5 reads a prefix.

Step 0 is the (task-prepared) seed. Step k is the editor applied to the exact stored
bytes of step k-1, so a chain resumed in a new process continues from what is on disk,
and ends byte-identical to an uninterrupted build of a deterministic editor.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from filelock import Timeout as FileLockTimeout

from .console import cli_command
from .editors import EditRefused, Editor, create_editor
from .editors.base import input_size_error, parse_spec, size_problem
from .errors import ConfigError, StoreError, explain
from .images import Image
from .keys import canonical, digest
from .names import slug
from .seeds import Seed, get_seed, seed_size
from .store import ChainRecord, CorruptObject, StepRecord, Store, jsonable
from .tasks import Task, get_task

ProgressFn = Callable[[int, int], None]  # (steps done, steps wanted)


@dataclass(frozen=True)
class ChainSpec:
    """What the user asks for. `editor` is a registry spec like 'codec-jpeg:quality=50'."""

    seed: str
    editor: str
    task: str = "replicate"
    run: int = 0
    steps: int = 20
    long_side: int | None = 1024

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ConfigError(explain("chain steps", expected="0 or more", got=str(self.steps), fix="Pass --steps N with N >= 0."))
        if self.run < 0:
            raise ConfigError(explain("chain run", expected="0 or more", got=str(self.run), fix="Runs are numbered from 0."))

    @property
    def setting(self) -> str:
        return setting_label(self.editor, self.task)


# How to reach an editor, not what it does: like the chain key, the setting label must not
# change with a proxy's port or a retry count (and a URL may carry credentials).
TRANSPORT_PARAMS = frozenset({"base_url", "max_retries", "timeout_s"})


def setting_label(editor_spec: str, task: str) -> str:
    """'codec-jpeg:quality=50' + 'replicate' -> 'codec-jpeg-quality50-replicate' (test-id friendly)."""
    name, params = parse_spec(editor_spec)
    parts = [name] + [f"{k}{v}" for k, v in sorted(params.items()) if k not in TRANSPORT_PARAMS] + [task]
    return slug("-".join(str(p) for p in parts))


@dataclass(frozen=True, eq=False)
class ResolvedChain:
    spec: ChainSpec
    seed: Seed
    editor: Editor
    task: Task
    key: str

    def record(self) -> ChainRecord:
        return ChainRecord(
            key=self.key,
            spec=identity_of(self.spec, self.seed, self.editor, self.task),
            seed=self.seed.name,
            setting=self.spec.setting,
            editor_id=self.editor.id,
            editor_version=self.editor.version,
            task=self.task.name,
            run=self.spec.run,
            paid=bool(self.editor.paid),
        )


@dataclass(frozen=True)
class Chain:
    """A built (or partly built) chain as stored."""

    record: ChainRecord
    steps: tuple[StepRecord, ...]
    wanted: int
    stopped_reason: str | None = None

    @property
    def key(self) -> str:
        return self.record.key

    @property
    def complete(self) -> bool:
        return self.stopped_reason is None and len(self.ok_steps) >= self.wanted + 1

    @property
    def ok_steps(self) -> tuple[StepRecord, ...]:
        return tuple(s for s in self.steps if s.ok)

    def step(self, k: int) -> StepRecord:
        for s in self.steps:
            if s.step == k:
                return s
        raise StoreError(
            explain(f"chain {self.record.setting}/{self.record.seed}/run{self.record.run}", expected=f"a stored step {k}",
                    got=f"steps 0..{len(self.steps) - 1}", fix=f"Build more steps with `{cli_command('build', '--steps', '<N>')}`.")
        )


@dataclass
class PaidBudget:
    """Caps how many *new* paid editor requests one build session may make."""

    max_steps: int
    used: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, what: str) -> None:
        with self._lock:
            if self.used >= self.max_steps:
                raise BudgetExhausted(
                    explain(f"paid step for {what}", expected=f"at most {self.max_steps} paid steps this run (--max-paid-steps)",
                            got=f"{self.used} already requested", fix="Raise --max-paid-steps to continue; finished steps are kept.")
                )
            self.used += 1


class BudgetExhausted(StoreError):
    pass


def identity_of(spec: ChainSpec, seed: Seed, editor: Editor, task: Task) -> dict[str, Any]:
    return {
        "seed": {"name": seed.name, "version": seed.version, "long_side": spec.long_side},
        "editor": {"id": editor.id, "version": editor.version, "params": canonical(editor.params())},
        "task": {"name": task.name, "version": task.version},
        "run": spec.run,
    }


def resolve(spec: ChainSpec, *, extra_seed_dirs: Sequence[str] = (), editor: Editor | None = None) -> ResolvedChain:
    seed = get_seed(spec.seed, extra_dirs=extra_seed_dirs)
    ed = editor if editor is not None else create_editor(spec.editor)
    task = get_task(spec.task)
    ident = identity_of(spec, seed, ed, task)
    key = digest(ident)[:24]  # keys.digest: the same compact sorted JSON chain keys always used
    return ResolvedChain(spec, seed, ed, task, key)


class ChainBusy(Exception):
    """build_chain(wait=False) found another process building this chain right now."""


def build_chain(
    store: Store,
    spec: ChainSpec | ResolvedChain,
    *,
    extra_seed_dirs: Sequence[str] = (),
    budget: PaidBudget | None = None,
    progress: ProgressFn | None = None,
    wait: bool = True,
) -> Chain:
    """Build `spec` up to `spec.steps`, resuming whatever is stored. Returns the stored chain.

    Holds the chain's file lock for the whole build, so concurrent builders of the same
    chain wait and then find it built. With wait=False a chain another process holds
    raises ChainBusy at once, so the caller can build something else meanwhile.
    """
    rc = spec if isinstance(spec, ResolvedChain) else resolve(spec, extra_seed_dirs=extra_seed_dirs)
    lock = store.chain_file_lock(rc.key)
    try:
        lock.acquire(timeout=-1 if wait else 0)
    except FileLockTimeout:
        raise ChainBusy(rc.key) from None
    try:
        return _build_locked(store, rc, budget, progress)
    finally:
        lock.release()


def _build_locked(store: Store, rc: ResolvedChain, budget: PaidBudget | None, progress: ProgressFn | None) -> Chain:
    wanted = rc.spec.steps
    # Before anything is stored (step 0 included, which a Ray build makes here before its
    # workers make the rest): an editor that cannot take the seed's size.
    width, height = seed_size(rc.seed, rc.spec.long_side)
    problem = size_problem(rc.editor, width, height)
    if problem is not None:
        raise input_size_error(rc.spec.editor, rc.seed.name, width, height, problem, rc.spec.long_side)
    store.ensure_chain(rc.record())
    steps = _verified_steps(store, rc)
    if not steps:
        seed_image = rc.task.prepare_seed(rc.seed.render(rc.spec.long_side))
        steps = [_store_step(store, rc, 0, seed_image, prompt=None, reasoning=None, meta={"seed": rc.seed.provenance},
                             editor_seed=None, seconds=0.0)]
    if progress:
        progress(min(len(steps) - 1, wanted), wanted)
    stopped = None if steps[-1].ok else _refusal_reason(steps[-1])
    previous = None
    while stopped is None and len(steps) <= wanted:
        k = len(steps)
        if previous is None:
            previous = store.get_image(steps[-1].image_hash, steps[-1].ext)
        if rc.editor.paid and budget is not None:
            budget.take(f"{rc.spec.setting}/{rc.seed.name}/run{rc.spec.run}/step{k}")
        prompt = rc.task.prompt(k)
        t0 = time.perf_counter()
        try:
            result = rc.editor.edit(previous, prompt, seed=rc.spec.run, step=k)
        except EditRefused as refusal:
            rec = StepRecord(rc.key, k, "refused", None, None, None, None, prompt, None,
                             {"reason": refusal.reason, **refusal.meta}, rc.spec.run, time.perf_counter() - t0)
            store.add_step(rec)
            steps.append(rec)
            stopped = refusal.reason
            break
        seconds = time.perf_counter() - t0
        steps.append(_store_step(store, rc, k, result.image, prompt=prompt, reasoning=result.reasoning,
                                 meta=result.meta, editor_seed=rc.spec.run, seconds=seconds))
        previous = result.image
        if progress:
            progress(k, wanted)
    return Chain(rc.record(), tuple(steps[: wanted + 1]), wanted, stopped)


def load_chain(store: Store, spec: ChainSpec | ResolvedChain, *, extra_seed_dirs: Sequence[str] = ()) -> Chain | None:
    """The stored chain without building anything (None if it was never started)."""
    rc = spec if isinstance(spec, ResolvedChain) else resolve(spec, extra_seed_dirs=extra_seed_dirs)
    if store.chain(rc.key) is None:
        return None
    steps = store.steps(rc.key)
    stopped = next((_refusal_reason(s) for s in steps if not s.ok), None)
    return Chain(rc.record(), tuple(steps[: rc.spec.steps + 1]), rc.spec.steps, stopped)


def _verified_steps(store: Store, rc: ResolvedChain) -> list[StepRecord]:
    """Stored steps whose files are intact. A corrupt file of a free chain drops that step
    and everything after it (they are rebuilt, byte-identical); of a paid chain it is an
    error, because rebuilding would re-request (and re-pay for) a different output.
    Step 0 is the rendered seed, so its file is restored by rendering it again."""
    steps = store.steps(rc.key)
    intact = store.verify_many([(s.image_hash, s.ext) for s in steps if s.ok])
    for s in steps:
        if not s.ok or intact[(s.image_hash, s.ext)]:
            continue
        if s.step == 0 and _restore_seed(store, rc, s):
            continue
        if rc.editor.paid:
            raise CorruptObject(s.image_hash, store.object_path(s.image_hash, s.ext),
                                f"the file of paid step {s.step} of chain {rc.key} is missing or altered (not re-requested)")
        store.drop_steps_from(rc.key, s.step)
        return [t for t in steps if t.step < s.step]
    return steps


def _restore_seed(store: Store, rc: ResolvedChain, step0: StepRecord) -> bool:
    image = rc.task.prepare_seed(rc.seed.render(rc.spec.long_side))
    if image.digest() != step0.image_hash:
        return False
    store.put_image(image)
    return True


def _store_step(store: Store, rc: ResolvedChain, k: int, image: Image, *, prompt: str | None, reasoning: str | None,
                meta: Mapping[str, Any], editor_seed: int | None, seconds: float) -> StepRecord:
    digest, ext = store.put_image(image)
    rec = StepRecord(rc.key, k, "ok", digest, ext, image.width, image.height, prompt, reasoning,
                     jsonable(meta), editor_seed, seconds)
    store.add_step(rec)
    return rec


def _refusal_reason(step: StepRecord) -> str:
    return str(step.meta.get("reason", "the editor returned no image"))
