"""Loading a diffusers VAE for the vae-roundtrip editor: the supported classes, the class
read from the model's config.json, the subfolder found, and missing weights as one line
naming the model and how to fetch it. torch and diffusers are imported only here, on first use.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from iqa_audit.core.errors import ConfigError, explain
from iqa_audit.editors.diffusers_editor import EditorUnavailable

EDITOR_ID = "vae-roundtrip"
DEFAULT_MODEL = "black-forest-labs/FLUX.2-dev"
AUTO, ROOT = "auto", "none"  # subfolder=auto: vae/ else the root; subfolder=none: the root
# Repositories whose download needs `hf auth login` and an accepted licence (the
# fetch advice says so); any other gated repository fails the same way, with the Hub's words.
GATED = frozenset({"black-forest-labs/FLUX.2-dev", "black-forest-labs/FLUX.1-dev"})


@dataclass(frozen=True)
class VaeClass:
    """One diffusers VAE class the editor drives."""

    name: str  # the diffusers class, as config.json's `_class_name` spells it
    frames: bool  # a video VAE: takes (N, C, T, H, W), given one frame per image
    examples: str  # which models use it (for the docs and error messages)


VAE_CLASSES: Mapping[str, VaeClass] = MappingProxyType(
    {
        c.name: c
        for c in (
            VaeClass("AutoencoderKL", False, "SD 1.x/2.x, SDXL, FLUX.1"),
            VaeClass("AutoencoderKLFlux2", False, "FLUX.2 [dev]"),
            VaeClass("AutoencoderKLQwenImage", True, "Qwen-Image, Qwen-Image-Edit"),
        )
    }
)


@dataclass(frozen=True)
class VaeRequest:
    """What the loader is asked for (plain strings, so a stand-in loader needs no torch)."""

    model: str
    subfolder: str  # 'auto', 'none' (the root) or a folder name
    dtype: str
    device: str


@dataclass
class LoadedVae:
    """A loaded VAE and what the editor needs to know about it."""

    vae: Any  # the diffusers model, in eval mode, on its device
    class_name: str
    subfolder: str  # the folder it was loaded from: '' for the root
    multiple: int  # pixels per latent along each side
    frames: bool


VaeLoader = Callable[[VaeRequest], LoadedVae]


_CACHE_LOCK = threading.Lock()
_LAST: dict[VaeRequest, LoadedVae] = {}  # the last VAE loaded in this process (one entry)
# Requests refused in this process, with their error: every chain of the run asks again, and
# an offline miss costs the Hub client's retries each time (measured: 13 seeds, 77 s).
_REFUSED: dict[VaeRequest, ConfigError] = {}


def load_vae(request: VaeRequest) -> LoadedVae:
    """The VAE of `request` from a local folder or the Hugging Face cache, or a one-line error:
    EditorUnavailable (torch, diffusers or the weights missing), ConfigError (the folder holds
    no supported VAE). The last VAE loaded is kept for the next editor that asks for it, and
    a refusal is given again at once for the rest of the process (a new run tries again)."""
    with _CACHE_LOCK:
        if request in _LAST:
            return _LAST[request]
        refused = _REFUSED.get(request)
    if refused is not None:
        raise type(refused)(str(refused)) from None
    try:
        return _load(request)
    except ConfigError as e:  # EditorUnavailable included
        with _CACHE_LOCK:
            _REFUSED[request] = e
        raise


def _load(request: VaeRequest) -> LoadedVae:
    torch, diffusers = _imports(request)
    if request.device.startswith("cuda") and not torch.cuda.is_available():
        raise EditorUnavailable(
            explain(
                f"device {request.device!r}",
                expected="a CUDA GPU",
                got="torch.cuda.is_available() == False",
                fix="Pass device=cpu (the default).",
            )
        )
    subfolder, config = _find_config(diffusers, request)
    class_name = str(config.get("_class_name", ""))
    kind = VAE_CLASSES.get(class_name)
    where = f"{request.model}" + (f" (subfolder {subfolder})" if subfolder else "")
    if kind is None:
        raise ConfigError(
            explain(
                f"{EDITOR_ID} model {where}",
                expected="a VAE of class " + ", ".join(f"{c.name} ({c.examples})" for c in VAE_CLASSES.values()),
                got=repr(class_name or "no _class_name in config.json"),
                fix="Point model= and subfolder= at the VAE (in a pipeline repository usually subfolder=vae).",
            )
        )
    cls = getattr(diffusers, class_name, None)
    if cls is None:
        raise EditorUnavailable(
            explain(
                f"diffusers {getattr(diffusers, '__version__', '?')}",
                expected=f"a {class_name} class (needed by {where})",
                got="no such class (diffusers too old)",
                fix="Run `pip install -U diffusers` (0.42 or newer).",
            )
        )
    try:
        vae = cls.from_pretrained(request.model, subfolder=subfolder or None, torch_dtype=getattr(torch, request.dtype))
    except Exception as e:  # noqa: BLE001 - a config without weights, a truncated file...
        raise _unavailable(request, subfolder, e) from None
    vae = vae.to(request.device).eval()
    multiple = int(getattr(vae, "spatial_compression_ratio", 0) or 2 ** (len(vae.config.block_out_channels) - 1))
    loaded = LoadedVae(vae, class_name, subfolder, multiple, kind.frames)
    with _CACHE_LOCK:
        _LAST.clear()
        _LAST[request] = loaded
    return loaded


def _imports(request: VaeRequest) -> tuple[Any, Any]:
    try:
        import torch
    except ImportError:
        raise EditorUnavailable(
            explain(
                "torch", expected="the package to be installed", got="ImportError", fix="Run `pip install torch` (CPU is enough)."
            )
        ) from None
    try:
        import diffusers
    except ImportError:
        raise EditorUnavailable(
            explain(
                f"diffusers (needed by {EDITOR_ID} for {request.model})",
                expected="the package to be installed",
                got="ImportError",
                fix="Run `pip install diffusers`.",
            )
        ) from None
    return torch, diffusers


def _find_config(diffusers: Any, request: VaeRequest) -> tuple[str, dict[str, Any]]:
    """(subfolder, config.json) of the VAE: '' is the root. `auto` tries vae/ then the root."""
    tries = ["vae", ""] if request.subfolder == AUTO else ["" if request.subfolder == ROOT else request.subfolder]
    local = os.path.isdir(request.model)
    if local and request.subfolder not in (AUTO, ROOT) and not os.path.isdir(os.path.join(request.model, request.subfolder)):
        raise _bad_subfolder(request)
    first: Exception | None = None
    for sub in tries:
        if local and not os.path.isfile(os.path.join(request.model, sub, "config.json")):
            continue
        try:
            # Any ModelMixin class reads any config.json: the class is what the file says.
            return sub, dict(diffusers.AutoencoderKL.load_config(request.model, subfolder=sub or None))
        except Exception as e:  # noqa: BLE001 - offline misses come as OSError, EnvironmentError, hub errors...
            if local:  # the file is there and does not parse
                raise ConfigError(
                    explain(
                        f"{EDITOR_ID} model folder {request.model}",
                        expected=f"a readable {sub + '/' if sub else ''}config.json",
                        got=one_line(e),
                        fix="Save the VAE again with save_pretrained.",
                    )
                ) from None
            first = first or e
    if local:
        raise _bad_subfolder(request)
    raise _unavailable(request, tries[0], first)


def _bad_subfolder(request: VaeRequest) -> ConfigError:
    found = sorted(
        d.name for d in os.scandir(request.model) if d.is_dir() and os.path.isfile(os.path.join(d.path, "config.json"))
    )
    if os.path.isfile(os.path.join(request.model, "config.json")):
        found.insert(0, ROOT)
    wanted = {AUTO: "vae/config.json or config.json", ROOT: "config.json"}.get(
        request.subfolder, f"{request.subfolder}/config.json"
    )
    return ConfigError(
        explain(
            f"{EDITOR_ID} model folder {request.model}",
            expected=f"a VAE config at {wanted}",
            got="no such file",
            fix=(
                f"Pass subfolder= one of {', '.join(found)}." if found else "Point model= at a folder saved by save_pretrained."
            ),
        )
    )


def _unavailable(request: VaeRequest, subfolder: str, error: Exception | None) -> EditorUnavailable:
    cache = os.environ.get("HF_HOME") or os.environ.get("HF_HUB_CACHE") or "~/.cache/huggingface"
    offline = " (HF_HUB_OFFLINE=1)" if os.environ.get("HF_HUB_OFFLINE") == "1" else ""
    what = (
        "vae/config.json (or config.json)" if request.subfolder == AUTO else f"{subfolder + '/' if subfolder else ''}config.json"
    )
    include = f' --include "{subfolder}/*"' if subfolder else ""
    root_too = (
        f" (for a repository that holds a VAE alone: `hf download {request.model}`)"
        if request.subfolder == AUTO and request.model != DEFAULT_MODEL
        else ""
    )
    login = "run `hf auth login` and accept the model licence on its Hugging Face page, then " if request.model in GATED else ""
    return EditorUnavailable(
        explain(
            f"VAE of model {request.model}",
            expected=f"its {what} and weights in the Hugging Face cache ({cache}){offline}",
            got=one_line(error) if error else "nothing",
            fix=f"On a machine with network, {login}run `hf download {request.model}{include}`{root_too} "
            "to fetch the VAE's files only, copy the Hugging Face cache here and point HF_HOME at it; or pass model=<a local folder>.",
        )
    )


def one_line(error: BaseException) -> str:
    return f"{type(error).__name__}: " + re.sub(r"\s+", " ", str(error)).strip()[:300].rstrip(".")
