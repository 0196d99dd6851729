"""Chains from a folder tree with no manifest: a layout pattern, a side table, presets.

    layout  "{setting}/{seed}/run{run}/step{step}.png"
            each `{field}` matches within one path part; `setting`, `seed`, `run` and
            `step` make the chain, any other name (`{model}`) is kept as step metadata,
            a name starting with `_` (`{_}`, `{_ext}`) matches and is dropped; a field used
            twice must match the same text both times.
    table   a CSV, JSON lines or Parquet file (by suffix) whose columns give fields, named
            by `columns` ({field: column}); its `path` column names each image, relative
            to the table's folder. With a layout, table rows join the matched files by
            path and fill the fields the layout lacks; without one, the table alone lists
            the images.
    values  fields given once for every image (`--set setting=mine`).

Every file under the folder must be an image of the dataset, a side file of one
(`rows.SIDE_FILES`), the table, hidden (a part starting with '.'), or matched by an
`ignore` glob; any other file is listed with the reason it does not match, and nothing is
imported (the same all-or-nothing as a manifest). Symlinked folders are not followed.

A preset (`presets/*.toml`, or a file of the same shape) holds all of the above for a
published dataset, plus the hub repository it comes from; options override its entries
(presets.py). Side tables are read by tables.py.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from iqa_audit.core.errors import ConfigError, explain
from iqa_audit.datasets.rows import SIDE_FILES, ImportRow, attach_side_files, count_problem, parse_count, side_file_paths
from iqa_audit.datasets.safe_files import ReadPolicy
from iqa_audit.datasets.tables import read_table
from iqa_audit.datasets.unicode_paths import on_disk

CHAIN_FIELDS = ("setting", "seed", "run", "step")
TABLE_FIELDS = (*CHAIN_FIELDS, "path", "reasoning", "prompt", "meta")
_FIELD = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Layout:
    """A compiled layout pattern: one regex per path part, and the fields it captures."""

    pattern: str
    parts: tuple[str, ...]
    regexes: tuple[re.Pattern, ...]
    fields: tuple[str, ...]


@dataclass(frozen=True)
class ImportSpec:
    """How to read a folder as chains. root: the folder; layout: a pattern or None;
    table: a side table or None; columns: {field: column of the table}; values: {field:
    text for every image}; ignore: globs of files that are not part of the dataset;
    side_files: (file name pattern, field) pairs, see `rows.SIDE_FILES`."""

    root: Path
    layout: str | None = None
    table: Path | None = None
    columns: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    values: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    ignore: tuple[str, ...] = ()
    side_files: tuple[tuple[str, str], ...] = SIDE_FILES

    def describe(self) -> str:
        how = [f"layout {self.layout!r}"] if self.layout else []
        how += [f"table {self.table}"] if self.table else []
        return f"folder {self.root} ({', '.join(how) or 'no layout'})"


# ----- layouts -------------------------------------------------------------------------------


def compile_layout(pattern: str) -> Layout:
    """'{setting}/{seed}/run{run}/step{step}.png' -> Layout. ConfigError on a malformed pattern."""

    def bad(got: str) -> ConfigError:
        return ConfigError(
            explain(
                f"--layout {pattern!r}",
                expected="path parts with {field} placeholders, e.g. '{setting}/{seed}/run{run}/step{step}.png'",
                got=got,
                fix="Use {setting}, {seed}, {run}, {step}, any other {name} (kept as metadata) or {_} (ignored).",
            )
        )

    if not pattern or pattern.startswith("/") or "\\" in pattern:
        raise bad("an empty or absolute pattern")
    parts = tuple(pattern.split("/"))
    regexes, fields = [], []
    for part in parts:
        if part in ("", ".", ".."):
            raise bad(f"the path part {part!r}")
        out, pos, last_was_field = [], 0, False
        for m in _FIELD.finditer(part):
            literal = part[pos : m.start()]
            if "{" in literal or "}" in literal:
                raise bad(f"an unmatched brace in {part!r}")
            if not literal and last_was_field:
                raise bad(f"two fields with nothing between them in {part!r} (where would one end?)")
            out.append(re.escape(literal))
            name = m.group(1)
            if not _NAME.fullmatch(name):
                raise bad(f"the field name {{{name}}}")
            if name.startswith("_"):
                out.append(".+?")
            elif name in fields:
                out.append(f"(?P={name})" if name in _names_in(out) else f"(?P<{name}>.+?)")
            else:
                out.append(f"(?P<{name}>.+?)")
                fields.append(name)
            pos, last_was_field = m.end(), True
        tail = part[pos:]
        if "{" in tail or "}" in tail:
            raise bad(f"an unmatched brace in {part!r}")
        out.append(re.escape(tail))
        regexes.append(re.compile("".join(out), re.DOTALL))
    return Layout(pattern, parts, tuple(regexes), tuple(fields))


def _names_in(pieces: list[str]) -> set[str]:
    return set(re.findall(r"\(\?P<([A-Za-z0-9_]+)>", "".join(pieces)))


def match_layout(layout: Layout, rel: str) -> dict[str, str] | str:
    """{field: text} of a path relative to the root, or why it does not match."""
    parts = rel.split("/")
    if len(parts) != len(layout.parts):
        return f"has {len(parts)} path part(s), the layout {layout.pattern!r} has {len(layout.parts)}"
    got: dict[str, str] = {}
    for text, regex, part in zip(parts, layout.regexes, layout.parts):
        m = regex.fullmatch(text)
        if m is None:
            return f"{text!r} does not match {part!r}"
        for name, value in m.groupdict().items():
            if name in got and got[name] != value:
                return f"{{{name}}} is {got[name]!r} in one part and {value!r} in another"
            got[name] = value
    return got


def _table_value(value: Any) -> str | None:
    """A table cell as text: strings and integers as written; None/NaN/other types -> None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int)):
        return str(value)
    return None


