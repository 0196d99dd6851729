"""Metric names without loading anything: pyiqa's list from its config file, did-you-mean.

Validating `--metric pyiqa:piqee` must not cost a torch import (seconds, more than a warm
run): pyiqa's `default_model_configs.py` is a plain dict that imports only `collections`,
so it is read on its own, without running `pyiqa/__init__`.
"""

from __future__ import annotations

import functools
import importlib.util
import runpy
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from iqa_audit.core.console import cli_command
from iqa_audit.core.errors import ConfigError, close_names, explain

# Networks pyiqa files under NR that do not score one image (FID, inception score compare
# image sets; CLIPScore needs a caption): not offered as metrics. The same set as
# pyiqa_adapter.SET_LEVEL_TYPES, which imports it from here.
SET_LEVEL_TYPES = frozenset({"FID", "InceptionScore", "CLIPScore"})


@functools.cache
def pyiqa_configs() -> Mapping[str, Any] | None:
    """pyiqa's DEFAULT_CONFIGS (name -> metric_mode, metric_opts.type, ...), or None when
    pyiqa is not installed. From the imported module when pyiqa is loaded already."""
    loaded = sys.modules.get("pyiqa.default_model_configs")
    if loaded is not None:
        return loaded.DEFAULT_CONFIGS
    spec = importlib.util.find_spec("pyiqa")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "default_model_configs.py"
    return runpy.run_path(str(path))["DEFAULT_CONFIGS"] if path.is_file() else None


def pyiqa_nr_names() -> list[str] | None:
    """pyiqa's per-image no-reference metric names, as pyiqa.list_models(metric_mode='NR')
    lists them minus the set-level ones; None when pyiqa is not installed."""
    configs = pyiqa_configs()
    if configs is None:
        return None
    return [
        n
        for n, c in configs.items()
        if c.get("metric_mode") == "NR" and c.get("metric_opts", {}).get("type") not in SET_LEVEL_TYPES
    ]


def did_you_mean_metric(name: str, known: Sequence[str]) -> str:
    """'Did you mean pyiqa:piqe? ' (up to 5 close names), or ''. Matches on the part after
    the prefix too, so 'piqe' suggests 'pyiqa:piqe' and 'pyiqa:piqee' does as well."""
    bare: dict[str, list[str]] = {}
    for k in known:
        bare.setdefault(k.split(":", 1)[-1], []).append(k)
    close = close_names(name, known, n=5)
    for b in close_names(name.split(":", 1)[-1], bare, n=5):
        close += [k for k in bare[b] if k not in close]
    return ("Did you mean " + ", ".join(close[:5]) + "? ") if close else ""


def unknown_pyiqa(name: str, names: Sequence[str]) -> ConfigError:
    """The error for `pyiqa:<metric>` that is not a per-image no-reference pyiqa metric."""
    metric = name.split(":", 1)[1]
    configs = pyiqa_configs() or {}
    why = "a no-reference pyiqa metric"
    if metric in configs:
        why += f" ({metric} is {configs[metric]['metric_mode']}"
        why += ", scores image sets)" if configs[metric]["metric_opts"]["type"] in SET_LEVEL_TYPES else ")"
    return ConfigError(
        explain(
            f"--metric {name}",
            expected=why,
            got="no such metric",
            fix=did_you_mean_metric(name, ["pyiqa:" + n for n in names]) + f"Run `{cli_command('list')}` to see every metric.",
        )
    )
