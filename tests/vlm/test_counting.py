"""BlobCounter on constructed tables with a known number of fruits; VLM answer parsing.

The images imitate the add-apples / add-fruits tasks: a low-saturation wood table with
grain, saturated discs for fruits (apple red (200, 25, 30), radius 3.5 % of the short
side, some with a brown stem), saved losslessly, as JPEG quality 75, or with Gaussian
noise of sigma 5.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage

from iqa_audit.core.decode import decode_image
from iqa_audit.core.errors import BadImageError, ConfigError, EditorError
from iqa_audit.core.images import Image
from iqa_audit.vlm.counting import BlobCounter, ObjectCounter, VLMCounter, parse_count

HEIGHT, WIDTH = 256, 448
RADIUS = 0.035 * HEIGHT
APPLE = (200, 25, 30)
FRUITS = {
    "apple": APPLE,
    "orange": (250, 140, 10),
    "lemon": (245, 225, 50),
    "lime": (110, 200, 50),
    "plum": (110, 40, 110),
    "blueberry": (50, 60, 140),
}


def wood_table(height: int = HEIGHT, width: int = WIDTH, seed: int = 0) -> np.ndarray:
    """Brown/beige wood with dark grain lines: low saturation, strong lightness texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    warp = 6 * np.sin(x / 37.0 + rng.uniform(0, 6)) + 3 * np.sin(x / 11.0)
    grain = 0.5 + 0.5 * np.sin((y + warp) / 3.1) * np.sin((y + warp) / 17.0)
    light, dark = (np.array([176, 132, 92], np.float32), np.array([120, 84, 55], np.float32))
    return light + (dark - light) * grain[..., None] + rng.normal(0, 3, (height, width, 1))


def draw_discs(table: np.ndarray, centres, colours, radius: float = RADIUS, stems: bool = False) -> np.ndarray:
    img = table.copy()
    y, x = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    for (cx, cy), colour in zip(centres, colours):
        inside = (x - cx) ** 2 + (y - cy) ** 2 <= radius * radius
        # Mild shading, like a lit fruit: lighter towards the top-left.
        shade = 1.0 + 0.12 * ((cx - x) + (cy - y)) / radius
        img[inside] = np.clip(np.array(colour, np.float32)[None, :] * shade[inside][:, None], 0, 255)
        if stems:
            stem = (np.abs(x - cx) <= 1) & (y >= cy - radius - 3) & (y <= cy - radius + 2)
            img[stem] = (90, 60, 30)
    return img


def random_centres(n: int, seed: int, radius: float = RADIUS, height: int = HEIGHT, width: int = WIDTH):
    """n disc centres, fully inside the image and at least 3 px apart from each other."""
    rng = np.random.default_rng(seed)
    centres: list[tuple[float, float]] = []
    for _ in range(10_000):
        if len(centres) == n:
            break
        c = (rng.uniform(radius + 2, width - radius - 2), rng.uniform(radius + 2, height - radius - 2))
        if all(np.hypot(c[0] - d[0], c[1] - d[1]) > 2 * radius + 3 for d in centres):
            centres.append(c)
    assert len(centres) == n, "test setup: could not place the discs"
    return centres


def as_png(array: np.ndarray) -> Image:
    return Image.from_array(np.clip(np.round(array), 0, 255).astype(np.uint8))


def as_jpeg(array: np.ndarray, quality: int = 75) -> Image:
    buf = io.BytesIO()
    PILImage.fromarray(np.clip(np.round(array), 0, 255).astype(np.uint8)).save(buf, format="JPEG", quality=quality)
    return decode_image(buf.getvalue())


def with_noise(array: np.ndarray, sigma: float = 5.0, seed: int = 1) -> Image:
    return as_png(array + np.random.default_rng(seed).normal(0, sigma, array.shape))


VARIANTS = {"png": as_png, "jpeg75": as_jpeg, "noise5": with_noise}


