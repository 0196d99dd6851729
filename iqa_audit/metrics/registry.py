"""Metric names -> metrics. One load per (name, device) per process.

Names:
- `pyiqa:<name>`         any pyiqa no-reference metric ('pyiqa:musiq', 'pyiqa:piqe');
- `iqa_audit:<name>`     built-in classic measures ('iqa_audit:noise-sigma', 'iqa_audit:blur-effect');
- `module.path:callable` a user's own metric, declared with @iqa_audit.metrics.declare
                         (or an `IQA_AUDIT` dict attribute on the callable);
- `<name>`               a metric an installed package registers under the entry-point
                         group `iqa_audit.metrics` (entry point name = metric name,
                         value = 'module:callable', declared the same way).
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib
import importlib.metadata
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import ConfigError, explain
from ..images import Image
from .base import (
    DECLARATION_ATTR,
    Declaration,
    Metric,
    ScoreError,
    TypicalRange,
    as_scores,
    check_images,
    parse_declaration,
    same_size_batches,
)
from .classic import CLASSIC_FACTORIES

ENTRY_POINT_GROUP = "iqa_audit.metrics"
BUILTIN_PREFIX = "iqa_audit:"
PYIQA_PREFIX = "pyiqa:"

# Run here with no weights and no network: the default metric set of the quick profile.
OFFLINE_METRICS = ("pyiqa:piqe", "pyiqa:entropy", "iqa_audit:noise-sigma", "iqa_audit:blur-effect")

_USER_BATCH_SIZE = 8

# How many times each metric name was loaded in this process. A benchmark asserts one
# load per metric per worker; this is the only mutable module state, and only grows.
_LOADS: Counter[str] = Counter()


def load_count(name: str | None = None) -> int:
    """Loads of metric `name` in this process (all metrics when None)."""
    return sum(_LOADS.values()) if name is None else _LOADS[name]


def create_metric(name: str, *, device: str = "cpu") -> Metric:
    """The metric called `name`, created once per process per (name, device)."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(explain("metric name", expected="a name such as pyiqa:piqe or mypkg.mod:sharpness",
                                  got=repr(name), fix="Run `python generate_fixtures.py list` to see every metric."))
    name = name.strip()
    if name.startswith(PYIQA_PREFIX):
        # The weight folder is part of the key: pointing TORCH_HOME elsewhere means other weights.
        from .weights import pyiqa_cache_dir

        return _create_cached(name, device, str(pyiqa_cache_dir()))
    return _create_cached(name, device, "")


@functools.cache
def _create_cached(name: str, device: str, weights_dir: str) -> Metric:
    metric = _create(name, device)
    _LOADS[name] += 1
    return metric


def _create(name: str, device: str) -> Metric:
    if name.startswith(PYIQA_PREFIX):
        from .pyiqa_adapter import create_pyiqa_metric

        return create_pyiqa_metric(name, device=device)
    if name.startswith(BUILTIN_PREFIX):
        key = name[len(BUILTIN_PREFIX):]
        if key not in CLASSIC_FACTORIES:
            raise _unknown(name, [BUILTIN_PREFIX + k for k in CLASSIC_FACTORIES])
        return CLASSIC_FACTORIES[key](name)
    if ":" in name:
        module, _, attr = name.partition(":")
        return _user_metric(name, module, attr, metric_id=_user_id(module, attr))
    eps = _entry_points()
    if name in eps:
        module, _, attr = eps[name].value.partition(":")
        return _user_metric(name, module.strip(), attr.strip(), metric_id=_sanitise(name), via=f"entry point {name!r} ({eps[name].value})")
    raise _unknown(name, list_metric_names())


def metric_id(name: str) -> str:
    """The id `create_metric(name).id` will have, without loading anything: test ids and
    xdist groups are computed at collection, before (and without) any model load."""
    name = name.strip()
    if name.startswith(PYIQA_PREFIX) or name.startswith(BUILTIN_PREFIX):
        return name.split(":", 1)[1]
    if ":" in name:
        module, _, attr = name.partition(":")
        return _user_id(module, attr)
    return _sanitise(name)


