"""The libraries imported where they are used, not at module top, and modules imported on
first attribute access.

Every pytest process (the controller and each xdist worker) imports the plugin, the seed
catalogue and the editors to collect and plan cells, and `iqa-audit --help` imports the
CLI: a warm run and a help text must not pay for a model library they never call. So
every import inside a function names one of HEAVY (tests/test_architecture.py checks
this); everything else is imported at module top.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# Top-level package -> why it is imported lazily. Import times measured here (2 cores,
# `python -c "import X"` less the interpreter, December 2026); optional extras are lazy
# because a missing extra must only fail the feature that needs it.
HEAVY = {
    "torch": "4.3 s; only metrics and model editors need it",
    "torchvision": "imports torch",
    "timm": "imports torch",
    "pyiqa": "9.0 s (imports torch, torchvision, timm)",
    "transformers": "2.4 s; VLM metrics only",
    "tokenizers": "with transformers",
    "diffusers": "8.5 s; the optional [diffusers] extra",
    "accelerate": "the optional [diffusers] extra",
    "ray": "1.3 s; the optional [ray] extra",
    "google": "google-genai, 1.3 s; paid editors and the VLM counter/judge only",
    "scipy": "0.6-0.9 s (ndimage); seeds and simulators, not a warm run",
    "skimage": "its submodules (filters, morphology, metrics) import scipy: 0.6 s",
    "huggingface_hub": "its submodules import httpx: 0.1-0.2 s; hf:// imports only",
    "cv2": "0.3 s; 16-bit decoding and codecs only",
    "pywt": "0.3 s; the noise-sigma control only",
    "pyarrow": "0.3 s; Parquet side tables only",
    "jsonschema": "0.14 s (referencing, rpds, attrs); only to validate a results.json against its schema",
    "xdist": "0.3 s; only under -n",
    "pytest_html": "only when the pytest-html plugin is active",
}


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
