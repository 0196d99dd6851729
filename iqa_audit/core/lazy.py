"""Modules imported on first attribute access.

Every pytest process (the controller and each xdist worker) imports the seed catalogue
and the editors to collect and plan cells; scipy.ndimage alone takes ~0.6 s of that,
and a warm run renders no seed and runs no editor.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class LazyModule:
    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str):
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)

    def __repr__(self) -> str:
        return f"LazyModule({self._name!r}, loaded={self._module is not None})"
