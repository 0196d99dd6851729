"""Metric names -> metrics. One load per (name, device) per process.

Names:
- `pyiqa:<name>`         any pyiqa no-reference metric ('pyiqa:musiq', 'pyiqa:piqe');
- `iqa_audit:<name>`     built-in classic measures ('iqa_audit:noise-sigma', 'iqa_audit:blur-effect') and
                         VLM metrics ('iqa_audit:visualquality-r1', weights from the Hugging Face cache);
- `module.path:callable` a user's own metric, declared with @iqa_audit.metrics.declare
                         (or an `IQA_AUDIT` dict attribute on the callable); the module
                         must be importable (on sys.path or pip-installed);
- `path/to/file.py:callable` the same, loaded from a file (any folder, nothing to install);
- `<name>`               a metric an installed package registers under the entry-point
                         group `iqa_audit.metrics` (entry point name = metric name,
                         value = 'module:callable', declared the same way).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from iqa_audit.core import plugins
from iqa_audit.core.console import cli_command
from iqa_audit.core.errors import ConfigError, explain
from iqa_audit.core.images import Image
from iqa_audit.metrics.base import (
    DECLARATION_ATTR,
    Declaration,
    Metric,
    ScoreError,
    TypicalRange,
    as_scores,
    check_images,
    parse_declaration,
)
from iqa_audit.metrics.batching import (
    BatchLimits,
    OutOfMemory,
    OutOfMemoryAtOne,
    is_out_of_memory,
    run_with_backoff,
    size_groups,
    start_batch,
)
from iqa_audit.metrics.classic import CLASSIC_FACTORIES
from iqa_audit.metrics.names import did_you_mean_metric, pyiqa_nr_names, unknown_pyiqa
from iqa_audit.metrics.pyiqa_adapter import create_pyiqa_metric, nr_metric_names
from iqa_audit.metrics.random_weights import variant_id
from iqa_audit.metrics.visualquality_r1 import VLM_FACTORIES
from iqa_audit.metrics.weights import pyiqa_cache_dir

ENTRY_POINT_GROUP = "iqa_audit.metrics"
BUILTIN_PREFIX = "iqa_audit:"
PYIQA_PREFIX = "pyiqa:"

# Run here with no weights and no network: the default metric set of the quick profile.
OFFLINE_METRICS = ("pyiqa:piqe", "pyiqa:entropy", "iqa_audit:noise-sigma", "iqa_audit:blur-effect")

BUILTIN_NAMES = tuple(BUILTIN_PREFIX + k for k in CLASSIC_FACTORIES)

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
        raise ConfigError(
            explain(
                "metric name",
                expected="a name such as pyiqa:piqe or mypkg.mod:sharpness",
                got=repr(name),
                fix=f"Run `{cli_command('list')}` to see every metric.",
            )
        )
    name = name.strip()
    if name.startswith(PYIQA_PREFIX):
        # The weight folder is part of the key: pointing TORCH_HOME elsewhere means other weights.

        return _create_cached(name, device, str(pyiqa_cache_dir()))
    return _create_cached(name, device, "")


@functools.cache
def _create_cached(name: str, device: str, weights_dir: str) -> Metric:
    metric = _create(name, device)
    _LOADS[name] += 1
    return metric


def _create(name: str, device: str) -> Metric:
    if name.startswith(PYIQA_PREFIX):
        return create_pyiqa_metric(name, device=device)
    if name.startswith(BUILTIN_PREFIX):
        key = name[len(BUILTIN_PREFIX) :]
        if key in VLM_FACTORIES:
            return VLM_FACTORIES[key](name, device=device)
        if key not in CLASSIC_FACTORIES:
            raise _unknown(name, [BUILTIN_PREFIX + k for k in (*CLASSIC_FACTORIES, *VLM_FACTORIES)])
        return CLASSIC_FACTORIES[key](name)
    if ":" in name:
        module, attr = split_user_name(name)
        return _user_metric(name, module, attr, metric_id=_user_id(module, attr))
    eps = _entry_points()
    if name in eps:
        module, _, attr = eps[name].value.partition(":")
        dist = eps[name].dist
        dist_version = f"{dist.metadata['Name'] or dist.name}-{dist.version}" if dist is not None else None
        return _user_metric(
            name,
            module.strip(),
            attr.strip(),
            metric_id=_sanitise(name),
            via=f"entry point {name!r} ({eps[name].value})",
            dist_version=dist_version,
        )
    raise _unknown(name, list_metric_names())


def metric_id(name: str) -> str:
    """The id `create_metric(name).id` will have, without loading anything: test ids and
    xdist groups are computed at collection, before (and without) any model load."""
    name = name.strip()
    if name.startswith(PYIQA_PREFIX):
        try:
            return variant_id(name.split(":", 1)[1])  # 'musiq@random' -> 'musiq-random'
        except ValueError:
            return name.split(":", 1)[1]  # create_metric says what is wrong with the variant
    if name.startswith(BUILTIN_PREFIX):
        return name.split(":", 1)[1]
    if ":" in name:
        return _user_id(*split_user_name(name))
    return _sanitise(name)


def split_user_name(name: str) -> tuple[str, str]:
    """'mypkg.metrics:sharpness' -> ('mypkg.metrics', 'sharpness'); a file path keeps its
    colons: 'C:/m/sharp.py:fn' -> ('C:/m/sharp.py', 'fn')."""
    if ".py:" in name:
        module, _, attr = name.rpartition(":")
    else:
        module, _, attr = name.partition(":")
    return module.strip(), attr.strip()


def is_file_module(module: str) -> bool:
    """A module named by its file: 'path/to/sharp.py' (any name ending in .py)."""
    return module.endswith(".py")


def check_metric(name: str) -> None:
    """Raise ConfigError, with did-you-mean suggestions, unless `create_metric(name)` can
    find the metric; loads no model and imports neither torch nor pyiqa (pyiqa's names
    come from its config file). A user metric's module is imported and its declaration
    read, which is what finding it means. Missing pyiqa weights are not an error here:
    those cells are skipped with the file and the fetch command, and the session then
    fails with one line per such metric unless --allow-missing-metrics (pytest_plugin)."""

    if not isinstance(name, str) or not name.strip():
        raise ConfigError(
            explain(
                "--metric",
                expected="a name such as pyiqa:piqe or mypkg.mod:sharpness",
                got=repr(name),
                fix=f"Run `{cli_command('list')}` to see every metric.",
            )
        )
    name = name.strip()
    if name.startswith(PYIQA_PREFIX):
        names = pyiqa_nr_names()
        if names is not None and name[len(PYIQA_PREFIX) :] not in names:
            raise unknown_pyiqa(name, names)
        return
    if name.startswith(BUILTIN_PREFIX):
        if name not in BUILTIN_NAMES:
            raise _unknown(name, known_metric_names())
        return
    if ":" in name:
        module, attr = split_user_name(name)
        _user_metric(name, module, attr, metric_id=_user_id(module, attr))
        return
    eps = _entry_points()
    if name not in eps:
        raise _unknown(name, known_metric_names())
    module, _, attr = eps[name].value.partition(":")
    _user_metric(name, module.strip(), attr.strip(), metric_id=_sanitise(name), via=f"entry point {name!r} ({eps[name].value})")


def known_metric_names() -> list[str]:
    """Every metric name, without importing pyiqa (its names come from its config file)."""

    return [PYIQA_PREFIX + n for n in (pyiqa_nr_names() or [])] + list(BUILTIN_NAMES) + sorted(_entry_points())


def list_metric_names() -> list[str]:
    """Every name create_metric resolves here: pyiqa NR metrics, built-ins, entry points."""

    return (
        [PYIQA_PREFIX + n for n in nr_metric_names()]
        + [BUILTIN_PREFIX + k for k in (*CLASSIC_FACTORIES, *VLM_FACTORIES)]
        + sorted(_entry_points())
    )


def _unknown(name: str, known: list[str]) -> ConfigError:

    return ConfigError(
        explain(
            f"--metric {name}",
            expected="pyiqa:<name>, iqa_audit:<name>, module.path:callable, path/to/file.py:callable or an installed entry point",
            got="no such metric",
            fix=did_you_mean_metric(name, known) + f"Run `{cli_command('list')}` to see every metric.",
        )
    )


def _entry_points() -> Mapping[str, importlib.metadata.EntryPoint]:
    return plugins.entry_points(ENTRY_POINT_GROUP)


# ----- user metrics -----------------------------------------------------------------------------


def _sanitise(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", text).strip("-") or "metric"


def _user_id(module: str, attr: str) -> str:
    stem = Path(module).stem if is_file_module(module) else module.rsplit(".", 1)[-1]
    return _sanitise(f"{stem}-{attr.rsplit('.', 1)[-1]}")


def _import_user_module(module_name: str, where: str) -> Any:
    """The user's module by dotted name, or loaded from its file ('path/to/sharp.py');
    ConfigError naming the module and how to make it importable."""
    if is_file_module(module_name):
        path = Path(module_name).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(
                explain(
                    where,
                    expected=f"a Python file at {module_name}",
                    got="no such file",
                    fix="Check the path (relative paths start at the folder pytest runs in).",
                )
            )
        key = "iqa_audit_user_metric_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
        if key in sys.modules:
            return sys.modules[key]
        spec = importlib.util.spec_from_file_location(key, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            del sys.modules[key]
            raise ConfigError(
                explain(
                    where,
                    expected=f"{path} to run on import",
                    got=f"{type(e).__name__}: {e}",
                    fix="Fix the error in that file (run `python " + str(path) + "` to see its traceback).",
                )
            ) from None
        return module
    try:
        return importlib.import_module(module_name)
    except ImportError as e:
        if e.name and module_name != e.name and not module_name.startswith(e.name + "."):
            # The module exists but something it imports does not.
            fix = f"Install what {module_name} imports ({e.name}) in this environment."
        else:
            fix = (
                f"Make it importable: run `iqa-audit audit` or `python -m pytest` from the folder that holds "
                f"{module_name.split('.')[0]} (a bare `pytest` does not look there), add that folder "
                "to PYTHONPATH, or pip install your package; or name the file instead: --metric path/to/file.py:callable."
            )
        raise ConfigError(
            explain(where, expected=f"an importable module {module_name!r}", got=f"{type(e).__name__}: {e}", fix=fix)
        ) from None


def _user_metric(
    name: str, module_name: str, attr: str, *, metric_id: str, via: str | None = None, dist_version: str | None = None
) -> "CallableMetric":
    where = via or f"--metric {name}"
    if not module_name or not attr:
        raise ConfigError(
            explain(
                where,
                expected="module.path:callable or path/to/file.py:callable",
                got=repr(name),
                fix="Write e.g. mypkg.metrics:sharpness or metrics/sharp.py:sharpness.",
            )
        )
    module = _import_user_module(module_name, where)
    fn: Any = module
    for part in attr.split("."):
        fn = getattr(fn, part, None)
        if fn is None:
            raise ConfigError(
                explain(
                    where,
                    expected=f"a callable {attr!r} in {module_name}",
                    got="no such attribute",
                    fix=f"Define it in {getattr(module, '__file__', module_name)} or fix the name.",
                )
            )
    if not callable(fn):
        raise ConfigError(explain(where, expected=f"{attr!r} to be callable", got=type(fn).__name__, fix="Point at a function."))
    decl = parse_declaration(getattr(fn, DECLARATION_ATTR, None), f"{module_name}:{attr}" + (f" ({via})" if via else ""))
    version = code_version(decl.version, module, fn, where, dist_version=dist_version)
    return CallableMetric(
        id=metric_id,
        name=name,
        version=version,
        range=TypicalRange(decl.lo, decl.hi, not decl.lower_better, f"declared by {module_name}:{attr}"),
        fn=fn,
        declaration=decl,
    )


def code_version(declared: str | None, module: Any, fn: Any, where: str, *, dist_version: str | None = None) -> str:
    """A user metric's version, which keys its cached scores: the declared version (an
    explicit bump) plus a digest of its source, so editing the metric re-scores even when
    nobody bumped `version=`; an entry-point metric also carries its distribution's
    name-version. Undeclared: 'file-<digest>' alone.

    '1+src-3f2a...' / 'file-3f2a...' / '1+src-3f2a...+mypkg-2.0'. The digest covers the
    named module's file and the file defining the callable (when another module)."""
    digest = _source_digest(module, fn)
    if digest is None and declared is None:
        raise ConfigError(
            explain(
                where,
                expected="version=... in the declaration",
                got="no version and no module file to hash",
                fix='Add version="1" to the declaration and bump it when the scores change.',
            )
        )
    parts = [declared] if declared else [f"file-{digest}"]
    if declared and digest:
        parts.append(f"src-{digest}")
    if dist_version:
        parts.append(dist_version)
    return "+".join(parts)


