"""Degradation chains: seed -> editor -> step 1 -> editor -> step 2 -> ...

A chain is identified by (seed + its version and size, editor id + version + params,
task + version, run). The number of steps is *not* part of the identity: asking for 20
steps after 10 were built extends the same chain, and asking for 5 reads a prefix.

Step 0 is the (task-prepared) seed. Step k is the editor applied to the exact stored
bytes of step k-1, so a chain resumed in a new process continues from what is on disk,
and ends byte-identical to an uninterrupted build of a deterministic editor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from filelock import Timeout as FileLockTimeout

from iqa_audit.chains.paid import PaidBudget
from iqa_audit.chains.step import StepOutcome, make_step, record_step
from iqa_audit.core.console import cli_command
from iqa_audit.core.errors import ConfigError, StoreError, explain
from iqa_audit.core.keys import canonical, digest
from iqa_audit.core.names import slug
from iqa_audit.editors import Editor, create_editor
from iqa_audit.editors.base import PriorStep, input_size_error, parse_spec, size_problem
from iqa_audit.seeds import Seed, get_seed, seed_size
from iqa_audit.store.rows import jsonable
from iqa_audit.store.store import ChainRecord, CorruptObject, StepRecord, Store
from iqa_audit.tasks.table import Task, get_task

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
            raise ConfigError(
                explain("chain steps", expected="0 or more", got=str(self.steps), fix="Pass --steps N with N >= 0.")
            )
        if self.run < 0:
            raise ConfigError(explain("chain run", expected="0 or more", got=str(self.run), fix="Runs are numbered from 0."))

    @property
    def setting(self) -> str:
        return setting_label(self.editor, self.task)

    @property
    def label(self) -> str:
        """'<setting>/<seed>/run<run>' (run_label)."""
        return run_label(self.setting, self.seed, self.run)


# How to reach an editor, not what it does: like the chain key, the setting label must not
# change with a proxy's port or a retry count (and a URL may carry credentials).
TRANSPORT_PARAMS = frozenset({"base_url", "max_retries", "timeout_s"})


def setting_label(editor_spec: str, task: str) -> str:
    """'codec-jpeg:quality=50' + 'replicate' -> 'codec-jpeg-quality50-replicate' (test-id friendly)."""
    name, params = parse_spec(editor_spec)
    parts = [name] + [f"{k}{v}" for k, v in sorted(params.items()) if k not in TRANSPORT_PARAMS] + [task]
    return slug("-".join(str(p) for p in parts))


def run_label(setting: str, seed: str, run: int) -> str:
    """'<setting>/<seed>/run<run>': how listings, progress bars, the paid-step ledger and
    errors name one run of a chain."""
    return f"{setting}/{seed}/run{run}"


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
            explain(
                f"chain {run_label(self.record.setting, self.record.seed, self.record.run)}",
                expected=f"a stored step {k}",
                got=f"steps 0..{len(self.steps) - 1}",
                fix=f"Build more steps with `{cli_command('build', '--steps', '<N>')}`.",
            )
        )


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


# ----- chains ---------------------------------------------------------------------------------


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

    `budget`: the run's paid-step allowance (None: PaidBudget(), which allows no paid
    request). A chain already stored complete and intact is returned without taking any
    lock (a read-only store can be audited). Otherwise the chain's file lock is held for
    the whole build, so concurrent builders of the same chain wait and then find it built;
    with wait=False a chain another process holds raises ChainBusy at once.
    Raises BudgetExhausted, CorruptObject (a paid step's file), and the editor's errors."""
    rc = spec if isinstance(spec, ResolvedChain) else resolve(spec, extra_seed_dirs=extra_seed_dirs)
    budget = budget if budget is not None else PaidBudget()
    done = _stored_complete(store, rc, budget)
    if done is not None:
        if progress:
            progress(rc.spec.steps, rc.spec.steps)
        return done
    lock = store.chain_file_lock(rc.key)
    try:
        lock.acquire(timeout=-1 if wait else 0)
    except FileLockTimeout:
        raise ChainBusy(rc.key) from None
    try:
        return _build_locked(store, rc, budget, progress)
    finally:
        lock.release()


def _stored_complete(store: Store, rc: ResolvedChain, budget: PaidBudget) -> Chain | None:
    """The chain as stored when nothing needs building (long enough or stopped, every file
    intact by its stamp), else None. Reads only: no lock, no write but the stamp cache."""
    if store.chain(rc.key) is None:
        return None
    steps = store.steps(rc.key)
    chain = _chain_of(rc, steps)
    if chain.stopped_reason is None and len(chain.ok_steps) < rc.spec.steps + 1:
        return None
    if _resend_wanted(steps, budget):
        return None
    upto = [s for s in steps[: rc.spec.steps + 1] if s.ok]
    intact = store.verify_many([(s.image_hash, s.ext) for s in upto])
    return chain if all(intact.values()) else None


