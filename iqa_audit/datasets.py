"""Import chains someone else built (e.g. the Banana100 data, or a team's own editor
outputs) from a `manifest.csv` into the store, so they are audited with the same cases.

CSV columns: seed,setting,run,step,path   (path relative to the CSV; step 0 = the seed)

The import is all-or-nothing per call: every row is checked (columns, numbers, file
exists and decodes) before anything is written, and every problem is listed at once.
Re-importing is idempotent; a row that would replace a different stored image is an
error, never a silent overwrite.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from .errors import BadImageError, ConfigError, explain
from .images import decode_image
from .store import ChainRecord, StepRecord, Store

COLUMNS = ("seed", "setting", "run", "step", "path")
IMPORTED_EDITOR = "imported"


@dataclass(frozen=True)
class ManifestRow:
    line: int
    seed: str
    setting: str
    run: int
    step: int
    path: Path


@dataclass(frozen=True)
class ImportedChain:
    dataset: str
    setting: str
    seed: str
    run: int
    key: str
    steps: tuple[int, ...]


@dataclass(frozen=True)
class ImportSummary:
    dataset: str
    chains: tuple[ImportedChain, ...]
    images_added: int
    images_already_stored: int


def dataset_name(csv_path: Path) -> str:
    return slug(Path(csv_path).resolve().parent.name)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-") or "x"


def imported_chain_key(dataset: str, setting: str, seed: str, run: int) -> str:
    return hashlib.sha256(f"imported\0{dataset}\0{setting}\0{seed}\0{run}".encode()).hexdigest()[:24]


def read_manifest(csv_path: str | Path) -> list[ManifestRow]:
    rows, problems = _parse_manifest(Path(csv_path))
    if problems:
        raise ConfigError(_listing(Path(csv_path), problems))
    return rows


def _parse_manifest(path: Path) -> tuple[list[ManifestRow], list[str]]:
    """Rows that parse, and every problem found (the header's problems raise at once)."""
    if not path.is_file():
        raise ConfigError(explain(f"dataset manifest {path}", expected="an existing CSV file", got="no such file",
                                  fix="Pass --dataset PATH/manifest.csv with columns " + ",".join(COLUMNS) + "."))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(explain(f"dataset manifest {path}", expected="a UTF-8 CSV file", got=str(e), fix="Re-save it as UTF-8 CSV.")) from None
    reader = csv.DictReader(text.splitlines())
    header = tuple(h.strip() for h in (reader.fieldnames or ()))
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ConfigError(explain(f"dataset manifest {path}", expected="columns " + ",".join(COLUMNS),
                                  got="columns " + (",".join(header) or "(none)"), fix="Add the missing columns: " + ",".join(missing) + "."))
    rows: list[ManifestRow] = []
    problems: list[str] = []
    for i, raw in enumerate(reader, start=2):
        raw = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        try:
            run, step = int(raw["run"]), int(raw["step"])
            if run < 0 or step < 0:
                raise ValueError
        except ValueError:
            problems.append(f"line {i}: run and step must be integers >= 0, got run={raw['run']!r} step={raw['step']!r}")
            continue
        if not raw["seed"] or not raw["setting"] or not raw["path"]:
            problems.append(f"line {i}: seed, setting and path must not be empty")
            continue
        rows.append(ManifestRow(i, slug(raw["seed"]), slug(raw["setting"]), run, step, path.parent / raw["path"]))
    seen: dict[tuple, int] = {}
    for r in rows:
        k = (r.setting, r.seed, r.run, r.step)
        if k in seen:
            problems.append(f"line {r.line}: duplicate of line {seen[k]} (setting={r.setting} seed={r.seed} run={r.run} step={r.step})")
        seen[k] = r.line
    if not rows and not problems:
        problems.append("no data rows")
    return rows, problems


def import_manifest(store: Store, csv_path: str | Path, *, name: str | None = None) -> ImportSummary:
    path = Path(csv_path)
    dataset = slug(name) if name else dataset_name(path)
    rows, problems = _parse_manifest(path)
    # Pass 1: every file must exist and decode before anything is written.
    digests: dict[int, tuple[str, int, int]] = {}
    for r in rows:
        try:
            data = r.path.read_bytes()
            img = decode_image(data, source=str(r.path))
        except FileNotFoundError:
            problems.append(f"line {r.line}: {r.path} does not exist")
            continue
        except (BadImageError, OSError) as e:
            problems.append(f"line {r.line}: {e}")
            continue
        digests[r.line] = (hashlib.sha256(data).hexdigest(), img.width, img.height)
    by_chain: dict[tuple[str, str, int], list[ManifestRow]] = defaultdict(list)
    for r in rows:
        by_chain[(r.setting, r.seed, r.run)].append(r)
    for (setting, seed, run), rs in sorted(by_chain.items()):
        if 0 not in {r.step for r in rs}:
            problems.append(f"chain setting={setting} seed={seed} run={run}: no step 0 (the seed image), which every check compares against")
        stored = {s.step: s for s in store.steps(imported_chain_key(dataset, setting, seed, run))}
        for r in rs:
            if r.step in stored and r.line in digests and stored[r.step].image_hash != digests[r.line][0]:
                problems.append(f"line {r.line}: step {r.step} is already stored with a different image; refusing to replace it"
                                f" (import under another --name to keep both)")
    if problems:
        raise ConfigError(_listing(path, problems))
    # Pass 2: write.
    added = already = 0
    chains: list[ImportedChain] = []
    for (setting, seed, run), rs in sorted(by_chain.items()):
        key = imported_chain_key(dataset, setting, seed, run)
        store.ensure_chain(ChainRecord(key, {"dataset": dataset, "setting": setting, "seed": seed, "run": run, "source": str(path)},
                                       seed, setting, IMPORTED_EDITOR, dataset, "imported", run, True))
        stored = {s.step for s in store.steps(key)}
        for r in sorted(rs, key=lambda r: r.step):
            if r.step in stored:
                already += 1
                continue
            digest, ext = store.put_bytes(r.path.read_bytes())
            _, w, h = digests[r.line]
            store.add_step(StepRecord(key, r.step, "ok", digest, ext, w, h, None, None, {"source": str(r.path)}, None, None))
            added += 1
        chains.append(ImportedChain(dataset, setting, seed, run, key, tuple(sorted(r.step for r in rs))))
    return ImportSummary(dataset, tuple(chains), added, already)


def _listing(path: Path, problems: list[str]) -> str:
    shown = problems[:20]
    more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
    return (f"dataset manifest {path}: {len(problems)} problem(s), nothing was imported:\n  " + "\n  ".join(shown) + more
            + "\nFix the rows (paths are relative to the CSV) and run the import again.")
