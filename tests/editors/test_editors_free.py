"""The free editors: codecs and failure simulators.

The core test is the trip table: ten steps of each simulator on a small synthetic seed,
judged by five coarse checks written here (independent of iqa_audit.fidelity, so a bug
there cannot hide a bug here). Each simulator must trip exactly the checks it models;
identity must trip none.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import ndimage
from skimage.color import rgb2hsv
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from iqa_audit.core.decode import decode_image
from iqa_audit.core.errors import ConfigError
from iqa_audit.core.images import Image

# Importing the modules registers their editors; builtin.py also pulls in the paid
# editors, which these tests do not need.
from iqa_audit.editors import Editor, EditResult, codec, create_editor, simulators  # noqa: F401
from iqa_audit.editors.codec import CodecEditor, resize_cover_crop, snap_size
from iqa_audit.editors.simulated_task_failures import Apples, FruitsReplace, crop_rows
from iqa_audit.tasks.table import get_task

SIMULATORS = [
    "identity",
    "sim-noise-tint",
    "sim-grain-tint",
    "sim-scatter",
    "sim-wrinkles",
    "sim-texture-loss",
    "sim-crop",
    "sim-palette",
    "sim-apples",
    "sim-fruits-replace",
]
CODECS = ["codec-jpeg", "codec-webp", "codec-reupload"]
FREE_EDITORS = SIMULATORS + CODECS
STEPS = 10


# ----- synthetic seeds ------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def study_image(width: int = 256, height: int = 192) -> Image:
    """Neutral grey content (gradient, noise texture, fine grid, a strong edge) plus four
    coloured discs of different sizes: red and blue dominate, green and yellow are the
    minority colours a palette collapse must absorb. Nothing coloured near the top or
    bottom, so a 2 % crop keeps every disc."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:height, 0:width]
    sx, sy = width / 256, height / 192
    grey = 90 + 80 * xx / width
    tex = (slice(int(20 * sy), int(90 * sy)), slice(int(20 * sx), int(110 * sx)))
    grey[tex] = 128 + rng.normal(0, 30, grey[tex].shape)
    grid = (slice(int(110 * sy), int(175 * sy)), slice(int(20 * sx), int(110 * sx)))
    grey[grid] = np.where((xx[grid] // 2) % 2 == 0, 60, 200)
    grey[int(30 * sy) : int(160 * sy), int(140 * sx) : int(145 * sx)] = 30
    px = np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    for (cx, cy), r, rgb in (
        ((170, 55), 18, (210, 30, 30)),
        ((220, 60), 16, (40, 70, 210)),
        ((175, 130), 11, (40, 180, 80)),
        ((220, 135), 9, (230, 200, 40)),
    ):
        px[(xx - cx * sx) ** 2 + (yy - cy * sy) ** 2 <= (r * min(sx, sy)) ** 2] = rgb
    return Image(px)


@functools.lru_cache(maxsize=None)
def table_image(width: int = 256, height: int = 192) -> Image:
    """An empty, low-saturation wooden table: the add tasks' seed."""
    rng = np.random.default_rng(2)
    t = np.array([178, 162, 140], float) + rng.normal(0, 4, (height, width, 1))
    return Image(np.clip(t, 0, 255).astype(np.uint8))


# ----- coarse checks (what each simulator must trip) ----------------------------------------


def _colourful(px: np.ndarray) -> np.ndarray:
    p = px.astype(int)
    return (p.max(axis=2) - p.min(axis=2)) >= 80


def count_blobs(px: np.ndarray, min_area: int = 10) -> int:
    labels, _ = ndimage.label(_colourful(px), structure=np.ones((3, 3)))
    return int((np.bincount(labels.ravel())[1:] >= min_area).sum())


def hue_clusters(px: np.ndarray) -> int:
    """Runs of well-populated 10-degree hue bins among colourful pixels."""
    hues = rgb2hsv(px)[..., 0][_colourful(px)]
    if hues.size == 0:
        return 0
    occupied = np.bincount((hues * 36).astype(int) % 36, minlength=36) >= max(20, 0.005 * hues.size)
    if occupied.all():
        return 1
    return int(sum(occupied[i] and not occupied[i - 1] for i in range(36)))


def centre_align(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre-crop both to their common size (how the study compares after a crop)."""
    h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])

    def crop(x):
        top, left = (x.shape[0] - h) // 2, (x.shape[1] - w) // 2
        return x[top : top + h, left : left + w]

    return crop(a), crop(b)


def green_tint(out: np.ndarray, ref: np.ndarray) -> float:
    """Mean change of G - (R+B)/2 over the reference's neutral pixels (the cast, not the objects)."""
    o, r = centre_align(out, ref)
    ri = r.astype(int)
    neutral = (ri.max(axis=2) - ri.min(axis=2)) < 50

    def g_minus_magenta(x):
        x = x.astype(float)
        return (x[..., 1] - (x[..., 0] + x[..., 2]) / 2)[neutral].mean()

    return float(g_minus_magenta(o) - g_minus_magenta(r))


def ssim(out: np.ndarray, ref: np.ndarray) -> float:
    o, r = centre_align(out, ref)
    return float(structural_similarity(o, r, channel_axis=2, data_range=255))


def tripped(seed: Image, reference: Image, out: Image, task_name: str) -> set[str]:
    """Which coarse checks fail for `out`, the 10th step, against the faithful `reference`."""
    task = get_task(task_name)
    found = set()
    if abs(out.aspect_ratio / seed.aspect_ratio - 1) > 0.005:
        found.add("aspect")
    if count_blobs(out.pixels) != task.expected_count(count_blobs(seed.pixels), STEPS):
        found.add("count")
    # Add tasks change the palette on purpose (a new fruit each step): held to the count.
    if not task.adds_objects and hue_clusters(out.pixels) < hue_clusters(reference.pixels):
        found.add("colours")
    if abs(green_tint(out.pixels, reference.pixels)) > 3.0:
        found.add("tint")
    if ssim(out.pixels, reference.pixels) < 0.9:
        found.add("replication")
    return found


def run_chain(name: str, task_name: str, seed: Image, steps: int = STEPS, run: int = 0) -> list[Image]:
    editor, task = create_editor(name), get_task(task_name)
    images = [task.prepare_seed(seed)]
    for k in range(1, steps + 1):
        result = editor.edit(images[-1], task.prompt(k), seed=run, step=k)
        assert isinstance(result, EditResult)
        images.append(result.image)
    return images


@functools.lru_cache(maxsize=None)
def chain_end(name: str, task_name: str, seed_kind: str) -> Image:
    seed = study_image() if seed_kind == "study" else table_image()
    return run_chain(name, task_name, seed)[-1]


TRIP_TABLE = [
    # (editor, task, seed, checks it must trip: exactly these)
    ("identity", "replicate", "study", set()),
    ("identity", "add-apples", "table", set()),
    ("identity", "add-fruits", "table", set()),
    ("sim-noise-tint", "replicate", "study", {"replication", "tint"}),
    ("sim-scatter", "replicate", "study", {"replication"}),
    ("sim-wrinkles", "replicate", "study", {"replication"}),
    ("sim-texture-loss", "replicate", "study", {"replication"}),
    ("sim-crop", "replicate", "study", {"aspect"}),
    ("sim-palette", "replicate", "study", {"colours"}),
    ("sim-apples", "add-apples", "table", {"count"}),
    ("sim-apples", "replicate", "study", set()),  # identity on tasks that add nothing
    ("sim-fruits-replace", "add-fruits", "table", {"count"}),
    ("sim-fruits-replace", "replicate", "study", set()),
]


@pytest.mark.parametrize("name,task_name,seed_kind,expected", TRIP_TABLE, ids=[f"{n}-{t}" for n, t, _, _ in TRIP_TABLE])
def test_each_simulator_trips_its_own_check_only(name, task_name, seed_kind, expected):
    seed = study_image() if seed_kind == "study" else table_image()
    reference = chain_end("identity", task_name, seed_kind)
    out = chain_end(name, task_name, seed_kind)
    assert tripped(seed, reference, out, task_name) == expected


def test_identity_replica_is_the_seed():
    assert np.array_equal(chain_end("identity", "replicate", "study").pixels, study_image().pixels)


# ----- simulator specifics ---------------------------------------------------------------


def test_noise_and_tint_grow_with_steps():
    chain = run_chain("sim-noise-tint", "replicate", study_image(), steps=10)
    tints = [green_tint(im.pixels, chain[0].pixels) for im in chain[1:]]
    assert tints == sorted(tints) and tints[-1] == pytest.approx(15.0, abs=1.0)  # G +1, R/B -0.5 per step
    flat = (slice(150, 185), slice(180, 250))  # gradient-only area
    noise = [float(np.std(np.diff(im.pixels[flat][..., 1].astype(float), axis=1))) / np.sqrt(2) for im in chain[1:]]
    assert noise[9] == pytest.approx(15.0, rel=0.2) and noise[4] < noise[9]


def test_crop_happens_on_step_one_only_and_matches_the_study():
    chain = run_chain("sim-crop", "replicate", study_image(), steps=4)
    heights = [im.height for im in chain]
    assert heights == [192, 188, 188, 188, 188] and all(im.width == 256 for im in chain)
    assert crop_rows(1536, 32 / 1536) == 32  # 2816x1536 -> 2816x1504, the study's 0.545 -> 0.534
    assert np.array_equal(chain[1].pixels, study_image().pixels[2:190])


def test_palette_collapses_four_colours_to_two_within_five_steps():
    chain = run_chain("sim-palette", "replicate", study_image(), steps=5)
    clusters = [hue_clusters(im.pixels) for im in chain]
    assert clusters[0] == 4 and clusters[5] == 2
    assert clusters == sorted(clusters, reverse=True)
    neutral = ~_colourful(study_image().pixels)
    assert np.array_equal(chain[5].pixels[neutral], study_image().pixels[neutral])


def test_apples_stall_at_seven_then_add_a_row():
    chain = run_chain("sim-apples", "add-apples", table_image(320, 240), steps=12)
    counts = [count_blobs(im.pixels) for im in chain]
    assert counts == [0, 1, 2, 3, 4, 5, 6, 7, 7, 7, 7, 12, 13]
    assert [Apples().objects_after(k) for k in range(13)] == counts


def test_fruits_replace_every_third_step():
    chain = run_chain("sim-fruits-replace", "add-fruits", table_image(320, 240), steps=9)
    counts = [count_blobs(im.pixels) for im in chain]
    assert counts == [k - k // 3 for k in range(10)] == [FruitsReplace().objects_after(k) for k in range(10)]
    # The replaced fruit wears the new fruit's colour: the step-3 fruit (lemon) is there.
    lemon = get_task("add-fruits").object_for_step(3).rgb
    assert (np.all(chain[3].pixels == lemon, axis=2)).sum() > 0


@pytest.mark.parametrize("name", ["sim-noise-tint", "sim-scatter", "sim-wrinkles", "sim-texture-loss", "sim-palette"])
def test_simulators_keep_faithful_geometry_on_mirror(name):
    """Each failure comes on top of the task's faithful edit: on a mirror chain, the
    result is closer to the mirrored seed than to the seed."""
    seed = study_image()
    out = run_chain(name, "mirror", seed, steps=1)[-1]
    assert ssim(out.pixels, seed.pixels[:, ::-1]) > ssim(out.pixels, seed.pixels)


@pytest.mark.parametrize(
    "spec",
    [
        "sim-noise-tint:sigma_per_step=-1",
        "sim-palette:collapse_steps=0",
        "sim-fruits-replace:every=1",
        "sim-crop:crop_fraction=0.6",
        "sim-apples:burst=2.5",
        "codec-jpeg:quality=0",
        "codec-webp:size_table=imagen",
    ],
)
def test_bad_parameters_are_refused(spec):
    with pytest.raises(ConfigError, match=spec.split(":")[0]):
        create_editor(spec)


def test_bad_seed_and_unknown_prompt_are_refused():
    ed = create_editor("sim-scatter")
    with pytest.raises(ConfigError, match="seed"):
        ed.edit(study_image(), get_task("replicate").prompt(1), seed=-1, step=1)
    with pytest.raises(ConfigError, match="prompt"):
        ed.edit(study_image(), "Make it nicer.", seed=0, step=1)
    with pytest.raises(ConfigError, match="step"):
        ed.edit(study_image(), get_task("replicate").prompt(1), seed=0, step=0)


# ----- determinism -----------------------------------------------------------------------


@pytest.mark.parametrize("name", FREE_EDITORS)
def test_every_editor_is_deterministic_and_stateless(name):
    seed, task = table_image(96, 72), get_task("add-fruits")
    previous = task.ideal_edit(task.ideal_edit(task.ideal_edit(seed, 1), 2), 3)
    a = create_editor(name).edit(previous, task.prompt(4), seed=3, step=4)
    # A fresh instance, after unrelated calls, must give the same bytes: no hidden memory.
    other = create_editor(name)
    other.edit(study_image(), get_task("replicate").prompt(1), seed=9, step=1)
    b = other.edit(previous, task.prompt(4), seed=3, step=4)
    assert a.image.data() == b.image.data()
    assert a.meta == b.meta and a.reasoning is None
    json.dumps(dict(a.meta))  # the store keeps meta as JSON
    ed = create_editor(name)
    assert isinstance(ed, Editor)
    assert ed.id == name and isinstance(ed.version, str) and ed.paid is False
    json.dumps(dict(ed.params()))  # params enter the chain key
    assert dict(ed.params()) == dict(ed.params())


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from(FREE_EDITORS),
    run=st.integers(0, 2**31 - 1),
    step=st.integers(1, 40),
    task_name=st.sampled_from(["replicate", "mirror", "rotate90", "add-apples", "add-fruits"]),
)
def test_same_seed_and_step_give_the_same_bytes(name, run, step, task_name):
    image, task = table_image(64, 48), get_task(task_name)
    # Step k of an add chain places object k+1, and a 64x48 table holds 40 (the editor
    # refuses more with a ConfigError, tested on its own): steps past 39 are not a chain.
    assume(not task.adds_objects or step < 40)
    if task.adds_objects:  # a chain at `step` has step-1 objects already; draw a few
        for k in range(max(1, step - 3), step):
            image = task.ideal_edit(image, k)
    first = create_editor(name).edit(image, task.prompt(step), seed=run, step=step)
    second = create_editor(name).edit(image, task.prompt(step), seed=run, step=step)
    assert first.image.data() == second.image.data()


def test_simulator_randomness_depends_on_the_seed():
    img, prompt = study_image(), get_task("replicate").prompt(2)
    ed = create_editor("sim-scatter")
    assert ed.edit(img, prompt, seed=0, step=2).image.data() != ed.edit(img, prompt, seed=1, step=2).image.data()
    assert ed.edit(img, prompt, seed=0, step=2).image.data() != ed.edit(img, prompt, seed=0, step=3).image.data()


# ----- codecs ----------------------------------------------------------------------------


@pytest.mark.parametrize("name,magic", [("codec-jpeg", b"\xff\xd8\xff"), ("codec-webp", b"RIFF")])
def test_codec_output_is_the_real_codec_bytes(name, magic):
    out = create_editor(name).edit(study_image(), get_task("replicate").prompt(1), seed=0, step=1)
    data = out.image.data()
    assert data.startswith(magic) and out.image.encoded == data
    assert out.image.format == name.split("-")[1]
    assert np.array_equal(decode_image(data).pixels, out.image.pixels)
    assert out.meta["bytes"] == len(data) and out.meta["quality"] == 75


@pytest.mark.parametrize("name", CODECS)
def test_codec_loss_accumulates_over_steps(name):
    # Mirroring moves content against the 8x8 block grid, so re-encoding keeps losing.
    chain = run_chain(name, "mirror", study_image(), steps=10)
    # Compare each step with the faithful geometry (mirror flips every step).
    psnr = [
        peak_signal_noise_ratio(get_task("mirror").expected_geometry(chain[0], k).pixels, chain[k].pixels) for k in range(1, 11)
    ]
    assert psnr[0] < 45  # lossy from the first step
    assert all(b < a for a, b in zip(psnr, psnr[1:])), psnr  # and worse at every step
    assert psnr[-1] < psnr[0] - 0.3, psnr


def test_reupload_output_is_jpeg_at_a_quality_that_varies_per_step():
    ed, prompt = create_editor("codec-reupload"), get_task("replicate").prompt
    outs = [ed.edit(study_image(), prompt(k), seed=0, step=k) for k in (1, 2, 3, 4)]
    assert [o.meta["quality"] for o in outs] == [75, 85, 65, 75]
    for o in outs:
        data = o.image.data()
        assert data.startswith(b"\xff\xd8\xff") and o.image.encoded == data and o.image.size == study_image().size
    assert ed.params() == {"quality": 75, "swing": 10, "scale": 0.75}
    assert create_editor("codec-reupload:swing=0,scale=1").params() == {"quality": 75, "swing": 0, "scale": 1.0}


@pytest.mark.parametrize(
    "spec",
    [
        "codec-reupload:quality=95",
        "codec-reupload:swing=-1",
        "codec-reupload:scale=0",
        "codec-reupload:scale=2",
        "codec-reupload:quality=ok",
    ],
)
def test_reupload_refuses_settings_outside_its_range(spec):
    with pytest.raises(ConfigError, match="codec-reupload"):
        create_editor(spec)


def test_reupload_keeps_degrading_where_a_fixed_quality_round_trip_converges():
    # What the quick profile needs: on the replicate task (no geometry to fight the block
    # grid), fixed-quality JPEG is nearly idempotent after step 1, so step 10 shows
    # nothing new to notice; resampling plus a varying quality keeps losing detail.
    from iqa_audit.analysis.evidence import measure_change

    jpeg = run_chain("codec-jpeg", "replicate", study_image(), steps=10)
    reupload = run_chain("codec-reupload", "replicate", study_image(), steps=10)
    assert not measure_change(jpeg[1], jpeg[10]).visible
    changes = [measure_change(reupload[1], reupload[k], full=True) for k in (2, 5, 10)]
    assert all(c.visible for c in changes[1:]), changes
    assert changes[0].psnr_db > changes[1].psnr_db > changes[2].psnr_db, changes  # worse and worse
    assert changes[0].ssim > changes[1].ssim > changes[2].ssim, changes


def test_lower_quality_loses_more():
    img, prompt = study_image(), get_task("replicate").prompt(1)
    q90 = create_editor("codec-jpeg:quality=90").edit(img, prompt, seed=0, step=1).image
    q30 = create_editor("codec-jpeg:quality=30").edit(img, prompt, seed=0, step=1).image
    assert peak_signal_noise_ratio(img.pixels, q30.pixels) < peak_signal_noise_ratio(img.pixels, q90.pixels)
    assert create_editor("codec-jpeg:quality=30").params() == {"quality": 30, "size_table": None}


def test_gemini_size_table_reproduces_the_study_crop():
    # The study: a 5632x3072 seed (0.545) came back at 2K as 2816x1504 (0.534).
    assert snap_size(5632, 3072, "gemini-2k") == (2816, 1504)
    w, h = snap_size(5632, 3072, "gemini")  # tier chosen by the nearest long side: 4K
    change = (h / w) / (3072 / 5632) - 1
    assert change == pytest.approx(-0.021, abs=0.003)
    # An output of the table maps to itself: the change happens on the first step only.
    assert snap_size(w, h, "gemini") == (w, h) and snap_size(2816, 1504, "gemini-2k") == (2816, 1504)
    assert snap_size(1024, 1024, "gemini") == (1024, 1024)
    assert snap_size(256, 192, "gemini-2k") == (2400, 1792)


def test_codec_with_size_table_changes_aspect_on_step_one_only():
    seed = Image(np.ascontiguousarray(np.resize(study_image().pixels, (768, 1408, 3))))  # 0.545, the study's ratio
    chain = run_chain("codec-jpeg:size_table=gemini", "replicate", seed, steps=2)
    assert [im.size for im in chain] == [(1408, 768), (1408, 752), (1408, 752)]
    assert chain[1].aspect_ratio / seed.aspect_ratio - 1 == pytest.approx(-0.021, abs=0.003)


def test_resize_cover_crop_centres_the_crop():
    px = np.zeros((100, 200, 3), np.uint8)
    px[:, :, 0] = np.arange(100, dtype=np.uint8)[:, None]  # row index in red
    out = np.asarray(resize_cover_crop(Image(px).to_pil(), 200, 96))
    assert out.shape == (96, 200, 3) and out[0, 0, 0] == 2 and out[-1, 0, 0] == 97


def test_codec_editor_validates_directly():
    with pytest.raises(ConfigError, match="jpeg or webp"):
        CodecEditor("png")  # type: ignore[arg-type]
    assert CodecEditor("jpeg", size_table="none").size_table is None


def _outlined_ring(height: int = 192, width: int = 256) -> Image:
    """Half sky, half white, and a 2.5 px black ring: a cartoon's outline."""
    y, x = np.mgrid[0:height, 0:width]
    img = np.full((height, width, 3), 235, np.uint8)
    img[:, : width // 2] = (120, 170, 220)
    r = np.hypot(x - width / 2, y - height / 2)
    img[(r >= 50) & (r < 52.5)] = 20
    return Image(img)


def test_wrinkles_keep_thin_outlines_dark():
    """The ripple moves outlines; it must not blur them grey (that would be texture loss,
    and a lost colour): a bilinear warp repeated 10 times kept 14 % of the dark pixels."""
    chain = run_chain("sim-wrinkles", "replicate", _outlined_ring(), steps=10)
    dark = [int((im.pixels.max(axis=2) < 60).sum()) for im in (chain[0], chain[-1])]
    assert dark[1] > 0.5 * dark[0], dark


def test_wrinkles_deepen_alike_on_every_task():
    """The ripple is laid out in the seed's frame, so a mirror or rotate chain is wrinkled
    as deeply as a replicate chain (in the output's frame, every second mirror step
    would undo the horizontal ripple)."""
    seed = _outlined_ring()
    scores = {}
    for task_name in ("replicate", "mirror", "rotate90"):
        out = run_chain("sim-wrinkles", task_name, seed, steps=10)[-1]
        expected = get_task(task_name).expected_geometry(seed, 10)
        scores[task_name] = float(structural_similarity(out.pixels, expected.pixels, channel_axis=2, data_range=255))
    assert scores["replicate"] < 0.97, scores
    assert max(scores.values()) - min(scores.values()) < 0.005, scores


def test_an_add_step_past_the_tables_room_is_refused_naming_the_slot_and_the_fix():
    task = get_task("add-apples")
    with pytest.raises(ConfigError, match="object slot 41 for apples on a 64x48 image") as err:
        create_editor("sim-apples").edit(table_image(64, 48), task.prompt(40), seed=0, step=40)
    assert "Run fewer add steps, or use a larger seed image" in str(err.value)