# ----- folder -> rows ------------------------------------------------------------------------


def rows_from_folder(spec: ImportSpec, policy: ReadPolicy) -> tuple[list[ImportRow], list[str]]:
    """The chains' rows of a folder read by `spec`, and every problem (files that match
    nothing, each with its reason; missing or malformed fields; table rows without a file).
    Side files are attached. Raises ConfigError for a malformed spec."""
    if spec.layout is None and spec.table is None:
        raise ConfigError(
            explain(
                f"import of {spec.root}",
                expected="--layout PATTERN, --table FILE, or a --preset with them",
                got="neither",
                fix="Pass e.g. --layout '{setting}/{seed}/run{run}/step{step}.png'.",
            )
        )
    if not spec.root.is_dir():
        raise ConfigError(
            explain(f"dataset folder {spec.root}", expected="an existing folder", got="no such folder", fix="Check the path.")
        )
    unknown = sorted(set(spec.columns) - set(TABLE_FIELDS)) + sorted(set(spec.values) - set(CHAIN_FIELDS))
    if unknown:
        raise ConfigError(
            explain(
                "--columns/--set",
                expected="fields " + ", ".join(TABLE_FIELDS) + " (--set: " + ", ".join(CHAIN_FIELDS) + ")",
                got=", ".join(unknown),
                fix="Name one of those fields on the left of '='.",
            )
        )
    layout = compile_layout(spec.layout) if spec.layout else None
    problems: list[str] = []
    table = _table_by_path(spec, problems) if spec.table else {}
    found: list[tuple[str, Path, dict[str, str]]] = []  # (origin, file, fields)
    if layout is None:
        listings: dict[Path, list[str]] = {}
        for rel, fields in table.items():
            found.append((fields.pop("__origin__"), on_disk(spec.root / rel, listings), fields))
    else:
        found = _walk(spec, layout, table, problems)
        problems += [
            f"{fields['__origin__']}: names {rel}, which is not a file the layout matched"
            for rel, fields in table.items()
            if not fields.get("__used__")
        ]
    rows = []
    for origin, path, fields in found:
        row = _row(origin, path, {**spec.values, **fields}, problems)
        if row is not None:
            rows.append(row)
    rows, side = attach_side_files(rows, policy, spec.side_files)
    if not rows and not problems:
        problems.append(f"no images found under {spec.root}")
    return rows, problems + side