def list_metric_names() -> list[str]:
    """Every name create_metric resolves here: pyiqa NR metrics, built-ins, entry points."""
    from .pyiqa_adapter import nr_metric_names

    return ([PYIQA_PREFIX + n for n in nr_metric_names()]
            + [BUILTIN_PREFIX + k for k in CLASSIC_FACTORIES]
            + sorted(_entry_points()))


def _unknown(name: str, known: list[str]) -> ConfigError:
    # Match on the bare part too, so 'musiq' suggests 'pyiqa:musiq'.
    bare = {k.split(":", 1)[-1]: k for k in known}
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.6)
    close += [bare[b] for b in difflib.get_close_matches(name.split(":", 1)[-1], list(bare), n=5, cutoff=0.6) if bare[b] not in close]
    hint = ("Did you mean " + ", ".join(close[:5]) + "? ") if close else ""
    return ConfigError(explain(
        f"metric {name!r}", expected="pyiqa:<name>, iqa_audit:<name>, module.path:callable or an installed entry point",
        got="no such metric", fix=hint + "Run `python generate_fixtures.py list` to see every metric.",
    ))


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


# ----- user metrics -----------------------------------------------------------------------------

def _sanitise(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", text).strip("-") or "metric"


def _user_id(module: str, attr: str) -> str:
    return _sanitise(f"{module.rsplit('.', 1)[-1]}-{attr.rsplit('.', 1)[-1]}")


def _user_metric(name: str, module_name: str, attr: str, *, metric_id: str, via: str | None = None) -> "CallableMetric":
    where = via or f"metric {name!r}"
    if not module_name or not attr:
        raise ConfigError(explain(where, expected="module.path:callable", got=repr(name), fix="Write e.g. mypkg.metrics:sharpness."))
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError(explain(where, expected=f"an importable module {module_name!r}", got=f"{type(e).__name__}: {e}",
                                  fix="Check the spelling and that the module is on sys.path (run from the project root or pip install it).")) from None
    fn: Any = module
    for part in attr.split("."):
        fn = getattr(fn, part, None)
        if fn is None:
            raise ConfigError(explain(where, expected=f"a callable {attr!r} in {module_name}", got="no such attribute",
                                      fix=f"Define it in {getattr(module, '__file__', module_name)} or fix the name."))
    if not callable(fn):
        raise ConfigError(explain(where, expected=f"{attr!r} to be callable", got=type(fn).__name__, fix="Point at a function."))
    decl = parse_declaration(getattr(fn, DECLARATION_ATTR, None), f"{module_name}:{attr}" + (f" ({via})" if via else ""))
    version = decl.version or _module_hash_version(module, where)
    return CallableMetric(
        id=metric_id, name=name, version=version,
        range=TypicalRange(decl.lo, decl.hi, not decl.lower_better, f"declared by {module_name}:{attr}"),
        fn=fn, declaration=decl,
    )


def _module_hash_version(module: Any, where: str) -> str:
    # Undeclared version: the module file's hash, so editing the metric invalidates its scores.
    path = getattr(module, "__file__", None)
    if not path or not Path(path).is_file():
        raise ConfigError(explain(where, expected="version=... in the declaration", got="no version and no module file to hash",
                                  fix='Add version="1" to the declaration and bump it when the scores change.'))
    return "file-" + hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


@dataclass(frozen=True, eq=False)
class CallableMetric:
    """A user's function behind the Metric protocol."""

    id: str
    name: str
    version: str
    range: TypicalRange
    fn: Callable[..., Any]
    declaration: Declaration

    def score(self, images: Sequence[Image]) -> np.ndarray:
        imgs = check_images(images, self.name)
        out = np.empty(len(imgs), dtype=np.float64)
        if self.declaration.batch:
            for idx in same_size_batches(imgs, _USER_BATCH_SIZE):
                out[idx] = as_scores(self._call([imgs[i].pixels for i in idx], idx), len(idx), self.name)
        else:
            for i, im in enumerate(imgs):
                out[i] = as_scores(self._call(im.pixels, [i]), 1, self.name)[0]
        return out

    def _call(self, arg: Any, idx: list[int]) -> Any:
        try:
            return self.fn(arg)
        except Exception as e:  # the user's code: keep their traceback, add which metric and image
            raise ScoreError(explain(f"metric {self.name}: image(s) {idx}", expected="a score",
                                     got=f"{type(e).__name__}: {e}", fix="See the chained traceback in your metric.")) from e

