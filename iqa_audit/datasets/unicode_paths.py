"""Paths matched to the disk in any Unicode normalisation: a manifest's `café` (NFC) finds macOS's `café` (NFD)."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path


def on_disk(path: Path, listings: dict[Path, list[str]] | None = None) -> Path:
    """`path` as the disk spells it. A path that does not exist as written is looked up part
    by part, each part matched to a folder entry that is the same text in another Unicode
    normalisation (NFC as most tools write, NFD as macOS writes names): `café` finds `café`.
    Returns `path` unchanged when it exists, or when a part has no such entry or several
    (`missing_part` then says which). `listings` caches folder listings across calls."""
    if os.path.lexists(path):
        return path
    listings = {} if listings is None else listings
    cur = Path(path.anchor)
    for part in path.parts[1:] if path.anchor else path.parts:
        nxt = cur / part
        if not os.path.lexists(nxt):
            twins = _normal_twins(cur, part, listings)
            if len(twins) != 1:
                return path
            nxt = cur / twins[0]
        cur = nxt
    return cur


def missing_part(path: Path) -> str:
    """Why `path` (after `on_disk`) cannot be found: the first part that is not there, or
    that several entries match in different Unicode normalisations."""
    cur = Path(path.anchor)
    listings: dict[Path, list[str]] = {}
    for part in path.parts[1:] if path.anchor else path.parts:
        if os.path.lexists(cur / part):
            cur = cur / part
            continue
        twins = _normal_twins(cur, part, listings)
        if len(twins) == 1:
            cur = cur / twins[0]
            continue
        if twins:
            return (
                f"{cur} holds {len(twins)} entries that are all {part!r} in different Unicode normalisations "
                f"({', '.join(map(repr, twins))}); rename all but one"
            )
        if not cur.is_dir():
            return f"{cur} is not a folder"
        return f"{cur} has no entry named {part!r} (compared in every Unicode normalisation, NFC and NFD)"
    return "it could not be opened"


def _normal_twins(folder: Path, name: str, listings: dict[Path, list[str]]) -> list[str]:
    """Entries of `folder` equal to `name` once both are NFC-normalised."""
    if folder not in listings:
        try:
            listings[folder] = os.listdir(folder)
        except OSError:
            listings[folder] = []
    want = unicodedata.normalize("NFC", name)
    return sorted(e for e in listings[folder] if unicodedata.normalize("NFC", e) == want)