def _table_by_path(spec: ImportSpec, problems: list[str]) -> dict[str, dict[str, str]]:
    """{image path relative to the root: fields (plus '__origin__')} from the side table."""
    assert spec.table is not None
    rows = read_table(spec.table)
    columns = {f: spec.columns.get(f, f) for f in TABLE_FIELDS}
    present = set().union(*(r.keys() for r in rows)) if rows else set()
    missing = [f"{f}={c}" for f, c in spec.columns.items() if c not in present]
    if "path" not in spec.columns and "path" not in present:
        missing.append("path (the column naming each image)")
    if missing:
        raise ConfigError(
            explain(
                f"side table {spec.table}",
                expected="the columns " + ", ".join(missing),
                got="columns " + (", ".join(sorted(map(str, present))) or "(none)"),
                fix="Name the table's columns with --columns field=column,... (e.g. path=file_name).",
            )
        )
    out: dict[str, dict[str, str]] = {}
    base = spec.table.parent
    for n, raw in enumerate(rows, start=1):
        origin = f"{spec.table.name} row {n}"
        fields: dict[str, Any] = {"__origin__": origin}
        for f, c in columns.items():
            if c not in raw or raw[c] is None:
                continue
            if f == "meta":
                fields[f] = _meta_value(raw[c], origin, problems)
                continue
            value = _table_value(raw[c])
            if value is None:
                problems.append(f"{origin}: column {c!r} ({f}) holds {raw[c]!r}, not text or an integer")
                continue
            fields[f] = value
        if "path" not in fields:
            problems.append(f"{origin}: no image path (column {columns['path']!r})")
            continue
        rel = os.path.relpath(os.path.normpath(base / fields.pop("path")), spec.root).replace(os.sep, "/")
        # Keyed in NFC, as walked paths are looked up: a table naming `café` finds the `café`
        # (NFD) folder macOS wrote. The walk's spelling is the one read from disk.
        rel = unicodedata.normalize("NFC", rel)
        if rel in out:
            problems.append(f"{origin}: names {rel} again (also {out[rel]['__origin__']})")
            continue
        out[rel] = fields
    return out


def _meta_value(value: Any, origin: str, problems: list[str]) -> dict | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            problems.append(f"{origin}: meta is not a JSON object")
            return None
    if not isinstance(value, dict):
        problems.append(f"{origin}: meta is not a JSON object")
        return None
    return value


def _walk(spec: ImportSpec, layout: Layout, table: dict[str, dict[str, str]], problems: list[str]):
    files = []
    for dirpath, dirnames, filenames in os.walk(spec.root):  # symlinked folders are not followed
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                files.append(os.path.relpath(os.path.join(dirpath, name), spec.root).replace(os.sep, "/"))
    skip = {os.path.relpath(spec.table, spec.root).replace(os.sep, "/")} if spec.table else set()
    matched, unmatched = [], []
    for rel in files:
        if rel in skip or any(fnmatch.fnmatch(rel, g) or fnmatch.fnmatch(rel.rsplit("/", 1)[-1], g) for g in spec.ignore):
            continue
        got = match_layout(layout, rel)
        (matched if isinstance(got, dict) else unmatched).append((rel, got))
    sides = {
        os.path.relpath(p, spec.root).replace(os.sep, "/")
        for rel, _ in matched
        for p in side_file_paths(spec.root / rel, spec.side_files)
    }
    problems += [f"{rel}: does not match the layout: {why}" for rel, why in unmatched if rel not in sides]
    out = []
    for rel, fields in matched:
        if rel in sides:
            continue  # e.g. step3.json beside step3.png, under a layout ending in {_ext}
        row = table.get(unicodedata.normalize("NFC", rel))
        if row is not None:
            row["__used__"] = "1"
            for f, v in row.items():
                # Compared in NFC: a name read from a macOS folder (NFD) is the table's name (NFC).
                if (
                    f in fields
                    and f in CHAIN_FIELDS
                    and unicodedata.normalize("NFC", fields[f]) != unicodedata.normalize("NFC", v)
                ):
                    problems.append(f"{rel}: {f} is {fields[f]!r} by the layout but {v!r} in {row['__origin__']}")
            fields = {**{k: v for k, v in row.items() if not k.startswith("__")}, **fields}
        out.append((rel, spec.root / rel, fields))
    return out


def _row(origin: str, path: Path, fields: Mapping[str, Any], problems: list[str]) -> ImportRow | None:
    missing = [f for f in CHAIN_FIELDS if not fields.get(f)]
    if missing:
        problems.append(f"{origin}: no {', '.join(missing)} (give it by the layout, a table column or --set {missing[0]}=...)")
        return None
    run, step = parse_count(fields["run"]), parse_count(fields["step"])
    if run is None:
        problems.append(count_problem(origin, "run", fields["run"]))
    if step is None:
        problems.append(count_problem(origin, "step", fields["step"]))
    if run is None or step is None:
        return None
    extra = {k: v for k, v in fields.items() if k not in (*TABLE_FIELDS, "__origin__", "__used__")}
    meta = {**(fields.get("meta") or {}), **({"fields": extra} if extra else {})}
    return ImportRow(
        origin,
        str(fields["seed"]),
        str(fields["setting"]),
        run,
        step,
        path,
        fields.get("reasoning") or None,
        fields.get("prompt") or None,
        MappingProxyType(meta),
    )
