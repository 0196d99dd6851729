"""The text files and tables a user names: UTF-8 text, comma-separated CSV, JSON lines, Parquet."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Sequence

from iqa_audit.core.errors import ConfigError, explain
from iqa_audit.datasets.safe_files import FileRefused, ReadPolicy, read_allowed

TABLE_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


def read_text_file(path: Path, *, what: str, fix: str, max_bytes: int = 256 * 1024 * 1024) -> str:
    """A UTF-8 text file the user named (a manifest, a side table): a regular file, capped."""
    try:
        data = read_allowed(path, ReadPolicy.inside(Path(path).parent, allow_outside=True), max_bytes=max_bytes)
    except FileRefused as e:
        got = "no such file" if "does not exist" in str(e) else str(e)
        raise ConfigError(explain(f"{what} {path}", expected="an existing regular file", got=got, fix=fix)) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(
            explain(f"{what} {path}", expected="UTF-8 text", got=f"invalid UTF-8 at byte {e.start}", fix="Re-save it as UTF-8.")
        ) from None


# Separators a CSV may have been written with instead of the comma, as named in messages.
OTHER_DELIMITERS = {";": "';' (semicolons)", "\t": "tabs", "|": "'|' (pipes)", ":": "':' (colons)"}


def check_delimiter(text: str, columns: Sequence[str], *, what: str) -> None:
    """ConfigError when the header holds `columns` only if split on another separator than
    the comma (no `columns`: when it is one column with commas and several with another
    separator): the file is a ';'- (or tab-, '|'-) separated table. Read with commas, its
    header is one long column name and every column looks missing, which is not the fix."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    as_commas = {h.strip() for h in next(csv.reader([first]), [])}
    if all(c in as_commas for c in columns) if columns else len(as_commas) > 1:
        return
    for sep, name in OTHER_DELIMITERS.items():
        fields = {h.strip() for h in next(csv.reader([first], delimiter=sep), [])}
        if len(fields) > 1 and all(c in fields | as_commas for c in columns):
            raise ConfigError(
                explain(
                    what,
                    expected="a comma-separated file (columns " + ",".join(columns) + ")",
                    got=f"a header separated by {name}: {first.strip()[:120]!r}",
                    fix=f"Save it again as comma-separated CSV (spreadsheets call it 'CSV, comma delimited'), "
                    f"or replace each {sep!r} between fields by ','.",
                )
            )


def read_table(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV / JSON lines / Parquet file as dicts. ConfigError naming the file."""
    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(
            explain(
                f"side table {path}",
                expected="a .csv, .jsonl/.ndjson or .parquet file",
                got=f"the suffix {path.suffix!r}",
                fix="Convert it, or rename it if the content is one of those.",
            )
        )
    fix = "Pass --table with an existing CSV, JSON lines or Parquet file."
    if kind == "parquet":
        return _read_parquet(path, fix)
    text = read_text_file(path, what="side table", fix=fix)
    if kind == "csv":
        check_delimiter(text, (), what=f"side table {path}")
        return [dict(r) for r in csv.DictReader(io.StringIO(text))]
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ConfigError(
                explain(
                    f"side table {path} line {n}",
                    expected="one JSON object per line",
                    got=f"invalid JSON (column {e.colno}: {e.msg})",
                    fix="Fix that line.",
                )
            ) from None
        if not isinstance(row, dict):
            raise ConfigError(
                explain(
                    f"side table {path} line {n}",
                    expected="a JSON object",
                    got=type(row).__name__,
                    fix="Write one object per line.",
                )
            )
        rows.append(row)
    return rows


def _read_parquet(path: Path, fix: str) -> list[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        data = read_allowed(path, ReadPolicy.inside(path.parent, allow_outside=True))
    except FileRefused as e:
        raise ConfigError(explain(f"side table {path}", expected="an existing regular file", got=str(e), fix=fix)) from None
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as e:
        raise ConfigError(
            explain(f"side table {path}", expected="a Parquet file", got=f"one pyarrow cannot read ({e})", fix="Re-export it.")
        ) from None
    return table.to_pylist()
