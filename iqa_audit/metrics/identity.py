"""What a metric's cached scores are keyed by (id, version, typical range), known without
loading the metric.

Loading `pyiqa:piqe` means importing torch and pyiqa (about 10 s) even when every score
it would compute is already in the store. A warm re-run should cost nearly nothing, so
the scorer (scoring.cached.Scorer) first asks for the metric's *identity*: the store remembers the identity a
loaded metric had, under a fingerprint of everything its version is derived from
(pyiqa's installed version and source, the weight caches' listing, and the source of the
code that computes id, version and range). Same fingerprint, same identity: no load. Anything
changed (new weights, a pyiqa upgrade, an edited adapter) gives a new fingerprint, so the
metric is loaded once and its real identity recorded again.

Only pyiqa metrics take this path: built-in and user metrics load in milliseconds.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
from dataclasses import dataclass
from pathlib import Path

from iqa_audit.core.keys import installed_code_digest
from iqa_audit.metrics.base import TypicalRange

PYIQA_PREFIX = "pyiqa:"
_HERE = Path(__file__).resolve().parent
# The code that turns a pyiqa name into (id, version, range): editing it must not leave a
# stale identity behind.
_IDENTITY_SOURCES = (
    _HERE / "pyiqa_adapter.py",
    _HERE / "pyiqa_loading.py",
    _HERE / "batching.py",
    _HERE / "weights.py",
    _HERE / "normalise.py",
    Path(__file__),
)


@dataclass(frozen=True)
class MetricIdentity:
    id: str
    name: str
    version: str
    range: TypicalRange

    @classmethod
    def of(cls, metric) -> "MetricIdentity":
        return cls(metric.id, metric.name, metric.version, metric.range)

    def to_json(self) -> str:
        return json.dumps(
            {"id": self.id, "name": self.name, "version": self.version, "range": self.range.to_dict()}, sort_keys=True
        )

    @classmethod
    def from_json(cls, text: str) -> "MetricIdentity":
        d = json.loads(text)
        return cls(d["id"], d["name"], d["version"], TypicalRange.from_dict(d["range"]))


def torch_hub_dir() -> Path:
    """torch.hub.get_dir() without importing torch (which alone takes seconds).

    Same rule as torch: $TORCH_HOME/hub, else $XDG_CACHE_HOME/torch/hub, else
    ~/.cache/torch/hub. A test checks it against torch's own answer."""
    home = os.getenv("TORCH_HOME") or os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch")
    return Path(os.path.expanduser(home)) / "hub"


def fingerprint(name: str) -> str | None:
    """A cheap digest of everything `name`'s identity depends on; None when the metric is
    cheap to load anyway (not a pyiqa metric)."""
    if not name.startswith(PYIQA_PREFIX):
        return None
    h = hashlib.sha256()
    h.update(name.encode())
    h.update(_dist_version("pyiqa").encode())
    h.update(_dist_version("torch").encode())
    for src in _IDENTITY_SOURCES:
        h.update(src.read_bytes())
    # pyiqa's own source is in the metric's version (pyiqa_adapter.scoring_code_digest):
    # a patched network file must not be answered with the old identity.
    h.update(installed_code_digest("pyiqa").encode() if _dist_version("pyiqa") != "absent" else b"no pyiqa")
    hub = torch_hub_dir()
    # Listing (path, size, mtime) instead of hashing contents: weights are hundreds of MB,
    # and replacing a file changes its size or mtime.
    for folder in (hub / "pyiqa", hub / "checkpoints", hub / "clip"):
        for entry in _listing(folder):
            h.update(entry.encode())
    return h.hexdigest()


@functools.cache  # installed versions do not change while a process runs
def _dist_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def _listing(folder: Path) -> list[str]:
    if not folder.is_dir():
        return [f"{folder}: none"]
    out = []
    for path in sorted(folder.rglob("*")):
        try:
            st = path.stat()
        except OSError:
            continue
        if path.is_file():
            out.append(f"{path.relative_to(folder)}:{st.st_size}:{st.st_mtime_ns}")
    return out
