"""Files written whole or not at all: the one atomic write every module uses.

Store objects, figure-cache entries, results.json, baselines and the HTML report are all
read by other processes (xdist workers, a browser, the next run) while they may be being
written, and all may be killed or run out of disk mid-write.
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path


@functools.cache
def file_mode() -> int:
    """The mode a plain new file gets: 0o666 less the process umask (0o644 under the usual
    022). tempfile.mkstemp creates 0o600, which would make a shared cache or a committed
    baseline unreadable to others. The umask is read from /proc where Linux offers it
    (reading it elsewhere means setting it, which is not thread-safe), once per process."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def write_file_atomic(path: Path, data: bytes, *, durable: bool = False) -> Path:
    """Write `data` to `path` through a temporary file beside it (`.tmp-*`) and a rename: a
    reader sees the old file or the new one, never half of either, and a writer killed or
    out of disk space leaves no temporary file behind (it is removed before the error
    propagates; only a kill -9 can leave one, which nothing ever reads). The file gets
    `file_mode()`. `durable`: fsync the data before the rename (store objects: a power
    loss must not leave a named but empty file). Returns `path`.

    Raises OSError (ENOSPC, EACCES, a missing folder, ...) as the system gave it."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=f".{path.name}")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), file_mode())
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
