"""ImportRow, the one shape every import source becomes: its numbers checked, its side files attached."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from iqa_audit.core.names import distinct_ids
from iqa_audit.datasets.safe_files import MAX_SIDE_FILE_BYTES, FileRefused, ReadPolicy, read_allowed

# Steps and runs are counts: plain ASCII digits, at most 9 of them (SQLite's INTEGER holds
# far more, but a 10-digit step number is a typo, not a chain).
_COUNT = re.compile(r"[0-9]{1,9}", re.ASCII)

# Files beside an image `stem.ext` that travel with it: (file name pattern, field).
# Checked in order; a field is filled by the first file that gives it. A `.json` side file
# must hold an object: its "reasoning" and "prompt" strings fill those fields, every key is
# kept as the step's editor metadata.
SIDE_FILES: tuple[tuple[str, str], ...] = (
    ("{stem}.reasoning.txt", "reasoning"),
    ("{stem}.prompt.txt", "prompt"),
    ("{stem}.txt", "reasoning"),
    ("{stem}.json", "meta"),
)


@dataclass(frozen=True)
class ImportRow:
    """One image of an imported chain, names as the user wrote them.

    origin: where the row came from, for messages ("manifest.csv line 4", "a/run0/step3.png").
    path: the image file as named (resolved and checked only when read).
    """

    origin: str
    seed: str
    setting: str
    run: int
    step: int
    path: Path
    reasoning: str | None = None
    prompt: str | None = None
    meta: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


def parse_count(text: Any) -> int | None:
    """A run or step number: '0', '17' -> int; '+4', '1_0', '٣', '4.0', ' 4', True -> None."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        return None
    text = str(text)
    return int(text) if _COUNT.fullmatch(text) else None


def count_problem(origin: str, name: str, value: Any) -> str:
    return f"{origin}: {name} must be a plain non-negative integer (ASCII digits 0-9, at most 9), got {value!r}"


def row_ids(rows: Sequence[ImportRow], where: str) -> tuple[dict[str, str], dict[str, str]]:
    """({seed name: id}, {setting name: id}); ConfigError naming both originals of a clash."""
    return (
        distinct_ids((r.seed for r in rows), what="seed", where=where),
        distinct_ids((r.setting for r in rows), what="setting", where=where),
    )


# ----- side files --------------------------------------------------------------------------


def attach_side_files(
    rows: Sequence[ImportRow], policy: ReadPolicy, side_files: Sequence[tuple[str, str]] = SIDE_FILES
) -> tuple[list[ImportRow], list[str]]:
    """Each row with the reasoning / prompt / metadata of the files beside its image
    (`side_files`); fields the row already has win. Returns (rows, problems)."""
    out, problems = [], []
    for r in rows:
        got: dict[str, Any] = {}
        for pattern, name in side_files:
            side = r.path.parent / pattern.format(stem=r.path.stem)
            if side == r.path or not side.exists() or name in got:
                continue
            try:
                text = read_allowed(side, policy, max_bytes=MAX_SIDE_FILE_BYTES).decode("utf-8")
            except FileRefused as e:
                problems.append(f"{r.origin}: side file {e}")
                continue
            except UnicodeDecodeError as e:
                problems.append(f"{r.origin}: side file {side} is not UTF-8 text (invalid byte at {e.start})")
                continue
            if name != "meta":
                got[name] = text.strip() or None
                continue
            try:
                meta = json.loads(text)
            except json.JSONDecodeError as e:
                problems.append(f"{r.origin}: side file {side} is not valid JSON (line {e.lineno}, column {e.colno})")
                continue
            if not isinstance(meta, dict):
                problems.append(f"{r.origin}: side file {side} must hold a JSON object, got {type(meta).__name__}")
                continue
            got["meta"] = meta
            for key in ("reasoning", "prompt"):
                if isinstance(meta.get(key), str) and key not in got:
                    got[key] = meta[key]
        out.append(
            replace(
                r,
                reasoning=r.reasoning or got.get("reasoning"),
                prompt=r.prompt or got.get("prompt"),
                meta=MappingProxyType({**got.get("meta", {}), **r.meta}),
            )
        )
    return out, problems


def side_file_paths(image: Path, side_files: Sequence[tuple[str, str]] = SIDE_FILES) -> list[Path]:
    """The side files an image may have (whether or not they exist)."""
    return [image.parent / pattern.format(stem=image.stem) for pattern, _ in side_files]
