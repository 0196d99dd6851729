"""The study's task findings as checks: monochrome that is grey, colour that returns, mirror
and rotation steps that happen; and the tasks they judge (monochrome, colorize, reconstruct).

Constructed chains whose right answer is known: grey steps and a sepia step, a colourised
and a grey step, mirror and rotation chains with steps missed on purpose. The editor
audit's controls (tests/fidelity/test_editor_controls.py) hold identity and the simulators
sim-sepia, sim-no-colour and sim-no-transform to these checks on the audit's own cases;
here the rotate90 control runs too (the audit's 10-step cases have no rotation case: a
rotation chain ends where it started only after a multiple of 4 steps).
"""

from __future__ import annotations

import numpy as np
import pytest

from iqa_audit.audit.cells import editor_cells
from iqa_audit.audit.services import Services
from iqa_audit.config.audit_config import resolve_config
from iqa_audit.core.errors import ConfigError
from iqa_audit.core.images import Image
from iqa_audit.fidelity.table import CHECKS
from iqa_audit.fidelity.task_checks import (
    GREY_CHROMA,
    MIN_TRANSFORM_RATE,
    check_colour_returns,
    check_monochrome,
    check_transform_steps,
    coloured_fraction,
    pooled_rate,
)
from iqa_audit.tasks.table import RECONSTRUCTION_CYCLE, get_task, task_for_prompt
from iqa_audit.tasks.transforms import colourise, monochrome
from tests.conftest import textured_image


def lab_patch(lightness: float, chroma: float, hue_deg: float = 60.0, size: int = 32) -> Image:
    """A flat sRGB patch of the given CIELAB lightness, chroma and hue."""
    from skimage.color import lab2rgb

    h = np.deg2rad(hue_deg)
    lab = np.array([[[lightness, chroma * np.cos(h), chroma * np.sin(h)]]])
    rgb = np.clip(np.round(lab2rgb(lab)[0, 0] * 255), 0, 255).astype(np.uint8)
    return Image(np.ascontiguousarray(np.broadcast_to(rgb, (size, size, 3))))


def sepia(image: Image, tone: float = 0.06) -> Image:
    return Image(np.clip(np.round(image.pixels * np.array([1 + tone, 1.0, 1 - 1.5 * tone])), 0, 255).astype(np.uint8))


def chain(task_name: str, seed: Image, steps: int, edit=None) -> list[tuple[int, Image]]:
    task, out = get_task(task_name), [(0, get_task(task_name).prepare_seed(seed))]
    for k in range(1, steps + 1):
        out.append((k, (edit or task.ideal_edit)(out[-1][1], k)))
    return out


# ----- grey: one just-noticeable difference ---------------------------------------------------


@pytest.mark.parametrize("chroma,coloured", [(0.0, False), (1.2, False), (3.5, True), (8.0, True)])
def test_a_pixel_is_coloured_beyond_one_jnd_of_chroma(chroma, coloured):
    fraction, p99, _, _ = coloured_fraction(lab_patch(55, chroma))
    assert fraction == (1.0 if coloured else 0.0), (chroma, p99)
    assert GREY_CHROMA == 2.3


def test_monochrome_passes_grey_steps_and_ignores_the_colour_seed():
    f = check_monochrome(chain("monochrome", textured_image(), 4))
    assert f.passed and f.value == 0.0 and f.details["first_coloured_step"] is None


def test_monochrome_names_the_first_step_that_is_not_grey():
    steps = chain("monochrome", textured_image(), 5)
    steps = steps[:3] + [(k, sepia(img)) for k, img in steps[3:]]
    f = check_monochrome(steps)
    assert not f.passed and f.details["first_coloured_step"] == 3 and f.value > 0.9
    assert "not grey from step 3 on (3 of 5 steps)" in f.message and "b* +" in f.message


def test_colour_returns_on_a_colourised_chain_and_not_on_a_grey_one():
    seed = textured_image()
    assert check_colour_returns(chain("colorize", seed, 3)).passed
    grey = chain("colorize", seed, 3, edit=lambda img, k: img)  # the editor never colours
    f = check_colour_returns(grey)
    assert not f.passed and f.value == 0.0 and "did not return" in f.message


# ----- mirror and rotation, step by step ------------------------------------------------------


def test_a_faithful_mirror_chain_succeeds_at_every_step():
    f = check_transform_steps(get_task("mirror"), chain("mirror", textured_image(), 6))
    assert f.passed and f.value == 1.0 and f.details["decided"] == 6


def test_missed_mirror_steps_lower_the_rate_below_the_bound():
    task = get_task("mirror")
    missed = {2, 5}
    steps = chain("mirror", textured_image(), 6, edit=lambda img, k: img if k in missed else task.ideal_edit(img, k))
    f = check_transform_steps(task, steps)
    assert f.value == pytest.approx(4 / 6) and not f.passed and MIN_TRANSFORM_RATE == 0.9
    assert [s["step"] for s in f.details["steps"] if s["outcome"] == "missed"] == [2, 5]
    assert "missed at steps [2, 5]" in f.message


