"""Installed packages' entry points, read once per search path.

Scanning every installed distribution's metadata costs ~20 ms here (measured: 84 editor
lookups of one run's closest-simulator reference set took 1.8 s), and the answer only
changes when the search path does (a package installed at run time lands on a new or
invalidated path entry), so it is kept per (group, sys.path)."""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Mapping
from types import MappingProxyType

_SEEN: dict[tuple[str, tuple[str, ...]], Mapping[str, importlib.metadata.EntryPoint]] = {}


def entry_points(group: str) -> Mapping[str, importlib.metadata.EntryPoint]:
    """{name: entry point} of `group` in the installed distributions on sys.path, read-only."""
    key = (group, tuple(sys.path))
    if key not in _SEEN:
        _SEEN[key] = MappingProxyType({ep.name: ep for ep in importlib.metadata.entry_points(group=group)})
    return _SEEN[key]
