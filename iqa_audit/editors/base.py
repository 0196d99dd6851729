"""The Editor role, its result, the row type of the editor table, and editor specs.

An editor is anything that takes an image and a prompt and returns an image: a real
generative model behind an API, a lossy codec, or a simulator of one failure the study
observed. `id` and `version` enter every cache key, so changing an editor's behaviour
means bumping its version, and the store then builds new chains instead of reusing old.

Names resolve like pyiqa's `create_metric`: a table (`editors.registry`) maps a name to a
factory and its default parameters; `create_editor("codec-jpeg:quality=50")` overrides a
parameter. This module imports no editor, so every editor module can import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

from iqa_audit.core.errors import ConfigError, explain
from iqa_audit.core.images import Image

# How an editor's request seed follows the run and step (Gemini and diffusers editors).
SEED_MODES = ("fixed", "per-step")


def derive_seed(base_seed: int, seed: int, step: int, mode: str) -> int:
    """The editor seed sent with a request, in the API's non-negative int32 range.

    'fixed': one seed per run (every step of run `seed` uses the same value), as in the
    study's fixed-seed setting. 'per-step': a different seed at every step; steps of one run
    are 10 000 apart from the next run's, so runs of up to 10 000 steps never share a seed.
    """
    if mode == "fixed":
        value = base_seed + seed
    elif mode == "per-step":
        value = base_seed + seed * 10_000 + step
    else:
        raise ConfigError(
            explain(
                "seed_mode", expected=" or ".join(SEED_MODES), got=repr(mode), fix="Use seed_mode=fixed or seed_mode=per-step."
            )
        )
    return value % 2**31


@dataclass(frozen=True, eq=False)
class EditResult:
    """One step's output. `reasoning` is the model's own text (thought summary) if any."""

    image: Image
    reasoning: str | None = None
    meta: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, eq=False)
class PriorStep:
    """A stored step handed back to an editor that keeps state across steps (a chat
    session) before a resumed chain continues: `input` is the image the step was applied
    to (step k-1's output), `output` its result, `meta` what the editor recorded then."""

    step: int
    prompt: str
    input: Image
    output: Image
    meta: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@runtime_checkable
class Editor(Protocol):
    id: str  # short, test-id friendly: "codec-jpeg", "sim-noise-tint", "gemini-3-pro-image-preview"
    version: str  # bump when outputs change; part of every chain key
    paid: bool  # True: a stored step is never requested again, corrupt files are reported

    def params(self) -> Mapping[str, Any]:
        """Parameters that change outputs (quality, temperature, size...). Part of the chain key."""
        ...

    def edit(self, image: Image, prompt: str, *, seed: int, step: int) -> EditResult: ...

    # Optional: `resume(prior: Sequence[PriorStep]) -> None`, called with the stored steps
    # 1..k (in order) before a chain resumes at step k+1, by editors whose next request
    # depends on earlier ones (GeminiEditor with session=chat rebuilds its history).


@dataclass(frozen=True)
class SizeProblem:
    """Why an editor cannot take an input of some size (an encoder's limit).

    `limit`: what it accepts, with the limit's source ("at most 16383 px per side (libwebp's
    WEBP_MAX_DIMENSION)"); `got`: what this input would give; `alternatives`: editors
    that would take it ("codec-jpeg (up to 65500 px per side)")."""

    limit: str
    got: str
    max_side: int  # px: the longest side --long-side may ask for
    alternatives: tuple[str, ...] = ()


def size_problem(editor: Editor, width: int, height: int) -> SizeProblem | None:
    """Why `editor` cannot take a width x height input, or None. An editor with a limit
    defines `size_problem(width, height)`; every other editor takes any size."""
    check = getattr(editor, "size_problem", None)
    return check(width, height) if callable(check) else None


def input_size_error(spec: str, seed: str, width: int, height: int, problem: SizeProblem, long_side: int | None) -> ConfigError:
    """The error for a seed an editor cannot take: the seed, its size, the limit and the fix."""
    at = f"--long-side {long_side}" if long_side else "its native size (--long-side 0)"
    other = f", or use {' or '.join(problem.alternatives)}" if problem.alternatives else ""
    return ConfigError(
        explain(
            f"seed {seed!r} ({width}x{height} px at {at}) with editor {spec}",
            expected=f"an input the editor can encode: {problem.limit}",
            got=problem.got,
            fix=f"Render the seeds smaller: --long-side {problem.max_side} or less{other}. Nothing was built.",
        )
    )


@dataclass(frozen=True)
class EditorEntry:
    """One row of the editor table: a name, how to make the editor, and what it costs.

    `factory(**params)` returns an Editor; `defaults` are every parameter a spec may
    override (`create_editor("codec-jpeg:quality=50")`), read-only. `cost(params, steps)`
    is an upper bound in USD for `steps` new requests of a paid editor with the editor's
    `params()`; None for free editors (and for paid ones with no known price).
    """

    name: str
    factory: Callable[..., Editor]
    defaults: Mapping[str, Any]
    summary: str
    cost: Callable[[Mapping[str, Any], int], float] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.defaults, MappingProxyType):
            object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))

    @classmethod
    def of(
        cls,
        name: str,
        factory: Callable[..., Editor],
        *,
        summary: str,
        cost: Callable[[Mapping[str, Any], int], float] | None = None,
        **defaults: Any,
    ) -> "EditorEntry":
        """An entry with its defaults as keyword arguments (the way the tables read best)."""
        return cls(name, factory, defaults, summary, cost)


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """'codec-jpeg:quality=50,size_table=gemini' -> ('codec-jpeg', {'quality': 50, ...})."""
    name, _, rest = spec.partition(":")
    params: dict[str, Any] = {}
    for part in filter(None, rest.split(",")):
        key, eq, value = part.partition("=")
        if not eq:
            raise ConfigError(
                explain(
                    f"editor spec {spec!r}",
                    expected="name[:key=value,...]",
                    got=repr(part),
                    fix="Write e.g. codec-jpeg:quality=50.",
                )
            )
        params[key.strip()] = _coerce(value.strip())
    return name.strip(), params


def _coerce(value: str) -> Any:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value
