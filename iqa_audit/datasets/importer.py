"""Import chains someone else built (the Banana100 release, a team's own editor runs) into
the store, so they are audited with the same cases as chains built here.

Rows come from a `manifest.csv` (this module), or from a folder layout, a side table or a
Hugging Face dataset (`layouts.py`, `hub.py`); all of them become `ImportRow`s and go
through `import_rows`, which is all-or-nothing per call:

1. every row is checked before anything is written: names give distinct ids
   (`names.distinct_ids`), run and step are plain non-negative ASCII integers, no
   (setting, seed, run, step) twice, every chain has step 0, every file is a regular file
   inside the dataset's folder (`safe_files`), under the size cap, and decodes;
   every problem is listed at once;
2. the images are written step by step (a kill leaves finished steps stored: the next
   import resumes and skips them);
3. only then is the dataset registered (`DatasetRecord`, in the store's memo table, kind
   "dataset"). Audits read chains only through that record, so an interrupted import is
   invisible to them until an import of it completes.

Re-importing is idempotent; a row that would replace a different stored image is an
error, never a silent overwrite. Side files beside an image (`rows.SIDE_FILES`: reasoning,
prompt, editor metadata) are imported with it, so the self-evaluation delay and the
editor checks see them.

CSV columns: seed,setting,run,step,path (path relative to the CSV; step 0 = the seed),
optionally reasoning and prompt. The file must be comma-separated: a header that splits
into the columns on ';', a tab or '|' (what spreadsheets write where the comma is the
decimal mark) is refused with that diagnosis, never read as one long column name.

Paths are matched to the disk by Unicode normalisation: a manifest naming `café` (NFC)
finds the folder macOS wrote as `café` (NFD); a path that is still missing is reported
with the first part of it that is not there.

Beside this module: rows.py (ImportRow, numbers, side files), tables.py (text files and
tables), unicode_paths.py (paths in any normalisation) and registry.py (DatasetRecord and
the lookups audits use).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from filelock import FileLock

from iqa_audit.core.decode import decode_image
from iqa_audit.core.errors import BadImageError, ConfigError, explain
from iqa_audit.core.names import slug
from iqa_audit.datasets.registry import (
    IN_PROGRESS_KIND,
    INDEX_KIND,
    REGISTRY_KIND,
    DatasetRecord,
    ImportedChain,
    dataset_ids,
    dataset_record,
    imported_chain_key,
    require_record,
)
from iqa_audit.datasets.rows import ImportRow, attach_side_files, count_problem, parse_count, row_ids
from iqa_audit.datasets.safe_files import DEFAULT_MAX_FILE_BYTES, FileRefused, ReadPolicy, read_allowed
from iqa_audit.datasets.tables import check_delimiter, read_text_file
from iqa_audit.datasets.unicode_paths import missing_part, on_disk
from iqa_audit.store.store import ChainRecord, StepRecord, Store

COLUMNS = ("seed", "setting", "run", "step", "path")
OPTIONAL_COLUMNS = ("reasoning", "prompt")
IMPORTED_EDITOR = "imported"
# Threads that read, decode and write image files at once: each stored object is fsynced,
# and overlapping those waits made a 10,000-image import 3.5x faster here (2 cores).
IO_THREADS = 8


@dataclass(frozen=True)
class ImportSummary:
    dataset: str
    chains: tuple[ImportedChain, ...]
    images_added: int
    images_already_stored: int
    source: str = ""
    revision: str | None = None


def dataset_name(csv_path: Path) -> str:
    return slug(Path(csv_path).resolve().parent.name)


# ----- manifest.csv ------------------------------------------------------------------------


def read_manifest(csv_path: str | Path) -> list[ImportRow]:
    """The rows of a manifest (no file read but the CSV); ConfigError listing every problem."""
    path = Path(csv_path)
    rows, problems = _parse_manifest(path)
    if problems:
        raise ConfigError(_listing(f"dataset manifest {path}", problems))
    return rows


def manifest_pairs(csv_path: str | Path) -> list[tuple[str, str]]:
    """Sorted (setting id, seed id) of a manifest, from the CSV alone (no store read)."""
    rows = read_manifest(csv_path)
    seeds, settings = row_ids(rows, f"dataset manifest {csv_path}")
    return sorted({(settings[r.setting], seeds[r.seed]) for r in rows})


def _parse_manifest(path: Path) -> tuple[list[ImportRow], list[str]]:
    """Rows that parse, and every problem found (the header's problems raise at once)."""
    text = read_text_file(
        path, what="dataset manifest", fix="Pass --dataset PATH/manifest.csv with columns " + ",".join(COLUMNS) + "."
    )
    reader = csv.DictReader(io.StringIO(text))
    header = tuple(h.strip() for h in (reader.fieldnames or ()))
    missing = [c for c in COLUMNS if c not in header]
    check_delimiter(text, COLUMNS, what=f"dataset manifest {path}")
    if missing:
        raise ConfigError(
            explain(
                f"dataset manifest {path}",
                expected="columns " + ",".join(COLUMNS),
                got="columns " + (",".join(header) or "(none)"),
                fix="Add the missing columns: " + ",".join(missing) + ".",
            )
        )
    rows: list[ImportRow] = []
    problems: list[str] = []
    listings: dict[Path, list[str]] = {}  # one listing per folder, for paths not found as written
    for raw in reader:
        origin = f"line {reader.line_num}"
        raw = {(k or "").strip(): (v or "").strip() if isinstance(v, str) else "" for k, v in raw.items()}
        run, step = parse_count(raw["run"]), parse_count(raw["step"])
        if run is None:
            problems.append(count_problem(origin, "run", raw["run"]))
        if step is None:
            problems.append(count_problem(origin, "step", raw["step"]))
        if not raw["seed"] or not raw["setting"] or not raw["path"]:
            problems.append(f"{origin}: seed, setting and path must not be empty")
            continue
        if run is None or step is None:
            continue
        rows.append(
            ImportRow(
                origin,
                raw["seed"],
                raw["setting"],
                run,
                step,
                on_disk(path.parent / raw["path"], listings),
                raw.get("reasoning") or None,
                raw.get("prompt") or None,
            )
        )
    if not rows and not problems:
        problems.append("no data rows")
    return rows, problems


# ----- import ------------------------------------------------------------------------------


def import_manifest(
    store: Store,
    csv_path: str | Path,
    *,
    name: str | None = None,
    allow_outside: bool = False,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    read_root: Path | None = None,
    source: str | None = None,
    revision: str | None = None,
) -> ImportSummary:
    """Import a manifest.csv's chains (see the module doc). Files must resolve inside
    `read_root` (default: the CSV's folder). Raises ConfigError listing every problem."""
    path = Path(csv_path)
    policy = ReadPolicy.inside(read_root or path.parent, allow_outside=allow_outside, max_bytes=max_file_bytes)
    rows, problems = _parse_manifest(path)
    rows, side_problems = attach_side_files(rows, policy)
    return import_rows(
        store,
        rows,
        name=name or Path(path).resolve().parent.name,
        source=source or str(path.resolve()),
        policy=policy,
        where=f"dataset manifest {path}",
        problems=[*problems, *side_problems],
        revision=revision,
    )


def import_rows(
    store: Store,
    rows: Sequence[ImportRow],
    *,
    name: str,
    source: str,
    policy: ReadPolicy,
    where: str,
    revision: str | None = None,
    progress: Callable[[int], None] | None = None,
    problems: Sequence[str] = (),
) -> ImportSummary:
    """Check every row, write the new steps, then register the dataset (see the module doc).

    name: the dataset's name as given (its id is `slug(name)`); source: where the rows came
    from (shown in reports); policy: which files may be read; where: the source named in
    error listings; revision: a pinned upstream revision; progress: called with the number
    of images checked or written since its last call; problems: those found while making
    the rows, listed with the rest. Raises ConfigError listing every problem.
    """
    dataset = slug(name)
    problems = list(problems)
    try:
        seeds, settings = row_ids(rows, where)
    except ConfigError as e:
        raise ConfigError(_listing(where, [str(e)])) from None
    registered = dataset_record(store, dataset)
    if registered is not None and registered.name != name:
        problems.append(
            f"dataset name {name!r} gives id {dataset!r}, already used by the dataset {registered.name!r} "
            f"imported from {registered.source}; pass another --name"
        )
    by_chain: dict[tuple[str, str, int], list[ImportRow]] = defaultdict(list)
    seen: dict[tuple, str] = {}
    for r in rows:
        k = (settings[r.setting], seeds[r.seed], r.run, r.step)
        if k in seen:
            problems.append(f"{r.origin}: duplicate of {seen[k]} (setting={r.setting} seed={r.seed} run={r.run} step={r.step})")
            continue
        seen[k] = r.origin
        by_chain[k[:3]].append(r)
    # Pass 1: every file must be allowed, readable and decode before anything is written.
    stored = {ck: {s.step: s for s in store.steps(imported_chain_key(dataset, *ck))} for ck in by_chain}
    checked: dict[int, tuple[str, int, int, str | None]] = {}  # id(row) -> (sha256, width, height, colour)
    pool = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="import")
    try:
        _check_all(pool, by_chain, stored, policy, checked, problems, progress)
        if problems:
            raise ConfigError(_listing(where, problems))
        return _write_all(pool, store, by_chain, checked, policy, dataset, name, source, revision, progress)
    finally:  # on Ctrl-C or an error, files not yet started are not read or written
        pool.shutdown(wait=True, cancel_futures=True)


