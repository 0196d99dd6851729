"""Build many chains, in parallel processes, reporting progress as each chain advances.

Progress goes to stderr as tqdm bars (one per chain and one overall) only when stderr is
a terminal; otherwise (CI, `> log`) bars would write hundreds of lines of cursor codes,
so each finished chain prints one plain line instead. `show_progress=False`: neither.

Used by `iqa-audit build`. Each chain is built by `chains.build_chain`, which
takes the chain's file lock, so a CLI build and a pytest run (or two CLI builds) can
overlap safely: whoever comes second finds the steps already stored.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Sequence

from tqdm import tqdm

from .chains import Chain, ChainSpec, PaidBudget, build_chain, load_chain, resolve
from .editors import create_editor
from .store import Store


@dataclass(frozen=True)
class BuildOutcome:
    spec: ChainSpec
    steps_stored: int
    complete: bool
    stopped_reason: str | None
    error: str | None = None

    @property
    def label(self) -> str:
        return f"{self.spec.setting}/{self.spec.seed}/run{self.spec.run}"


def pending(store: Store, specs: Sequence[ChainSpec], seed_dirs: Sequence[str] = ()) -> list[ChainSpec]:
    """Chains that still need work: never started, short, or with a file that fails its hash."""
    out = []
    for spec in specs:
        chain = load_chain(store, spec, extra_seed_dirs=seed_dirs)
        if chain is None or not _intact_and_complete(store, chain):
            out.append(spec)
    return out


def _intact_and_complete(store: Store, chain: Chain) -> bool:
    if chain.stopped_reason is not None:
        return True  # a refused paid step ends the chain; nothing more to build
    if not chain.complete:
        return False
    return all(store.verify(s.image_hash, s.ext) for s in chain.ok_steps)


def paid_steps_needed(store: Store, specs: Sequence[ChainSpec], seed_dirs: Sequence[str] = ()) -> dict[str, int]:
    """Per paid editor spec, how many steps a build would request."""
    need: dict[str, int] = {}
    for spec in specs:
        editor = create_editor(spec.editor)
        if not editor.paid:
            continue
        chain = load_chain(store, resolve(spec, extra_seed_dirs=seed_dirs, editor=editor))
        have = 0 if chain is None else max(0, len(chain.ok_steps) - 1)
        need[spec.editor] = need.get(spec.editor, 0) + max(0, spec.steps - have)
    return need


def build_all(
    store: Store,
    specs: Sequence[ChainSpec],
    *,
    jobs: int = 1,
    seed_dirs: Sequence[str] = (),
    max_paid_steps: int | None = None,
    show_progress: bool = True,
) -> list[BuildOutcome]:
    todo = pending(store, specs, seed_dirs)
    if not todo:
        return []
    bars = show_progress and interactive()
    lines = ChainLines(len(todo), enabled=show_progress and not bars)
    overall = tqdm(total=sum(s.steps for s in todo), desc="all chains", unit="step", position=0,
                   disable=not bars, file=sys.stderr, dynamic_ncols=True)
    try:
        if jobs <= 1:
            budget = PaidBudget(max_paid_steps) if max_paid_steps is not None else None
            return [lines.done(_build_one_with_bar(store.root, spec, seed_dirs, budget, overall, bars)) for spec in todo]
        return _build_parallel(store, todo, jobs, seed_dirs, max_paid_steps, overall, bars, lines)
    finally:
        overall.close()


def interactive(stream=None) -> bool:
    """True when `stream` (stderr by default) is a terminal a person watches."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class ChainLines:
    """The non-interactive progress report: one line per finished chain, on stdout,
    flushed at once so a log shows where a long build is."""

    def __init__(self, total: int, *, enabled: bool, stream=None):
        self.total, self.enabled, self.finished = total, enabled, 0
        self.stream = stream
        self.started = time.perf_counter()

    def done(self, outcome: BuildOutcome) -> BuildOutcome:
        self.finished += 1
        if self.enabled:
            state = (f"FAILED ({outcome.error})" if outcome.error else f"stopped at step {outcome.steps_stored} "
                     f"({outcome.stopped_reason})" if outcome.stopped_reason else f"{outcome.spec.steps} steps")
            print(f"[{self.finished}/{self.total}] {outcome.label}: {state} "
                  f"({time.perf_counter() - self.started:.1f} s)", file=self.stream or sys.stdout, flush=True)
        return outcome


