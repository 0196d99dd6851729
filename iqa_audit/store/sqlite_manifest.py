"""Opening the store's SQLite manifest safely: retrying while locked, opening a store
nobody may write, and telling a damaged file from a busy one.

Store (store.py) opens its manifest through these; they know nothing of its tables
(schema.SCHEMA) or rows (rows.py). sqlite3's own errors pass through unchanged except
where a function says otherwise; Store turns a damaged file into a StoreError.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Callable, TypeVar
from urllib.parse import quote

from iqa_audit.core.errors import StoreError, explain

# Opening a new store from several processes at once: switching the journal to WAL takes an
# exclusive lock that SQLite's busy timeout does not wait for (it fails at once with
# "database is locked"), so opening retries for up to this long. Measured: 4 processes x
# 100 opens of fresh stores lost 4-17 opens without it.
OPEN_RETRY_S = 60.0
# How long a writer waits for another's transaction. Chosen, not measured: a transaction
# here is one step, score batch or memo, so only a stuck writer holds the lock this long.
BUSY_TIMEOUT_S = 60.0
# SQLite's result codes for a damaged file (https://www.sqlite.org/rescode.html).
CORRUPT_CODES = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})
T = TypeVar("T")


def is_corrupt(e: sqlite3.DatabaseError) -> bool:
    """True when `e` says the database file is damaged (CORRUPT_CODES), not merely busy or
    locked; from the message where Python < 3.11 gives no error name."""
    name = getattr(e, "sqlite_errorname", None)  # Python >= 3.11
    if name is not None:
        return name in CORRUPT_CODES
    text = str(e).lower()
    return type(e) is sqlite3.DatabaseError and ("malformed" in text or "not a database" in text)


def retry_locked(fn: Callable[[], T], within_s: float) -> T:
    """fn(), retried while SQLite says the database is locked or busy, for up to `within_s`
    seconds (backing off from 5 ms to 0.25 s). Raises the last sqlite3.OperationalError when
    the time runs out, any other error of fn() at once."""
    deadline = time.monotonic() + within_s
    delay = 0.005
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as e:
            text = str(e).lower()
            if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


def is_read_only(root: Path, db_path: Path) -> bool:
    """A store this process cannot write: its manifest exists and it or its folder is not writable."""
    if not db_path.is_file():
        return False
    return not (os.access(root, os.W_OK) and os.access(db_path, os.W_OK))


def open_read_only(db_path: Path) -> sqlite3.Connection:
    """The manifest of a read-only store. SQLite reads a WAL database read-only only where it
    can use (or create) the -shm file; a store closed cleanly has none, and then the file is
    read as immutable: nobody can be writing a store nobody may write.

    Raises sqlite3.DatabaseError for a damaged file (is_corrupt), StoreError when SQLite
    cannot open it read-only either way."""
    uri = "file:" + quote(str(db_path.resolve()))
    wal = Path(f"{db_path}-wal")
    has_log = wal.exists() and wal.stat().st_size > 0
    last: sqlite3.Error | None = None
    for query in ["mode=ro"] if has_log else ["mode=ro", "immutable=1"]:
        try:
            conn = sqlite3.connect(f"{uri}?{query}", uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.DatabaseError as e:
            if is_corrupt(e):
                raise
            last = e
    raise StoreError(
        explain(
            f"store manifest {db_path}",
            expected="a manifest this user can read",
            got=f"a read-only store that SQLite cannot open ({last})",
            fix="Make the folder readable (and its -wal/-shm files, if any), or copy the store.",
        )
    )
