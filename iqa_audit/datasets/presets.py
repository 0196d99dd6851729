"""Presets: a published dataset's import recipe (presets/*.toml), and the user's options laid over one."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Mapping, Sequence

import tomllib

from iqa_audit.core.errors import ConfigError, explain
from iqa_audit.datasets.layouts import ImportSpec
from iqa_audit.datasets.rows import SIDE_FILES
from iqa_audit.datasets.tables import read_text_file

PRESET_DIR = Path(__file__).resolve().parent / "presets"


@dataclass(frozen=True)
class Preset:
    """A published dataset's import recipe (a presets/*.toml file). repo: its Hugging Face
    dataset id; include: globs of the repository's files to download (None: all);
    checked: whether the recipe was verified against the real files; note: what the user
    should know (licence, what was not checked)."""

    name: str
    source: Path
    repo: str | None
    license: str | None
    checked: bool
    note: str
    layout: str | None
    table: str | None
    columns: Mapping[str, str]
    values: Mapping[str, str]
    ignore: tuple[str, ...]
    include: tuple[str, ...] | None
    side_files: tuple[tuple[str, str], ...]

    def spec(self, root: Path) -> ImportSpec:
        table = None if not self.table else root / self.table
        return ImportSpec(
            root,
            self.layout,
            table,
            MappingProxyType(dict(self.columns)),
            MappingProxyType(dict(self.values)),
            self.ignore,
            self.side_files,
        )


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def load_preset(ref: str | Path) -> Preset:
    """A preset by name (presets/NAME.toml) or by path to a .toml of the same shape."""
    path = Path(ref) if str(ref).endswith(".toml") else PRESET_DIR / f"{ref}.toml"
    if not path.is_file():
        raise ConfigError(
            explain(
                f"preset {str(ref)!r}",
                expected="one of: " + ", ".join(preset_names()) + ", or a path to a .toml",
                got="no such preset",
                fix="Pick a listed preset, or copy one and pass its path.",
            )
        )
    try:
        d = tomllib.loads(read_text_file(path, what="preset", fix="Check the path.", max_bytes=1 << 20))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(explain(f"preset {path}", expected="valid TOML", got=str(e), fix="Fix the file.")) from None
    allowed = {"repo", "license", "checked", "note", "layout", "table", "columns", "set", "ignore", "include", "side_files"}
    if set(d) - allowed:
        raise ConfigError(
            explain(
                f"preset {path}",
                expected="keys " + ", ".join(sorted(allowed)),
                got=", ".join(sorted(set(d) - allowed)),
                fix="Remove or rename them.",
            )
        )
    sides = tuple((str(p), str(f)) for p, f in d["side_files"]) if "side_files" in d else SIDE_FILES
    return Preset(
        path.stem,
        path,
        d.get("repo"),
        d.get("license"),
        bool(d.get("checked", False)),
        str(d.get("note", "")).strip(),
        d.get("layout"),
        d.get("table"),
        MappingProxyType(dict(d.get("columns", {}))),
        MappingProxyType(dict(d.get("set", {}))),
        tuple(d.get("ignore", ())),
        tuple(d["include"]) if "include" in d else None,
        sides,
    )


def preset_for_repo(repo: str) -> Preset | None:
    """The built-in preset whose `repo` is `repo` (case-insensitive), if any."""
    for name in preset_names():
        preset = load_preset(name)
        if preset.repo and preset.repo.lower() == repo.lower():
            return preset
    return None


def override(
    spec: ImportSpec,
    *,
    layout: str | None = None,
    table: Path | None = None,
    columns: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
    ignore: Sequence[str] = (),
) -> ImportSpec:
    """`spec` with the user's options on top: a given option replaces the preset's entry;
    columns and values are merged key by key; ignore globs add up."""
    return replace(
        spec,
        layout=layout or spec.layout,
        table=table or spec.table,
        columns=MappingProxyType({**spec.columns, **(columns or {})}),
        values=MappingProxyType({**spec.values, **(values or {})}),
        ignore=(*spec.ignore, *ignore),
    )


def parse_pairs(items: Sequence[str], option: str) -> dict[str, str]:
    """['seed=image', 'run=trial,step=turn'] -> {'seed': 'image', ...}. ConfigError on 'x'."""
    out = {}
    for item in items:
        for pair in item.split(","):
            key, eq, value = pair.partition("=")
            if not eq or not key.strip() or not value.strip():
                raise ConfigError(
                    explain(
                        option,
                        expected="FIELD=VALUE pairs, e.g. seed=image_id",
                        got=repr(pair),
                        fix=f"Write {option} field=value (commas or repeats for more).",
                    )
                )
            out[key.strip()] = value.strip()
    return out
