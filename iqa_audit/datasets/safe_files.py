"""Read files a dataset names, and nothing else: an import must not become a way to read
`/etc/passwd`, block on a FIFO, or exhaust memory on `/dev/zero`.

The rules (`ReadPolicy`):
- the path is resolved (every symlink followed) and must lie inside the policy's root
  (the manifest's or the imported folder), unless the user allowed files outside it;
- the target must be a regular file: FIFOs, sockets, devices and folders are never read,
  whatever the user allowed (the file is opened non-blocking and checked on the open
  descriptor, so a FIFO swapped in after the check cannot block the read either);
- its size is checked against a cap before reading, and the read stops at the cap;
- errors name the path and the rule, never the file's content.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from iqa_audit.core.errors import AuditError

# 512 MiB: a 5632x3072 16-bit RGBA PNG that barely compresses is ~140 MB, the largest image
# the study's 4K outputs give; four times that leaves room and still cannot exhaust memory.
DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024
# Side files (reasoning text, editor metadata JSON) are read whole into the store's manifest.
MAX_SIDE_FILE_BYTES = 4 * 1024 * 1024


class FileRefused(AuditError):
    """A dataset file that the read policy does not allow, or that cannot be read; the
    message names the file and the rule, never its content."""


@dataclass(frozen=True)
class ReadPolicy:
    """root: the folder files must resolve into; allow_outside: the user's explicit
    permission to read regular files anywhere; max_bytes: the size cap per file."""

    root: Path
    allow_outside: bool = False
    max_bytes: int = DEFAULT_MAX_FILE_BYTES

    @classmethod
    def inside(cls, root: str | Path, *, allow_outside: bool = False, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> "ReadPolicy":
        return cls(Path(os.path.realpath(root)), allow_outside, max_bytes)


def resolve_allowed(path: str | Path, policy: ReadPolicy) -> Path:
    """The real path of `path` if the policy allows it; FileRefused otherwise (no read)."""
    real = Path(os.path.realpath(path))
    if not policy.allow_outside and not real.is_relative_to(policy.root):
        via = "" if real == Path(os.path.abspath(path)) else f" (a symlink to {real})"
        raise FileRefused(
            f"{path}{via} is outside the dataset folder {policy.root}; only files inside it are read"
            " (pass --allow-outside to read files elsewhere)"
        )
    return real


def read_allowed(path: str | Path, policy: ReadPolicy, *, max_bytes: int | None = None) -> bytes:
    """The bytes of `path` under `policy` (and at most `max_bytes`, default the policy's cap).

    Raises FileRefused naming the path: outside the root, missing, not a regular file, over
    the cap, unreadable.
    """
    cap = policy.max_bytes if max_bytes is None else max_bytes
    real = resolve_allowed(path, policy)
    try:
        fd = os.open(
            real,
            os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0),
        )
    except FileNotFoundError:
        raise FileRefused(f"{path} does not exist") from None
    except OSError as e:
        raise FileRefused(f"{path} cannot be opened ({e.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused(f"{path} is {_kind(st.st_mode)}, not a regular file; only regular files are read")
        if st.st_size > cap:
            raise FileRefused(f"{path} is {st.st_size} bytes, over the {cap}-byte cap per file (--max-file-mb)")
        chunks, total = [], 0
        while True:
            block = os.read(fd, min(1 << 20, cap + 1 - total))
            if not block:
                break
            chunks.append(block)
            total += len(block)
            if total > cap:
                raise FileRefused(f"{path} grew past the {cap}-byte cap per file while being read")
        return b"".join(chunks)
    except OSError as e:
        raise FileRefused(f"{path} cannot be read ({e.strerror})") from None
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"