def _build_one_with_bar(root, spec, seed_dirs, budget, overall, show_progress) -> BuildOutcome:
    bar = tqdm(total=spec.steps, desc=_label(spec), unit="step", position=1, leave=False,
               disable=not show_progress, file=sys.stderr, dynamic_ncols=True)
    last = [0]

    def progress(done: int, wanted: int) -> None:
        bar.update(done - last[0])
        overall.update(done - last[0])
        last[0] = done

    try:
        return _build_one(root, spec, seed_dirs, budget, progress)
    finally:
        bar.close()


def _build_one(root, spec: ChainSpec, seed_dirs, budget, progress) -> BuildOutcome:
    store = Store(root)
    try:
        chain = build_chain(store, spec, extra_seed_dirs=seed_dirs, budget=budget, progress=progress)
        return BuildOutcome(spec, len(chain.ok_steps), chain.complete, chain.stopped_reason)
    except Exception as e:  # reported per chain; one broken chain must not lose the others' work
        return BuildOutcome(spec, -1, False, None, f"{type(e).__name__}: {e}")
    finally:
        store.close()


def _worker(root, spec, seed_dirs, budget_share, q) -> BuildOutcome:
    budget = PaidBudget(budget_share) if budget_share is not None else None
    return _build_one(root, spec, seed_dirs, budget, lambda done, wanted: q.put((_label(spec), done, wanted)))


def _build_parallel(store, todo, jobs, seed_dirs, max_paid_steps, overall, show_progress, lines) -> list[BuildOutcome]:
    # Paid budgets are split per chain in the parallel path: each chain may use at most
    # what is left when it starts, and the total is checked as results come back.
    ctx = mp.get_context("spawn")  # no fork: torch/BLAS threads in the parent do not survive a fork
    manager = ctx.Manager()
    q = manager.Queue()
    bars: dict[str, tqdm] = {}
    seen: dict[str, int] = {}
    outcomes: list[BuildOutcome] = []
    remaining_budget = max_paid_steps
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures: dict[Future, ChainSpec] = {}
        queue_ = list(todo)
        while queue_ or futures:
            while queue_ and len(futures) < jobs:
                spec = queue_.pop(0)
                share = None
                if remaining_budget is not None:
                    share = min(remaining_budget, spec.steps)
                    remaining_budget -= share
                futures[pool.submit(_worker, store.root, spec, tuple(seed_dirs), share, q)] = spec
            done, _ = wait(list(futures), timeout=0.2, return_when=FIRST_COMPLETED)
            _drain(q, bars, seen, overall, show_progress)
            for fut in done:
                spec = futures.pop(fut)
                outcome = fut.result()
                outcomes.append(lines.done(outcome))
                bar = bars.pop(_label(spec), None)
                if bar is not None:
                    bar.close()
        _drain(q, bars, seen, overall, show_progress)
    manager.shutdown()
    return outcomes


def _drain(q, bars, seen, overall, show_progress) -> None:
    while True:
        try:
            label, done, wanted = q.get_nowait()
        except queue.Empty:
            return
        if label not in bars:
            bars[label] = tqdm(total=wanted, desc=label, unit="step", position=len(bars) + 1, leave=False,
                               disable=not show_progress, file=sys.stderr, dynamic_ncols=True)
        delta = done - seen.get(label, 0)
        bars[label].update(delta)
        overall.update(delta)
        seen[label] = done


def _label(spec: ChainSpec) -> str:
    return f"{spec.setting}/{spec.seed}/run{spec.run}"


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0
