"""The diffusers adapter: argument plumbing with stand-in pipelines, and the unavailable paths.

The stand-ins declare the same keyword parameters as the real pipelines' __call__ in
diffusers 0.42.1 (Flux2Pipeline, QwenImageEditPipeline, QwenImageEditPlusPipeline), so a
misspelt or unsupported keyword fails here with a TypeError, as it would on a GPU.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage

from iqa_audit.core.errors import ConfigError, EditorError
from iqa_audit.core.images import Image
from iqa_audit.editors.diffusers_editor import (
    FAMILIES,
    DiffusersEditor,
    EditorUnavailable,
    PipelineRequest,
    keep_size,
    load_pipeline,
)
from iqa_audit.editors.gemini import derive_seed


class _Output:
    def __init__(self, images):
        self.images = images


class _Recorder:
    """Records each call's keyword arguments and returns a deterministic PIL image of the asked size."""

    def __init__(self):
        self.calls: list[dict] = []

    def _answer(self, kwargs: dict) -> _Output:
        self.calls.append(kwargs)
        src = kwargs["image"]
        width, height = kwargs.get("width") or src.size[0], kwargs.get("height") or src.size[1]
        shade = int(kwargs["generator"].initial_seed() % 256)
        return _Output([PILImage.new("RGB", (width, height), (shade, 255 - shade, 7))])


class FakeFlux2(_Recorder):
    def __call__(self, image=None, prompt=None, height=None, width=None, num_inference_steps=50, sigmas=None, guidance_scale=4.0,
                 num_images_per_prompt=1, generator=None, latents=None, prompt_embeds=None, output_type="pil", return_dict=True,
                 attention_kwargs=None, callback_on_step_end=None, callback_on_step_end_tensor_inputs=("latents",),
                 max_sequence_length=512, text_encoder_out_layers=(10, 20, 30), caption_upsample_temperature=None):  # fmt: skip
        kwargs = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        return self._answer(kwargs)


class FakeQwenEdit(_Recorder):
    def __call__(self, image=None, prompt=None, negative_prompt=None, true_cfg_scale=4.0, height=None, width=None,
                 num_inference_steps=50, sigmas=None, guidance_scale=None, num_images_per_prompt=1, generator=None, latents=None,
                 prompt_embeds=None, prompt_embeds_mask=None, negative_prompt_embeds=None, negative_prompt_embeds_mask=None,
                 output_type="pil", return_dict=True, attention_kwargs=None, callback_on_step_end=None,
                 callback_on_step_end_tensor_inputs=("latents",), max_sequence_length=512):  # fmt: skip
        kwargs = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        return self._answer(kwargs)


STAND_INS = {"Flux2Pipeline": FakeFlux2, "QwenImageEditPipeline": FakeQwenEdit, "QwenImageEditPlusPipeline": FakeQwenEdit}


class Factory:
    def __init__(self):
        self.requests: list[PipelineRequest] = []
        self.pipe = None

    def __call__(self, request: PipelineRequest):
        self.requests.append(request)
        self.pipe = STAND_INS[request.pipeline_class]()
        return self.pipe


@pytest.fixture
def image() -> Image:
    rng = np.random.default_rng(3)
    return Image.from_array(rng.integers(0, 256, size=(100, 150, 3), dtype=np.uint8))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_plumbing_sends_prompt_image_seed_size_steps_and_guidance(family, image):
    factory = Factory()
    editor = DiffusersEditor(
        family,
        device="cpu",
        num_inference_steps=4,
        guidance_scale=2.5,
        base_seed=10,
        seed_mode="per-step",
        pipeline_factory=factory,
    )
    assert factory.requests == []  # nothing loads before the first edit

    result = editor.edit(image, "replicate", seed=1, step=2)
    (call,) = factory.pipe.calls
    spec = FAMILIES[family]
    assert factory.requests == [PipelineRequest(spec.pipeline_class, spec.model_id, "bfloat16", "cpu", False)]
    assert call["prompt"] == "replicate"
    assert np.array_equal(np.asarray(call["image"]), image.pixels)
    assert call["num_inference_steps"] == 4
    expected_seed = derive_seed(10, 1, 2, "per-step")
    assert call["generator"].initial_seed() == expected_seed
    assert (call["width"], call["height"]) == (144, 96)  # 150x100 rounded to multiples of 16
    if spec.guidance_arg == "true_cfg_scale":
        assert call["true_cfg_scale"] == 2.5 and call["negative_prompt"] == " "  # true CFG needs a negative prompt
        assert call["guidance_scale"] is None
    else:
        assert call["guidance_scale"] == 2.5 and "negative_prompt" not in call
    assert result.image.size == (144, 96)
    assert result.image.pixels[0, 0].tolist() == [expected_seed % 256, 255 - expected_seed % 256, 7]
    assert result.meta["seed"] == expected_seed and result.reasoning is None
    assert result.image.format == "png"