def test_rotation_steps_are_judged_across_the_changed_shape():
    task = get_task("rotate90")
    assert check_transform_steps(task, chain("rotate90", textured_image(96, 64), 4)).value == 1.0
    never = check_transform_steps(task, chain("rotate90", textured_image(96, 64), 4, edit=lambda img, k: img))
    assert never.value == 0.0 and not never.passed


def test_a_symmetric_picture_decides_nothing_and_says_so():
    px = textured_image(48, 32).pixels
    symmetric = Image(np.ascontiguousarray(np.concatenate([px, px[:, ::-1]], axis=1)))
    f = check_transform_steps(get_task("mirror"), chain("mirror", symmetric, 4))
    assert not f.passed and f.details["decided"] == 0 and "could be judged" in f.message


def test_the_rate_pools_steps_over_runs():
    task = get_task("mirror")
    eight = check_transform_steps(
        task, chain("mirror", textured_image(), 10, edit=lambda img, k: img if k in (3, 7) else task.ideal_edit(img, k))
    )
    ten = check_transform_steps(task, chain("mirror", textured_image(), 10))
    assert not eight.passed and ten.passed
    pooled = CHECKS["transform_steps"].combine_runs([eight, ten])
    assert CHECKS["transform_steps"].combine is pooled_rate
    assert pooled.value == pytest.approx(18 / 20) and pooled.passed and "over 2 runs" in pooled.message


def test_transform_check_refuses_tasks_without_a_transform():
    with pytest.raises(ConfigError, match="mirrors or rotates"):
        check_transform_steps(get_task("replicate"), chain("replicate", textured_image(), 2))


# ----- the tasks --------------------------------------------------------------------------------


def test_monochrome_task_greys_every_step():
    task = get_task("monochrome")
    out = task.ideal_edit(textured_image(), 1)
    assert np.array_equal(out.pixels, monochrome(textured_image().pixels))
    assert task_for_prompt(task.prompt(4)) is task and task.expected_count(3, 2) is None


def test_colorize_colours_grey_by_lightness_and_keeps_colour():
    from skimage.color import rgb2lab

    start = get_task("colorize").prepare_seed(textured_image())
    out = get_task("colorize").ideal_edit(start, 1)
    assert coloured_fraction(out)[0] > 0.5
    lab_in, lab_out = rgb2lab(start.pixels / 255.0), rgb2lab(out.pixels / 255.0)
    assert np.abs(lab_in[..., 0] - lab_out[..., 0]).max() < 1.0  # L* kept, to rounding
    assert np.array_equal(get_task("colorize").ideal_edit(out, 2).pixels, out.pixels)  # colour is left alone
    assert np.array_equal(colourise(textured_image().pixels), textured_image().pixels)


def test_reconstruct_cycles_patches_edges_reconstruction():
    task = get_task("reconstruct")
    assert [task.prompt(k) for k in range(1, 7)] == [p for p, _ in RECONSTRUCTION_CYCLE] * 2
    assert all(task_for_prompt(task.prompt(k)) is task for k in range(1, 4))
    assert not task.metric_verdicts and task.expected_count(1, 3) is None
    seed = textured_image()
    patches = task.ideal_edit(seed, 1).pixels
    assert len(np.unique(patches.reshape(-1, 3), axis=0)) <= 8  # flat colour regions
    edges = task.ideal_edit(Image(patches), 2).pixels
    assert set(np.unique(edges).tolist()) <= {0, 255} and (edges == 0).any()  # black lines on white
    assert np.array_equal(task.ideal_edit(Image(edges), 3).pixels, edges)  # nothing to recover from edges
    assert task.ideal_edit(seed, 4).pixels.tolist() == patches.tolist()  # step 4 starts the cycle again


# ----- the rotate90 control through the engine --------------------------------------------------


@pytest.mark.slow
def test_rotate90_control_identity_passes_and_sim_no_transform_fails_only_the_step_check(tmp_path, seed_dir):
    cfg = resolve_config(
        {
            "seeds": ("tiny",),
            "seed_dirs": (str(seed_dir),),
            "store": str(tmp_path / "store"),
            "long_side": None,
            "audit_editors": ("identity", "sim-no-transform"),
            "audit_cases": ("rotate90:tiny",),
            "audit_steps": 4,
            "audit_runs": 1,
        }
    )
    editors = Services.open(cfg).editors
    failed = {(c.setting.editor, c.check) for c in editor_cells(cfg) if not editors.finding(c).passed}
    # After 4 steps a rotation chain is back where it started, so only the per-step check sees
    # that sim-no-transform never rotated.
    assert failed == {("sim-no-transform", "transform_steps")}
