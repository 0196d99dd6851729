"""Hugging Face dataset repositories as import sources: `hf://OWNER/NAME[@REVISION]`.

One job: bring a dataset snapshot onto this machine with `huggingface_hub.snapshot_download`
and say which commit it is. What that gives, and this module relies on:
- cached: files land in the hub cache (HF_HUB_CACHE / HF_HOME, or `cache_dir`), shared with
  every other tool that uses it; a file already there is not fetched again;
- resumable: a killed download leaves the files it finished in the cache, and the next run
  fetches only the others (a file cut off midway is fetched again whole: huggingface_hub
  writes each file to a temporary name first);
- offline: with HF_HUB_OFFLINE=1 the cached snapshot is used and nothing is sent; a
  snapshot that is not cached is an error saying so;
- pinned: the commit hash is returned; the importer records it in the store and a later
  import without @REVISION fetches that commit again (see `import_cli`).
The server is the one huggingface_hub is pointed at (HF_ENDPOINT): the tests use a local one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from iqa_audit.core.errors import ConfigError, explain

SCHEME = "hf://"
_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class HubRef:
    """repo: 'OWNER/NAME'; revision: a branch, tag or commit, or None (the default branch)."""

    repo: str
    revision: str | None = None

    def __str__(self) -> str:
        return SCHEME + self.repo + (f"@{self.revision}" if self.revision else "")


@dataclass(frozen=True)
class Snapshot:
    """A dataset snapshot on disk: its folder and the commit hash it holds."""

    ref: HubRef
    folder: Path
    commit: str


def is_hub_ref(text: str) -> bool:
    return str(text).startswith(SCHEME)


def parse_hub_ref(text: str) -> HubRef:
    """'hf://kenantang/Banana100@main' -> HubRef. ConfigError on anything else."""
    body = text[len(SCHEME) :] if is_hub_ref(text) else text
    repo, at, revision = body.partition("@")
    if not _REPO.fullmatch(repo) or (at and not re.fullmatch(r"[A-Za-z0-9._/-]{1,200}", revision)) or ".." in body:
        raise ConfigError(
            explain(
                f"dataset {text!r}",
                expected="hf://OWNER/NAME or hf://OWNER/NAME@REVISION",
                got=repr(text),
                fix="e.g. hf://kenantang/Banana100 or hf://kenantang/Banana100@<commit>.",
            )
        )
    return HubRef(repo, revision or None)


def fetch_snapshot(
    ref: HubRef, *, cache_dir: str | Path | None = None, include: Sequence[str] | None = None, max_workers: int = 8
) -> Snapshot:
    """Download (or find in the cache) the dataset snapshot `ref` names.

    include: globs of repository files to fetch (None: all). Raises ConfigError naming the
    repository and the fix: not cached while offline, no such repository or revision,
    server unreachable.
    """
    from huggingface_hub import constants as hub_constants
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    what = f"Hugging Face dataset {ref}"
    try:
        folder = snapshot_download(
            ref.repo,
            repo_type="dataset",
            revision=ref.revision,
            cache_dir=cache_dir,
            allow_patterns=list(include) if include else None,
            max_workers=max_workers,
        )
    except RevisionNotFoundError:
        raise ConfigError(
            explain(
                what,
                expected="a revision the repository has",
                got=f"no revision {ref.revision!r}",
                fix="Pass a branch, tag or commit of the repository after '@'.",
            )
        ) from None
    except GatedRepoError:
        raise ConfigError(
            explain(
                what,
                expected="access to the repository",
                got="a gated repository",
                fix="Accept its terms on the Hub and log in (`hf auth login`), then import again.",
            )
        ) from None
    except RepositoryNotFoundError:
        raise ConfigError(
            explain(
                what,
                expected="an existing dataset repository",
                got="no such repository (or it is private)",
                fix="Check OWNER/NAME; for a private one log in first (`hf auth login`).",
            )
        ) from None
    except LocalEntryNotFoundError as e:
        offline = hub_constants.HF_HUB_OFFLINE
        raise ConfigError(
            explain(
                what,
                expected="the snapshot in the hub cache" + (" (HF_HUB_OFFLINE=1 forbids downloading)" if offline else ""),
                got="none there" + ("" if offline else f" and the Hub unreachable ({_first_line(e)})"),
                fix="Run the import where the Hub can be reached (HF_HUB_OFFLINE unset), or copy the hub cache "
                "(HF_HOME) from a machine that has it.",
            )
        ) from None
    except (HfHubHTTPError, OSError) as e:
        raise ConfigError(
            explain(
                what,
                expected="a complete download",
                got=_first_line(e),
                fix="Run the import again: files already downloaded are kept.",
            )
        ) from None
    folder = Path(folder)
    commit = folder.name  # the hub cache keeps each snapshot under snapshots/<commit hash>
    if not _COMMIT.fullmatch(commit):
        raise ConfigError(
            explain(
                what,
                expected="a snapshot folder named by its commit hash",
                got=str(folder),
                fix="Import the folder itself with --layout or --preset instead.",
            )
        )
    return Snapshot(ref, folder, commit)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"