# --------------------------------------------------------------------------------------
# BlobCounter: known counts
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("n", [0, 1, 7, 12])
def test_blob_counter_counts_apples_on_wood(n: int, variant: str) -> None:
    table = draw_discs(wood_table(seed=n), random_centres(n, seed=n), [APPLE] * n, stems=True)
    assert BlobCounter().count(VARIANTS[variant](table)) == n


@settings(max_examples=12, deadline=None)
@given(n=st.integers(0, 10), seed=st.integers(0, 2**16))
def test_blob_counter_counts_random_non_overlapping_discs(n: int, seed: int) -> None:
    colours = [list(FRUITS.values())[i % len(FRUITS)] for i in range(n)]
    table = draw_discs(wood_table(seed=seed), random_centres(n, seed=seed), colours)
    assert BlobCounter().count(as_png(table)) == n


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_blob_counter_counts_every_fruit_hue(variant: str) -> None:
    # 30 fruits of six hues, the add-100-fruits task a third of the way in.
    colours = [list(FRUITS.values())[i % len(FRUITS)] for i in range(30)]
    table = draw_discs(wood_table(seed=3), random_centres(30, seed=3), colours)
    assert BlobCounter().count(VARIANTS[variant](table)) == 30


@pytest.mark.parametrize("variant", ["png", "jpeg75"])
def test_touching_fruits_of_different_hue_are_two_objects(variant: str) -> None:
    # An apple touching an orange, and a lime touching a blueberry.
    centres = [(100, 100), (100 + 2 * RADIUS, 100), (300, 150), (300, 150 + 2 * RADIUS)]
    colours = [FRUITS["apple"], FRUITS["orange"], FRUITS["lime"], FRUITS["blueberry"]]
    table = draw_discs(wood_table(), centres, colours)
    assert BlobCounter().count(VARIANTS[variant](table)) == 4


@pytest.mark.parametrize("variant", ["png", "jpeg75"])
def test_overlapping_apples_of_one_hue_are_two_objects(variant: str) -> None:
    # Centres 1.8 radii apart: the discs overlap, one connected red region, two peaks.
    table = draw_discs(wood_table(), [(150, 120), (150 + 1.8 * RADIUS, 120)], [APPLE, APPLE])
    assert BlobCounter().count(VARIANTS[variant](table)) == 2


def test_wood_grain_and_noise_alone_are_no_objects() -> None:
    table = wood_table(seed=7)
    # Stronger grain than usual: dark streaks far from the mean lightness.
    y = np.arange(HEIGHT, dtype=np.float32)[:, None, None]
    table = table - 40 * (np.sin(y / 2.3) > 0.95)
    counter = BlobCounter()
    assert counter.count(as_png(table)) == 0
    assert counter.count(with_noise(table, sigma=5)) == 0
    assert counter.count(as_jpeg(table, quality=50)) == 0


def test_specks_below_min_area_are_not_counted() -> None:
    # Radius 1 % of the short side: 0.03 % of the image, under the 0.1 % minimum.
    specks = draw_discs(wood_table(), random_centres(5, seed=2, radius=2.6), [APPLE] * 5, radius=2.6)
    assert BlobCounter().count(as_png(specks)) == 0
    # Radius 7.4 px: 0.15 % of the image, just above the minimum.
    small = draw_discs(wood_table(), random_centres(5, seed=2, radius=7.4), [APPLE] * 5, radius=7.4)
    assert BlobCounter().count(as_png(small)) == 5


def test_counter_works_at_2k_by_downsampling() -> None:
    # Same scene at 1024x1792: counted at the working resolution, same answer.
    big = np.asarray(as_png(draw_discs(wood_table(), random_centres(7, seed=5), [APPLE] * 7)).to_pil().resize((1792, 1024)))
    assert BlobCounter().count(Image.from_array(big)) == 7


def test_blobs_report_where_the_objects_are() -> None:
    table = draw_discs(wood_table(), [(100, 80), (320, 180)], [APPLE, FRUITS["lemon"]])
    blobs = BlobCounter().blobs(as_png(table))
    assert len(blobs) == 2
    (x1, y1, a1), (x2, y2, _a2) = blobs
    assert abs(x1 - 100) < 1.5 and abs(y1 - 80) < 1.5
    assert abs(x2 - 320) < 1.5 and abs(y2 - 180) < 1.5
    assert abs(a1 - np.pi * RADIUS**2) < 0.2 * np.pi * RADIUS**2


