"""Vision-language model parts built here, for random-weights runs: tokenizer, processor, small model.

A Hugging Face VLM needs files besides its weights (tokenizer, chat template, processor
settings). Offline and for tests these are built locally:
- `build_tokenizer`: a byte-level BPE (`tokenizers`) trained on a few sentences, with the
  special tokens of the Qwen VL family, as a transformers fast tokenizer;
- `qwen3_vl_processor`: transformers' Qwen3-VL processor (what Q-ReAlign's Qwen3.5 uses)
  around it, with the image processor at its library defaults (16-px patches merged 2x2);
- `qwen3_5_model`: Qwen3_5ForConditionalGeneration at a small configuration that keeps
  the architecture (hybrid linear/full attention text model, vision tower, M-RoPE).
The small configuration is a stand-in: Q-ReAlign-Mini-0.8B's own config.json is on the
Hugging Face hub only, so a run with it shows that the path works, not what it costs.
"""

from __future__ import annotations

from typing import Any

# Qwen2-VL's chat template (shipped in Qwen2-VL / Qwen2.5-VL processor configs).
QWEN_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<|vision_pad|>",
)
WORD_TOKENS = ("<think>", "</think>", "<answer>", "</answer>")  # single tokens, not special: decoding keeps them
CORPUS = (
    "You are doing the image quality assessment task. Here is the question: What is your overall rating on the "
    "quality of this picture? The rating should be a float between 1 and 5, rounded to two decimal places.",
    "Produce an exact replica of the provided image, with no alterations. Describe the key features of the input image.",
    "Can you rate the quality of this picture? The quality of the image is excellent good fair poor bad.",
    "system user assistant Picture 1: You are a helpful assistant. 0123456789 . , ; : ! ?",
)


def build_tokenizer(vocab_size: int = 400, model_max_length: int = 1 << 16) -> Any:
    """A byte-level BPE tokenizer with the Qwen VL special tokens (PreTrainedTokenizerFast)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer=trainer)
    tok.add_tokens([AddedToken(w, normalized=False, special=False) for w in WORD_TOKENS])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", model_max_length=model_max_length
    )
    fast.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS[1:])})
    return fast


def qwen3_vl_processor(tokenizer: Any) -> Any:
    """transformers' Qwen3-VL processor around `tokenizer`; image processor at its defaults (16-px patches)."""
    from transformers import Qwen2VLImageProcessor
    from transformers.models.qwen3_vl.processing_qwen3_vl import Qwen3VLProcessor
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    return Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessor(patch_size=16, merge_size=2),
        tokenizer=tokenizer,
        video_processor=Qwen3VLVideoProcessor(),
        chat_template=QWEN_VL_CHAT_TEMPLATE,
    )


def qwen3_5_model(tokenizer: Any, *, hidden: int = 64) -> Any:
    """Qwen3_5ForConditionalGeneration at a small configuration (3 linear + 1 full attention layers), eval mode."""
    from transformers.models.qwen3_5 import Qwen3_5Config, Qwen3_5ForConditionalGeneration

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden,
        "intermediate_size": 2 * hidden,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "linear_num_key_heads": 2,
        "linear_num_value_heads": 4,
        "linear_key_head_dim": 16,
        "linear_value_head_dim": 16,
        "layer_types": ["linear_attention"] * 3 + ["full_attention"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }
    vision = {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "patch_size": 16, "out_hidden_size": hidden}
    config = Qwen3_5Config(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    return Qwen3_5ForConditionalGeneration(config).eval()
