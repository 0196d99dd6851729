"""Build many chains, in parallel processes, reporting progress as each chain advances.

Progress goes to stderr as tqdm bars (one per chain and one overall) only when stderr is
a terminal; otherwise (CI, `> log`) bars would write hundreds of lines of cursor codes,
so each finished chain prints one plain line instead. `show_progress=False`: neither.

Used by `iqa-audit build` (and `score`, which builds what it scores). Each chain is built
by `chains.build_chain`, which takes the chain's file lock, so a CLI build and a pytest run
(or two CLI builds) can overlap safely: whoever comes second finds the steps already
stored. Every path takes one `PaidBudget` (default: no paid request), and prints what paid
steps it would buy, with their estimated cost, before building anything.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Sequence

from tqdm import tqdm

from iqa_audit.chains.chain import Chain, ChainSpec, build_chain, load_chain, resolve, setting_label
from iqa_audit.chains.paid import PaidBudget
from iqa_audit.editors import create_editor, estimate_cost
from iqa_audit.store.store import Store

# How often a pool worker checks that the build that started it is still alive (seconds).
PARENT_CHECK_S = 0.5


@dataclass(frozen=True)
class BuildOutcome:
    spec: ChainSpec
    steps_stored: int
    complete: bool
    stopped_reason: str | None
    error: str | None = None

    @property
    def label(self) -> str:
        return self.spec.label


def pending(
    store: Store, specs: Sequence[ChainSpec], seed_dirs: Sequence[str] = (), *, budget: PaidBudget | None = None
) -> list[ChainSpec]:
    """Chains that still need work: never started, short, or with a file that fails its hash.
    Every stored file of these chains is re-hashed (not trusted by its stamp): this is the
    check `build` runs, on a schedule the user controls. A chain stopped by an 'unknown'
    step needs work only when `budget.resend_unknown` allows sending it again."""
    out = []
    for spec in specs:
        chain = load_chain(store, spec, extra_seed_dirs=seed_dirs)
        if chain is None or not _intact_and_complete(store, chain, budget):
            out.append(spec)
    return out


def _intact_and_complete(store: Store, chain: Chain, budget: PaidBudget | None) -> bool:
    if chain.stopped_reason is not None:  # a step that is not 'ok' ends the chain...
        stop = next(s for s in chain.steps if not s.ok)
        if stop.status == "unknown" and budget is not None and budget.resend_unknown:
            return False  # ...unless the user allowed sending an unknown-outcome step again
    elif not chain.complete:
        return False
    return all(store.verify_many([(s.image_hash, s.ext) for s in chain.ok_steps], rehash=True).values())


def stopped_chains(store: Store, specs: Sequence[ChainSpec], seed_dirs: Sequence[str] = ()) -> list[tuple[str, int, str, str]]:
    """(label, step, status, reason) of every chain of `specs` that a step other than 'ok'
    ended (a refusal, an unusable paid reply, an unknown outcome), for the CLI to say so."""
    out = []
    for spec in specs:
        chain = load_chain(store, spec, extra_seed_dirs=seed_dirs)
        if chain is not None and chain.stopped_reason is not None:
            last = next(s for s in chain.steps if not s.ok)
            out.append((spec.label, last.step, last.status, chain.stopped_reason))
    return out


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


def announce_paid(
    store: Store, specs: Sequence[ChainSpec], seed_dirs: Sequence[str], budget: PaidBudget, say: Callable[[str], None] = print
) -> int:
    """Say, before anything is built, how many new paid requests `specs` need, their
    estimated cost (the editor table's cost function, editors.estimate_cost) and the cap
    `budget` puts on them. Returns the number of paid requests needed (0: nothing is said)."""

    paid = paid_steps_needed(store, specs, seed_dirs)
    total, count = 0.0, 0
    for spec_str, n in paid.items():
        ed = create_editor(spec_str)
        cost = estimate_cost(spec_str, n)
        count += n
        if cost is None:  # a paid plugin editor that declares no price
            say(f"paid editor {ed.id} ({setting_label(spec_str, '')}): {n} new requests, no price known")
            continue
        total += cost
        say(f"paid editor {ed.id} ({setting_label(spec_str, '')}): {n} new requests, estimated ${cost:.2f}")
    if paid:
        say(
            f"estimated total ${total:.2f}; --max-paid-steps={budget.max_steps} caps this run"
            + (" (no paid request will be sent: pass --max-paid-steps N to allow N)." if budget.max_steps == 0 else ".")
        )
    return count


def build_all(
    store: Store,
    specs: Sequence[ChainSpec],
    *,
    jobs: int = 1,
    seed_dirs: Sequence[str] = (),
    budget: PaidBudget | None = None,
    show_progress: bool = True,
) -> list[BuildOutcome]:
    """Build (or resume) every chain of `specs` that needs it, in `jobs` processes, all
    sharing `budget` (None: no paid request). One BuildOutcome per chain built."""
    budget = budget if budget is not None else PaidBudget()
    todo = pending(store, specs, seed_dirs, budget=budget)
    if not todo:
        return []
    bars = show_progress and interactive()
    lines = ChainLines(len(todo), enabled=show_progress and not bars)
    overall = tqdm(
        total=sum(s.steps for s in todo),
        desc="all chains",
        unit="step",
        position=0,
        disable=not bars,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    try:
        if jobs <= 1:
            return [lines.done(_build_one_with_bar(store.root, spec, seed_dirs, budget, overall, bars)) for spec in todo]
        return _build_parallel(store, todo, jobs, seed_dirs, budget, overall, bars, lines)
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
            state = (
                f"FAILED ({outcome.error})"
                if outcome.error
                else f"stopped at step {outcome.steps_stored} ({outcome.stopped_reason})"
                if outcome.stopped_reason
                else f"{outcome.spec.steps} steps"
            )
            print(
                f"[{self.finished}/{self.total}] {outcome.label}: {state} ({time.perf_counter() - self.started:.1f} s)",
                file=self.stream or sys.stdout,
                flush=True,
            )
        return outcome


def _build_one_with_bar(root, spec, seed_dirs, budget, overall, show_progress) -> BuildOutcome:
    bar = tqdm(
        total=spec.steps,
        desc=spec.label,
        unit="step",
        position=1,
        leave=False,
        disable=not show_progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
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


# ----- the process pool -----------------------------------------------------------------------
_progress_queue = None  # set in each pool worker by _init_worker


def _init_worker(q, parent_pid: int) -> None:
    """Runs first in every pool worker: keep the progress queue, and end this worker when
    the build that started it is gone. A `kill -9` of `build --jobs N` gives the pool no
    chance to stop its workers; without this they went on building (and holding chain
    locks) as orphans. Linux ends the worker at once (PR_SET_PDEATHSIG); everywhere a
    thread also checks the parent every PARENT_CHECK_S seconds."""
    global _progress_queue
    _progress_queue = q
    _die_with_parent_linux()
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="iqa-audit-parent-watch").start()


def _die_with_parent_linux() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # no libc symbol: the watch thread still ends us
        pass


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(PARENT_CHECK_S)
        if os.getppid() != parent_pid:
            os._exit(1)  # killed mid-step is safe: every finished step is stored, locks die with us


def _worker(root, spec, seed_dirs, budget) -> BuildOutcome:
    q = _progress_queue
    return _build_one(root, spec, seed_dirs, budget, lambda done, wanted: q.put((spec.label, done, wanted)))


def _build_parallel(store, todo, jobs, seed_dirs, budget, overall, show_progress, lines) -> list[BuildOutcome]:
    # One budget for the whole build: its count lives in a ledger file every worker shares.
    ctx = mp.get_context("spawn")  # no fork: torch/BLAS threads in the parent do not survive a fork
    q = ctx.Queue()
    shared = (
        budget
        if budget.ledger is not None or budget.max_steps == 0
        else PaidBudget.shared(budget.max_steps - budget.used, resend_unknown=budget.resend_unknown)
    )
    bars: dict[str, tqdm] = {}
    seen: dict[str, int] = {}
    outcomes: list[BuildOutcome] = []
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker, initargs=(q, os.getpid())) as pool:
            futures: dict[Future, ChainSpec] = {}
            queue_ = list(todo)
            while queue_ or futures:
                while queue_ and len(futures) < jobs:
                    spec = queue_.pop(0)
                    futures[pool.submit(_worker, store.root, spec, tuple(seed_dirs), shared)] = spec
                done, _ = wait(list(futures), timeout=0.2, return_when=FIRST_COMPLETED)
                _drain(q, bars, seen, overall, show_progress)
                for fut in done:
                    spec = futures.pop(fut)
                    outcomes.append(lines.done(fut.result()))
                    bar = bars.pop(spec.label, None)
                    if bar is not None:
                        bar.close()
            _drain(q, bars, seen, overall, show_progress)
    finally:
        if shared is not budget:
            shared.close()
        q.close()
    return outcomes


def _drain(q, bars, seen, overall, show_progress) -> None:
    while True:
        try:
            label, done, wanted = q.get_nowait()
        except queue.Empty:
            return
        if label not in bars:
            bars[label] = tqdm(
                total=wanted,
                desc=label,
                unit="step",
                position=len(bars) + 1,
                leave=False,
                disable=not show_progress,
                file=sys.stderr,
                dynamic_ncols=True,
            )
        delta = done - seen.get(label, 0)
        bars[label].update(delta)
        overall.update(delta)
        seen[label] = done


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0
