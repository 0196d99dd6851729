"""Editor names -> editors: one table of the built-in editors, plus installed plugins.

The built-in table is the concatenation of each editor module's `EDITORS` rows, listed
here by name: an editor cannot vanish because some module forgot to import another (the
old registry filled itself as a side effect of imports). A package adds editors under the
entry-point group `iqa_audit.editors` (entry point name = editor name), like metrics
under `iqa_audit.metrics`:

    [project.entry-points."iqa_audit.editors"]
    my-editor = "mypkg.editors:MY_EDITOR"   # an EditorEntry, or
    my-other = "mypkg.editors:make_editor"   # a factory: keyword defaults = parameters,
                                             # first docstring line = summary

Names are unique across both: a plugin that reuses a built-in name is refused by name.
"""

from __future__ import annotations

import importlib.metadata
import inspect
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from iqa_audit.core import plugins
from iqa_audit.core.console import cli_command
from iqa_audit.core.errors import ConfigError, explain
from iqa_audit.editors import codec, diffusers_editor, gemini, simulators, vae_roundtrip
from iqa_audit.editors.base import Editor, EditorEntry, parse_spec

ENTRY_POINT_GROUP = "iqa_audit.editors"


def _table(*tables: Sequence[EditorEntry]) -> Mapping[str, EditorEntry]:
    """name -> entry over the modules' tables; a name listed twice is a bug (ValueError)."""
    entries = [e for table in tables for e in table]
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"editor names listed twice: {sorted(n for n in set(names) if names.count(n) > 1)}")
    return MappingProxyType({e.name: e for e in entries})


# Free, deterministic editors first; then the heavy/paid ones (their SDK imports are lazy).
BUILTIN: Mapping[str, EditorEntry] = _table(
    codec.EDITORS, simulators.EDITORS, vae_roundtrip.EDITORS, diffusers_editor.EDITORS, gemini.EDITORS
)

# The free, deterministic stand-ins for model output: the codecs and the simulators. Every
# other editor (gemini, the diffusers editors, vae-roundtrip, a plugin's) runs a model or
# is the user's own; the artifact profile's "closest simulator" table matches those to these.
SIMULATORS: frozenset[str] = frozenset(e.name for e in (*codec.EDITORS, *simulators.EDITORS))


def editor_names() -> list[str]:
    """Every name `create_editor` resolves: the built-in table and installed entry points."""
    return sorted({*BUILTIN, *_entry_points()})


def editor_entry(name: str) -> EditorEntry:
    """The table row of editor `name`. ConfigError (what, expected, got, fix) when no
    editor has that name, when an installed plugin reuses a built-in name, or when its
    entry point does not load to an EditorEntry or a factory."""
    eps = _entry_points()
    if name in BUILTIN and name in eps:
        raise ConfigError(
            explain(
                f"editor {name!r}",
                expected="one editor per name",
                got=f"the built-in editor and the entry point {eps[name].value!r} of an installed package",
                fix=f'Rename the entry point in that package\'s [project.entry-points."{ENTRY_POINT_GROUP}"].',
            )
        )
    if name in BUILTIN:
        return BUILTIN[name]
    if name in eps:
        return _plugin_entry(name, eps[name])
    raise ConfigError(
        explain(
            f"editor {name!r}",
            expected="one of " + ", ".join(editor_names()),
            got=repr(name),
            fix=f"Run `{cli_command('list')}` to see every editor.",
        )
    )


def create_editor(spec: str) -> Editor:
    """A new editor for `spec` ('name' or 'name:key=value,...'); unknown parameter names
    are a ConfigError listing the editor's parameters."""
    name, overrides = parse_spec(spec)
    entry = editor_entry(name)
    unknown = set(overrides) - set(entry.defaults)
    if unknown:
        raise ConfigError(
            explain(
                f"editor spec {spec!r}",
                expected="parameters among " + (", ".join(sorted(entry.defaults)) or "(none)"),
                got=", ".join(sorted(unknown)),
                fix="Drop or rename the unknown parameters.",
            )
        )
    return entry.factory(**{**entry.defaults, **overrides})


def estimate_cost(spec: str, steps: int) -> float | None:
    """Upper-bound USD cost of `steps` new requests of the editor `spec`, from its table
    row's cost function and the editor's own `params()`; None when the row gives no price
    (free editors, plugins that declare none)."""
    entry = editor_entry(parse_spec(spec)[0])
    if entry.cost is None:
        return None
    return float(entry.cost(create_editor(spec).params(), steps))


# ----- plugins ---------------------------------------------------------------------------------


def _entry_points() -> Mapping[str, importlib.metadata.EntryPoint]:
    return plugins.entry_points(ENTRY_POINT_GROUP)


def _plugin_entry(name: str, ep: importlib.metadata.EntryPoint) -> EditorEntry:
    where = f"entry point {name!r} ({ep.value}) in group {ENTRY_POINT_GROUP}"
    try:
        target = ep.load()
    except (ImportError, AttributeError) as e:
        raise ConfigError(
            explain(
                where,
                expected="'module:attribute' naming an importable object",
                got=f"{type(e).__name__}: {e}",
                fix="Fix the entry point or install the package that provides it.",
            )
        ) from None
    if isinstance(target, EditorEntry):
        if target.name != name:
            raise ConfigError(
                explain(
                    where,
                    expected=f"an EditorEntry named {name!r}",
                    got=f"one named {target.name!r}",
                    fix="Use the same name for the entry point and the EditorEntry.",
                )
            )
        return target
    if callable(target):
        return EditorEntry(name, target, _keyword_defaults(target, where), _first_line(target) or name)
    raise ConfigError(
        explain(
            where,
            expected="an EditorEntry or a callable returning an Editor",
            got=type(target).__name__,
            fix="Point the entry point at an EditorEntry or at the editor's factory.",
        )
    )


def _keyword_defaults(factory: Any, where: str) -> dict[str, Any]:
    """The factory's parameters as spec defaults: every parameter needs a default."""
    params = inspect.signature(factory).parameters.values()
    missing = [
        p.name
        for p in params
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    if missing:
        raise ConfigError(
            explain(
                where,
                expected="a factory whose every parameter has a default",
                got="no default for " + ", ".join(missing),
                fix="Give each parameter a default (a spec overrides it), or register an EditorEntry.",
            )
        )
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


def _first_line(obj: Any) -> str:
    return (inspect.getdoc(obj) or "").strip().splitlines()[0] if inspect.getdoc(obj) else ""
