"""The chains a process's cells read, got through the store: built, extended or read once.

`ChainService` is the one way the audit reaches its own chains: a cell asks for a
`plan.ChainRequest` (a setting, a seed, steps, runs, a size) and gets one `Chain` per
run, built or extended under the store's per-chain file lock (so xdist workers share
the work) and kept for the rest of the process. An imported dataset's chains come from
`datasets.imported_chains.ImportedChains` instead, with the same `chains(request)`.
"""

from __future__ import annotations

from collections.abc import Sequence

from iqa_audit.chains.chain import Chain, ChainBusy, ChainSpec, build_chain, resolve
from iqa_audit.chains.paid import PaidBudget
from iqa_audit.chains.plan import ChainRequest
from iqa_audit.core.images import Image
from iqa_audit.store.store import StepRecord, Store


class ChainService:
    """Chains through the store, cached per process (see the module doc).

    `budget`: the run's paid-step allowance (the pytest session passes one shared by every
    xdist worker); building beyond it raises BudgetExhausted. On a read-only store a chain
    it lacks raises StoreError."""

    def __init__(self, store: Store, budget: PaidBudget, *, seed_dirs: Sequence[str] = ()):
        self.store = store
        self.budget = budget
        self.seed_dirs = tuple(seed_dirs)
        self._chains: dict[ChainRequest, list[Chain]] = {}
        self._queued: list[ChainSpec] = []
        # Chains of the queue whose build raised (an editor's error, a budget spent), by chain
        # key: the error belongs to the cells that need that chain, and is raised by them
        # (`chains`), not by the cell that happened to build the queue. Kept, not retried:
        # asking a failing editor again costs time, and for a paid editor money.
        self._build_failed: dict[str, Exception] = {}

    def queue(self, specs: Sequence[ChainSpec], *, worker: int = 0, workers: int = 1) -> None:
        """The chains this process's cells will need. Each worker starts at its own offset,
        so parallel workers build different chains instead of queueing on the same chain
        lock one after another (the lock still guarantees each is built once). Nothing is
        built here: the next `chains` call builds every queued chain first."""
        unique = list(dict.fromkeys(specs))
        offset = (len(unique) * worker) // max(workers, 1)
        self._queued = unique[offset:] + unique[:offset]

    def chains(self, request: ChainRequest) -> list[Chain]:
        """One chain per run of `request`, in run order, each with its stored steps
        0..request.steps (fewer when the editor stopped: refused, failed, unknown outcome).

        Side effects: builds every queued chain first, then builds or extends these (steps
        and objects written to the store, paid steps charged to the budget); cached per
        process. Raises BudgetExhausted, CorruptObject (a paid step's file damaged),
        ConfigError (an unknown seed, editor or task; a seed the editor cannot take at that
        size), StoreError (a read-only store lacking the steps), and the editor's errors."""
        self._build_queued()
        if request not in self._chains:
            self._chains[request] = [self._build(spec) for spec in request.specs()]
        return self._chains[request]

    def _build(self, spec: ChainSpec) -> Chain:
        rc = resolve(spec, extra_seed_dirs=self.seed_dirs)
        if rc.key in self._build_failed:  # raised while building the queue: this cell needs that chain
            raise self._build_failed[rc.key]
        return build_chain(self.store, rc, budget=self.budget)

    def _build_queued(self) -> None:
        """Build every queued chain, sharing the work with other workers: a chain another
        worker is building is skipped and come back to, so no worker queues behind
        another's lock while unbuilt chains remain (a fixed split left one worker
        waiting on the other's slow simulator chains: -n 2 ran no faster than -n 0)."""
        queued, self._queued = self._queued, []
        pending = []
        for spec in queued:
            try:
                pending.append(resolve(spec, extra_seed_dirs=self.seed_dirs))
            except Exception:  # a failing editor factory: resolved (and raised) again by the cells that
                continue  # need this chain, not by whichever cell happened to build the queue
        while pending:
            busy = []
            for rc in pending:
                try:
                    build_chain(self.store, rc, budget=self.budget, wait=False)
                except ChainBusy:
                    busy.append(rc)
                except Exception as e:  # the cells that need this chain raise it (_build_failed)
                    self._build_failed[rc.key] = e
            if busy:  # all left are being built elsewhere: wait for the first, then retry the rest
                try:
                    build_chain(self.store, busy[0], budget=self.budget)
                except Exception as e:
                    self._build_failed[busy[0].key] = e
            pending = busy[1:]


def step_image(store: Store, step: StepRecord) -> Image:
    """The decoded image of a stored step. Raises CorruptObject (missing or altered file),
    BadImageError (not decodable)."""
    return store.get_image(step.image_hash, step.ext)


def image_names(chains: Sequence[Chain]) -> dict[str, dict[str, str]]:
    """{run: {step: 'sha256.ext'}} of the chains' ok steps (run and step as strings): the
    images a record names for the report."""
    return {str(c.record.run): {str(s.step): f"{s.image_hash}.{s.ext}" for s in c.ok_steps} for c in chains}


def reasonings(chains: Sequence[Chain]) -> dict[str, list]:
    """{run: [[step, reasoning or None], ...]}: the editor's own words per step 1.., a
    stopped step included (run as a string)."""
    return {str(c.record.run): [[s.step, s.reasoning] for s in c.steps if s.step > 0] for c in chains}
