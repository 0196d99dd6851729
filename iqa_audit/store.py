"""The single source of truth on disk: content-addressed images + a SQLite manifest.

Layout under the store root:
    objects/ab/<sha256>.<ext>   every image exactly as produced (atomic write + rename)
    manifest.sqlite             chains, steps (prompt, reasoning, meta, timing) and scores
    locks/<chain key>.lock      one builder per chain across processes

Why SQLite in WAL mode: xdist workers and parallel CLI jobs read and write at once; WAL
lets readers proceed while one writer commits, and every step is its own transaction, so
a builder killed at any moment leaves the manifest at the last finished step.
Values are JSON, never pickle: the cache must be safe to share and to read by hand.
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
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Iterator, Mapping

from filelock import FileLock

from .console import cli_command
from .errors import StoreError, explain
from .files import write_file_atomic
from .images import Image, decode_image, sniff_format

STORE_ENV = "IQA_AUDIT_STORE"
DEFAULT_STORE = Path(__file__).resolve().parent.parent / "fixtures" / "cache"

SCHEMA = """
CREATE TABLE IF NOT EXISTS chains (
    key TEXT PRIMARY KEY,
    spec TEXT NOT NULL,            -- canonical JSON of everything that determines the chain
    seed TEXT NOT NULL,
    setting TEXT NOT NULL,         -- editor id + task, the 'chain setting' of the audit
    editor_id TEXT NOT NULL,
    editor_version TEXT NOT NULL,
    task TEXT NOT NULL,
    run INTEGER NOT NULL,
    paid INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS steps (
    chain_key TEXT NOT NULL REFERENCES chains(key),
    step INTEGER NOT NULL,
    status TEXT NOT NULL,          -- 'ok' | 'refused'
    image_hash TEXT,               -- NULL for a refused step
    ext TEXT,
    width INTEGER,
    height INTEGER,
    prompt TEXT,
    reasoning TEXT,
    meta TEXT NOT NULL,            -- JSON
    editor_seed INTEGER,
    seconds REAL,
    created REAL NOT NULL,
    PRIMARY KEY (chain_key, step)
);
CREATE TABLE IF NOT EXISTS scores (
    metric_id TEXT NOT NULL,
    metric_version TEXT NOT NULL,
    image_hash TEXT NOT NULL,
    score REAL NOT NULL,
    seconds REAL,
    created REAL NOT NULL,
    PRIMARY KEY (metric_id, metric_version, image_hash)
);
-- Object files whose content hash was checked, with the size and mtime they had then: a
-- warm run re-hashes only files that changed since (reading an object always re-checks).
CREATE TABLE IF NOT EXISTS verified (
    digest TEXT NOT NULL,
    ext TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    PRIMARY KEY (digest, ext)
);
-- Results derived from stored content, keyed by a digest of all their inputs (including
-- the source of the code that computes them), so a warm re-run reads instead of recomputing:
-- 'identity' (a metric's id/version/range), 'fidelity' (an editor check), 'sanity'.
CREATE TABLE IF NOT EXISTS memos (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,           -- JSON
    created REAL NOT NULL,
    PRIMARY KEY (kind, key)
);
"""


@dataclass(frozen=True)
class StepRecord:
    chain_key: str
    step: int
    status: str
    image_hash: str | None
    ext: str | None
    width: int | None
    height: int | None
    prompt: str | None
    reasoning: str | None
    meta: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    editor_seed: int | None = None
    seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class ChainRecord:
    key: str
    spec: Mapping[str, Any]
    seed: str
    setting: str
    editor_id: str
    editor_version: str
    task: str
    run: int
    paid: bool


def default_store_root() -> Path:
    return Path(os.environ.get(STORE_ENV) or DEFAULT_STORE)


class Store:
    """Opens (creating if needed) the store at `root`. Safe across processes and threads."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_store_root()
        self.objects = self.root / "objects"
        self.locks = self.root / "locks"
        try:
            self.objects.mkdir(parents=True, exist_ok=True)
            self.locks.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(
                explain(f"store folder {self.root}", expected="a writable folder", got=str(e), fix=f"Pass --store or set {STORE_ENV}.")
            ) from None
        self.db_path = self.root / "manifest.sqlite"
        self._local = threading.local()
        # executescript manages its own transaction; CREATE ... IF NOT EXISTS is idempotent.
        self._db().executescript(SCHEMA)

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # ----- connections -----------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        # One connection per (process, thread): sqlite3 connections must not cross a fork.
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.db_path, timeout=60, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=60000")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ----- objects ---------------------------------------------------------------------
    def object_path(self, digest: str, ext: str) -> Path:
        return self.objects / digest[:2] / f"{digest}.{ext}"

    def put_image(self, image: Image) -> tuple[str, str]:
        """Store the image's exact bytes; returns (sha256, extension). Idempotent."""
        return self.put_bytes(image.data())

    def put_bytes(self, data: bytes) -> tuple[str, str]:
        digest = hashlib.sha256(data).hexdigest()
        ext = sniff_format(data)
        path = self.object_path(digest, ext)
        if path.exists() and file_sha256(path) == digest:
            return digest, ext
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write beside the target, then rename: a reader never sees half a file, and a
        # writer killed mid-write leaves only a temp file that nothing points at.
        write_file_atomic(path, data, durable=True)
        return digest, ext

    def verify(self, digest: str, ext: str) -> bool:
        path = self.object_path(digest, ext)
        return path.is_file() and file_sha256(path) == digest

    def verify_many(self, objects: Iterable[tuple[str, str]]) -> dict[tuple[str, str], bool]:
        """verify() for each (digest, ext), re-hashing only files whose size or mtime changed
        since they last hashed right: re-hashing every step of every chain on each run took
        a warm audit's workers ~1.5 s each. Reading an object (read_bytes) always re-checks."""
        wanted = list(dict.fromkeys(objects))
        known = self._verified_stats(wanted)
        out: dict[tuple[str, str], bool] = {}
        fresh = []
        for obj in wanted:
            try:
                st = self.object_path(*obj).stat()
            except OSError:
                out[obj] = False
                continue
            stamp = (st.st_size, st.st_mtime_ns)
            if known.get(obj) == stamp:
                out[obj] = True
            else:
                out[obj] = self.verify(*obj)
                if out[obj]:
                    fresh.append((*obj, *stamp))
        if fresh:
            with self._tx() as db:
                db.executemany("INSERT OR REPLACE INTO verified (digest, ext, size, mtime_ns) VALUES (?,?,?,?)", fresh)
        return out

    def _verified_stats(self, objects: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, int]]:
        out = {}
        db = self._db()
        for i in range(0, len(objects), 400):  # SQLite caps bound parameters per statement
            chunk = objects[i : i + 400]
            marks = ",".join("(?,?)" for _ in chunk)
            rows = db.execute(f"SELECT digest, ext, size, mtime_ns FROM verified WHERE (digest, ext) IN (VALUES {marks})",
                              [v for obj in chunk for v in obj])
            out.update({(d, e): (size, mtime) for d, e, size, mtime in rows})
        return out

    def read_bytes(self, digest: str, ext: str) -> bytes:
        path = self.object_path(digest, ext)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise CorruptObject(digest, path, "the file is missing") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise CorruptObject(digest, path, "its content hash does not match")
        return data

    def get_image(self, digest: str, ext: str) -> Image:
        return decode_image(self.read_bytes(digest, ext), source=str(self.object_path(digest, ext)))

    # ----- chains and steps ------------------------------------------------------------
    def ensure_chain(self, rec: ChainRecord) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO chains (key, spec, seed, setting, editor_id, editor_version, task, run, paid, created)"
                " VALUES (?,?,?,?,?,?,?,?,?,?)",
                (rec.key, _dumps(rec.spec), rec.seed, rec.setting, rec.editor_id, rec.editor_version, rec.task, rec.run,
                 int(rec.paid), time.time()),
            )

    def chain(self, key: str) -> ChainRecord | None:
        row = self._db().execute(
            "SELECT key, spec, seed, setting, editor_id, editor_version, task, run, paid FROM chains WHERE key=?", (key,)
        ).fetchone()
        return None if row is None else _chain_from_row(row)

    def chains(self, *, setting: str | None = None) -> list[ChainRecord]:
        sql = "SELECT key, spec, seed, setting, editor_id, editor_version, task, run, paid FROM chains"
        args: tuple = ()
        if setting is not None:
            sql, args = sql + " WHERE setting=?", (setting,)
        rows = self._db().execute(sql + " ORDER BY setting, seed, run", args).fetchall()
        return [_chain_from_row(r) for r in rows]

    def steps(self, chain_key: str) -> list[StepRecord]:
        rows = self._db().execute(
            "SELECT chain_key, step, status, image_hash, ext, width, height, prompt, reasoning, meta, editor_seed, seconds"
            " FROM steps WHERE chain_key=? ORDER BY step",
            (chain_key,),
        ).fetchall()
        return [_step_from_row(r) for r in rows]

    def steps_with_image(self, image_hash: str) -> list[tuple[ChainRecord, StepRecord]]:
        """Every stored chain step whose image is `image_hash`, as (chain, step), sorted."""
        rows = self._db().execute(
            "SELECT c.key, c.spec, c.seed, c.setting, c.editor_id, c.editor_version, c.task, c.run, c.paid,"
            " s.chain_key, s.step, s.status, s.image_hash, s.ext, s.width, s.height, s.prompt, s.reasoning, s.meta,"
            " s.editor_seed, s.seconds FROM steps s JOIN chains c ON c.key = s.chain_key WHERE s.image_hash=?"
            " ORDER BY c.setting, c.seed, c.run, s.step",
            (image_hash,),
        ).fetchall()
        return [(_chain_from_row(r[:9]), _step_from_row(r[9:])) for r in rows]

    def add_step(self, rec: StepRecord) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO steps (chain_key, step, status, image_hash, ext, width, height, prompt, reasoning, meta,"
                " editor_seed, seconds, created) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (rec.chain_key, rec.step, rec.status, rec.image_hash, rec.ext, rec.width, rec.height, rec.prompt,
                 rec.reasoning, _dumps(rec.meta), rec.editor_seed, rec.seconds, time.time()),
            )

    def drop_steps_from(self, chain_key: str, step: int) -> int:
        """Forget steps >= `step` of a chain (free editors only: they are rebuilt)."""
        with self._tx() as db:
            cur = db.execute("DELETE FROM steps WHERE chain_key=? AND step>=?", (chain_key, step))
            return cur.rowcount

    @contextmanager
    def chain_lock(self, chain_key: str, timeout: float = -1) -> Iterator[None]:
        with self.chain_file_lock(chain_key).acquire(timeout=timeout):
            yield

    def chain_file_lock(self, chain_key: str) -> FileLock:
        return FileLock(str(self.locks / f"{chain_key}.lock"))

    # ----- scores ----------------------------------------------------------------------
    def get_scores(self, metric_id: str, metric_version: str, hashes: Iterable[str]) -> dict[str, float]:
        wanted = list(dict.fromkeys(hashes))
        out: dict[str, float] = {}
        db = self._db()
        for i in range(0, len(wanted), 500):  # SQLite caps bound parameters per statement
            chunk = wanted[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for h, s in db.execute(
                f"SELECT image_hash, score FROM scores WHERE metric_id=? AND metric_version=? AND image_hash IN ({marks})",
                (metric_id, metric_version, *chunk),
            ):
                out[h] = s
        return out

    def put_scores(self, metric_id: str, metric_version: str, scores: Mapping[str, float], seconds: float | None = None) -> None:
        """Store finite scores, all in one transaction. A NaN or ±inf is refused (StoreError,
        nothing written): it is not a score (see score_core, which keeps them out)."""
        now = time.time()
        rows = [(metric_id, metric_version, h, float(s), seconds, now) for h, s in scores.items()]
        bad = [h for _, _, h, s, _, _ in rows if not math.isfinite(s)]
        if bad:
            raise StoreError(explain(f"scores of metric {metric_id} {metric_version}", expected="finite numbers",
                                     got=f"NaN or ±inf for {len(bad)} image(s), first {bad[0][:12]}…",
                                     fix="Score through iqa_audit.score_core, which keeps non-finite values out of the table."))
        with self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO scores (metric_id, metric_version, image_hash, score, seconds, created)"
                " VALUES (?,?,?,?,?,?)",
                rows,
            )

    # ----- memos ------------------------------------------------------------------------
    def get_memo(self, kind: str, key: str) -> str | None:
        row = self._db().execute("SELECT value FROM memos WHERE kind=? AND key=?", (kind, key)).fetchone()
        return None if row is None else row[0]

    def put_memo(self, kind: str, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO memos (kind, key, value, created) VALUES (?,?,?,?)",
                       (kind, key, value, time.time()))

    def forget_memos(self, kind: str | None = None) -> int:
        with self._tx() as db:
            cur = db.execute("DELETE FROM memos" + (" WHERE kind=?" if kind else ""), (kind,) if kind else ())
            return cur.rowcount

    def score_count(self) -> int:
        return int(self._db().execute("SELECT COUNT(*) FROM scores").fetchone()[0])


