"""Field types of the typed records (records.py): each field checked against its
annotation when a record is made, named in errors, and read from / written to JSON.
Numbers: any real, bool apart; tuples are JSON lists; mappings JSON objects."""

from __future__ import annotations

import numbers
import types
from collections.abc import Mapping
from dataclasses import fields
from typing import Any, Union, get_args, get_origin, get_type_hints

_HINTS: dict[type, dict[str, Any]] = {}


def hints(cls: type) -> dict[str, Any]:
    """{field: type} of a record class (annotations resolved once per class)."""
    if cls not in _HINTS:
        resolved = get_type_hints(cls)
        _HINTS[cls] = {f.name: resolved[f.name] for f in fields(cls)}
    return _HINTS[cls]


def conforms(value: Any, hint: Any) -> bool:
    """Whether a JSON-like value has the field type `hint` (numbers: any real, bool apart)."""
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return any(conforms(value, a) for a in args)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is Mapping or origin is dict:
        return isinstance(value, Mapping) and all(conforms(k, args[0]) and conforms(v, args[1]) for k, v in value.items())
    if origin is tuple:
        return isinstance(value, (tuple, list)) and all(conforms(v, args[0]) for v in value)
    raise TypeError(f"records: no check for field type {hint!r}")


def type_name(hint: Any) -> str:
    args = get_args(hint)
    if get_origin(hint) in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    if hint is type(None):
        return "null"
    if get_origin(hint) in (Mapping, dict):
        return f"an object of {type_name(args[1])}" if args[1] is not Any else "an object"
    if get_origin(hint) is tuple:
        return f"a list of {type_name(args[0])}"
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string"}.get(hint, str(hint))


def tuples(value: Any, hint: Any) -> Any:
    """A JSON list read into a tuple field becomes a tuple (records compare equal after a round trip)."""
    if isinstance(value, list) and (get_origin(hint) is tuple or any(get_origin(a) is tuple for a in get_args(hint))):
        return tuple(value)
    return value


def plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    if isinstance(value, Mapping) and not isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
