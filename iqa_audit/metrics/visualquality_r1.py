"""VisualQuality-R1 (Wu et al. 2025, arXiv:2505.14460) as a metric: `iqa_audit:visualquality-r1`.

A Qwen2.5-VL-7B fine-tuned with reinforcement learning to rank; it reasons in
`<think>` tags and answers a quality score in `<answer>` tags. This adapter follows the
authors' inference code (README of github.com/TianheWu/VisualQuality-R1, "Batch Images
Quality Rating with thinking"):
- the prompt is QUESTION_TEMPLATE.format(Question=PROMPT), one image before it, sent
  through the processor's chat template with add_generation_prompt and add_vision_id;
- the answer is decoded with skip_special_tokens and no clean-up of spaces;
- the score is the first number in the *last* `<answer>...</answer>`.
Two deliberate differences, both so that a score is reproducible and never invented:
- greedy decoding (the authors sample with top_k=50, top_p=1), so one image always gets
  one score; sampling would make every cached score a draw;
- an answer without an `<answer>` tag, without a number in it, or with a number outside
  1-5 is a ScoreError naming the image and quoting the raw answer. The authors' code falls
  back to the whole text, and on any failure to `random.randint(1, 5)`: a made-up score.

Weights: the Hugging Face repository TianheWu/VisualQuality-R1-7B, read from the local
cache only (`hf download TianheWu/VisualQuality-R1-7B` where there is network). transformers
and torch are imported when the metric is created, not when this module is.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from iqa_audit.core.errors import explain
from iqa_audit.core.images import Image
from iqa_audit.core.keys import code_digest
from iqa_audit.metrics.base import MetricUnavailable, ScoreError, TypicalRange, check_images
from iqa_audit.metrics.normalise import TABLE2

MODEL_ID = "TianheWu/VisualQuality-R1-7B"
METRIC_ID = "visualquality-r1"

# The authors' prompt and question template, verbatim (README, batch rating with thinking).
PROMPT = (
    "You are doing the image quality assessment task. Here is the question: "
    "What is your overall rating on the quality of this picture? The rating should be a float between 1 and 5, "
    "rounded to two decimal places, with 1 representing very poor quality and 5 representing excellent quality."
)
QUESTION_TEMPLATE = (
    "{Question} First output the thinking process in <think> </think> tags and then output the final "
    "answer with only one score in <answer> </answer> tags."
)
QUESTION = QUESTION_TEMPLATE.format(Question=PROMPT)
# The authors' single-image example allows 2048 new tokens for the reasoning and the answer.
MAX_NEW_TOKENS = 2048
SCORE_RANGE = (1.0, 5.0)  # the prompt's own scale; Table 2 of the study uses the same

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_NUMBER = re.compile(r"\d+(\.\d+)?")  # the authors' pattern: no sign, so '-3' reads as 3 and then fails the range


class AnswerError(ValueError):
    """The model's answer holds no usable score; the message says why."""


def parse_score(answer: str) -> float:
    """The first number of the last `<answer>...</answer>` of `answer`, in [1, 5].

    Raises AnswerError (no tag, no number in the last tag, or a number outside 1-5).
    """
    tags = _ANSWER.findall(answer)
    if not tags:
        raise AnswerError("no <answer>...</answer> tag")
    number = _NUMBER.search(tags[-1])
    if number is None:
        raise AnswerError(f"no number in the last <answer> tag ({tags[-1].strip()!r})")
    score = float(number.group())
    lo, hi = SCORE_RANGE
    if not lo <= score <= hi:
        raise AnswerError(f"score {score:g} outside the prompt's range {lo:g}-{hi:g}")
    return score


def messages() -> list[dict[str, Any]]:
    """The chat the authors send for one image: the image, then the question."""
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]