def _source_digest(module: Any, fn: Any) -> str | None:
    """sha256 (12 hex digits) over the source files of `module` and of `fn`'s definition;
    None when neither has a file (a module built in memory)."""

    files = []
    for candidate in (getattr(module, "__file__", None), _defining_file(fn, inspect)):
        if candidate and Path(candidate).is_file() and Path(candidate).resolve() not in files:
            files.append(Path(candidate).resolve())
    if not files:
        return None
    if len(files) == 1:
        return hashlib.sha256(files[0].read_bytes()).hexdigest()[:12]
    h = hashlib.sha256()
    for f in files:
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()[:12]


def _defining_file(fn: Any, inspect: Any) -> str | None:
    try:
        return inspect.getsourcefile(inspect.unwrap(fn) if callable(fn) else fn)
    except (TypeError, ValueError):  # a builtin or a callable instance of a C type: no source file
        target = getattr(type(fn), "__module__", None)
        mod = sys.modules.get(target) if target else None
        return getattr(mod, "__file__", None)


@dataclass(frozen=True, eq=False)
class CallableMetric:
    """A user's function behind the Metric protocol."""

    id: str
    name: str
    version: str
    range: TypicalRange
    fn: Callable[..., Any]
    declaration: Declaration
    # Learned from out-of-memory errors, per image size; a fresh instance starts empty.
    batch_limits: BatchLimits = field(default_factory=BatchLimits, init=False, repr=False)

    def score(self, images: Sequence[Image]) -> np.ndarray:
        """One float64 per image. A batch=True callable gets same-size batches of up to
        _USER_BATCH_SIZE; one that runs out of memory (MemoryError, torch's CPU or GPU
        allocator) gets half the batch, remembered per size in `batch_limits`."""
        imgs = check_images(images, self.name)
        out = np.empty(len(imgs), dtype=np.float64)
        if self.declaration.batch:
            for group in size_groups([im.size for im in imgs]):
                size = imgs[group[0]].size
                try:
                    done = run_with_backoff(
                        group,
                        lambda idx: self._call([imgs[i].pixels for i in idx], idx),
                        batch_size=start_batch(size, _USER_BATCH_SIZE, self.batch_limits),
                        oom=OutOfMemory,
                        limits=self.batch_limits,
                        key=size,
                    )
                except OutOfMemoryAtOne as e:
                    raise self._oom_error([e.index], imgs[e.index], e.message) from None
                for idx, got in done:
                    out[idx] = as_scores(got, len(idx), self.name)
        else:
            for i, im in enumerate(imgs):
                try:
                    out[i] = as_scores(self._call(im.pixels, [i]), 1, self.name)[0]
                except OutOfMemory as e:
                    raise self._oom_error([i], im, str(e)) from None
        return out

    def _call(self, arg: Any, idx: list[int]) -> Any:
        try:
            return self.fn(arg)
        except Exception as e:  # the user's code: keep their traceback, add which metric and image
            if is_out_of_memory(e):
                raise OutOfMemory(str(e)) from None
            raise ScoreError(
                explain(
                    f"metric {self.name}: image(s) {idx}",
                    expected="a score",
                    got=f"{type(e).__name__}: {e}",
                    fix="It was raised in the metric's own code, at the line the error names (error_where in results.json): fix it there.",
                )
            ) from e

    def _oom_error(self, idx: list[int], im: Image, message: str) -> ScoreError:
        return ScoreError(
            explain(
                f"metric {self.name}: image(s) {idx} ({im.width}x{im.height})",
                expected="one image to fit in free memory",
                got=f"out of memory even alone ({message})",
                fix="Free memory (fewer pytest-xdist workers, -n 1), or audit smaller images with a smaller --long-side.",
            )
        )