def _check_all(pool, by_chain, stored, policy, checked, problems, progress) -> None:
    """Pass 1 over a thread pool (reading and decoding release the GIL)."""
    items = [(ck, r) for ck, rs in by_chain.items() for r in rs]
    results = pool.map(lambda item: _check_image(item[1], policy, stored[item[0]].get(item[1].step)), items)
    for (_, r), found in zip(items, results):
        if isinstance(found, str):
            problems.append(found)
        else:
            checked[id(r)] = found
        if progress:
            progress(1)
    for (setting, seed, run), rs in sorted(by_chain.items()):
        if 0 not in {r.step for r in rs}:
            problems.append(
                f"chain setting={setting} seed={seed} run={run}: no step 0 (the seed image), which every check compares against"
            )


def _write_all(pool, store, by_chain, checked, policy, dataset, name, source, revision, progress) -> ImportSummary:
    """Pass 2: write, then register. An import under way is recorded (with its pinned
    revision) so a resumed import of a hub dataset fetches the same revision. Objects are
    written by the pool (each is fsynced: overlapping the waits is most of the speed),
    steps by this thread in step order, each its own transaction: a kill keeps them."""
    store.put_memo(
        IN_PROGRESS_KIND, dataset, json.dumps({"name": name, "source": source, "revision": revision, "started": time.time()})
    )
    added = already = 0
    chains: list[ImportedChain] = []
    for (setting, seed, run), rs in sorted(by_chain.items()):
        key = imported_chain_key(dataset, setting, seed, run)
        store.ensure_chain(
            ChainRecord(
                key,
                {
                    "dataset": dataset,
                    "setting": setting,
                    "seed": seed,
                    "run": run,
                    "source": source,
                    "names": {"setting": rs[0].setting, "seed": rs[0].seed},
                },
                seed,
                setting,
                IMPORTED_EDITOR,
                dataset,
                "imported",
                run,
                True,
            )
        )
        have = {s.step for s in store.steps(key)}
        new = [r for r in sorted(rs, key=lambda r: r.step) if r.step not in have]
        already += len(rs) - len(new)
        if progress:
            progress(len(rs) - len(new))
        for r, (digest, ext) in zip(new, pool.map(lambda r: _put_object(store, r, checked[id(r)][0], policy), new)):
            _, w, h, colour = checked[id(r)]
            # colour: how the file's samples were converted to sRGB (images.Image.colour), when they were.
            meta = {
                "source": str(r.path),
                **({"colour": colour} if colour else {}),
                **({"editor": dict(r.meta)} if r.meta else {}),
            }
            store.add_step(StepRecord(key, r.step, "ok", digest, ext, w, h, r.prompt, r.reasoning, meta, None, None))
            added += 1
            if progress:
                progress(1)
        chains.append(ImportedChain(dataset, setting, seed, run, key, tuple(sorted(r.step for r in rs))))
    record = DatasetRecord(dataset, name, source, revision, tuple(chains))
    _register(store, record)
    return ImportSummary(dataset, tuple(chains), added, already, source, revision)


