"""Store's SQLite connections: one per process and thread, its transactions, manifest errors in the user's terms.

A damaged manifest, one emptied beside stored objects, and a write to a read-only store are
each a StoreError naming the file and the fix."""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

from iqa_audit.core.errors import StoreError, explain
from iqa_audit.store.schema import SCHEMA
from iqa_audit.store.sqlite_manifest import BUSY_TIMEOUT_S, OPEN_RETRY_S, is_corrupt, open_read_only, retry_locked

T = TypeVar("T")


class ManifestConnection:
    """The connection handling Store inherits. Store's __init__ sets the attributes below,
    then opens the manifest (`_db`); every read goes through `_rows`, every write through
    one `_tx` transaction."""

    root: Path
    objects: Path
    db_path: Path
    read_only: bool
    _local: threading.local

    def _db(self) -> sqlite3.Connection:
        # One connection per (process, thread): sqlite3 connections must not cross a fork.
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = self._guard(lambda: retry_locked(self._open, OPEN_RETRY_S))
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _open(self) -> sqlite3.Connection:
        if self.read_only:
            return open_read_only(self.db_path)
        self._refuse_emptied_manifest()
        conn = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            # WAL is a property of the file: only its creator (or a store written before it)
            # has to switch, and that switch is what fails under concurrent opens.
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            # executescript manages its own transaction; CREATE ... IF NOT EXISTS is idempotent.
            conn.executescript(SCHEMA)
        except BaseException:
            conn.close()
            raise
        return conn

    def _refuse_emptied_manifest(self) -> None:
        """A manifest truncated to 0 bytes reads as a new, empty database: the store would
        forget every chain and buy its paid steps again. Objects beside it give it away."""
        try:
            emptied = self.db_path.stat().st_size == 0 and any(self.objects.iterdir())
        except OSError:
            return
        if emptied:
            raise StoreError(
                explain(
                    f"store manifest {self.db_path}",
                    expected="the manifest of the images under objects/",
                    got="an empty file (0 bytes) beside stored images",
                    fix=f"Restore the file from a backup; or, to start over and rebuild (paid chains are bought "
                    f"again), delete it: rm {self.db_path}.",
                )
            )

    def _guard(self, fn: Callable[[], T]) -> T:
        """fn(), with a damaged manifest reported as a StoreError naming the file and the fix."""
        try:
            return fn()
        except sqlite3.DatabaseError as e:
            if not is_corrupt(e):
                raise
            raise StoreError(
                explain(
                    f"store manifest {self.db_path}",
                    expected="an intact SQLite database",
                    got=f"a damaged file ({e}: truncated, or overwritten)",
                    fix=f"Move it aside (mv {self.db_path} {self.db_path}.damaged) and build again: the image files "
                    "under objects/ are kept, free chains are rebuilt byte-identically and rescored, and paid "
                    "chains must come back from a backup of the file (`sqlite3 FILE .recover` may salvage rows).",
                )
            ) from None

    def _rows(self, sql: str, args: Iterable[Any] = ()) -> list[tuple]:
        return self._guard(lambda: self._db().execute(sql, tuple(args)).fetchall())

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        if self.read_only:
            raise StoreError(
                explain(
                    f"store {self.root}",
                    expected="a store this user can write to, to add what is missing",
                    got="a read-only store (every cached result was read from it)",
                    fix="Build and score into a writable copy (--store COPY), or ask its owner to fill it.",
                )
            )
        db = self._db()
        self._guard(lambda: db.execute("BEGIN IMMEDIATE"))
        try:
            yield db
        except BaseException as e:
            db.execute("ROLLBACK")
            if isinstance(e, sqlite3.DatabaseError) and is_corrupt(e):
                err = e  # bound here: the except variable is unbound once the block ends
                self._guard(lambda: _reraise(err))
            raise
        self._guard(lambda: db.execute("COMMIT"))

    def close(self) -> None:
        """Close this thread's connection (other threads keep theirs); the next call opens a
        new one. Idempotent."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _reraise(e: BaseException) -> None:
    raise e
