"""A real VAE round trip as an editor: every step encodes the image with a diffusion model's
VAE and decodes it again, through Hugging Face diffusers.

Every generative editor the study ran (FLUX.2 [dev], Qwen-Image-Edit, the Gemini image
models) reads its input through a VAE encoder and writes its output through the decoder,
so a replicate chain carries at least the VAE's own loss at every step. This editor is that
loss and nothing else: no text encoder, no denoiser, no prompt. It is free, needs no GPU,
and is deterministic, so it is the cheapest chain that carries real model-made artifacts.

Each step applies the task's faithful edit (`Task.ideal_edit`, as the codecs do), centre-
crops the result to the VAE's spatial multiple, encodes it, takes the latent and decodes it:

- `mode=mean` (default): the posterior's mean (`latent_dist.mode()`), deterministic;
- `mode=sample`: a draw from the posterior with a generator seeded per step
  (`derive_seed(base_seed, run, step, 'per-step')`), so a resumed chain draws the same noise.

Spec: `vae-roundtrip:model=<HF id or local folder>[,subfolder=vae]`. Any VAE diffusers loads
with one of the classes in `VAE_CLASSES` works (SD 1.x/2.x, SDXL and FLUX.1 VAEs are
AutoencoderKL; FLUX.2's is AutoencoderKLFlux2; Qwen-Image's is AutoencoderKLQwenImage, a
video VAE given one frame). The class is read from the model's config.json (`_class_name`);
`subfolder=auto` (default) uses `vae/` when the repository has one (a pipeline repository)
and the root otherwise (a VAE-only repository); `subfolder=none` forces the root. The
default model is FLUX.2 [dev]'s VAE (gated on the Hub: a login and an accepted licence).

Sizes: a VAE maps `multiple` x `multiple` pixels to one latent, where `multiple` is the
model's `spatial_compression_ratio` when it declares one (Qwen-Image: 8) and
2**(len(block_out_channels) - 1) otherwise (SD, SDXL, FLUX.2: 8). Any other size would come
back padded, so each step centre-crops to a multiple (the extra row or column from the
bottom or right, as `sim-crop` does) and records the crop in the step's meta:
`cropped_rows`, `cropped_cols`, `crop_box` [left, top, right, bottom] in input pixels, and
the output `size` [width, height]. After step 1 the size is a multiple, so nothing more is
cropped.

Tiling: encode and decode run tile by tile (diffusers' `enable_tiling`) whenever the image
is larger than a tile, so memory stays that of one tile and a 2K seed fits in CPU memory.
`tile_px=0` keeps the VAE's own tile size (AutoencoderKL-family: its config's
`sample_size`, 512 for SD, 1024 for SDXL and FLUX.2; Qwen-Image: 256 with stride 192);
another value (a multiple of 64) sets the tile side in pixels, with the overlap diffusers
uses (a quarter of a tile). Tiles are blended across their overlap, so the tile size is part
of the output and of the chain key.

Loading: torch and diffusers are imported on the first step, the weights come from the
local Hugging Face cache (never downloaded here), and one process keeps the last VAE it
loaded, so the chains of one setting share it. A model that is not in the cache is one
`EditorUnavailable` line naming the model and the command that fetches only its VAE.

Cost per step on the CPU (tests/benchmarks/vae_cost_bench.py: the real architectures with
random weights, which cost the same arithmetic; torch on 2 threads; CPU seconds, on a
shared 2-core machine, results/vae-cost-bench-cpu.json):

  VAE (class, params)                  512 x 512              1024 x 1024
  SD 1.x/2.x (AutoencoderKL, 84 M)     70 s, 1 tile, 2.2 GB    417 s, 9 tiles of 512, 2.2 GB
  FLUX.2 [dev] (..KLFlux2, 84 M)       67 s, 1 tile, 2.1 GB    271 s, 1 tile of 1024, 5.0 GB
  Qwen-Image (..KLQwenImage, 127 M)    161 s, 9 tiles, 2.3 GB  699 s, 36 tiles of 256, 2.5 GB

Wall time is at best half the CPU time on two free cores. A 20-step chain of one seed at
1024 px is therefore 1.5-4 CPU-hours: build VAE chains on a GPU (device=cuda) or at 512 px.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from iqa_audit.core.errors import ConfigError, EditorError, explain
from iqa_audit.core.images import Image
from iqa_audit.editors.base import EditorEntry, EditResult, derive_seed
from iqa_audit.editors.vae_loading import (
    AUTO,
    DEFAULT_MODEL,
    EDITOR_ID,
    ROOT,
    LoadedVae,
    VaeLoader,
    VaeRequest,
    load_vae,
    one_line,
)
from iqa_audit.tasks.table import task_for_prompt

VERSION = "1"
MODES = ("mean", "sample")
DTYPES = ("float32", "bfloat16", "float16")
TILE_QUANTUM = 64  # tile_px must be a multiple: a quarter tile (the overlap) is then whole latents for every multiple up to 16


# ----- parameters ------------------------------------------------------------------------------


def _bad(name: str, expected: str, value: Any, example: str) -> ConfigError:
    return ConfigError(
        explain(f"{EDITOR_ID} parameter {name}", expected=expected, got=repr(value), fix=f"Write e.g. {EDITOR_ID}:{example}.")
    )


def _text(name: str, value: Any, example: str) -> str:
    if not isinstance(value, str) or not value.strip() or any(c in value for c in "\n\r"):
        raise _bad(name, "a non-empty string", value, example)
    return value.strip()


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise _bad(name, "one of " + ", ".join(choices), value, f"{name}={choices[0]}")
    return value


def _subfolder(value: Any) -> str:
    """'auto', 'none' (the root: also written `subfolder=`) or a relative folder name."""
    if value is None or value == "":
        return ROOT
    folder = _text("subfolder", value, "subfolder=vae")
    parts = folder.replace("\\", "/").strip("/").split("/")
    if os.path.isabs(folder) or any(p in ("", ".", "..") for p in parts):
        raise _bad("subfolder", "a folder inside the model repository (e.g. vae), auto or none", value, "subfolder=vae")
    return "/".join(parts)


def snap_box(width: int, height: int, multiple: int) -> tuple[int, int, int, int]:
    """The centre crop (left, top, right, bottom) of a width x height image whose sides are
    multiples of `multiple` (at least one multiple: a smaller image is refused by the caller);
    an odd remainder loses its extra row or column at the bottom or right, as `sim-crop` does."""
    new_w, new_h = width - width % multiple, height - height % multiple
    left, top = (width - new_w) // 2, (height - new_h) // 2
    return left, top, left + new_w, top + new_h


class VaeRoundTripEditor:
    """Faithful edit, then one VAE encode/decode round trip per step (real model loss, free)."""

    id = EDITOR_ID
    version = VERSION
    paid = False

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        subfolder: Any = AUTO,
        mode: str = "mean",
        base_seed: int = 0,
        device: str = "cpu",
        dtype: str = "float32",
        tile_px: int = 0,
        loader: VaeLoader | None = None,
    ):
        self.model = _text("model", model, "model=stabilityai/sd-vae-ft-mse")
        self.subfolder = _subfolder(subfolder)
        self.mode = _choice("mode", mode, MODES)
        if isinstance(base_seed, bool) or not isinstance(base_seed, int) or base_seed < 0:
            raise _bad("base_seed", "an integer >= 0", base_seed, "mode=sample,base_seed=7")
        self.base_seed = base_seed
        self.device = _text("device", device, "device=cpu")
        self.dtype = _choice("dtype", dtype, DTYPES)
        if isinstance(tile_px, bool) or not isinstance(tile_px, int) or tile_px < 0 or tile_px % TILE_QUANTUM:
            raise _bad("tile_px", f"0 (the VAE's own tile size) or a positive multiple of {TILE_QUANTUM}", tile_px, "tile_px=512")
        self.tile_px = tile_px
        self._loader = loader
        self._loaded: LoadedVae | None = None

    def params(self) -> Mapping[str, Any]:
        # Device and dtype matter: CPU and CUDA kernels, and float32 and bfloat16, give different pixels.
        return {
            "model": self.model,
            "subfolder": self.subfolder,
            "mode": self.mode,
            "base_seed": self.base_seed,
            "device": self.device,
            "dtype": self.dtype,
            "tile_px": self.tile_px,
        }

    def edit(self, image: Image, prompt: str, *, seed: int, step: int) -> EditResult:
        ideal = task_for_prompt(prompt).ideal_edit(image, step)
        loaded = self._vae()
        width, height = ideal.width, ideal.height
        m = loaded.multiple
        if width < m or height < m:
            raise ConfigError(
                explain(
                    f"{self.id} step {step} input ({width}x{height} px)",
                    expected=f"at least {m} px per side (one latent of {loaded.class_name})",
                    got=f"{width}x{height}",
                    fix="Render the seeds larger (--long-side).",
                )
            )
        left, top, right, bottom = snap_box(width, height, m)
        pixels = ideal.pixels[top:bottom, left:right]
        step_seed = derive_seed(self.base_seed, seed, step, "per-step") if self.mode == "sample" else None
        what = f"{loaded.class_name} ({self.model}) round trip at step {step}"
        try:
            out = round_trip(loaded, pixels, mode=self.mode, seed=step_seed, dtype=self.dtype, tile_px=self.tile_px)
        except (ConfigError, EditorError):
            raise
        except Exception as e:  # noqa: BLE001 - OOM, shape errors... one line, not a deep traceback
            oom = "out of memory" in str(e).lower() or isinstance(e, MemoryError)
            fix = (
                "Use a smaller tile_px or smaller seeds (--long-side)."
                if oom
                else "Check the VAE's config and the diffusers version."
            )
            raise EditorError(explain(what, expected="a decoded image", got=one_line(e), fix=fix)) from None
        meta: dict[str, Any] = {
            "vae_class": loaded.class_name,
            "subfolder": loaded.subfolder,
            "multiple": m,
            "cropped_rows": height - (bottom - top),
            "cropped_cols": width - (right - left),
            "crop_box": [left, top, right, bottom],
            "size": [right - left, bottom - top],
        }
        if step_seed is not None:
            meta["seed"] = step_seed
        return EditResult(Image(out), reasoning=None, meta=meta)

    def _vae(self) -> LoadedVae:
        if self._loaded is None:
            request = VaeRequest(self.model, self.subfolder, self.dtype, self.device)
            self._loaded = (self._loader or load_vae)(request)
        return self._loaded

    def __repr__(self) -> str:
        return "VaeRoundTripEditor(" + ", ".join(f"{k}={v!r}" for k, v in self.params().items()) + ")"


# ----- the round trip --------------------------------------------------------------------------


def round_trip(loaded: LoadedVae, pixels: np.ndarray, *, mode: str, seed: int | None, dtype: str, tile_px: int) -> np.ndarray:
    """uint8 H x W x 3 (sides multiples of loaded.multiple) -> the decoded uint8 H x W x 3.

    Pixels map to [-1, 1] and back with rounding, as diffusers' VaeImageProcessor does."""
    import torch

    vae = loaded.vae
    set_tiling(vae, tile_px, loaded.multiple)
    device = next(vae.parameters()).device
    x = torch.from_numpy(pixels.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
    x = x.to(device=device, dtype=getattr(torch, dtype))
    if loaded.frames:
        x = x[:, :, None]  # one frame
    with torch.inference_mode():
        posterior = vae.encode(x).latent_dist
        if mode == "mean":
            z = posterior.mode()
        else:
            z = posterior.sample(generator=torch.Generator(device="cpu").manual_seed(int(seed or 0)))
        y = vae.decode(z).sample
    if loaded.frames:
        y = y[:, :, 0]
    y = ((y[0].float().clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)
    return np.ascontiguousarray(y.permute(1, 2, 0).cpu().numpy())


def set_tiling(vae: Any, tile_px: int, multiple: int) -> None:
    """Tile encode and decode; `tile_px` > 0 sets the tile side (overlap: a quarter tile).

    AutoencoderKL-family models keep their tile size in `tile_sample_min_size` (pixels) and
    `tile_latent_min_size` (latents); the Qwen-Image (Wan) VAEs take it through
    `enable_tiling(tile_sample_min_height=..., ...)`. The VAE's defaults are remembered
    on first use, so tile_px=0 restores them on a VAE shared by editors."""
    defaults = vae.__dict__.setdefault("_iqa_audit_tile_defaults", _tile_settings(vae))
    for key, value in defaults.items():
        setattr(vae, key, value)
    if tile_px and hasattr(vae, "tile_sample_min_height"):
        stride = tile_px * 3 // 4
        vae.enable_tiling(
            tile_sample_min_height=tile_px,
            tile_sample_min_width=tile_px,
            tile_sample_stride_height=stride,
            tile_sample_stride_width=stride,
        )
        return
    vae.enable_tiling()
    if tile_px:
        vae.tile_sample_min_size = tile_px
        vae.tile_latent_min_size = tile_px // multiple


_TILE_ATTRS = (
    "tile_sample_min_size",
    "tile_latent_min_size",
    "tile_sample_min_height",
    "tile_sample_min_width",
    "tile_sample_stride_height",
    "tile_sample_stride_width",
)


def _tile_settings(vae: Any) -> dict[str, Any]:
    return {a: getattr(vae, a) for a in _TILE_ATTRS if hasattr(vae, a)}


# ----- table row -------------------------------------------------------------------------------


def _create(**params: Any) -> VaeRoundTripEditor:
    return VaeRoundTripEditor(**params)


EDITORS: tuple[EditorEntry, ...] = (
    EditorEntry.of(
        EDITOR_ID,
        _create,
        summary="faithful edit, then a real VAE encode/decode each step via diffusers (default FLUX.2 [dev]'s VAE); "
        "free, CPU, needs cached weights",
        model=DEFAULT_MODEL,
        subfolder=AUTO,
        mode="mean",
        base_seed=0,
        device="cpu",
        dtype="float32",
        tile_px=0,
    ),
)