def _check_image(r: ImportRow, policy: ReadPolicy, stored_step: StepRecord | None) -> tuple[str, int, int, str | None] | str:
    """(sha256, width, height, colour conversion or None) of a row's image, or the problem
    with it. An image whose bytes equal the stored step's is not decoded again (a resumed
    import reads, not decodes)."""
    try:
        data = read_allowed(r.path, policy)
    except FileRefused as e:
        if not os.path.lexists(r.path):  # say which part is missing, not only that the whole path is
            return f"{r.origin}: {r.path} does not exist: {missing_part(r.path)}"
        return f"{r.origin}: {e}"
    digest = hashlib.sha256(data).hexdigest()
    if stored_step is not None:
        if stored_step.image_hash != digest:
            return (
                f"{r.origin}: step {r.step} is already stored with a different image; refusing to replace it"
                f" (import under another --name to keep both)"
            )
        return digest, int(stored_step.width or 0), int(stored_step.height or 0), (stored_step.meta or {}).get("colour")
    try:
        img = decode_image(data, source=str(r.path))
    except BadImageError as e:
        return f"{r.origin}: {e}"
    return digest, img.width, img.height, img.colour


def _put_object(store: Store, r: ImportRow, digest: str, policy: ReadPolicy) -> tuple[str, str]:
    """Store the row's file as an object; ConfigError when it changed since it was checked."""
    data = read_allowed(r.path, policy)
    if hashlib.sha256(data).hexdigest() != digest:
        raise ConfigError(
            explain(
                f"{r.origin}: {r.path}",
                expected="the file checked a moment ago",
                got="different bytes (it changed during the import)",
                fix="Let whatever writes the dataset finish, then run the import again (finished steps are kept).",
            )
        )
    return store.put_bytes(data)