class CorruptObject(StoreError):
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
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def jsonable(value: Any) -> Any:
    """Plain JSON values (dicts, lists, numbers, strings) from mappings, tuples, numpy scalars.

    For stored records only (step metadata, finding details): anything else becomes its
    str(), so an editor's odd metadata never loses a built step. Never for keys: those go
    through iqa_audit.keys, which refuses what it cannot key."""
    return json.loads(json.dumps(value, sort_keys=True, default=_json_default))


def _dumps(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(o: Any) -> Any:
    if isinstance(o, Mapping):
        return dict(o)
    if isinstance(o, (tuple, set, frozenset)):
        return list(o)
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    return str(o)


def _chain_from_row(row: tuple) -> ChainRecord:
    key, spec, seed, setting, editor_id, editor_version, task, run, paid = row
    return ChainRecord(key, MappingProxyType(json.loads(spec)), seed, setting, editor_id, editor_version, task, int(run), bool(paid))


def _step_from_row(row: tuple) -> StepRecord:
    (chain_key, step, status, image_hash, ext, width, height, prompt, reasoning, meta, editor_seed, seconds) = row
    return StepRecord(chain_key, int(step), status, image_hash, ext, width, height, prompt, reasoning,
                      MappingProxyType(json.loads(meta)), editor_seed, seconds)