def test_blob_counter_is_an_object_counter() -> None:
    assert isinstance(BlobCounter(), ObjectCounter)
    assert BlobCounter().id == "blob"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_area_fraction": 0.0},
        {"min_area_fraction": 1.5},
        {"colour_distance": -1},
        {"working_long_side": 8},
        {"hue_bin_degrees": 0},
    ],
)
def test_blob_counter_rejects_bad_parameters(kwargs) -> None:
    with pytest.raises(ConfigError) as info:
        BlobCounter(**kwargs)
    assert next(iter(kwargs)) in str(info.value)


def test_blob_counter_rejects_non_images() -> None:
    with pytest.raises(BadImageError, match="Image.from_array"):
        BlobCounter().count(np.zeros((10, 10, 3), np.uint8))


# --------------------------------------------------------------------------------------
# VLM answers
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("7", 7),
        ("There are 7 apples.", 7),
        ("**12**", 12),
        ("seven", 7),
        ("Seven apples are on the table.", 7),
        ("I count twenty-one fruits.", 21),
        ("twenty one", 21),
        ("One hundred.", 100),
        ("one hundred and twelve", 112),
        ("a hundred", 100),
        ("There are 1,024 grains.", 1024),
        ("None.", 0),
        ("zero", 0),
        ("There is a single apple.", 1),
        ("I see 3 apples and 2 pears", 3),
        ("Three apples, 2 of them cut", 3),
        ("Answer: 8\n", 8),
        ("7.", 7),
    ],
)
def test_parse_count_reads_the_first_number(answer: str, expected: int) -> None:
    assert parse_count(answer) == expected


def test_parse_count_reads_no_noun_as_zero_only_for_the_noun() -> None:
    assert parse_count("There are no apples on the table.", noun="apples") == 0
    with pytest.raises(EditorError):
        parse_count("No, I cannot tell.", noun="apples")


@pytest.mark.parametrize("answer", ["", "I cannot count them.", "many", "Someone ate them"])
def test_parse_count_without_a_number_is_a_clear_error(answer: str) -> None:
    with pytest.raises(EditorError) as info:
        parse_count(answer, source="vlm-test's answer")
    message = str(info.value)
    assert "vlm-test's answer" in message and "expected an answer containing a number" in message
    assert repr(answer[:200]) in message


def test_parse_count_rejects_non_text() -> None:
    with pytest.raises(EditorError, match="a text answer"):
        parse_count(None)


def test_vlm_counter_asks_with_the_noun_and_parses() -> None:
    calls = []

    def fake_ask(image, question, *, model, base_url=None):
        calls.append((image, question, model, base_url))
        return "There are 9 apples on the table."

    image = as_png(wood_table(64, 64))
    counter = VLMCounter(model="gemini-test", noun="apples", base_url="http://127.0.0.1:1", ask=fake_ask)
    assert counter.count(image) == 9
    assert calls == [(image, "How many apples are on the table? Answer with a number.", "gemini-test", "http://127.0.0.1:1")]
    assert counter.id == "vlm-gemini-test"
    assert isinstance(counter, ObjectCounter)


def test_vlm_counter_unreadable_answer_names_the_counter() -> None:
    counter = VLMCounter(model="gemini-test", noun="apples", ask=lambda *a, **k: "I'd rather not say.")
    with pytest.raises(EditorError) as info:
        counter.count(as_png(wood_table(32, 32)))
    assert "vlm-gemini-test" in str(info.value) and "How many apples" in str(info.value)


def test_vlm_counter_equality_ignores_the_ask_function() -> None:
    a = VLMCounter(model="m", ask=lambda *a, **k: "1")
    b = VLMCounter(model="m", ask=lambda *a, **k: "2")
    assert a == b
    json.dumps({"id": a.id})  # the id is what reports keep