def _build_locked(store: Store, rc: ResolvedChain, budget: PaidBudget, progress: ProgressFn | None) -> Chain:
    wanted = rc.spec.steps
    # Before anything is stored (step 0 included, which a Ray build makes here before its
    # workers make the rest): an editor that cannot take the seed's size.
    width, height = seed_size(rc.seed, rc.spec.long_side)
    problem = size_problem(rc.editor, width, height)
    if problem is not None:
        raise input_size_error(rc.spec.editor, rc.seed.name, width, height, problem, rc.spec.long_side)
    store.ensure_chain(rc.record())
    steps = _verified_steps(store, rc)
    if steps and _resend_wanted(steps, budget):
        store.drop_steps_from(rc.key, steps[-1].step)  # the user allowed one more try (--resend-unknown)
        steps = steps[:-1]
    if not steps:
        seed_image = rc.task.prepare_seed(rc.seed.render(rc.spec.long_side))
        seed_step = StepOutcome(
            0,
            "ok",
            None,
            0.0,
            data=seed_image.data(),
            width=seed_image.width,  # type: ignore[arg-type]
            height=seed_image.height,
            meta=jsonable({"seed": rc.seed.provenance}),
        )
        steps = [record_step(store, rc.key, rc.spec.run, seed_step)]
    if progress:
        progress(min(len(steps) - 1, wanted), wanted)
    previous = None
    resumed = False
    while steps[-1].ok and len(steps) <= wanted:
        k = len(steps)
        if previous is None:
            previous = store.get_image(steps[-1].image_hash, steps[-1].ext)
        if not resumed:
            _resume_editor(store, rc, steps)
            resumed = True
        if rc.editor.paid:
            budget.take(f"{run_label(rc.spec.setting, rc.seed.name, rc.spec.run)}/step{k}")
        outcome = make_step(rc.editor, rc.task, previous, k, rc.spec.run, chain=chain_label(rc))
        steps.append(record_step(store, rc.key, rc.spec.run, outcome))
        if outcome.status != "ok":
            break
        previous = outcome.image
        if progress:
            progress(k, wanted)
    return _chain_of(rc, steps)


def chain_label(rc: ResolvedChain) -> str:
    """'<setting>/<seed>/run <run>': how errors and records name a chain."""
    return f"{rc.spec.setting}/{rc.seed.name}/run {rc.spec.run}"


def _resend_wanted(steps: Sequence[StepRecord], budget: PaidBudget) -> bool:
    return bool(steps) and steps[-1].status == "unknown" and budget.resend_unknown


def _resume_editor(store: Store, rc: ResolvedChain, steps: Sequence[StepRecord]) -> None:
    """Hand an editor that keeps state across steps (a chat session) the stored steps
    1..k before it makes step k+1 of a resumed chain, read back (hash-checked) from the store."""
    resume = getattr(rc.editor, "resume", None)
    if resume is None or len(steps) < 2:
        return
    images = [store.get_image(s.image_hash, s.ext) for s in steps]
    resume([PriorStep(s.step, s.prompt or "", images[i - 1], images[i], s.meta) for i, s in enumerate(steps) if i >= 1])


def load_chain(store: Store, spec: ChainSpec | ResolvedChain, *, extra_seed_dirs: Sequence[str] = ()) -> Chain | None:
    """The stored chain without building anything (None if it was never started)."""
    rc = spec if isinstance(spec, ResolvedChain) else resolve(spec, extra_seed_dirs=extra_seed_dirs)
    if store.chain(rc.key) is None:
        return None
    return _chain_of(rc, store.steps(rc.key))


def _chain_of(rc: ResolvedChain, steps: Sequence[StepRecord]) -> Chain:
    """The chain of the first spec.steps + 1 stored steps; stopped when one of those is not 'ok'."""
    kept = tuple(steps[: rc.spec.steps + 1])
    stopped = next((_refusal_reason(s) for s in kept if not s.ok), None)
    return Chain(rc.record(), kept, rc.spec.steps, stopped)


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
            raise CorruptObject(
                s.image_hash,
                store.object_path(s.image_hash, s.ext),
                f"the file of paid step {s.step} of chain {rc.key} is missing or altered (not re-requested)",
            )
        store.drop_steps_from(rc.key, s.step)
        return [t for t in steps if t.step < s.step]
    return steps


def _restore_seed(store: Store, rc: ResolvedChain, step0: StepRecord) -> bool:
    image = rc.task.prepare_seed(rc.seed.render(rc.spec.long_side))
    if image.digest() != step0.image_hash:
        return False
    store.put_image(image)
    return True


def _refusal_reason(step: StepRecord) -> str:
    return str(step.meta.get("reason", "the editor returned no image"))
