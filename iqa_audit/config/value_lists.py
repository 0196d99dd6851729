"""Repeatable option values split into lists: names by commas, editor specs by the key=value rule."""

from __future__ import annotations

import re
from typing import Sequence

from iqa_audit.core.errors import ConfigError, explain

# A comma-separated piece that is a parameter (`key=value`), not a new editor spec.
_PARAM_PIECE = re.compile(r"\s*[A-Za-z_][A-Za-z0-9_]*\s*=")


def split_specs(values: Sequence[str] | str | None) -> tuple[str, ...]:
    """Repeatable editor-spec options that also accept commas, where a spec's own
    parameters are comma-separated too. The rule: a comma followed by `key=value` continues
    the parameters of the spec before it; any other comma starts a new spec. Editor names
    never contain '=', so nothing is ambiguous:

        codec-jpeg:quality=50,size_table=gemini          -> one spec, two parameters
        codec-jpeg:quality=50,size_table=gemini,identity -> two specs
        identity,codec-jpeg:quality=50                   -> two specs

    Used by the CLI and pytest (the SPECS kind of this table) and pyproject's
    `editors = "..."` alike. Raises ConfigError for a parameter with no spec to belong to
    (`quality=50` first, or `codec-jpeg,quality=50`, which means `codec-jpeg:quality=50`)."""
    out: list[str] = []
    for value in [values] if isinstance(values, str) else values or ():
        current: str | None = None
        for piece in (p.strip() for p in str(value).split(",")):
            if not piece:
                continue
            if _PARAM_PIECE.match(piece):
                if current is None or ":" not in current:
                    where = f"after {current!r}" if current else "with no editor before it"
                    raise ConfigError(
                        explain(
                            f"editor spec {value!r}",
                            expected="name[:key=value,...][,name...]",
                            got=f"the parameter {piece!r} {where}",
                            fix="Put ':' between an editor and its first parameter, e.g. "
                            "codec-jpeg:quality=50,size_table=gemini.",
                        )
                    )
                current = f"{current},{piece}"
                out[-1] = current
            else:
                current = piece
                out.append(current)
    return tuple(out)


def split_csv(values: Sequence[str] | None) -> tuple[str, ...]:
    """Repeatable options that also accept commas: --metric a --metric b,c -> (a, b, c)."""
    out: list[str] = []
    for v in values or ():
        out.extend(p.strip() for p in str(v).split(",") if p.strip())
    return tuple(out)
