"""A tiny Qwen2.5-VL built entirely here: tokenizer, processor and random-config model.

Used by the VisualQuality-R1 tests and by the Qwen-Image-Edit pipeline test. Nothing is
downloaded: the byte-level BPE tokenizer is trained on a few lines with `tokenizers`, the
processor is transformers' Qwen2.5-VL processor around it with Qwen2-VL's chat template, and
the model is Qwen2_5_VLForConditionalGeneration at a few thousand parameters.

`program_reply` turns the random model into one that greedily writes a chosen reply: with
every attention and MLP output projection zeroed, the last hidden state is the embedding of
the current token, so the output head alone decides the next token (a bigram table).
"""

from __future__ import annotations

from typing import Any

from iqa_audit.metrics.local_vlm import QWEN_VL_CHAT_TEMPLATE as QWEN2_VL_CHAT_TEMPLATE
from iqa_audit.metrics.local_vlm import SPECIAL_TOKENS as SPECIAL
from iqa_audit.metrics.local_vlm import build_tokenizer

__all__ = ["QWEN2_VL_CHAT_TEMPLATE", "SPECIAL", "build_tokenizer", "build_processor", "build_model", "program_reply"]


def build_processor(tokenizer: Any, *, max_pixels: int = 28 * 28 * 16) -> Any:
    """transformers' Qwen2.5-VL processor around `tokenizer`; images scaled to at most 16 merged patches."""
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    image_processor = Qwen2VLImageProcessor(min_pixels=28 * 28 * 4, max_pixels=max_pixels)
    return Qwen2_5_VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=QWEN2_VL_CHAT_TEMPLATE,
    )


def build_config(tokenizer: Any, *, hidden: int = 64, layers: int = 2) -> Any:
    from transformers import Qwen2_5_VLConfig

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL}
    heads = max(1, hidden // 16)  # head_dim 16: its rotary half (8) is what mrope_section [2, 3, 3] splits
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden,
        "intermediate_size": 2 * hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": max(1, heads // 2),
        "max_position_embeddings": 4096,
        "max_window_layers": layers,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }
    vision = {
        "depth": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": 112,
        "out_hidden_size": hidden,
        "fullatt_block_indexes": [1],
    }
    return Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )


def build_model(tokenizer: Any, seed: int = 0, **config: Any) -> Any:
    """Qwen2_5_VLForConditionalGeneration at a tiny random config (float32, eval mode)."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2_5_VLForConditionalGeneration(build_config(tokenizer, **config)).eval()
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def program_reply(model: Any, tokenizer: Any, after_token: int, reply: str) -> list[int]:
    """Make greedy decoding write `reply` (then <|im_end|>) whenever the prompt ends in `after_token`.

    Returns the reply's token ids. They must all differ (a bigram table maps each token to one
    successor); an AssertionError says so otherwise.
    """
    import torch

    ids = tokenizer.encode(reply, add_special_tokens=False)
    chain = [after_token, *ids, tokenizer.convert_tokens_to_ids("<|im_end|>")]
    assert len(set(chain[:-1])) == len(chain) - 1, f"reply tokens repeat: {tokenizer.convert_ids_to_tokens(ids)}"
    lm = model.model.language_model
    with torch.no_grad():
        for layer in lm.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        emb = lm.embed_tokens.weight
        head = torch.zeros_like(model.lm_head.weight)
        for current, successor in zip(chain, chain[1:]):
            head[successor] = 10 * emb[current] / emb[current].norm()
        model.lm_head.weight.copy_(head)
    return ids
