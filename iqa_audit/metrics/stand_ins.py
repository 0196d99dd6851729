"""Stand-in weight files of the right shape, and the download hooks that answer a random build with them.

What each stand-in is, and why it keeps pyiqa's own loading code running, is in
random_weights.py's docstring (`pyiqa:<metric>@random`).
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from iqa_audit.metrics.local_vlm import build_tokenizer, qwen3_5_model, qwen3_vl_processor

# ----- stand-ins of the right shape ------------------------------------------------------------


@dataclass(frozen=True)
class ClipSpec:
    """Constructor arguments of pyiqa's CLIP class for one OpenAI backbone.

    Source: the shapes of OpenAI's released checkpoints, as clip_model.build_model reads
    them back (embed_dim = text_projection width, vision layers/width from the visual
    tower, text width/heads/layers from the text transformer; context 77, vocab 49408).
    """

    embed_dim: int
    image_resolution: int
    vision_layers: Any  # int (ViT depth) or a 4-tuple (ResNet stages)
    vision_width: int
    vision_patch_size: int | None
    transformer_width: int
    transformer_heads: int
    transformer_layers: int = 12
    context_length: int = 77
    vocab_size: int = 49408


CLIP_SPECS = {
    "RN50": ClipSpec(1024, 224, (3, 4, 6, 3), 64, None, 512, 8),
    "RN101": ClipSpec(512, 224, (3, 4, 23, 3), 64, None, 512, 8),
    "ViT-B/32": ClipSpec(512, 224, 12, 768, 32, 512, 8),
    "ViT-B/16": ClipSpec(512, 224, 12, 768, 16, 512, 8),
    "ViT-L/14": ClipSpec(768, 224, 24, 1024, 14, 768, 12),
}


def clip_model(backbone: str) -> Any:
    """pyiqa's CLIP network at `backbone`'s shape with CLIP's own initialisation."""
    from pyiqa.archs.clip_model import CLIP

    s = CLIP_SPECS[backbone]
    return CLIP(
        s.embed_dim,
        s.image_resolution,
        s.vision_layers,
        s.vision_width,
        s.vision_patch_size,
        s.context_length,
        s.vocab_size,
        s.transformer_width,
        s.transformer_heads,
        s.transformer_layers,
    )


