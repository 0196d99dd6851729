"""Which files a pyiqa metric needs and whether they are here (fetching them: fetch.py).

Weights live where pyiqa and its backbones put them, so a user points the suite at a
weight cache with `TORCH_HOME` (and `HF_HOME` for timm backbones), exactly as for pyiqa:
- pyiqa's own checkpoints: `$TORCH_HOME/hub/pyiqa/<file>` (pyiqa's load_file_from_url);
- torchvision / torch.hub backbones: `$TORCH_HOME/hub/checkpoints/<file>`;
- OpenAI CLIP backbones: `$TORCH_HOME/hub/clip/<file>` (pyiqa's bundled CLIP loader);
- timm backbones: the Hugging Face cache (`$HF_HOME/hub`, default ~/.cache/huggingface/hub).

`required_weights` predicts the files from the installed pyiqa's own URL tables
(`default_model_urls` in each arch module) and the metric's options, without
downloading or building anything. The prediction covers the study's metrics and their
variants; for any file it misses, metric creation still fails fast, because creation runs
with every download path blocked (see pyiqa_adapter), and names the file it wanted.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterable
from urllib.parse import urlparse

from iqa_audit.core.console import cli_command
from iqa_audit.core.errors import ConfigError, explain
from iqa_audit.metrics.base import MetricUnavailable
from iqa_audit.metrics.packaged_weights import provenance
from iqa_audit.store.store import file_sha256

PYIQA_PREFIX = "pyiqa:"


def fetch_command(name: str) -> str:
    return cli_command("weights", "--metric", name)


def import_pyiqa() -> ModuleType:
    """Import pyiqa with Hugging Face in offline mode unless the user said otherwise.

    timm and transformers read HF_HUB_OFFLINE when huggingface_hub is first imported;
    offline, a missing backbone fails at once instead of waiting on a network that this
    machine (or CI) does not have.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import pyiqa

    return pyiqa


def pyiqa_cache_dir() -> Path:
    """pyiqa's weight folder for the *current* TORCH_HOME.

    pyiqa computes its DEFAULT_CACHE_DIR once at import; reading torch.hub.get_dir()
    on every call keeps us right when TORCH_HOME changes later in the process (tests).
    """
    import torch.hub

    return Path(torch.hub.get_dir()) / "pyiqa"


def torch_hub_checkpoints_dir() -> Path:
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def clip_dir() -> Path:
    import torch.hub

    return Path(torch.hub.get_dir()) / "clip"


@dataclass(frozen=True)
class WeightFile:
    """One file a metric loads: where the loader looks for it and where it comes from.

    `loader` is who fetches it: 'pyiqa', 'torch.hub', 'clip' or 'huggingface'. For
    'huggingface' files `path` is the cached file when present, else the repo's cache
    folder (the exact file name inside it is only known once downloaded).
    """

    loader: str
    url: str
    path: Path
    hf_repo: str | None = None
    hf_filenames: tuple[str, ...] = ()

    def present(self) -> bool:
        if self.loader == "huggingface":
            return self.hf_cached() is not None
        return self.path.is_file() and self.path.stat().st_size > 0

    def hf_cached(self) -> Path | None:
        from huggingface_hub import try_to_load_from_cache

        for fname in self.hf_filenames:
            hit = try_to_load_from_cache(self.hf_repo, fname)
            if isinstance(hit, str):
                return Path(hit)
        return None

    def resolved(self) -> Path:
        """The file itself when present (HF: the snapshot file), else `path`."""
        if self.loader == "huggingface":
            return self.hf_cached() or self.path
        return self.path


# ----- prediction -------------------------------------------------------------------------


def pyiqa_name(name: str) -> str | None:
    """'pyiqa:musiq' -> 'musiq'; None for every other kind of name."""
    return name[len(PYIQA_PREFIX) :] if name.startswith(PYIQA_PREFIX) else None


