"""The Editor role, its result, and the registry of editor names.

An editor is anything that takes an image and a prompt and returns an image: a real
generative model behind an API, a lossy codec, or a simulator of one failure the study
observed. `id` and `version` enter every cache key, so changing an editor's behaviour
means bumping its version, and the store then builds new chains instead of reusing old.

Names resolve like pyiqa's `create_metric`: a registry maps a name to a factory and its
default parameters; `create_editor("codec-jpeg:quality=50")` overrides a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

from ..errors import ConfigError, EditorError, explain
from ..images import Image


@dataclass(frozen=True, eq=False)
class EditResult:
    """One step's output. `reasoning` is the model's own text (thought summary) if any."""

    image: Image
    reasoning: str | None = None
    meta: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


class EditRefused(EditorError):
    """The editor answered but gave no image (safety block, NO_IMAGE, ...).

    The chain stores the step as failed with `reason` and stops: re-asking a paid model
    the same thing would cost money for the same refusal.
    """

    def __init__(self, reason: str, meta: Mapping[str, Any] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.meta = dict(meta or {})


@runtime_checkable
class Editor(Protocol):
    id: str  # short, test-id friendly: "codec-jpeg", "sim-noise-tint", "gemini-3-pro-image-preview"
    version: str  # bump when outputs change; part of every chain key
    paid: bool  # True: a stored step is never requested again, corrupt files are reported

    def params(self) -> Mapping[str, Any]:
        """Parameters that change outputs (quality, temperature, size...). Part of the chain key."""
        ...

    def edit(self, image: Image, prompt: str, *, seed: int, step: int) -> EditResult: ...


@dataclass(frozen=True)
class EditorEntry:
    name: str
    factory: Callable[..., Editor]
    defaults: Mapping[str, Any]
    summary: str


_REGISTRY: dict[str, EditorEntry] = {}


def register_editor(name: str, factory: Callable[..., Editor], *, summary: str, **defaults: Any) -> None:
    if name in _REGISTRY and _REGISTRY[name].factory is not factory:
        raise ConfigError(f"editor name {name!r} registered twice")
    _REGISTRY[name] = EditorEntry(name, factory, MappingProxyType(dict(defaults)), summary)


def editor_names() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def editor_entry(name: str) -> EditorEntry:
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            explain(
                f"editor {name!r}",
                expected="one of " + ", ".join(sorted(_REGISTRY)),
                got=repr(name),
                fix="Run `python generate_fixtures.py list` to see every editor.",
            )
        ) from None


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """'codec-jpeg:quality=50,size_table=gemini' -> ('codec-jpeg', {'quality': 50, ...})."""
    name, _, rest = spec.partition(":")
    params: dict[str, Any] = {}
    for part in filter(None, rest.split(",")):
        key, eq, value = part.partition("=")
        if not eq:
            raise ConfigError(
                explain(f"editor spec {spec!r}", expected="name[:key=value,...]", got=repr(part), fix="Write e.g. codec-jpeg:quality=50.")
            )
        params[key.strip()] = _coerce(value.strip())
    return name.strip(), params


def create_editor(spec: str) -> Editor:
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


def _coerce(value: str) -> Any:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


_loaded = False


def _load_builtin() -> None:
    # Importing the modules registers their editors; done lazily so that
    # `iqa_audit.editors.base` stays importable on its own (no cycles).
    global _loaded
    if _loaded:
        return
    from . import builtin  # noqa: F401  (an import error propagates; the flag stays unset)

    _loaded = True
