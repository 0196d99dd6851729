"""Keys: canonical JSON, the digests built from it, and digests of the code behind a result.

A key must change exactly when what it stands for changes. So `canonical` accepts only
values with one obvious JSON form and refuses everything else (TypeError) instead of
falling back to `str(o)`: a repr can hide a difference (two objects, one string) or add
one (an address in it), and a key built from it silently misses or never hits.

Accepted: None, bool, int, float (NaN and ±inf included: JSON's extension tokens), str,
numpy scalars (as the Python number they hold), tuples and lists (as lists), mappings
with str or int keys (int keys become strings, as json does), and dataclass instances
(their fields, tagged `__type__` = class name so two types with the same fields never
share a key). Refused: sets (no order), arrays, bytes, paths, arbitrary objects.

`digest(value)` is the sha256 (64 hex chars) of `dumps(value)`: compact separators,
sorted keys, ASCII. For plain JSON values this is byte-for-byte the JSON the chain keys,
memo keys and figure keys were always hashed from, so existing keys are unchanged.

`code_digest(*modules)` hashes the source of the given module objects (every `.py` file
of a package), so a memoised result is keyed by the code that computed it.
`installed_code_digest(name)` does the same for an installed package found by name without
importing it (pyiqa takes ~10 s to import): a score is keyed by the library code behind it too.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np


def canonical(value: Any) -> Any:
    """`value` as plain JSON types (dict, list, str, int, float, bool, None).

    Raises TypeError naming the offending type (and where inside `value` it sits) for
    anything without one obvious JSON form; see the module docstring for what passes."""
    return _canonical(value, "value")


def _canonical(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, np.generic) and isinstance(value.item(), (bool, int, float)):
        return value.item()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: _canonical(getattr(value, f.name), f"{where}.{f.name}") for f in dataclasses.fields(value)}
        out["__type__"] = type(value).__name__
        return out
    if isinstance(value, (tuple, list)):
        return [_canonical(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if isinstance(k, bool) or not isinstance(k, (str, int)):
                raise TypeError(f"keys.canonical: {where} has a {type(k).__name__} key {k!r}; keys must be str or int")
            out[str(k)] = _canonical(v, f"{where}[{k!r}]")
        return out
    raise TypeError(
        f"keys.canonical: cannot key {where}, a {type(value).__name__}; "
        "pass JSON types, tuples, mappings, numpy scalars or dataclasses (a set as a sorted tuple)"
    )


def dumps(value: Any) -> str:
    """The canonical JSON text of `value`: sorted keys, no spaces, ASCII. TypeError as `canonical`."""
    return json.dumps(canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True)


def digest(value: Any) -> str:
    """sha256 hex (64 chars) of `dumps(value)`. TypeError as `canonical`."""
    return hashlib.sha256(dumps(value).encode("ascii")).hexdigest()


@functools.cache
def code_digest(*modules: ModuleType) -> str:
    """sha256 hex over the source of `modules`, in the order given: each module's name,
    then its file's bytes, or for a package the bytes of every `.py` file under it (sorted
    by relative path). Read once per process per tuple of modules.

    Raises TypeError for a non-module, ValueError for a module without a source file."""
    h = hashlib.sha256()
    for module in modules:
        if not isinstance(module, ModuleType):
            raise TypeError(f"keys.code_digest: expected modules, got a {type(module).__name__} ({module!r})")
        h.update(f"\0module {module.__name__}\0".encode())
        for path in _source_files(module):
            h.update(path.read_bytes())
    return h.hexdigest()


@functools.cache
def installed_code_digest(package: str) -> str:
    """sha256 hex over every `.py` file of the installed top-level package `package`
    (sorted by relative path), located with importlib.util.find_spec, so the package is not
    imported. Read once per process (pyiqa 0.1.16: 131 files, 1.2 MB, 13 ms measured).

    Raises ValueError when the package is not installed or is a single module without a
    source file."""

    spec = importlib.util.find_spec(package)
    if spec is None:
        raise ValueError(f"keys.installed_code_digest: package {package!r} is not installed")
    h = hashlib.sha256(f"\0package {package}\0".encode())
    if spec.submodule_search_locations:
        root = Path(next(iter(spec.submodule_search_locations))).resolve()
        files = sorted(root.rglob("*.py"), key=lambda p: p.relative_to(root).as_posix())
    elif spec.origin and spec.origin.endswith(".py"):
        root, files = Path(spec.origin).parent, [Path(spec.origin)]
    else:
        raise ValueError(f"keys.installed_code_digest: package {package!r} has no Python source ({spec.origin})")
    for path in files:
        h.update(f"\0{path.relative_to(root).as_posix()}\0".encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _source_files(module: ModuleType) -> tuple[Path, ...]:
    file = getattr(module, "__file__", None)
    if not file:
        raise ValueError(f"keys.code_digest: module {module.__name__} has no source file")
    path = Path(file).resolve()
    if hasattr(module, "__path__"):  # a package: all of it
        return tuple(sorted(path.parent.rglob("*.py"), key=lambda p: p.relative_to(path.parent).as_posix()))
    return (path,)