def _as_torchscript(state: dict, dst: Path) -> None:
    """Save `state` as a TorchScript archive whose state_dict() has exactly these keys.

    OpenAI's CLIP files are TorchScript archives, and pyiqa's clip_model.load reads them
    with torch.jit.load (its fallback to a plain state dict does not rewind the file).
    """
    import torch

    class Node(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    root = Node()
    for key, value in state.items():
        *path, leaf = key.split(".")
        node = root
        for part in path:
            if not hasattr(node, part):
                node.add_module(part, Node())
            node = getattr(node, part)
        node.register_buffer(leaf, value.detach().clone())
    torch.jit.save(torch.jit.script(root), str(dst))


def _clip_backbone_of(url: str) -> str:
    from pyiqa.archs.clip_model import _MODELS

    for name, u in _MODELS.items():
        if u == url:
            return name
    raise KeyError(url)


def _torchvision_model(url: str) -> Any:
    """The torchvision classifier whose registered weights live at `url`, randomly initialised."""
    import torchvision

    for name in torchvision.models.list_models(module=torchvision.models):
        for w in torchvision.models.get_model_weights(name):
            if w.url == url:
                return torchvision.models.get_model(name, weights=None, num_classes=len(w.meta["categories"]))
    raise KeyError(url)


def _rng(seed: int, label: str):

    return np.random.default_rng([seed, zlib.crc32(label.encode())])


def _savemat(dst: Path, data: dict) -> None:
    import scipy.io

    buf = io.BytesIO()
    scipy.io.savemat(buf, data)
    dst.write_bytes(buf.getvalue())


def _mvg(rng, dim: int) -> tuple[Any, Any]:
    """A mean and a well-conditioned covariance of `dim` features (NIQE-style MVG model)."""

    a = rng.normal(0, 1, (dim, dim)) / np.sqrt(dim)
    return rng.normal(0, 1, (1, dim)), a @ a.T + np.eye(dim)


# NIQE: 18 features per scale x 2 scales (pyiqa niqe_arch.compute_feature); ILNIQE: 468 raw
# features reduced by PCA to 430 (pyiqa niqe_arch.ilniqe, the IL-NIQE paper's dimensions);
# BRISQUE: 18 features x 2 scales (brisque_arch.natural_scene_statistics), 774 support
# vectors as in piq's released SVM; NRQM: three random forests over the DCT, GSM and SVD
# feature groups (nrqm_arch.nrqm), 4 linear weights; the trees here are complete binary
# trees of depth 6 splitting on the first features of each group at thresholds spread
# log-uniformly over 1e-3..1e3 (the features' scale is unknown here), so that different
# images reach different leaves.
NIQE_DIM, ILNIQE_RAW_DIM, ILNIQE_PCA_DIM, BRISQUE_DIM, BRISQUE_SV = 36, 468, 430, 36, 774
NRQM_TREES, NRQM_DEPTH = 8, 6


def _forge_niqe(dst: Path, seed: int) -> None:
    mu, cov = _mvg(_rng(seed, dst.name), NIQE_DIM)
    _savemat(dst, {"mu_prisparam": mu, "cov_prisparam": cov})


def _forge_ilniqe(dst: Path, seed: int) -> None:

    rng = _rng(seed, dst.name)
    mu, cov = _mvg(rng, ILNIQE_PCA_DIM)
    q, _ = np.linalg.qr(rng.normal(0, 1, (ILNIQE_RAW_DIM, ILNIQE_PCA_DIM)))
    model = np.empty((1, 4), dtype=object)
    model[0, 0], model[0, 1] = mu, cov
    model[0, 2], model[0, 3] = rng.normal(0, 1, (1, ILNIQE_RAW_DIM)), q
    _savemat(dst, {"templateModel": model})


def _forge_brisque(dst: Path, seed: int) -> None:
    import torch

    rng = _rng(seed, dst.name)
    sv = torch.from_numpy(rng.uniform(-1, 1, (BRISQUE_SV, BRISQUE_DIM)))
    sv_coef = torch.from_numpy(rng.normal(0, 1, BRISQUE_SV))
    torch.save((sv_coef, sv), dst)


def _tree(rng) -> dict:

    nodes = 2 ** (NRQM_DEPTH + 1) - 1
    idx = np.arange(1, nodes + 1)  # 1-based, as the MATLAB random forest stores them
    inner = idx < 2**NRQM_DEPTH
    ldau = np.where(inner, 2 * idx, 0)[:, None].repeat(NRQM_TREES, 1)
    rdau = np.where(inner, 2 * idx + 1, 0)[:, None].repeat(NRQM_TREES, 1)
    shape = (nodes, NRQM_TREES)
    return {
        "ldau": ldau.astype(np.int32),
        "rdau": rdau.astype(np.int32),
        "nodestatus": np.ones(shape),
        "nodeclass": np.zeros(shape),
        "xbestsplit": 10.0 ** rng.uniform(-3, 3, shape),
        "nodepred": rng.uniform(0, 10, shape),
        "bestvar": rng.integers(1, 4, shape).astype(np.int32),
    }


def _forge_nrqm(dst: Path, seed: int) -> None:

    rng = _rng(seed, dst.name)
    forests = np.empty((1, 3), dtype=object)
    for i in range(3):
        forests[0, i] = _tree(rng)
    _savemat(dst, {"model": {"linear": rng.normal(0.25, 0.05, (4, 1)), "rf": forests}})


def _forge_arniqa_encoder(dst: Path, seed: int) -> None:
    import torch
    import torchvision

    # ARNIQA loads 'model.'-prefixed keys into Sequential(*resnet50.children()[:-1]) (no fc).
    net = torch.nn.Sequential(*list(torchvision.models.resnet50(weights=None).children())[:-1])
    torch.save({f"model.{k}": v for k, v in net.state_dict().items()}, dst)


def _forge_arniqa_regressor(dst: Path, seed: int) -> None:
    import torch

    # ARNIQA concatenates the 2048-d ResNet-50 features of the image and its half-size copy.
    torch.jit.save(torch.jit.script(torch.nn.Linear(2 * 2048, 1)), str(dst))


def _forge_qualiclip(dst: Path, seed: int) -> None:
    import torch

    # QualiCLIP's checkpoint: the fine-tuned CLIP RN50 ('clip_model.' keys) and the
    # normalised text features of its 14 antonym prompts (qualiclip_arch.QualiCLIP.prompt_pairs).
    net = clip_model("RN50")
    state = {f"clip_model.{k}": v for k, v in net.state_dict().items()}
    feats = torch.randn(14, CLIP_SPECS["RN50"].embed_dim)
    state["prompts_features"] = feats / feats.norm(dim=-1, keepdim=True)
    torch.save(state, dst)


# URL file name -> writer of its stand-in (files not read as a network's own state dict).
STAT_FORGES: dict[str, Callable[[Path, int], None]] = {
    "niqe_modelparameters.mat": _forge_niqe,
    "ILNIQE_templateModel.mat": _forge_ilniqe,
    "brisque_svm_weights.pth": _forge_brisque,
    "NRQM_model.mat": _forge_nrqm,
    "ARNIQA.pth": _forge_arniqa_encoder,
    "QualiCLIP.pth": _forge_qualiclip,
}


def _forge_for(url: str) -> Callable[[Path, int], None] | None:
    name = os.path.basename(urlparse(url).path)
    if name in STAT_FORGES:
        return STAT_FORGES[name]
    if name.startswith("regressor_"):  # ARNIQA's per-dataset TorchScript regressors
        return _forge_arniqa_regressor
    if "download.pytorch.org/models/" in url:

        def torchvision_file(dst: Path, seed: int) -> None:
            import torch

            torch.save(_torchvision_model(url).state_dict(), dst)

        return torchvision_file
    return None


def _sane(t: Any, gen: Any) -> Any:
    """A state-dict tensor as initialised, unless the initialiser left it non-finite or huge (torch.empty)."""
    import torch

    if not torch.is_floating_point(t):
        return t.clone()
    if torch.isfinite(t).all() and (t.numel() == 0 or t.abs().max() < 1e4):
        return t.clone()
    return torch.randn(t.shape, generator=gen, dtype=torch.float32).mul_(0.02).to(t.dtype)


# ----- interception ---------------------------------------------------------------------------


class _Interceptor:
    """Answers each download of one random build; records which file came from where."""

    def __init__(self, name: str, seed: int):
        self.name, self.seed = name, seed
        self.deferred: set[str] = set()  # pyiqa checkpoints forged from the network at load time
        self.forged: list[str] = []

    def download(self, url: str, dst: str | os.PathLike, *args: Any, **kwargs: Any) -> None:
        path = Path(dst)
        path.parent.mkdir(parents=True, exist_ok=True)
        forge = _forge_for(str(url))
        if forge is not None:
            forge(path, self.seed)
            self.forged.append(path.name)
        else:
            self.deferred.add(os.path.abspath(path))

    def clip_download(self, url: str, root: str) -> str:
        target = Path(root) / os.path.basename(url)
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            _as_torchscript(clip_model(_clip_backbone_of(url)).state_dict(), target)
            self.forged.append(target.name)
        return str(target)

    def network_loader(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def load_pretrained_network(net, model_path, strict=True, weight_keys=None):
            import torch
            from pyiqa.utils import download_util

            if str(model_path).startswith(("http://", "https://")):
                model_path = download_util.load_file_from_url(model_path)
            key = os.path.abspath(model_path)
            if key in self.deferred and not os.path.isfile(key):
                gen = torch.Generator().manual_seed(self.seed ^ zlib.crc32(os.path.basename(key).encode()))
                state = {k: _sane(v, gen) for k, v in net.state_dict().items()}
                torch.save({weight_keys: state} if weight_keys else state, key)
                self.forged.append(os.path.basename(key))
            return real(net, model_path, strict, weight_keys)

        return load_pretrained_network

    def qrealign_processor(self, repo: str) -> Any:

        self.vlm_tokenizer = build_tokenizer()
        self.forged.append(f"processor:{repo}")
        return qwen3_vl_processor(self.vlm_tokenizer)

    def hf_model(self, repo: str, *args: Any, **kwargs: Any) -> Any:

        tokenizer = getattr(self, "vlm_tokenizer", None) or build_tokenizer()
        self.forged.append(f"model:{repo}")
        return qwen3_5_model(tokenizer)

    def timm_loader(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def load_pretrained(model, pretrained_cfg=None, *args: Any, **kwargs: Any):
            import timm

            cfg = dict(pretrained_cfg or getattr(model, "pretrained_cfg", None) or {})
            arch = cfg["architecture"] + (f".{cfg['tag']}" if cfg.get("tag") else "")
            cfg["state_dict"] = timm.create_model(arch, pretrained=False).state_dict()  # the checkpoint's own shape
            self.forged.append(f"timm:{arch}")
            return real(model, cfg, *args, **kwargs)

        return load_pretrained


@contextmanager
def random_downloads(name: str, seed: int) -> Iterator[_Interceptor]:
    """Within the block, every pyiqa/torch.hub/CLIP/timm download is answered by a stand-in.

    Caller holds pyiqa_loading's patch lock (the patches are process-wide). torch.hub's folder and
    pyiqa's cache point at a temporary folder, deleted on exit; Hugging Face is offline.
    """

    import pyiqa.archs.arch_util as arch_util
    import pyiqa.archs.clip_model as clip
    import pyiqa.utils.download_util as dl
    import timm.models._builder as timm_builder
    import torch.hub
    from huggingface_hub import constants

    hook = _Interceptor(name, seed)
    with tempfile.TemporaryDirectory(prefix="iqa-audit-random-") as tmp:
        hub_dir = str(Path(tmp) / "hub")
        cache = os.path.join(hub_dir, "pyiqa")
        patches: list[tuple[Any, str, Any]] = [
            (dl, "DEFAULT_CACHE_DIR", cache),
            (dl, "download_url_to_file", hook.download),
            (torch.hub, "download_url_to_file", hook.download),
            (torch.hub, "_hub_dir", hub_dir),
            (clip, "_download", hook.clip_download),
            (constants, "HF_HUB_OFFLINE", True),
            (timm_builder, "load_pretrained", hook.timm_loader(timm_builder.load_pretrained)),
        ]
        if "pyiqa.archs.qrealign_arch" in sys.modules:  # Q-ReAlign: processor and model from the hub
            import transformers
            from pyiqa.archs.qrealign import qrealign_compat

            patches += [
                (qrealign_compat, "load_processor", hook.qrealign_processor),
                (transformers.AutoModelForImageTextToText, "from_pretrained", hook.hf_model),
            ]
        real_loader = arch_util.load_pretrained_network
        forged_loader = hook.network_loader(real_loader)
        for mod_name, mod in list(sys.modules.items()):
            if not mod_name.startswith("pyiqa.") or mod is None:
                continue
            if getattr(mod, "load_pretrained_network", None) is real_loader:
                patches.append((mod, "load_pretrained_network", forged_loader))
            if mod_name.startswith("pyiqa.archs.") and isinstance(getattr(mod, "DEFAULT_CACHE_DIR", None), str):
                patches.append((mod, "DEFAULT_CACHE_DIR", cache))
        saved = [(obj, attr, getattr(obj, attr)) for obj, attr, _ in patches]
        try:
            for obj, attr, value in patches:
                setattr(obj, attr, value)
            yield hook
        finally:
            for obj, attr, value in reversed(saved):
                setattr(obj, attr, value)