def test_pipeline_loads_once_per_editor_and_fixed_seed_repeats(image):
    factory = Factory()
    editor = DiffusersEditor("qwen-image-edit", device="cpu", pipeline_factory=factory)
    first = editor.edit(image, "p", seed=5, step=1)
    second = editor.edit(first.image, "p", seed=5, step=2)
    assert len(factory.requests) == 1
    seeds = [c["generator"].initial_seed() for c in factory.pipe.calls]
    assert seeds == [5, 5]
    assert second.image.size == first.image.size


def test_pipeline_size_policy_passes_no_size(image):
    factory = Factory()
    DiffusersEditor("flux2-dev", device="cpu", size_policy="pipeline", pipeline_factory=factory).edit(image, "p", seed=0, step=1)
    (call,) = factory.pipe.calls
    assert call["width"] is None and call["height"] is None


@settings(max_examples=60, deadline=None)
@given(w=st.integers(1, 6000), h=st.integers(1, 6000))
def test_keep_size_is_a_multiple_of_16_close_to_the_input(w, h):
    kw, kh = keep_size(w, h)
    assert kw % 16 == 0 and kh % 16 == 0 and kw >= 16 and kh >= 16
    assert abs(kw - w) <= 8 or w < 16
    assert abs(kh - h) <= 8 or h < 16


def test_pipeline_failure_is_a_clear_editor_error(image):
    class Exploding:
        def __call__(self, **kwargs):
            raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")

    editor = DiffusersEditor("flux2-dev", device="cpu", pipeline_factory=lambda request: Exploding())
    with pytest.raises(EditorError, match="cpu_offload") as info:
        editor.edit(image, "p", seed=0, step=1)
    assert "Flux2Pipeline" in str(info.value)


def test_missing_diffusers_is_editor_unavailable_with_the_install_command(image, monkeypatch):
    monkeypatch.setitem(sys.modules, "diffusers", None)  # makes `import diffusers` raise ImportError
    editor = DiffusersEditor("qwen-image-edit-plus", device="cpu")
    with pytest.raises(EditorUnavailable) as info:
        editor.edit(image, "p", seed=0, step=1)
    assert "pip install diffusers" in str(info.value)
    assert isinstance(info.value, ConfigError)


def test_weights_not_in_cache_is_editor_unavailable_naming_the_model(monkeypatch):
    calls = []

    class OfflinePipeline:
        @classmethod
        def from_pretrained(cls, model_id, **kw):
            calls.append((model_id, kw))
            raise OSError(f"We couldn't connect to 'https://huggingface.co' to load {model_id} and it is not in the cache")

    fake_diffusers = types.ModuleType("diffusers")
    fake_diffusers.Flux2Pipeline = OfflinePipeline
    fake_diffusers.__version__ = "0.42.1"
    monkeypatch.setitem(sys.modules, "diffusers", fake_diffusers)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EditorUnavailable) as info:
        load_pipeline(PipelineRequest("Flux2Pipeline", "black-forest-labs/FLUX.2-dev", "bfloat16", "cpu"), gated=True)
    message = str(info.value)
    assert "hf download black-forest-labs/FLUX.2-dev" in message
    assert "HF_HUB_OFFLINE=1" in message and "hf auth login" in message
    import torch

    assert calls == [("black-forest-labs/FLUX.2-dev", {"dtype": torch.bfloat16})]


def test_old_diffusers_without_the_class_is_unavailable(monkeypatch):
    monkeypatch.setitem(sys.modules, "diffusers", types.ModuleType("diffusers"))
    with pytest.raises(EditorUnavailable, match="pip install -U diffusers"):
        load_pipeline(PipelineRequest("QwenImageEditPlusPipeline", "Qwen/Qwen-Image-Edit-2509", "bfloat16", "cpu"))


def test_registered_names_identity_and_params():
    from iqa_audit.editors import create_editor

    for name, spec in FAMILIES.items():
        editor = create_editor(name)
        assert editor.id == name and editor.paid is False
        assert editor.params()["model_id"] == spec.model_id and editor.params()["device"] == "cuda"
        again = create_editor(name)
        assert (again.version, dict(again.params())) == (editor.version, dict(editor.params()))
    tuned = create_editor("qwen-image-edit:num_inference_steps=8,guidance_scale=1,device=cpu")
    assert tuned.params()["num_inference_steps"] == 8 and tuned.params()["guidance_scale"] == 1.0


@pytest.mark.parametrize(
    "kw", [{"dtype": "int8"}, {"size_policy": "stretch"}, {"num_inference_steps": 0}, {"guidance_scale": -1}, {"seed_mode": "x"}]
)
def test_bad_parameters_are_config_errors(kw):
    with pytest.raises(ConfigError):
        DiffusersEditor("flux2-dev", **kw)
