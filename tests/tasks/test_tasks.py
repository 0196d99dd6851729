"""The study's tasks: prompts, faithful edits, expected geometry and counts, object slots."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from iqa_audit.core.errors import ConfigError
from iqa_audit.core.images import Image
from iqa_audit.tasks.objects import APPLE, FRUITS, PLACEMENT_BOX, slot_center, slot_grid
from iqa_audit.tasks.table import REPLICATE_PROMPT, TASKS, get_task, task_for_prompt, task_names
from iqa_audit.tasks.transforms import monochrome

TABLE_BROWN = (176, 160, 138)  # low-saturation wood, like the empty-table seed


def asymmetric_image(width: int = 48, height: int = 32) -> Image:
    """Every pixel different, so any flip or rotation shows."""
    rng = np.random.default_rng(7)
    return Image(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def flat_table(width: int = 512, height: int = 384) -> Image:
    px = np.empty((height, width, 3), np.uint8)
    px[:] = TABLE_BROWN
    return Image(px)


def saturated_blobs(pixels: np.ndarray) -> tuple[np.ndarray, int]:
    """Connected (8-neighbour) components of clearly coloured pixels: chroma >= 80."""
    p = pixels.astype(int)
    mask = (p.max(axis=2) - p.min(axis=2)) >= 80
    return ndimage.label(mask, structure=np.ones((3, 3)))


def hue_degrees(rgb: tuple[int, int, int]) -> float:
    from colorsys import rgb_to_hsv

    return rgb_to_hsv(*(c / 255 for c in rgb))[0] * 360


# ----- catalogue and prompts ----------------------------------------------------------


def test_catalogue_names_and_versions():
    assert task_names() == [
        "replicate",
        "replicate-alt1",
        "replicate-alt2",
        "mirror",
        "rotate90",
        "monochrome",
        "colorize",
        "reconstruct",
        "add-apples",
        "add-fruits",
    ]
    for task in TASKS.values():
        assert task.name and task.summary and task.version


def test_study_prompts_word_for_word():
    assert get_task("replicate").prompt(1) == "Produce an exact replica of the provided image, with no alterations."
    assert REPLICATE_PROMPT == get_task("replicate").prompt(37)
    assert get_task("colorize").prompt(3) == "Colorize this black-and-white image."
    assert get_task("add-apples").prompt(9) == "Add one apple to the table. Keep everything else exactly the same."


def test_replicate_alternatives_differ_from_the_study_prompt():
    prompts = {get_task(n).prompt(1) for n in ("replicate", "replicate-alt1", "replicate-alt2")}
    assert len(prompts) == 3


def test_add_fruits_names_a_different_fruit_each_step():
    task = get_task("add-fruits")
    prompts = [task.prompt(k) for k in range(1, len(FRUITS) + 1)]
    assert len(set(prompts)) == len(FRUITS) >= 12
    for k, prompt in enumerate(prompts, start=1):
        assert prompt == f"Add one {FRUITS[k - 1].name} to the table. Keep everything else exactly the same."
    assert task.prompt(len(FRUITS) + 1) == prompts[0]  # cycles after the list


def test_fruit_hues_are_clearly_distinct():
    hues = [hue_degrees(f.rgb) for f in FRUITS]
    for i, a in enumerate(hues):
        for b in hues[i + 1 :]:
            assert min(abs(a - b), 360 - abs(a - b)) >= 15
    assert "apple" not in {f.name for f in FRUITS}  # the apple prompt belongs to add-apples


@pytest.mark.parametrize("name", list(TASKS))
def test_task_for_prompt_round_trip(name):
    task = get_task(name)
    for step in range(1, 30):
        assert task_for_prompt(task.prompt(step)) is task
    assert task_for_prompt("  " + task.prompt(1) + "\n") is task  # surrounding whitespace is not a new prompt


def test_unknown_prompt_and_name_errors_are_actionable():
    with pytest.raises(ConfigError, match="replicate.*add-fruits"):
        task_for_prompt("Make it prettier.")
    with pytest.raises(ConfigError, match="Add one banana"):
        task_for_prompt("Add one banana to the table. Keep everything else exactly the same.")
    with pytest.raises(ConfigError, match="'replicat'.*one of replicate, replicate-alt1"):
        get_task("replicat")


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "1"])
def test_steps_start_at_one(bad):
    task = get_task("mirror")
    with pytest.raises(ConfigError, match="step"):
        task.prompt(bad)
    with pytest.raises(ConfigError, match="step"):
        task.ideal_edit(asymmetric_image(), bad)


def test_ideal_edit_refuses_arrays():
    with pytest.raises(ConfigError, match="Image.from_array"):
        get_task("replicate").ideal_edit(np.zeros((4, 4, 3), np.uint8), 1)


# ----- faithful edits and expected geometry ----------------------------------------------


@pytest.mark.parametrize("name", ["replicate", "replicate-alt1", "replicate-alt2"])
def test_replicate_keeps_pixels_and_count(name):
    task, img = get_task(name), asymmetric_image()
    assert np.array_equal(task.ideal_edit(img, 4).pixels, img.pixels)
    assert np.array_equal(task.expected_geometry(img, 9).pixels, img.pixels)
    assert task.expected_count(3, 10) == 3 and not task.adds_objects


def test_mirror_is_horizontal_and_twice_is_the_original():
    task, img = get_task("mirror"), asymmetric_image()
    once = task.ideal_edit(img, 1)
    twice = task.ideal_edit(once, 2)
    assert np.array_equal(once.pixels, img.pixels[:, ::-1])
    assert not np.array_equal(once.pixels, img.pixels)
    assert np.array_equal(twice.pixels, img.pixels)


def test_rotate90_is_clockwise_and_four_times_is_the_original():
    task, img = get_task("rotate90"), asymmetric_image(48, 32)
    out = img
    for k in range(1, 5):
        out = task.ideal_edit(out, k)
        if k == 1:
            assert out.size == (32, 48)
            # Clockwise: the top-left pixel moves to the top-right corner.
            assert np.array_equal(out.pixels[0, -1], img.pixels[0, 0])
    assert np.array_equal(out.pixels, img.pixels)


@pytest.mark.parametrize("name", ["mirror", "rotate90", "replicate"])
def test_expected_geometry_matches_a_faithful_chain(name):
    task, img = get_task(name), asymmetric_image()
    out = img
    assert np.array_equal(task.expected_geometry(img, 0).pixels, img.pixels)
    for k in range(1, 7):
        out = task.ideal_edit(out, k)
        assert np.array_equal(task.expected_geometry(img, k).pixels, out.pixels), k


def test_colorize_starts_monochrome_and_colours_it_by_lightness():
    task, img = get_task("colorize"), asymmetric_image()
    start = task.prepare_seed(img)
    px = start.pixels
    assert np.array_equal(px[..., 0], px[..., 1]) and np.array_equal(px[..., 1], px[..., 2])
    assert np.array_equal(task.prepare_seed(start).pixels, px)  # idempotent
    coloured = task.ideal_edit(start, 1).pixels  # the original colours cannot be recovered: a fixed colouring
    assert not np.array_equal(coloured[..., 0], coloured[..., 2])
    assert np.array_equal(task.ideal_edit(start, 1).pixels, coloured)  # deterministic
    assert np.array_equal(task.expected_geometry(img, 5).pixels, px)
    assert task.expected_count(2, 5) is None
    # Pillow's 'L' conversion uses the same weights.
    pil_l = np.asarray(img.to_pil().convert("L"), dtype=int)
    assert np.abs(px[..., 0].astype(int) - pil_l).max() <= 1


def test_monochrome_leaves_grey_alone():
    grey = np.repeat(np.arange(256, dtype=np.uint8).reshape(16, 16, 1), 3, axis=2)
    assert np.array_equal(monochrome(grey), grey)


def test_other_tasks_keep_the_seed_at_step_zero():
    img = asymmetric_image()
    for name in TASKS:
        if name != "colorize":
            assert get_task(name).prepare_seed(img) is img


# ----- add tasks: objects, slots, counts --------------------------------------------------


def test_add_tasks_expect_one_more_object_per_step():
    for name in ("add-apples", "add-fruits"):
        task = get_task(name)
        assert task.adds_objects
        assert [task.expected_count(2, k) for k in (0, 1, 10)] == [2, 3, 12]
        assert np.array_equal(task.expected_geometry(flat_table(64, 48), 7).pixels, flat_table(64, 48).pixels)


@pytest.mark.parametrize("name", ["add-apples", "add-fruits"])
def test_each_step_draws_exactly_one_new_blob_for_40_steps(name):
    task, out = get_task(name), flat_table(512, 384)
    for step in range(1, 41):
        before = out.pixels
        out = task.ideal_edit(out, step)
        labels, count = saturated_blobs(out.pixels)
        assert count == step, f"step {step}: {count} blobs"
        # Only the new object's pixels changed, and they form one component.
        changed = np.any(out.pixels != before, axis=2)
        assert len(np.unique(labels[changed & (labels > 0)])) == 1
        assert out.size == (512, 384)


@pytest.mark.parametrize("name", ["add-apples", "add-fruits"])
def test_slots_keep_a_radius_of_table_between_objects(name):
    kind = APPLE if name == "add-apples" else FRUITS[0]
    w, h = 512, 384
    grid = slot_grid(w, h, kind)
    assert grid.capacity >= 40
    r = kind.radius(w, h)
    assert r == pytest.approx(kind.radius_fraction * 384)
    centres = np.array([slot_center(w, h, s, kind) for s in range(1, grid.capacity + 1)])
    dist = np.hypot(*(centres[:, None, :] - centres[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(dist, np.inf)
    assert dist.min() >= 3 * r  # diameter + one radius of table
    x0, y0, x1, y1 = PLACEMENT_BOX
    assert (centres[:, 0] - r >= x0 * w - 1e-9).all() and (centres[:, 0] + r <= x1 * w + 1e-9).all()
    assert (centres[:, 1] - r >= y0 * h - 1e-9).all() and (centres[:, 1] + r <= y1 * h + 1e-9).all()


def test_apple_looks_like_the_convention():
    out = get_task("add-apples").ideal_edit(flat_table(512, 384), 1)
    labels, count = saturated_blobs(out.pixels)
    assert count == 1
    blob = out.pixels[labels == 1]
    assert tuple(np.median(blob, axis=0).astype(int)) in {(200, 25, 30), (164, 20, 25)}
    radius = math.sqrt((labels == 1).sum() / math.pi)
    assert radius == pytest.approx(0.035 * 384, rel=0.1)


def test_fruit_colour_follows_the_prompt():
    task, out = get_task("add-fruits"), flat_table(512, 384)
    for step in range(1, 13):
        out = task.ideal_edit(out, step)
        x, y = slot_center(512, 384, step, FRUITS[0])
        # The disc's rim (outside the shading and highlight) has the fruit's own colour.
        rim = out.pixels[int(round(y)), int(round(x - 0.85 * FRUITS[0].radius(512, 384)))]
        assert tuple(rim) == task.object_for_step(step).rgb
        assert task.object_for_step(step).name in task.prompt(step)


def test_more_objects_than_slots_is_refused_with_the_capacity():
    task = get_task("add-apples")
    img = flat_table(128, 96)
    capacity = slot_grid(128, 96, APPLE).capacity
    with pytest.raises(ConfigError, match=f"slot from 1 to {capacity}"):
        task.ideal_edit(img, capacity + 1)
    with pytest.raises(ConfigError, match="add task"):
        get_task("mirror").object_for_step(1)


@settings(max_examples=40, deadline=None)
@given(width=st.integers(48, 2400), height=st.integers(48, 2400), fruit=st.booleans())
def test_slots_never_overlap_and_stay_inside_any_image(width, height, fruit):
    kind = FRUITS[3] if fruit else APPLE
    grid = slot_grid(width, height, kind)
    r = kind.radius(width, height)
    if grid.capacity == 0:
        return
    centres = np.array([grid.center(s) for s in range(1, grid.capacity + 1)])
    assert (centres[:, 0] - r >= 0).all() and (centres[:, 0] + r <= width).all()
    assert (centres[:, 1] - r >= 0).all() and (centres[:, 1] + r <= height).all()
    if len(centres) > 1:
        dx = np.abs(np.diff(np.unique(centres[:, 0])))
        dy = np.abs(np.diff(np.unique(centres[:, 1])))
        assert (dx >= 3 * r - 1e-9).all() and (dy >= 3 * r - 1e-9).all()
