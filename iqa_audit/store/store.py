"""The single source of truth on disk: content-addressed images + a SQLite manifest.

Layout under the store root:
    objects/ab/<sha256>.<ext>   every image exactly as produced (atomic write + rename)
    manifest.sqlite             chains, steps (prompt, reasoning, meta, timing) and scores
    locks/<chain key>.lock      one builder per chain across processes

Why SQLite in WAL mode: xdist workers and parallel CLI jobs read and write at once; WAL
lets readers proceed while one writer commits, and every step is its own transaction, so
a builder killed at any moment leaves the manifest at the last finished step.
Values are JSON, never pickle: the cache must be safe to share and to read by hand.

A shared cache: object files are created readable by whoever the umask allows (0644 under
the usual 022), like any file the user writes. A store the user cannot write to (a cache
shared read-only, a read-only mount) is opened read-only: everything already stored can be
read and audited; writing anything raises a StoreError that says so.

This module holds the layout and Store. Beside it: schema.py, the tables column by column;
rows.py, the rows as values (StepRecord, ChainRecord, the JSON they hold); connection.py,
Store's connection per process and thread and its transactions; and sqlite_manifest.py,
opening the SQLite file (retries, read-only stores, a damaged file).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import platformdirs
from filelock import FileLock

from iqa_audit.core.console import cli_command
from iqa_audit.core.decode import decode_image
from iqa_audit.core.errors import StoreError, explain
from iqa_audit.core.files import write_file_atomic
from iqa_audit.core.images import Image, sniff_format
from iqa_audit.core.urls import redact_urls
from iqa_audit.store.connection import ManifestConnection
from iqa_audit.store.decoded import DECODED
from iqa_audit.store.rows import ChainRecord, StepRecord, chain_from_row, row_json, step_from_row
from iqa_audit.store.sqlite_manifest import is_read_only

STORE_ENV = "IQA_AUDIT_STORE"


def store_for_install(package_parent: Path) -> Path:
    """Where the store lives when neither --store nor $IQA_AUDIT_STORE says: in a checkout
    of iqa-audit (its pyproject.toml beside the package, editable installs included),
    `fixtures/cache` there, the chains bin/audit builds and CI caches; in an installed
    wheel, the user's cache folder (platformdirs: ~/.cache/iqa-audit/store on Linux), so
    chains, scores and the cards' history outlive the virtual environment and never land
    inside site-packages."""
    project = package_parent / "pyproject.toml"
    if project.is_file() and (package_parent / "iqa_audit").is_dir() and 'name = "iqa-audit"' in project.read_text("utf-8"):
        return package_parent / "fixtures" / "cache"
    return Path(platformdirs.user_cache_dir("iqa-audit")) / "store"


DEFAULT_STORE = store_for_install(Path(__file__).resolve().parents[2])


def default_store_root() -> Path:
    """The store used when none is given: $IQA_AUDIT_STORE (STORE_ENV) when set and not
    empty, else DEFAULT_STORE (store_for_install: fixtures/cache in a checkout, the user's
    cache folder for an installed wheel)."""
    return Path(os.environ.get(STORE_ENV) or DEFAULT_STORE)


class Store(ManifestConnection):
    """The store at `root` (default: default_store_root()), opened, and created if needed.

    Public surface (layout and schema: the module docstring and schema.SCHEMA):
    - objects, named by the sha256 of their exact bytes: put_image / put_bytes, read_bytes /
      get_image (re-hashed on every read), verify / verify_many, object_path.
    - chains and steps: ensure_chain, chain, chains, steps, steps_with_image, add_step,
      drop_steps_from; chain_lock / chain_file_lock (one builder per chain across processes).
    - scores by (metric id, metric version, image hash): get_scores / put_scores, score_count;
      finite raw scores in the metric's own units (points on 0–100 come later, normalise).
    - memos, JSON text by (kind, key): get_memo / put_memo / forget_memos.
    - robustness cards by (kind, subject, version, suite version, fingerprint): put_card / cards.
    Attributes: root, objects, locks, db_path (paths) and read_only.

    Invariants: safe across threads and processes (one sqlite3 connection per process and
    thread; WAL; every write one `BEGIN IMMEDIATE` transaction). Objects are immutable and
    written atomically. A read-only store reads everything stored; every write raises
    StoreError, except the caches (put_memo, verify_many's stamps), which keep nothing.

    Raises StoreError when the folder cannot be created, when the manifest is damaged or
    emptied beside stored objects (naming the file and the fix; any method may raise this),
    when a read-only manifest cannot be opened, and on a write to a read-only store;
    sqlite3.OperationalError when opening stays locked for OPEN_RETRY_S."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_store_root()
        self.objects = self.root / "objects"
        self.locks = self.root / "locks"
        self.db_path = self.root / "manifest.sqlite"
        self.read_only = is_read_only(self.root, self.db_path)
        if not self.read_only:
            try:
                self.objects.mkdir(parents=True, exist_ok=True)
                self.locks.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(
                    explain(
                        f"store folder {self.root}",
                        expected="a writable folder",
                        got=str(e),
                        fix=f"Pass --store or set {STORE_ENV}.",
                    )
                ) from None
        self._local = threading.local()
        self._db()  # opens now, so a damaged or locked manifest is reported here, once

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r}{', read-only' if self.read_only else ''})"

    # ----- objects ---------------------------------------------------------------------
    def object_path(self, digest: str, ext: str) -> Path:
        """Where object (digest, ext) lives: root/objects/<first 2 hex digits>/<digest>.<ext>.
        Path arithmetic only: the file need not exist."""
        return self.objects / digest[:2] / f"{digest}.{ext}"

    def put_image(self, image: Image) -> tuple[str, str]:
        """Store the image's exact bytes (Image.data(): its original encoding, or a PNG);
        returns (sha256 hex, extension). Idempotent. Raises as put_bytes does."""
        return self.put_bytes(image.data())

    def put_bytes(self, data: bytes, ext: str | None = None) -> tuple[str, str]:
        """Store `data` as an object; returns (sha256 hex, ext). `ext` defaults to the sniffed
        image format ('png', 'jpeg', 'gif', 'bmp', 'tiff', 'webp'; 'bin' when none; pass
        'bin' for bytes that are not an image, e.g. a paid reply kept as evidence).

        An intact object already stored is not written again (so this works on a read-only
        store); a damaged one is replaced. Raises StoreError on a read-only store that lacks
        it, OSError when the file cannot be written."""
        digest = hashlib.sha256(data).hexdigest()
        ext = ext or sniff_format(data)
        path = self.object_path(digest, ext)
        if path.exists() and file_sha256(path) == digest:
            return digest, ext
        if self.read_only:
            self._tx().__enter__()  # raises the read-only StoreError
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write beside the target, then rename: a reader never sees half a file, and a
        # writer killed mid-write leaves only a temp file that nothing points at.
        write_file_atomic(path, data, durable=True)
        return digest, ext

    def verify(self, digest: str, ext: str) -> bool:
        """True when object (digest, ext) exists and its bytes hash to `digest`; hashes the
        whole file every time (verify_many skips unchanged files). False for a missing file."""
        path = self.object_path(digest, ext)
        return path.is_file() and file_sha256(path) == digest

    def verify_many(self, objects: Iterable[tuple[str, str]], *, rehash: bool = False) -> dict[tuple[str, str], bool]:
        """verify() for each (digest, ext). By default only files whose stamp (size, mtime,
        ctime, inode) changed since they last hashed right are re-hashed: re-hashing every
        step of every chain on each run took a warm audit's workers ~1.5 s each. A byte
        flip followed by `touch -r` still moves the ctime, so it is re-hashed and found.
        `rehash=True` hashes every file (what `build` does). A failed check forgets the
        file's stamp, so the next stamp-only check hashes it again. Returns {(digest, ext):
        intact} per distinct object; stamps are written (one transaction) if writable."""
        wanted = list(dict.fromkeys(objects))
        known = {} if rehash else self._stamps(wanted)
        out: dict[tuple[str, str], bool] = {}
        fresh, broken = [], []
        for obj in wanted:
            try:
                st = self.object_path(*obj).stat()
            except OSError:
                out[obj] = False
                broken.append(obj)
                continue
            stamp = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
            if known.get(obj) == stamp:
                out[obj] = True
                continue
            out[obj] = self.verify(*obj)
            if out[obj]:
                fresh.append((*obj, *stamp))
            else:
                broken.append(obj)
        if (fresh or broken) and not self.read_only:  # stamps are a cache: a read-only store re-hashes
            with self._tx() as db:
                db.executemany("DELETE FROM object_checks WHERE digest=? AND ext=?", broken)
                db.executemany(
                    "INSERT OR REPLACE INTO object_checks (digest, ext, size, mtime_ns, ctime_ns, ino) VALUES (?,?,?,?,?,?)",
                    fresh,
                )
        return out

    def _stamps(self, objects: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, int, int, int]]:
        out = {}
        for i in range(0, len(objects), 400):  # SQLite caps bound parameters per statement (999 before 3.32)
            chunk = objects[i : i + 400]
            marks = ",".join("(?,?)" for _ in chunk)
            rows = self._rows(
                f"SELECT digest, ext, size, mtime_ns, ctime_ns, ino FROM object_checks WHERE (digest, ext) IN (VALUES {marks})",
                [v for obj in chunk for v in obj],
            )
            out.update({(d, e): (size, mtime, ctime, ino) for d, e, size, mtime, ctime, ino in rows})
        return out

    def read_bytes(self, digest: str, ext: str) -> bytes:
        """The object's bytes, hash-checked on every read. Raises CorruptObject (a
        StoreError) when the file is missing or its sha256 is not `digest`."""
        path = self.object_path(digest, ext)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise CorruptObject(digest, path, "the file is missing") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise CorruptObject(digest, path, "its content hash does not match")
        return data

    def get_image(self, digest: str, ext: str) -> Image:
        """The object decoded as an Image (keeping its bytes). Raises CorruptObject as
        read_bytes does, BadImageError when the bytes do not decode as an image."""
        path = self.object_path(digest, ext)  # decoded once per process while the file is unchanged (decoded.py)
        return DECODED.get(path, lambda: decode_image(self.read_bytes(digest, ext), source=str(path)))

    # ----- chains and steps ------------------------------------------------------------
    def ensure_chain(self, rec: ChainRecord) -> None:
        """Register chain `rec` (its spec as canonical JSON, URLs redacted); a chain already
        registered under rec.key is left as it was. Raises StoreError on a read-only store."""
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO chains (key, spec, seed, setting, editor_id, editor_version, task, run, paid, created)"
                " VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    rec.key,
                    row_json(redact_urls(rec.spec)),
                    rec.seed,
                    rec.setting,
                    rec.editor_id,
                    rec.editor_version,
                    rec.task,
                    rec.run,
                    int(rec.paid),
                    time.time(),
                ),
            )

    def chain(self, key: str) -> ChainRecord | None:
        """The chain registered under `key`, or None."""
        rows = self._rows(
            "SELECT key, spec, seed, setting, editor_id, editor_version, task, run, paid FROM chains WHERE key=?", (key,)
        )
        return chain_from_row(rows[0]) if rows else None

    def chains(self, *, setting: str | None = None) -> list[ChainRecord]:
        """Every registered chain, or those of one setting label, sorted by (setting, seed, run)."""
        sql = "SELECT key, spec, seed, setting, editor_id, editor_version, task, run, paid FROM chains"
        args: tuple = ()
        if setting is not None:
            sql, args = sql + " WHERE setting=?", (setting,)
        rows = self._rows(sql + " ORDER BY setting, seed, run", args)
        return [chain_from_row(r) for r in rows]

    def steps(self, chain_key: str) -> list[StepRecord]:
        """Every stored step of chain `chain_key`, whatever its status, sorted by step number
        (0 = the seed); [] for an unknown chain. Files are not checked here."""
        rows = self._rows(
            "SELECT chain_key, step, status, image_hash, ext, width, height, prompt, reasoning, meta, editor_seed, seconds"
            " FROM steps WHERE chain_key=? ORDER BY step",
            (chain_key,),
        )
        return [step_from_row(r) for r in rows]

    def steps_with_image(self, image_hash: str) -> list[tuple[ChainRecord, StepRecord]]:
        """Every stored chain step whose image is `image_hash`, as (chain, step), sorted by
        (setting, seed, run, step); [] when no chain uses it."""
        rows = self._rows(
            "SELECT c.key, c.spec, c.seed, c.setting, c.editor_id, c.editor_version, c.task, c.run, c.paid,"
            " s.chain_key, s.step, s.status, s.image_hash, s.ext, s.width, s.height, s.prompt, s.reasoning, s.meta,"
            " s.editor_seed, s.seconds FROM steps s JOIN chains c ON c.key = s.chain_key WHERE s.image_hash=?"
            " ORDER BY c.setting, c.seed, c.run, s.step",
            (image_hash,),
        )
        return [(chain_from_row(r[:9]), step_from_row(r[9:])) for r in rows]

    def add_step(self, rec: StepRecord) -> None:
        """Record step `rec` in its own transaction (reasoning and meta with URLs redacted;
        meta as JSON, values JSON cannot hold as their str()). A step is never overwritten:
        sqlite3.IntegrityError when the chain already has it (drop_steps_from first).
        Raises StoreError on a read-only store."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO steps (chain_key, step, status, image_hash, ext, width, height, prompt, reasoning, meta,"
                " editor_seed, seconds, created) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                # Editor metadata and the model's words may quote an endpoint: no credentials stored.
                (
                    rec.chain_key,
                    rec.step,
                    rec.status,
                    rec.image_hash,
                    rec.ext,
                    rec.width,
                    rec.height,
                    rec.prompt,
                    redact_urls(rec.reasoning),
                    row_json(redact_urls(rec.meta)),
                    rec.editor_seed,
                    rec.seconds,
                    time.time(),
                ),
            )

    def drop_steps_from(self, chain_key: str, step: int) -> int:
        """Forget steps >= `step` of a chain so they are built again (a free chain's damaged
        steps, a resent 'unknown' paid step, `iqa-audit forget`); returns how many. Objects
        stay (other chains may share them). Raises StoreError on a read-only store."""
        with self._tx() as db:
            cur = db.execute("DELETE FROM steps WHERE chain_key=? AND step>=?", (chain_key, step))
            return cur.rowcount

    @contextmanager
    def chain_lock(self, chain_key: str, timeout: float = -1) -> Iterator[None]:
        """Hold chain `chain_key`'s file lock (root/locks/<key>.lock) for the `with` block:
        one builder per chain across processes. `timeout`: seconds to wait, -1 forever;
        raises filelock.Timeout when it runs out."""
        with self.chain_file_lock(chain_key).acquire(timeout=timeout):
            yield

    def chain_file_lock(self, chain_key: str) -> FileLock:
        """A new, unacquired filelock.FileLock on root/locks/<chain_key>.lock, for a caller
        that acquires it with its own timeout (build_chain(wait=False) uses 0)."""
        return FileLock(str(self.locks / f"{chain_key}.lock"))

    # ----- scores ----------------------------------------------------------------------
    def get_scores(self, metric_id: str, metric_version: str, hashes: Iterable[str]) -> dict[str, float]:
        """{image hash: stored score} of `hashes` under (metric_id, metric_version): finite raw
        scores in the metric's own units; an image without one is absent (a NaN/±inf is a
        score_core 'nonfinite' memo). Object counts live here too (ids 'count:...')."""
        wanted = list(dict.fromkeys(hashes))
        out: dict[str, float] = {}
        for i in range(0, len(wanted), 500):  # SQLite caps bound parameters per statement (999 before 3.32)
            chunk = wanted[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for h, s in self._rows(
                f"SELECT image_hash, score FROM scores WHERE metric_id=? AND metric_version=? AND image_hash IN ({marks})",
                (metric_id, metric_version, *chunk),
            ):
                out[h] = s
        return out

    def put_scores(self, metric_id: str, metric_version: str, scores: Mapping[str, float], seconds: float | None = None) -> None:
        """Store finite scores, all in one transaction. A NaN or ±inf is refused (StoreError,
        nothing written): it is not a score (see score_core, which keeps them out).
        `scores`: {image hash: raw score, the metric's units}; `seconds`: scoring time per
        image. Replaces a stored score of the same key. StoreError on a read-only store."""
        now = time.time()
        rows = [(metric_id, metric_version, h, float(s), seconds, now) for h, s in scores.items()]
        bad = [h for _, _, h, s, _, _ in rows if not math.isfinite(s)]
        if bad:
            raise StoreError(
                explain(
                    f"scores of metric {metric_id} {metric_version}",
                    expected="finite numbers",
                    got=f"NaN or ±inf for {len(bad)} image(s), first {bad[0][:12]}…",
                    fix="Score through iqa_audit.scoring.batch, which keeps non-finite values out of the table.",
                )
            )
        with self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO scores (metric_id, metric_version, image_hash, score, seconds, created)"
                " VALUES (?,?,?,?,?,?)",
                rows,
            )

    # ----- memos ------------------------------------------------------------------------
    def get_memo(self, kind: str, key: str) -> str | None:
        """The memo (kind, key) exactly as stored (JSON text by convention), or None."""
        rows = self._rows("SELECT value FROM memos WHERE kind=? AND key=?", (kind, key))
        return rows[0][0] if rows else None

    def put_memo(self, kind: str, key: str, value: str) -> None:
        """Remember a derived result. A memo is a cache: on a read-only store, a full disk or
        a manifest locked past the timeout it is not kept (the result is computed again next
        time), never an error; a damaged manifest is still a StoreError."""
        if self.read_only:
            return
        try:
            with self._tx() as db:
                db.execute(
                    "INSERT OR REPLACE INTO memos (kind, key, value, created) VALUES (?,?,?,?)", (kind, key, value, time.time())
                )
        except sqlite3.OperationalError:  # "disk I/O error", "database or disk is full", "database is locked"
            return

    def forget_memos(self, kind: str | None = None) -> int:
        """Delete every memo of `kind` (every memo when None); returns how many. Raises
        StoreError on a read-only store."""
        with self._tx() as db:
            cur = db.execute("DELETE FROM memos" + (" WHERE kind=?" if kind else ""), (kind,) if kind else ())
            return cur.rowcount

    # ----- cards ------------------------------------------------------------------------
    def put_card(self, card: Mapping[str, Any]) -> None:
        """Keep a run's card (a Card.to_dict: kind, subject, version, iqa_audit,
        fingerprint, score, low, high, run), replacing the one with the same key."""
        key = [card["kind"], card["subject"], card["version"], card["iqa_audit"], card["fingerprint"]]
        values = (*key, card.get("score"), card.get("low"), card.get("high"), card.get("run") or "")
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO cards (kind, subject, version, iqa_audit, fingerprint, score, low, high, run, card,"
                " created) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (*values, json.dumps(card, sort_keys=True), time.time()),
            )

    def cards(self, kind: str | None = None, subject: str | None = None) -> list[dict[str, Any]]:
        """The stored cards (their JSON, with `created`), oldest first, of `kind` and
        `subject` when given."""
        where = [(c, v) for c, v in (("kind", kind), ("subject", subject)) if v is not None]
        sql = "SELECT card, created FROM cards" + (" WHERE " + " AND ".join(f"{c}=?" for c, _ in where) if where else "")
        rows = self._rows(sql + " ORDER BY created, rowid", [v for _, v in where])
        return [{**json.loads(text), "created": created} for text, created in rows]

    def score_count(self) -> int:
        """How many rows the score table holds, over every metric and version (object
        counts included)."""
        return int(self._rows("SELECT COUNT(*) FROM scores")[0][0])


class CorruptObject(StoreError):
    """A stored object is missing or its bytes do not hash to its name. The message says
    how to recover; `digest` is the expected sha256, `path` the file."""

    def __init__(self, digest: str, path: Path, why: str):
        super().__init__(
            explain(
                f"stored image {path}",
                expected=f"content with sha256 {digest[:12]}…",
                got=why,
                fix="Free chains are rebuilt automatically on the next build; for paid chains restore the file from a backup"
                f" or delete the chain's steps from that step on with `{cli_command('forget', '--chain', '<key>', '--from-step', '<N>')}`.",
            )
        )
        self.digest = digest
        self.path = path


def file_sha256(path: Path) -> str:
    """sha256 hex digest of the file at `path`, read in 1 MiB blocks. Raises OSError when it
    cannot be read."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
