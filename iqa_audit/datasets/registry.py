"""The store's record of completed imports: DatasetRecord and its chains, looked up by a dataset's name."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping

from iqa_audit.core.console import cli_command
from iqa_audit.core.errors import ConfigError, explain
from iqa_audit.core.names import slug
from iqa_audit.store.store import Store

# Memo kinds in the store: a completed import (what audits read), the import under way
# (its source and pinned revision: a resumed import fetches the same revision), the index.
REGISTRY_KIND, IN_PROGRESS_KIND, INDEX_KIND = "dataset", "dataset-import", "dataset-index"


@dataclass(frozen=True)
class ImportedChain:
    dataset: str
    setting: str
    seed: str
    run: int
    key: str
    steps: tuple[int, ...]


@dataclass(frozen=True)
class DatasetRecord:
    """A completed import, as registered in the store: id (the slug audits use), the name
    the user gave, where it came from, the pinned revision (hub datasets), its chains."""

    id: str
    name: str
    source: str
    revision: str | None
    chains: tuple[ImportedChain, ...]

    def pairs(self) -> list[tuple[str, str]]:
        """Sorted (setting, seed) ids: one audit series each."""
        return sorted({(c.setting, c.seed) for c in self.chains})

    def to_json(self) -> str:
        return json.dumps(
            {
                "id": self.id,
                "name": self.name,
                "source": self.source,
                "revision": self.revision,
                "chains": [[c.setting, c.seed, c.run, c.key, list(c.steps)] for c in self.chains],
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> "DatasetRecord":
        d = json.loads(text)
        chains = tuple(ImportedChain(d["id"], st, sd, int(run), key, tuple(steps)) for st, sd, run, key, steps in d["chains"])
        return cls(d["id"], d["name"], d["source"], d.get("revision"), chains)


def imported_chain_key(dataset: str, setting: str, seed: str, run: int) -> str:
    return hashlib.sha256(f"imported\0{dataset}\0{setting}\0{seed}\0{run}".encode()).hexdigest()[:24]


def dataset_record(store: Store, dataset: str) -> DatasetRecord | None:
    """The completed import registered under id `dataset`, or None."""
    text = store.get_memo(REGISTRY_KIND, dataset)
    return None if text is None else DatasetRecord.from_json(text)


def import_in_progress(store: Store, dataset: str) -> Mapping[str, Any] | None:
    """{name, source, revision, started} of the last import of `dataset` begun, or None."""
    text = store.get_memo(IN_PROGRESS_KIND, dataset)
    return None if text is None else json.loads(text)


def dataset_ids(store: Store) -> list[str]:
    """Ids of every completed import in the store, sorted."""
    text = store.get_memo(INDEX_KIND, "all")
    return sorted(json.loads(text)) if text else []


def require_record(store: Store, name: str) -> DatasetRecord:
    record = dataset_record(store, slug(name))
    if record is not None:
        return record
    pending = import_in_progress(store, slug(name))
    got = f"an import of it from {pending['source']} that has not finished" if pending else "no dataset of that name"
    known = ", ".join(dataset_ids(store)) or "none"
    raise ConfigError(
        explain(
            f"--dataset {name}",
            expected=f"an imported dataset in the store {store.root} (imported: {known}) or a path to a manifest.csv",
            got=got,
            fix=f"Run `{cli_command('import', '...')}` (again, to finish an interrupted import), "
            "or pass --store where it was imported.",
        )
    )


def chains_of(record: DatasetRecord, setting: str, seed: str) -> list[ImportedChain]:
    return sorted((c for c in record.chains if c.setting == setting and c.seed == seed), key=lambda c: c.run)
