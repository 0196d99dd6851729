"""The chains of an imported dataset, read for the audit with `--dataset`.

The counterpart of `chains.service.ChainService` for chains the audit does not build:
`chains(request)` answers with the completed import's chains of (setting, seed), with
exactly the steps that import registered (steps an unfinished later import added are not
seen until it completes), read once per process. Nothing is built, so the request's
steps, runs and size are not used.
"""

from __future__ import annotations

from functools import cached_property

from iqa_audit.chains.chain import Chain
from iqa_audit.chains.plan import ChainRequest
from iqa_audit.core.errors import StoreError, explain
from iqa_audit.datasets.importer import ensure_imported
from iqa_audit.datasets.registry import DatasetRecord, chains_of, require_record
from iqa_audit.store.store import Store


class ImportedChains:
    """`dataset`: what --dataset names (a manifest, imported here on first use, or the name
    of a completed import). `imported`: the id it resolved to when the caller imported it
    already (the pytest controller does, once, before the workers start)."""

    def __init__(self, store: Store, dataset: str, imported: str | None = None):
        self.store = store
        self.dataset = dataset
        self._imported = imported
        self._chains: dict[tuple[str, str], list[Chain]] = {}

    @cached_property
    def record(self) -> DatasetRecord:
        """The completed import. First access imports a manifest into the store, under a file
        lock so one worker imports and the others wait (importing again is a no-op). Raises
        ConfigError for a name that is not an imported dataset, or listing a manifest's
        problems."""
        if self._imported is not None:
            return require_record(self.store, self._imported)
        return ensure_imported(self.store, self.dataset)

    @property
    def id(self) -> str:
        """The id of the import being audited. Raises as `record` does."""
        return self.record.id

    def chains(self, request: ChainRequest) -> list[Chain]:
        """The imported chains of (request.setting.label, request.seed), in run order, each
        with the steps its import registered. Raises StoreError when none is registered or
        a registered step is missing from the store."""
        key = (request.setting.label, request.seed)
        if key not in self._chains:
            self._chains[key] = self._read(*key)
        return self._chains[key]

    def _read(self, setting: str, seed: str) -> list[Chain]:
        imported = chains_of(self.record, setting, seed)
        if not imported:
            raise StoreError(
                explain(
                    f"imported chains {setting}/{seed}",
                    expected=f"chains of dataset {self.id}",
                    got="none registered",
                    fix="Check --dataset names the dataset that was imported.",
                )
            )
        chains = []
        for c in imported:
            wanted = set(c.steps)
            steps = tuple(s for s in self.store.steps(c.key) if s.step in wanted)
            if {s.step for s in steps} != wanted:
                raise StoreError(
                    explain(
                        f"imported chain {setting}/{seed} run {c.run} of dataset {self.id}",
                        expected=f"steps {sorted(wanted)}",
                        got=f"steps {sorted(s.step for s in steps)} in the store",
                        fix="Run the import again: it restores missing steps.",
                    )
                )
            chains.append(Chain(self.store.chain(c.key), steps, max(wanted)))
        return chains
