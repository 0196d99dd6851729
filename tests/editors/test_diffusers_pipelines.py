"""FLUX.2 [dev] and Qwen-Image-Edit on diffusers' real pipelines, built from tiny random configs.

Each pipeline is assembled here from its real component classes at a few thousand
parameters (shapes after diffusers' own fast tests: tests/pipelines/flux2 and qwenimage),
with a tokenizer and processors built locally, saved with save_pretrained and loaded back
by the suite's editor through `model_id=<folder>`: the same from_pretrained path a
downloaded model takes. One real chain step then runs through the suite's chain builder on
the CPU and lands in the store. Hooks on the text encoder and the VAE show what reached
the pipeline's models.
"""

from __future__ import annotations

import numpy as np
import pytest

from iqa_audit.chains.chain import ChainSpec, build_chain
from iqa_audit.editors import create_editor
from iqa_audit.editors.base import derive_seed
from iqa_audit.editors.diffusers_editor import keep_size
from iqa_audit.store.store import Store
from tests import tiny_qwen_vl

diffusers = pytest.importorskip("diffusers", reason="the diffusers extra is not installed (pip install -e '.[diffusers]')")
torch = pytest.importorskip("torch")

SEED_IMAGE = "grid-perspective"
LONG_SIDE = 150  # the seed renders 150 px wide; keep_size rounds both sides to multiples of 16