# ----- registration and --dataset ----------------------------------------------------------


def _register(store: Store, record: DatasetRecord) -> None:
    with FileLock(str(store.locks / "datasets.lock")):  # the index is read-modify-write
        store.put_memo(REGISTRY_KIND, record.id, record.to_json())
        store.put_memo(INDEX_KIND, "all", json.dumps(sorted({*dataset_ids(store), record.id})))


def is_manifest_ref(ref: str) -> bool:
    """--dataset names a manifest file (a path) rather than an imported dataset's name."""
    return ref.lower().endswith(".csv") or "/" in ref or "\\" in ref or Path(ref).is_file()


def dataset_pairs(ref: str, store_root: str | Path | None) -> list[tuple[str, str]]:
    """(setting, seed) ids --dataset REF audits: from the manifest's rows, or from the
    store's record of an imported name. Raises ConfigError when neither exists."""
    if is_manifest_ref(ref):
        return manifest_pairs(ref)
    return require_record(Store(store_root), ref).pairs()


def ensure_imported(store: Store, ref: str) -> DatasetRecord:
    """The dataset `--dataset REF` audits: a manifest is imported first (under the store's
    import lock, so one process imports and the others find it done; importing again is a
    no-op), a name must be a finished import. Raises ConfigError listing every problem of
    the manifest (nothing is imported then) or naming the unknown import."""
    if not is_manifest_ref(ref):
        return require_record(store, ref)

    with FileLock(str(store.locks / "dataset-import.lock")):
        return require_record(store, import_manifest(store, ref).dataset)


def _listing(where: str, problems: Iterable[str]) -> str:
    problems = list(problems)
    shown = problems[:20]
    more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
    return (
        f"{where}: {len(problems)} problem(s), nothing was imported:\n  "
        + "\n  ".join(shown)
        + more
        + "\nFix them (paths are relative to the manifest or the imported folder) and run the import again."
    )