@dataclass(frozen=True, eq=False)
class VisualQualityR1:
    """VisualQuality-R1 behind the Metric protocol: one greedy generation per image.

    `model` is a Qwen2_5_VLForConditionalGeneration, `processor` its Qwen2.5-VL processor
    (chat template, tokenizer, image processor). Scores are floats in [1, 5], higher = better.
    """

    id: str
    name: str
    version: str
    range: TypicalRange
    model: Any
    processor: Any
    device: str
    max_new_tokens: int = MAX_NEW_TOKENS

    def score(self, images: Sequence[Image]) -> np.ndarray:
        imgs = check_images(images, self.name)
        out = np.empty(len(imgs), dtype=np.float64)
        for i, im in enumerate(imgs):
            answer = self.answer(im)
            try:
                out[i] = parse_score(answer)
            except AnswerError as e:
                raise ScoreError(
                    explain(
                        f"metric {self.name}: image [{i}] ({im.width}x{im.height}, sha256 {im.digest()[:12]})",
                        expected=f"a final answer '<answer>N</answer>' with N in {SCORE_RANGE[0]:g}-{SCORE_RANGE[1]:g}",
                        got=f"{e}; the raw answer was {answer!r}",
                        fix="No score is made up for it: check the model files (a truncated answer may need a larger max_new_tokens).",
                    )
                ) from None
        return out

    def answer(self, image: Image) -> str:
        """The model's decoded reply for one image (greedy, up to max_new_tokens new tokens)."""
        import torch

        text = self.processor.apply_chat_template(messages(), tokenize=False, add_generation_prompt=True, add_vision_id=True)
        inputs = self.processor(text=[text], images=[image.to_pil()], padding=True, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            generated = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False, use_cache=True)
        new_tokens = generated[:, inputs["input_ids"].shape[1] :]
        return self.processor.batch_decode(new_tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False)[0]


def adapter_digest() -> str:
    """sha256 (12 hex) of this module (keys.code_digest): a change of prompt or parsing is a new metric version."""

    return code_digest(sys.modules[__name__])[:12]


def from_parts(
    model: Any,
    processor: Any,
    *,
    device: str = "cpu",
    name: str = f"iqa_audit:{METRIC_ID}",
    weights_tag: str,
    max_new_tokens: int = MAX_NEW_TOKENS,
) -> VisualQualityR1:
    """The metric around an already built model and processor; `weights_tag` names the weights in the version."""

    processor.tokenizer.padding_side = "left"  # as the authors set it (generation appends on the right)
    return VisualQualityR1(
        id=METRIC_ID,
        name=name,
        version=f"vqr1-{weights_tag}+{adapter_digest()}",
        range=TABLE2[METRIC_ID],
        model=model.eval(),
        processor=processor,
        device=device,
        max_new_tokens=max_new_tokens,
    )


def create_visualquality_r1(name: str, *, device: str = "cpu") -> VisualQualityR1:
    """Load TianheWu/VisualQuality-R1-7B from the local Hugging Face cache (bfloat16 on a GPU, float32 on the CPU).

    Raises MetricUnavailable, with the download command, when the files are not cached.
    """
    try:
        import torch
        from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration
    except ImportError as e:
        raise MetricUnavailable(
            explain(f"metric {name}", expected="torch and transformers", got=str(e), fix="pip install 'transformers>=4.49' torch")
        ) from None
    try:
        processor = AutoProcessor.from_pretrained(MODEL_ID, local_files_only=True)
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(
            MODEL_ID, dtype=torch.bfloat16 if device.startswith("cuda") else torch.float32, local_files_only=True
        ).to(device)
    except OSError as e:
        raise MetricUnavailable(
            explain(
                f"metric {name}",
                expected=f"the files of {MODEL_ID} in the Hugging Face cache",
                got=f"{type(e).__name__}: {str(e).splitlines()[0][:200]}",
                fix=f"On a machine with network run `hf download {MODEL_ID}` (about 16 GB) and point HF_HOME at that cache.",
            )
        ) from None
    commit = getattr(model.config, "_commit_hash", None) or "local"
    return from_parts(model, processor, device=device, name=name, weights_tag=str(commit)[:12])


# Built-in VLM metrics: name after 'iqa_audit:' -> factory(name, device=...).
VLM_FACTORIES = {METRIC_ID: create_visualquality_r1}
