"""Open-weight image editors through Hugging Face diffusers: FLUX.2 [dev] and Qwen-Image-Edit.

One job: run one diffusers editing pipeline call per step. diffusers and torch are imported
only when the first edit happens, so listing editors, computing chain keys or auditing a warm
cache works on a machine without them. The pipeline is loaded once per editor instance.

Registered names and the pipelines they drive (call signatures checked against diffusers
0.42.1):

  flux2-dev             Flux2Pipeline              black-forest-labs/FLUX.2-dev
  qwen-image-edit       QwenImageEditPipeline      Qwen/Qwen-Image-Edit
  qwen-image-edit-plus  QwenImageEditPlusPipeline  Qwen/Qwen-Image-Edit-2509

`guidance_scale` means each family's own guidance knob: FLUX.2 [dev] is guidance-distilled and
takes `guidance_scale`; Qwen-Image-Edit runs true classifier-free guidance, which diffusers
calls `true_cfg_scale` and only enables when a negative prompt is given, so the adapter sends
`negative_prompt=" "` (the model cards' recipe) with it.

Size policy: 'keep' asks for the input size rounded to the nearest multiple of 16 (the
latent patch size of both families: VAE factor 8 x 2x2 packing), so the aspect ratio is kept
as closely as the model allows; 'pipeline' passes no size and lets diffusers choose (about
1 megapixel at the input's aspect ratio for Qwen; FLUX.2 uses the reference image's size,
capped at 1 megapixel).

Weights are never downloaded here: with HF_HUB_OFFLINE=1, or with no network, a model that is
not in the Hugging Face cache raises `EditorUnavailable` with the command that fetches it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from iqa_audit.core.errors import ConfigError, EditorError, explain
from iqa_audit.core.images import Image
from iqa_audit.editors.base import SEED_MODES, EditorEntry, EditResult, derive_seed

ADAPTER_VERSION = "diffusers-adapter-1"
SIZE_MULTIPLE = 16
SIZE_POLICIES = ("keep", "pipeline")
DTYPES = ("bfloat16", "float16", "float32")


class EditorUnavailable(ConfigError):
    """The editor cannot run on this machine: a package or the model weights are missing.

    A ConfigError, not an EditorError: nothing is wrong with the step, the environment is not
    set up, and the fix is a command to run, not a retry.
    """


@dataclass(frozen=True)
class PipelineFamily:
    """What differs between the supported pipelines."""

    name: str  # registry name and editor id
    pipeline_class: str  # attribute of the `diffusers` package
    model_id: str  # default Hugging Face repository
    guidance_arg: str  # the keyword the pipeline's __call__ takes for guidance
    guidance_scale: float  # default from the model card
    num_inference_steps: int  # default from the model card
    negative_prompt: str | None  # sent when set: Qwen's true CFG needs one to switch on
    gated: bool = False  # needs `hf auth login` and an accepted licence


FAMILIES: Mapping[str, PipelineFamily] = MappingProxyType(
    {
        f.name: f
        for f in (
            PipelineFamily(
                "flux2-dev", "Flux2Pipeline", "black-forest-labs/FLUX.2-dev", "guidance_scale", 4.0, 50, None, gated=True
            ),
            PipelineFamily("qwen-image-edit", "QwenImageEditPipeline", "Qwen/Qwen-Image-Edit", "true_cfg_scale", 4.0, 50, " "),
            PipelineFamily(
                "qwen-image-edit-plus", "QwenImageEditPlusPipeline", "Qwen/Qwen-Image-Edit-2509", "true_cfg_scale", 4.0, 40, " "
            ),
        )
    }
)


@dataclass(frozen=True)
class PipelineRequest:
    """What a pipeline factory is asked to load (plain strings: stand-ins need no torch)."""

    pipeline_class: str
    model_id: str
    dtype: str
    device: str
    cpu_offload: bool = False


PipelineFactory = Callable[[PipelineRequest], Any]


def keep_size(width: int, height: int, multiple: int = SIZE_MULTIPLE) -> tuple[int, int]:
    """(width, height) rounded to the nearest multiple of `multiple`, at least one multiple."""
    return (max(multiple, round(width / multiple) * multiple), max(multiple, round(height / multiple) * multiple))


def _unavailable_fix(model_id: str, gated: bool) -> str:
    login = "run `hf auth login` and accept the model licence on its Hugging Face page, then " if gated else ""
    return (
        f"On a machine with network, {login}run `hf download {model_id}`, "
        "copy the Hugging Face cache here and point HF_HOME at it; or pick another editor."
    )


def load_pipeline(request: PipelineRequest, *, gated: bool = False) -> Any:
    """Load a diffusers pipeline from the local Hugging Face cache, or raise EditorUnavailable."""
    try:
        import torch
    except ImportError:
        raise EditorUnavailable(
            explain(
                "torch",
                expected="the package to be installed",
                got="ImportError",
                fix="Run `pip install torch` (see pytorch.org for the CUDA build).",
            )
        ) from None
    try:
        import diffusers
    except ImportError:
        raise EditorUnavailable(
            explain(
                f"diffusers (needed by {request.pipeline_class} for {request.model_id})",
                expected="the package to be installed",
                got="ImportError",
                fix="Run `pip install diffusers transformers accelerate`.",
            )
        ) from None
    cls = getattr(diffusers, request.pipeline_class, None)
    if cls is None:
        raise EditorUnavailable(
            explain(
                f"diffusers {getattr(diffusers, '__version__', '?')}",
                expected=f"a {request.pipeline_class} class",
                got="no such class (diffusers too old)",
                fix="Run `pip install -U diffusers` (0.42 or newer).",
            )
        )
    if request.device.startswith("cuda") and not torch.cuda.is_available():
        raise EditorUnavailable(
            explain(
                f"device {request.device!r}",
                expected="a CUDA GPU",
                got="torch.cuda.is_available() == False",
                fix="Run on a GPU machine, or pass device=cpu (very slow).",
            )
        )
    try:
        pipe = cls.from_pretrained(request.model_id, dtype=getattr(torch, request.dtype))
    except Exception as e:  # noqa: BLE001 - offline misses come as OSError, ValueError, hub errors...
        cache = os.environ.get("HF_HOME") or os.environ.get("HF_HUB_CACHE") or "~/.cache/huggingface"
        offline = " (HF_HUB_OFFLINE=1)" if os.environ.get("HF_HUB_OFFLINE") == "1" else ""
        raise EditorUnavailable(
            explain(
                f"model {request.model_id}",
                expected=f"its weights in the Hugging Face cache ({cache}){offline}",
                got=f"{type(e).__name__}: {str(e)[:300]}",
                fix=_unavailable_fix(request.model_id, gated),
            )
        ) from None
    if request.cpu_offload:
        pipe.enable_model_cpu_offload()  # FLUX.2 [dev] in bf16 (~110 GB) does not fit one 80 GB GPU
    else:
        pipe.to(request.device)
    return pipe


class DiffusersEditor:
    """Edits an image with a diffusers pipeline (free, but slow and GPU-hungry)."""

    paid = False

    def __init__(
        self,
        family: str,
        *,
        model_id: str | None = None,
        device: str = "cuda",
        dtype: str = "bfloat16",
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        size_policy: str = "keep",
        seed_mode: str = "fixed",
        base_seed: int = 0,
        cpu_offload: bool = False,
        pipeline_factory: PipelineFactory | None = None,
    ):
        if family not in FAMILIES:
            raise ConfigError(
                explain(
                    "diffusers family", expected="one of " + ", ".join(FAMILIES), got=repr(family), fix="Use a registered name."
                )
            )
        self.family = FAMILIES[family]
        self.model_id = _check_text("model_id", model_id or self.family.model_id)
        self.device = _check_text("device", device)
        self.dtype = _check_choice("dtype", dtype, DTYPES)
        self.num_inference_steps = _check_int(
            "num_inference_steps", self.family.num_inference_steps if num_inference_steps is None else num_inference_steps, low=1
        )
        self.guidance_scale = _check_float(
            "guidance_scale", self.family.guidance_scale if guidance_scale is None else guidance_scale
        )
        self.size_policy = _check_choice("size_policy", size_policy, SIZE_POLICIES)
        self.seed_mode = _check_choice("seed_mode", str(seed_mode).replace("_", "-"), SEED_MODES)
        self.base_seed = _check_int("base_seed", base_seed, low=0)
        self.cpu_offload = bool(cpu_offload)
        self._factory = pipeline_factory
        self._pipe: Any = None
        self.id = self.family.name
        self.version = ADAPTER_VERSION

    def params(self) -> Mapping[str, Any]:
        # Device matters: CUDA and CPU kernels and generators give different images for one seed.
        return {
            "model_id": self.model_id,
            "pipeline": self.family.pipeline_class,
            "device": self.device,
            "dtype": self.dtype,
            "num_inference_steps": self.num_inference_steps,
            "guidance_scale": self.guidance_scale,
            "size_policy": self.size_policy,
            "seed_mode": self.seed_mode,
            "base_seed": self.base_seed,
        }

    def edit(self, image: Image, prompt: str, *, seed: int, step: int) -> EditResult:
        pipe = self._pipeline()
        torch = _import_torch()
        step_seed = derive_seed(self.base_seed, seed, step, self.seed_mode)
        kwargs: dict[str, Any] = {
            "image": image.to_pil(),
            "prompt": prompt,
            "num_inference_steps": self.num_inference_steps,
            "generator": torch.Generator(device=self.device).manual_seed(step_seed),
            self.family.guidance_arg: self.guidance_scale,
        }
        if self.family.negative_prompt is not None:
            kwargs["negative_prompt"] = self.family.negative_prompt
        if self.size_policy == "keep":
            kwargs["width"], kwargs["height"] = keep_size(image.width, image.height)
        what = f"{self.family.pipeline_class} ({self.model_id}) at step {step}"
        try:
            output = pipe(**kwargs)
        except Exception as e:  # noqa: BLE001 - OOM, shape errors... reported, not a deep traceback
            oom = "out of memory" in str(e).lower()
            fix = (
                "Use a smaller image, size_policy=pipeline, or cpu_offload=true."
                if oom
                else "Check the pipeline's requirements (diffusers/transformers versions, input size)."
            )
            raise EditorError(
                explain(what, expected="an edited image", got=f"{type(e).__name__}: {str(e)[:300]}", fix=fix)
            ) from None
        out = _first_image(output, what)
        meta = {
            "seed": step_seed,
            "width": kwargs.get("width"),
            "height": kwargs.get("height"),
            "num_inference_steps": self.num_inference_steps,
            self.family.guidance_arg: self.guidance_scale,
        }
        return EditResult(image=out, reasoning=None, meta=meta)

    def _pipeline(self) -> Any:
        if self._pipe is None:
            request = PipelineRequest(self.family.pipeline_class, self.model_id, self.dtype, self.device, self.cpu_offload)
            if self._factory is not None:
                self._pipe = self._factory(request)
            else:
                self._pipe = load_pipeline(request, gated=self.family.gated)
        return self._pipe

    def __repr__(self) -> str:
        return f"DiffusersEditor({self.id!r}, " + ", ".join(f"{k}={v!r}" for k, v in self.params().items()) + ")"


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise EditorUnavailable(
            explain("torch", expected="the package to be installed", got="ImportError", fix="Run `pip install torch`.")
        ) from None
    return torch


def _first_image(output: Any, what: str) -> Image:
    """The first image of a pipeline output (`.images` list of PIL images or an array)."""
    images = getattr(output, "images", None)
    if images is None and isinstance(output, (tuple, list)) and output:
        images = output[0]
    try:
        first = images[0]
    except (TypeError, IndexError, KeyError):
        raise EditorError(
            explain(
                what,
                expected="an output with .images[0]",
                got=type(output).__name__,
                fix="Call the pipeline with output_type='pil'.",
            )
        ) from None
    if hasattr(first, "convert"):  # a PIL image: the conversion table (alpha over white), as for files
        return Image.from_pil(first)
    return Image.from_array(np.asarray(first))


def _check_text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(explain(name, expected="a non-empty string", got=repr(value), fix=f"Pass {name}=<value>."))
    return value.strip()


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(
            explain(name, expected="one of " + ", ".join(choices), got=repr(value), fix=f"Pass {name}=<one of them>.")
        )
    return value


def _check_int(name: str, value: Any, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(explain(name, expected=f"an integer >= {low}", got=repr(value), fix=f"Pass {name}=<integer>."))
    return value


def _check_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= float(value) <= 50:
        raise ConfigError(explain(name, expected="a number in [0, 50]", got=repr(value), fix=f"Pass {name}=<number>."))
    return float(value)


def _make_factory(family: str) -> Callable[..., DiffusersEditor]:
    def factory(**params: Any) -> DiffusersEditor:
        return DiffusersEditor(family, **params)

    factory.__name__ = f"create_{family.replace('-', '_')}"
    return factory


EDITORS: tuple[EditorEntry, ...] = tuple(
    EditorEntry.of(
        family.name,
        _make_factory(family.name),
        summary=f"{family.pipeline_class} ({family.model_id}) via diffusers; free, needs a GPU and cached weights.",
        model_id=family.model_id,
        device="cuda",
        dtype="bfloat16",
        num_inference_steps=family.num_inference_steps,
        guidance_scale=family.guidance_scale,
        size_policy="keep",
        seed_mode="fixed",
        base_seed=0,
        cpu_offload=False,
    )
    for family in FAMILIES.values()
)