def flux2_components():
    """Flux2Pipeline's components at diffusers' fast-test shapes, with a 4-level VAE (scale 8, as FLUX.2's)."""
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration, PixtralImageProcessor, PixtralProcessor

    tokenizer = tiny_qwen_vl.build_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": ["[IMG]", "[IMG_BREAK]", "[IMG_END]"]})
    tokenizer.chat_template = (  # Mistral's [SYSTEM_PROMPT]/[INST] layout, text parts only
        "{% for m in messages %}{% for c in m['content'] %}{% if c['type'] == 'text' %}"
        "{% if m['role'] == 'system' %}[SYSTEM_PROMPT]{{ c['text'] }}[/SYSTEM_PROMPT]{% else %}[INST]{{ c['text'] }}[/INST]{% endif %}"
        "{% endif %}{% endfor %}{% endfor %}"
    )
    processor = PixtralProcessor(
        image_processor=PixtralImageProcessor(patch_size=6),
        tokenizer=tokenizer,
        patch_size=6,
        chat_template=tokenizer.chat_template,
    )
    torch.manual_seed(0)
    transformer = diffusers.Flux2Transformer2DModel(
        patch_size=1,
        in_channels=4,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=48,
        timestep_guidance_channels=256,
        axes_dims_rope=[4, 4, 4, 4],
    )
    text = {
        "model_type": "mistral",
        "vocab_size": len(tokenizer),
        "hidden_size": 16,
        "intermediate_size": 37,
        "max_position_embeddings": 4096,
        "num_attention_heads": 4,
        "num_hidden_layers": 30,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-5,
        "rope_theta": 1e9,
        "sliding_window": None,
        "pad_token_id": tokenizer.pad_token_id,
    }
    vision = {
        "model_type": "pixtral",
        "hidden_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 4,
        "intermediate_size": 37,
        "image_size": 30,
        "patch_size": 6,
        "num_channels": 3,
    }
    torch.manual_seed(0)
    # 30 layers: the pipeline stacks hidden states 10, 20 and 30 (FLUX.2's text_encoder_out_layers).
    text_encoder = Mistral3ForConditionalGeneration(
        Mistral3Config(
            text_config=text,
            vision_config=vision,
            image_token_index=tokenizer.convert_tokens_to_ids("[IMG]"),
            vision_feature_layer=-1,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    torch.manual_seed(0)
    vae = diffusers.AutoencoderKLFlux2(
        sample_size=32,
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(4, 4, 4, 4),
        layers_per_block=1,
        latent_channels=1,
        norm_num_groups=1,
        use_quant_conv=False,
        use_post_quant_conv=False,
    )
    return {
        "scheduler": diffusers.FlowMatchEulerDiscreteScheduler(),
        "text_encoder": text_encoder,
        "tokenizer": processor,
        "transformer": transformer,
        "vae": vae,
    }


def qwen_edit_components():
    """QwenImageEditPipeline's components at diffusers' fast-test shapes, with a VAE of scale 8 (as Qwen-Image's)."""
    from transformers import Qwen2VLProcessor

    tokenizer = tiny_qwen_vl.build_tokenizer()
    vl = tiny_qwen_vl.build_processor(tokenizer)
    processor = Qwen2VLProcessor(
        image_processor=vl.image_processor,
        tokenizer=tokenizer,
        video_processor=vl.video_processor,
        chat_template=tiny_qwen_vl.QWEN2_VL_CHAT_TEMPLATE,
    )
    torch.manual_seed(0)
    transformer = diffusers.QwenImageTransformer2DModel(
        patch_size=2,
        in_channels=16,
        out_channels=4,
        num_layers=2,
        attention_head_dim=16,
        num_attention_heads=3,
        joint_attention_dim=16,
        guidance_embeds=False,
        axes_dims_rope=(8, 4, 4),
    )
    torch.manual_seed(0)
    vae = diffusers.AutoencoderKLQwenImage(
        base_dim=4,
        z_dim=4,
        dim_mult=[1, 2, 4, 4],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
        latents_mean=[0.0] * 4,
        latents_std=[1.0] * 4,
    )
    text_encoder = tiny_qwen_vl.build_model(tokenizer, hidden=16)
    return {
        "transformer": transformer,
        "vae": vae,
        "scheduler": diffusers.FlowMatchEulerDiscreteScheduler(),
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "processor": processor,
    }


BUILDERS = {"flux2-dev": ("Flux2Pipeline", flux2_components), "qwen-image-edit": ("QwenImageEditPipeline", qwen_edit_components)}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def saved_pipeline(request, tmp_path_factory):
    family = request.param
    cls_name, build = BUILDERS[family]
    folder = tmp_path_factory.mktemp(f"{family}-tiny")
    getattr(diffusers, cls_name)(**build()).save_pretrained(folder)
    return family, folder


class Spy:
    """Forward hooks on the pipeline's text encoder and VAE encoder: what reached the models."""

    def __init__(self, pipe):
        self.token_ids, self.vae_inputs = [], []
        pipe.text_encoder.register_forward_pre_hook(self._text, with_kwargs=True)
        pipe.vae.encoder.register_forward_pre_hook(lambda mod, args: self.vae_inputs.append(tuple(args[0].shape)))

    def _text(self, module, args, kwargs):
        self.token_ids.append(kwargs.get("input_ids", args[0] if args else None))


def test_one_real_chain_step_through_the_editor_lands_in_the_store(saved_pipeline, tmp_path, monkeypatch):
    family, folder = saved_pipeline
    spies = []
    real_load = __import__("iqa_audit.editors.diffusers_editor", fromlist=["load_pipeline"]).load_pipeline

    def load_and_spy(request, **kw):
        pipe = real_load(request, **kw)  # the real from_pretrained of the saved folder
        pipe.set_progress_bar_config(disable=True)
        spies.append(Spy(pipe))
        return pipe

    monkeypatch.setattr("iqa_audit.editors.diffusers_editor.load_pipeline", load_and_spy)
    editor = f"{family}:model_id={folder},device=cpu,dtype=float32,num_inference_steps=1,seed_mode=per-step,base_seed=11"
    store = Store(tmp_path / "store")
    try:
        chain = build_chain(store, ChainSpec(seed=SEED_IMAGE, editor=editor, steps=1, long_side=LONG_SIDE))
        (step0, step1) = chain.ok_steps
        seed_img = store.get_image(step0.image_hash, step0.ext)
        out = store.get_image(step1.image_hash, step1.ext)
    finally:
        store.close()

    assert out.size == keep_size(*seed_img.size) and out.width % 16 == 0 and out.height % 16 == 0
    assert step1.meta["seed"] == derive_seed(11, 0, 1, "per-step")  # the per-step seed the chain asked for
    (spy,) = spies
    text = spy_decoded(spy, folder)
    assert "Produce an exact replica of the provided image" in text  # the study's replicate prompt reached the text encoder
    assert spy.vae_inputs and all(
        s[-1] % 16 == 0 and s[-2] % 16 == 0 for s in spy.vae_inputs
    )  # image and latents at its multiples
    assert not np.array_equal(out.pixels[:4, :4], np.zeros((4, 4, 3)))  # a decoded image, not an empty frame

    # The step's seed decides the image: the same (seed, step) again gives the stored image, another step another one.
    direct = create_editor(editor)
    prompt = step1.prompt
    assert np.array_equal(direct.edit(seed_img, prompt, seed=0, step=1).image.pixels, out.pixels)
    assert not np.array_equal(direct.edit(seed_img, prompt, seed=0, step=2).image.pixels, out.pixels)


def spy_decoded(spy: Spy, folder) -> str:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder / "tokenizer")
    return " ".join(tok.decode(ids[0]) for ids in spy.token_ids if ids is not None)
