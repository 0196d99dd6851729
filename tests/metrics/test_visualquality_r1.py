"""VisualQuality-R1 through the suite's adapter, on transformers' real Qwen2.5-VL at a tiny random config.

The processor (chat template, image processor, a tokenizer trained here) and the model are
built locally (tests/tiny_qwen_vl.py); `program_reply` makes the random model greedily write
a chosen reply, so the whole path runs: chat template with the authors' prompt, image
patches, generate, decode, parse.
"""

from __future__ import annotations

import numpy as np
import pytest

from iqa_audit.core.images import Image
from iqa_audit.metrics import MetricUnavailable, ScoreError, create_metric
from iqa_audit.metrics.visualquality_r1 import PROMPT, QUESTION, AnswerError, from_parts, parse_score
from tests import tiny_qwen_vl

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_qwen_vl.build_tokenizer()


@pytest.fixture(scope="module")
def processor(tokenizer):
    return tiny_qwen_vl.build_processor(tokenizer)


def photo(seed: int, width: int = 150, height: int = 100) -> Image:
    rng = np.random.default_rng(seed)
    return Image.from_array(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def prompt_ids(processor, image: Image):
    text = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}],
        tokenize=False,
        add_generation_prompt=True,
        add_vision_id=True,
    )
    return text, processor(text=[text], images=[image.to_pil()], return_tensors="pt")


def metric_replying(reply: str, tokenizer, processor, image: Image, **kw):
    model = tiny_qwen_vl.build_model(tokenizer)
    _, inputs = prompt_ids(processor, image)
    tiny_qwen_vl.program_reply(model, tokenizer, int(inputs["input_ids"][0, -1]), reply)
    return from_parts(model, processor, weights_tag="tiny-test", **kw)


def test_the_authors_prompt_reaches_the_model_with_the_image(processor):
    text, inputs = prompt_ids(processor, photo(1))
    assert "Picture 1: <|vision_start|><|image_pad|><|vision_end|>" + QUESTION in text  # add_vision_id, image first
    assert PROMPT in text and text.endswith("<|im_start|>assistant\n")
    image_token = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    grid = inputs["image_grid_thw"][0].tolist()  # (t, h, w) patches of 14 px; 2x2 merged into one token
    assert int((inputs["input_ids"] == image_token).sum()) == grid[0] * grid[1] * grid[2] // 4 > 1


def test_scores_the_last_answer_tag_end_to_end(tokenizer, processor):
    image = photo(2)
    metric = metric_replying("<think>noisy</think><answer>3.25</answer>", tokenizer, processor, image)
    assert metric.answer(image) == "<think>noisy</think><answer>3.25</answer>"
    scores = metric.score([image])
    assert scores.tolist() == [3.25] and scores.dtype == np.float64
    assert metric.id == "visualquality-r1" and metric.version.startswith("vqr1-tiny-test+")
    assert (metric.range.lo, metric.range.hi, metric.range.higher_better) == (1.0, 5.0, True)


def test_decoding_is_greedy_so_a_score_repeats(tokenizer, processor):
    image = photo(3)
    model = tiny_qwen_vl.build_model(tokenizer, seed=7)  # random weights: some arbitrary reply
    metric = from_parts(model, processor, weights_tag="tiny-test", max_new_tokens=12)
    assert metric.answer(image) == metric.answer(image)


def test_an_unparseable_answer_is_an_error_naming_the_image_and_the_raw_answer(tokenizer, processor):
    image = photo(4)
    metric = metric_replying("<answer>fair</answer>", tokenizer, processor, image)
    with pytest.raises(ScoreError) as info:
        metric.score([image])
    message = str(info.value)
    assert "image [0] (150x100, sha256 " + image.digest()[:12] in message
    assert "'<answer>fair</answer>'" in message and "no number" in message


def test_random_weights_give_an_error_not_a_made_up_score(tokenizer, processor):
    metric = from_parts(tiny_qwen_vl.build_model(tokenizer, seed=3), processor, weights_tag="tiny-test", max_new_tokens=8)
    with pytest.raises(ScoreError, match="raw answer was"):
        metric.score([photo(5)])


@pytest.mark.parametrize(
    ("answer", "score"),
    [
        ("<think>a</think><answer>4.5</answer>", 4.5),
        ("<answer>2</answer> then <answer>3.75 out of 5</answer>", 3.75),  # the last tag, its first number
        ("<answer>\n 1.00 \n</answer>", 1.0),
        ("<answer>5</answer>", 5.0),
    ],
)
def test_parse_score_takes_the_first_number_of_the_last_answer(answer, score):
    assert parse_score(answer) == score


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("The rating is 4.2", "no <answer>"),  # the authors would read 4.2 off the whole text; a tag is required here
        ("<answer>good</answer>", "no number"),
        ("<answer>7.5</answer>", "outside"),
        ("<answer>0.5</answer>", "outside"),
        ("", "no <answer>"),
    ],
)
def test_parse_score_refuses_answers_without_a_score_in_range(answer, why):
    with pytest.raises(AnswerError, match=why):
        parse_score(answer)


def test_the_registered_metric_says_how_to_fetch_its_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MetricUnavailable, match="hf download TianheWu/VisualQuality-R1-7B"):
        create_metric("iqa_audit:visualquality-r1")