def test_vlm_counter_end_to_end_against_the_fake_gemini_server(monkeypatch) -> None:
    # The real google-genai client, talking to tests/fake_gemini.py on 127.0.0.1.
    pytest.importorskip("google.genai")
    try:
        from tests.fake_gemini import FakeGemini
    except ImportError:  # tests/ may or may not be a package, depending on the import mode
        import sys
        from pathlib import Path

        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        fake_gemini = pytest.importorskip("fake_gemini")
        FakeGemini = fake_gemini.FakeGemini
    key = "fake-key-for-counting-tests"
    for name in ("GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_API_VERSION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", key)
    image = as_png(draw_discs(wood_table(64, 96), [(30, 30)], [APPLE], radius=6))
    script = [{"kind": "text", "text": "There are seven apples on the table."}, {"kind": "text", "text": "I can't tell."}]
    with FakeGemini(api_key=key, script=script) as fake:
        counter = VLMCounter(model="gemini-2.5-flash", noun="apples", base_url=fake.base_url)
        assert counter.count(image) == 7
        (request,) = fake.requests
        assert request.model == "gemini-2.5-flash"
        assert request.texts == ["How many apples are on the table? Answer with a number."]
        assert request.images == [image.data()]
        with pytest.raises(EditorError, match="I can't tell"):
            counter.count(image)


@pytest.mark.parametrize("variant", ["png", "jpeg75"])
def test_heavily_overlapping_fruits_of_different_hue_are_split_by_hue(variant: str) -> None:
    # Centres one radius apart: one round-ish region, too little waist for the shape
    # split; only the hue tells the apple from the lemon (and the plum from the lime).
    centres = [(120, 100), (120 + RADIUS, 100), (300, 160), (300 + RADIUS, 160)]
    colours = [FRUITS["apple"], FRUITS["lemon"], FRUITS["plum"], FRUITS["lime"]]
    table = draw_discs(wood_table(), centres, colours)
    assert BlobCounter().count(VARIANTS[variant](table)) == 4


# --------------------------------------------------------------------------------------
# BlobCounter: what the failure simulators do to apples must not change the count
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("run", [0, 1, 2])
@pytest.mark.parametrize("editor", ["sim-scatter", "sim-wrinkles"])
def test_scatter_points_and_wrinkles_do_not_change_the_apple_count(editor: str, run: int) -> None:
    """The failure simulators' artifacts on 10 apples, 10 steps at 384 px: still 10.

    sim-scatter puts grey specks on the apples' rims and insides: an opening grew a
    speck near the rim into a channel (one apple became a crescent with two peaks), and
    the arbitrary hue angle of grey pixels passed for a second object's hue (one apple
    split in two, or two merged). sim-wrinkles ripples the outlines by up to 40 % of an
    apple's radius, raising distance-transform peaks in the lobes. Before the counter
    handled them, runs 0 and 1 of sim-scatter and run 0 of sim-wrinkles miscounted.
    """
    from iqa_audit.editors import create_editor
    from iqa_audit.seeds import get_seed
    from iqa_audit.tasks.table import get_task

    task, simulator = get_task("add-apples"), create_editor(editor)
    image = task.prepare_seed(get_seed("empty-table").render(384))
    for step in range(1, 11):
        image = simulator.edit(image, task.prompt(step), seed=run, step=step).image
    assert BlobCounter().count(image) == 10


@pytest.mark.parametrize("variant", ["png", "jpeg75"])
def test_overlapping_apples_among_single_apples_are_still_two(variant: str) -> None:
    # With a typical apple size known, a pair is told from one apple by its area
    # (1.6-2 apples): the wrinkle and speck rules must not merge real pairs.
    singles = [(60, 60), (160, 60), (260, 60), (360, 60)]
    pair = [(150, 170), (150 + 1.5 * RADIUS, 170)]
    table = draw_discs(wood_table(seed=7), singles + pair, [APPLE] * 6)
    assert BlobCounter().count(VARIANTS[variant](table)) == 6