def pyiqa_config(metric: str) -> dict[str, Any]:
    import_pyiqa()
    from pyiqa.default_model_configs import DEFAULT_CONFIGS

    if metric not in DEFAULT_CONFIGS:
        raise ConfigError(
            explain(
                f"metric pyiqa:{metric}",
                expected="a pyiqa metric name",
                got=repr(metric),
                fix=f"Run `{cli_command('list')}` to see every metric.",
            )
        )
    return DEFAULT_CONFIGS[metric]


@functools.cache
def _arch_modules() -> dict[str, str]:
    """pyiqa network type -> its arch module, read off the source files.

    pyiqa's own lazy import guesses the module from the type name and, when the guess
    fails (PI lives in nrqm_arch, ILNIQE in niqe_arch), imports *every* arch module,
    transformers included: seconds. Reading the registrations directly avoids that.
    """
    import pyiqa.archs

    folder = Path(pyiqa.archs.__file__).parent
    found: dict[str, str] = {}
    for path in sorted(folder.glob("*_arch.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        for m in re.finditer(r"@ARCH_REGISTRY\.register\(\)\s*\nclass\s+(\w+)", text):
            found.setdefault(m.group(1), f"pyiqa.archs.{path.stem}")
    return found


def arch_class(metric: str) -> type:
    """The pyiqa network class of a metric, importing only its arch module."""
    import_pyiqa()
    from pyiqa.utils.registry import ARCH_REGISTRY

    arch_type = pyiqa_config(metric)["metric_opts"]["type"]
    try:
        if arch_type not in ARCH_REGISTRY:
            module = _arch_modules().get(arch_type)
            if module is not None:
                importlib.import_module(module)
            else:
                from pyiqa.archs import _lazy_import_arch  # pyiqa's own (slow) fallback

                _lazy_import_arch(arch_type)
        return ARCH_REGISTRY.get(arch_type)
    except ImportError as e:
        raise MetricUnavailable(
            explain(
                f"metric pyiqa:{metric}",
                expected="the Python packages its network needs",
                got=f"{type(e).__name__}: {e}",
                fix=f"pip install {getattr(e, 'name', None) or 'the missing package'}",
            )
        ) from None
    except KeyError as e:
        raise MetricUnavailable(
            explain(
                f"metric pyiqa:{metric}",
                expected=f"pyiqa network {arch_type}",
                got=str(e),
                fix="Check the pyiqa installation (pip install pyiqa==0.1.16).",
            )
        ) from None


def metric_options(metric: str) -> dict[str, Any]:
    """The network's constructor arguments: its defaults overlaid with pyiqa's config."""
    cls = arch_class(metric)
    opts = {
        p.name: p.default for p in inspect.signature(cls.__init__).parameters.values() if p.default is not inspect.Parameter.empty
    }
    opts.update({k: v for k, v in pyiqa_config(metric)["metric_opts"].items() if k != "type"})
    return opts


def _urls(module_name: str) -> dict[str, str]:
    return dict(getattr(sys.modules[module_name], "default_model_urls", {}) or {})


def _url_file(url: str) -> str:
    # Same rule as pyiqa's load_file_from_url and torch.hub: the URL path's basename,
    # percent-escapes kept ('CLIP-IQA%2B_learned_prompts-603f3273.pth').
    return os.path.basename(urlparse(url).path)


def _pyiqa_file(module: str, key: str) -> WeightFile:
    url = _urls(module)[key]
    return WeightFile("pyiqa", url, pyiqa_cache_dir() / _url_file(url))


def _hub_file(module: str, key: str) -> WeightFile:
    url = _urls(module)[key]
    return WeightFile("torch.hub", url, torch_hub_checkpoints_dir() / _url_file(url))


def _torchvision_file(weights: str) -> WeightFile:
    import torchvision

    url = torchvision.models.get_weight(weights).url
    return WeightFile("torch.hub", url, torch_hub_checkpoints_dir() / _url_file(url))


def _clip_file(backbone: str) -> WeightFile:
    from pyiqa.archs.clip_model import _MODELS

    url = _MODELS[backbone]
    return WeightFile("clip", url, clip_dir() / _url_file(url))


def _timm_file(model: str) -> WeightFile:
    from huggingface_hub import constants
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(model)
    repo = cfg.hf_hub_id
    folder = Path(constants.HF_HUB_CACHE) / ("models--" + repo.replace("/", "--"))
    return WeightFile(
        "huggingface",
        f"https://huggingface.co/{repo}",
        folder,
        hf_repo=repo,
        hf_filenames=("model.safetensors", "pytorch_model.bin"),
    )


def _hf_repo(repo: str) -> WeightFile:
    from huggingface_hub import constants

    folder = Path(constants.HF_HUB_CACHE) / ("models--" + repo.replace("/", "--"))
    return WeightFile("huggingface", f"https://huggingface.co/{repo}", folder, hf_repo=repo, hf_filenames=("config.json",))


def _key(pretrained: Any, default: str) -> str | None:
    if pretrained is None or pretrained is False:
        return None
    return default if pretrained is True else str(pretrained)


_TORCHVISION_RESNET = {
    "resnet18": "ResNet18_Weights.IMAGENET1K_V1",
    "resnet34": "ResNet34_Weights.IMAGENET1K_V1",
    "resnet50": "ResNet50_Weights.IMAGENET1K_V1",
}


def _plan(arch_type: str, module: str, o: dict[str, Any]) -> list[WeightFile]:
    """Per pyiqa network type: the files its constructor loads (read off pyiqa 0.1.16's arch code)."""
    p: Callable[[str], WeightFile] = lambda key: _pyiqa_file(module, key)  # noqa: E731
    files: list[WeightFile | None]
    if arch_type in ("PIQE", "Entropy"):
        files = []
    elif arch_type == "MUSIQ":
        k = _key(o.get("pretrained"), "ava")
        files = [p(k) if k else None]
    elif arch_type == "CNNIQA":
        files = [p(o["pretrained"]) if o.get("pretrained") else None]
    elif arch_type == "DBCNN":
        k = _key(o.get("pretrained"), "koniq")
        files = [_torchvision_file("VGG16_Weights.IMAGENET1K_V1"), p("scnn"), p(k) if k else None]
    elif arch_type == "LIQE":
        k = _key(o.get("pretrained"), "koniq")
        files = [_clip_file(o["backbone"]), p(k) if k else None]
    elif arch_type == "NIMA":
        files = [
            _timm_file(o["base_model_name"]),
            p(f"{o['base_model_name']}-{o['train_dataset']}") if o.get("pretrained") else None,
        ]
    elif arch_type == "HyperNet":
        files = [_timm_file(o["base_model_name"]), p("resnet50-koniq") if o.get("pretrained") else None]
    elif arch_type == "CFANet":
        sem = str(o["semantic_model_name"])
        if "clip" in sem:
            backbone = _clip_file(sem.replace("clip_", ""))
        elif "swin" in sem:
            backbone = None  # pyiqa's own swin loader; creation names it if missing
        else:
            backbone = _timm_file(sem) if o.get("backbone_pretrain", True) else None
        files = [backbone, p(o["model_name"]) if o.get("pretrained") else None]
    elif arch_type == "MANIQA":
        files = [_timm_file("vit_base_patch8_224"), p(o["train_dataset"]) if o.get("pretrained", True) else None]
    elif arch_type == "CLIPIQA":
        mt, bb = o["model_type"], o["backbone"]
        extra = None
        if o.get("pretrained") and "clipiqa+" in mt:
            extra = p("clipiqa+") if (mt == "clipiqa+" and bb == "RN50") else p(mt)
        files = [_clip_file(bb), extra]
    elif arch_type == "QualiCLIP":
        mt = o["model_type"]
        files = [_clip_file(o["backbone"]), p("qualiclip"), p(mt) if o.get("pretrained") and "qualiclip+" in mt else None]
    elif arch_type == "WaDIQaM":
        files = [p(o["model_name"]) if o.get("pretrained") else None]
    elif arch_type == "ARNIQA":
        files = [_torchvision_file("ResNet50_Weights.IMAGENET1K_V1"), _hub_file(module, "ARNIQA"), p(o["regressor_dataset"])]
    elif arch_type == "PAQ2PIQ":
        files = [_torchvision_file(_TORCHVISION_RESNET[o["backbone"]]), p("url") if o.get("pretrained") else None]
    elif arch_type == "TReS":
        files = [_torchvision_file(_TORCHVISION_RESNET[o["network"]]), p(o["train_dataset"]) if o.get("pretrained") else None]
    elif arch_type == "NIQE":
        files = [p("url" if o.get("version", "original") == "original" else "niqe_matlab")]
    elif arch_type == "ILNIQE":
        files = [p("ilniqe")]
    elif arch_type == "BRISQUE":
        files = [p("url" if o.get("version", "original") == "original" else "brisque_matlab")]
    elif arch_type == "NRQM":
        files = [p("url")]
    elif arch_type == "PI":
        files = [_pyiqa_file("pyiqa.archs.nrqm_arch", "url"), _pyiqa_file("pyiqa.archs.niqe_arch", "url")]
    elif arch_type == "QAlign":
        files = [_hf_repo("q-future/one-align")]
    else:
        files = _guess(module, o)
    return [f for f in files if f is not None]


def _guess(module: str, o: dict[str, Any]) -> list[WeightFile | None]:
    # Networks outside the table: pyiqa files whose URL key matches one of the options
    # (model_type='afine_nr', pretrained='mix', ...). Backbones are left to creation.
    urls = _urls(module)
    keys = [v for v in o.values() if isinstance(v, str) and v in urls]
    if not keys and "url" in urls:
        keys = ["url"]
    return [_pyiqa_file(module, k) for k in dict.fromkeys(keys)]


def required_weights(name: str) -> list[WeightFile]:
    """Every weight file metric `name` loads, predicted without downloading; [] if it needs none."""
    metric = pyiqa_name(name)
    if metric is None:
        return []  # built-in and user metrics manage no weight files
    cls = arch_class(metric)
    return _plan(pyiqa_config(metric)["metric_opts"]["type"], cls.__module__, metric_options(metric))


def missing_weights(name: str) -> list[Path]:
    """Paths of the files `name` needs that are not in the caches; [] when it can load offline."""
    return [w.path for w in required_weights(name) if not w.present()]


def weight_sources(name: str) -> list[dict[str, str]]:
    """Where each weight file of metric `name` came from: [{file, source}], [] for a metric
    with none. source: the installed package it was converted from (packaged_weights), else
    "downloaded from <url>" for a present file, else "missing"."""
    out = []
    for w in required_weights(name):
        path = w.resolved()
        if not w.present():
            source = "missing"
        else:
            source = provenance(path) or f"downloaded from {w.url}"
        out.append({"file": str(path), "source": source})
    return out


def weights_digest(files: Iterable[WeightFile]) -> str:
    """sha256 over the present files' contents (sorted by path); '' when there are none."""
    paths = sorted((w.resolved() for w in files if w.present()), key=str)
    if not paths:
        return ""
    h = hashlib.sha256()
    for p in paths:
        h.update(file_sha256(p).encode())
    return h.hexdigest()


def unavailable(name: str, missing: list[WeightFile]) -> MetricUnavailable:
    listing = "; ".join(f"{w.path} (from {w.url})" for w in missing)
    return MetricUnavailable(
        explain(
            f"metric {name}",
            expected="its weight files in the local cache",
            got=f"{len(missing)} missing: {listing}",
            fix=f"Fetch them once with `{fetch_command(name)}` (or point TORCH_HOME / HF_HOME at a cache that has them).",
        )
    )
