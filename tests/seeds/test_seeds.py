"""The seed catalogue: every Table 1 challenge present, deterministic, any size, offline.

Most renders are at 256 px (or smaller) to keep this file fast; one test renders every
procedural seed at the quick profile's 1024 px to hold the speed budget.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import socket
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage

from iqa_audit import seeds as S
from iqa_audit.core.errors import BadImageError, ConfigError
from iqa_audit.core.images import Image
from iqa_audit.core.names import slug

# Table 1 of the study: one procedural seed per challenge (name -> words its challenge
# line must contain). A seed dropped or renamed fails test_every_table1_challenge_has_a_seed.
TABLE1 = {
    "grid-perspective": ("grid", "perspective"),
    "food-texture": ("multi-scale", "food"),
    "many-objects": ("many objects", "one kind"),
    "low-contrast-haze": ("low-contrast", "haze"),
    "high-contrast-particles": ("high-contrast", "particles"),
    "deep-shadows": ("deep shadows", "light shafts"),
    "soft-texture": ("soft", "non-periodic"),
    "iridescent-texture": ("iridescent", "fine texture"),
    "reflections": ("reflections", "repeated"),
    "smooth-gradient": ("smooth", "gradient"),
    "empty-table": ("empty table", "object"),
    "flat-cartoon": ("flat-colour", "character"),
    "eye-palette-faces": ("3x3", "faces", "4-colour"),
}

PROCEDURAL = sorted(TABLE1)
SMALL = 256


def _hsv_saturation(pixels: np.ndarray) -> np.ndarray:
    p = pixels.astype(np.float64) / 255.0
    mx, mn = p.max(axis=-1), p.min(axis=-1)
    return np.where(mx > 0, (mx - mn) / np.maximum(mx, 1e-12), 0.0)


def _hue_degrees(rgb: np.ndarray) -> float:
    r, g, b = (np.asarray(rgb, np.float64) / 255.0).tolist()
    import colorsys

    return colorsys.rgb_to_hsv(r, g, b)[0] * 360.0


def _write_png(path: Path, size: tuple[int, int] = (40, 30), colour: tuple[int, int, int] = (10, 120, 200)) -> bytes:
    arr = np.zeros((size[1], size[0], 3), np.uint8)
    arr[...] = colour
    arr[:, : size[0] // 2, 0] = 250  # not flat, so a resize has something to do
    PILImage.fromarray(arr).save(path)
    return path.read_bytes()


# ----- catalogue shape ------------------------------------------------------------------


def test_every_table1_challenge_has_a_seed() -> None:
    procedural = {s.name: s for s in S.procedural_seeds()}
    assert sorted(procedural) == PROCEDURAL
    for name, words in TABLE1.items():
        line = procedural[name].challenge.lower()
        for word in words:
            assert word in line, f"{name}: challenge {line!r} should mention {word!r}"


def test_names_unique_id_friendly_and_sorted() -> None:
    seeds = S.builtin_seeds()
    names = [s.name for s in seeds]
    assert names == sorted(names)
    assert len(names) == len(set(names))
    for s in seeds:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", s.name), s.name
        assert len(s.name) <= 32
        assert s.kind in ("procedural", "photo")
        assert s.challenge and "\n" not in s.challenge
        assert s.provenance and s.version
    assert {s.name for s in S.procedural_seeds()} | {s.name for s in S.photo_seeds()} == set(names)


def test_seed_is_an_immutable_hashable_value() -> None:
    seed = S.get_seed("empty-table")
    with pytest.raises(dataclasses.FrozenInstanceError):
        seed.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        seed.meta["placement_box"] = (0, 0, 1, 1)  # type: ignore[index]
    assert hash(seed) == hash(S.get_seed("empty-table"))
    assert seed == S.get_seed("empty-table")
    assert S.get_seed("empty-table").render(SMALL).pixels.flags.writeable is False


def test_bad_seed_values_are_refused() -> None:
    with pytest.raises(ConfigError, match="Rename"):
        S.Seed("Not OK", "c", "p", "procedural", "v1", {})
    with pytest.raises(ConfigError, match="kind"):
        S.Seed("ok", "c", "p", "remote", "v1", {})


# ----- determinism and sizes ------------------------------------------------------------


@pytest.mark.parametrize("name", PROCEDURAL)
def test_procedural_render_is_deterministic(name: str) -> None:
    seed = S.get_seed(name)
    fresh = S._render_cached.__wrapped__  # bypass the cache: really draw twice
    a = fresh(seed.kind, seed.name, seed.version, SMALL)
    b = fresh(seed.kind, seed.name, seed.version, SMALL)
    assert isinstance(a, Image)
    assert a.pixel_digest() == b.pixel_digest()
    assert a.data() == b.data()
    assert max(a.size) == SMALL
    # Not a degenerate image: real content, not a blank canvas.
    assert a.pixels.std() > 8


@pytest.mark.parametrize("name", PROCEDURAL)
def test_procedural_aspect_ratio_holds_at_every_size(name: str) -> None:
    seed = S.get_seed(name)
    aspect = seed.meta["aspect_ratio"]
    for long_side in (97, SMALL, 300):
        im = seed.render(long_side)
        assert max(im.width, im.height) == long_side
        if aspect <= 1:
            assert im.width == long_side and abs(im.height - long_side * aspect) <= 1
        else:
            assert im.height == long_side and abs(im.width - long_side / aspect) <= 1


def test_aspect_ratios_are_a_mix_including_the_studys_4k_ratio() -> None:
    ratios = {round(s.meta["aspect_ratio"], 3) for s in S.procedural_seeds()}
    assert round(3072 / 5632, 3) in ratios  # the study's 5632x3072 (0.545)
    assert {0.75, 0.667} <= ratios  # 4:3 and 3:2 landscape
    assert S._dims(5632, S.get_seed("grid-perspective").meta["aspect_ratio"]) == (3072, 5632)


@settings(max_examples=12, deadline=None)
@given(name=st.sampled_from(PROCEDURAL), long_side=st.integers(S.MIN_LONG_SIDE, 160))
def test_any_size_renders_with_the_seed_aspect(name: str, long_side: int) -> None:
    seed = S.get_seed(name)
    im = seed.render(long_side)
    h, w = S._dims(long_side, seed.meta["aspect_ratio"])
    assert im.size == (w, h)
    assert max(im.size) == long_side


def test_none_means_paper_size_for_procedural_seeds() -> None:
    assert S.PAPER_LONG_SIDE >= 2048 and S.QUICK_LONG_SIDE == 1024
    assert max(S.get_seed("flat-cartoon").render(None).size) == S.PAPER_LONG_SIDE


@pytest.mark.parametrize("bad", [0, 8, -5, 1.5, True, "1024", S.MAX_LONG_SIDE + 1])
def test_bad_long_side_is_a_config_error(bad: object) -> None:
    with pytest.raises(ConfigError, match="long_side"):
        S.get_seed("smooth-gradient").render(bad)  # type: ignore[arg-type]


def test_all_procedural_seeds_render_quickly_at_1024() -> None:
    fresh = S._render_cached.__wrapped__
    start = time.process_time()  # CPU time: robust to other jobs sharing the machine
    for seed in S.procedural_seeds():
        t0 = time.process_time()
        im = fresh(seed.kind, seed.name, seed.version, S.QUICK_LONG_SIDE)
        assert max(im.size) == S.QUICK_LONG_SIDE
        assert time.process_time() - t0 < 2.0, f"{seed.name} is too slow"
    assert time.process_time() - start < 10.0


# ----- seed-specific contracts ----------------------------------------------------------


def test_faces_eyes_carry_four_distinct_hues() -> None:
    seed = S.get_seed("eye-palette-faces")
    colours = np.array(seed.meta["eye_colours"])
    samples = seed.meta["eye_samples"]
    assert len(colours) == 4 and len(seed.meta["eye_centres"]) == 18  # 9 faces x 2 eyes
    assert len(samples) == 18 * 4
    # The declared colours are clearly distinct hues (>= 40 degrees apart pairwise).
    hues = sorted(_hue_degrees(c) for c in colours)
    gaps = np.diff(hues + [hues[0] + 360])
    assert gaps.min() >= 40, hues
    for long_side in (seed.meta["eye_min_long_side"], 640):
        im = seed.render(long_side)
        found: dict[int, list[float]] = {0: [], 1: [], 2: [], 3: []}
        for x, y, k in samples:
            px = im.pixels[int(y * im.height), int(x * im.width)].astype(int)
            assert np.abs(px - colours[k]).max() <= 12, (long_side, x, y, k, px)
            found[k].append(_hue_degrees(px))
        # Count hue clusters from the pixels alone: 4, as a palette check would.
        sampled = sorted(h for hs in found.values() for h in hs)
        jumps = np.diff(sampled + [sampled[0] + 360]) > 30
        assert int(jumps.sum()) == 4


def test_empty_table_has_no_saturated_pixels_and_a_free_placement_box() -> None:
    seed = S.get_seed("empty-table")
    x0, y0, x1, y1 = seed.meta["placement_box"]
    tx0, ty0, tx1, ty1 = seed.meta["table_box"]
    assert 0 <= tx0 < x0 < x1 < tx1 <= 1 and 0 <= ty0 < y0 < y1 < ty1 <= 1
    assert (x1 - x0) * (y1 - y0) >= 0.4  # most of the frame is free table
    for long_side in (128, SMALL):
        px = seed.render(long_side).pixels
        assert _hsv_saturation(px).max() <= seed.meta["max_saturation"]
    # Inside the placement box it is wood (light), not floor (dark grey).
    px = seed.render(SMALL).pixels
    h, w = px.shape[:2]
    box = px[int(y0 * h) : int(y1 * h), int(x0 * w) : int(x1 * w)]
    assert box.mean() > 110


def test_empty_table_counts_zero_blobs_and_a_fruit_disc_counts_one() -> None:
    counting = pytest.importorskip("iqa_audit.vlm.counting")
    seed = S.get_seed("empty-table")
    im = seed.render(SMALL)
    counter = counting.BlobCounter()
    assert counter.count(im) == 0
    px = np.array(im.pixels)
    h, w = px.shape[:2]
    yy, xx = np.ogrid[:h, :w]
    x0, y0, x1, y1 = seed.meta["placement_box"]
    cx, cy = (x0 + x1) / 2 * w, (y0 + y1) / 2 * h
    px[(xx - cx) ** 2 + (yy - cy) ** 2 <= (0.05 * h) ** 2] = (200, 30, 30)
    assert counter.count(Image.from_array(px)) == 1


def test_flat_cartoon_is_mostly_flat_colour() -> None:
    px = S.get_seed("flat-cartoon").render(SMALL).pixels.reshape(-1, 3)
    _, counts = np.unique(px, axis=0, return_counts=True)
    top = np.sort(counts)[::-1]
    assert top[:12].sum() / len(px) > 0.8  # a handful of flat fills cover the image


# ----- photographs ----------------------------------------------------------------------


def test_photo_seeds_load_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("a photo seed tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    photos = S.photo_seeds()
    names = {p.name for p in photos}
    assert {"photo-coffee", "photo-chelsea", "photo-rocket"} <= names
    assert not any(word in n for n in names for word in ("astronaut", "camera", "face"))
    for p in photos:
        assert p.kind == "photo" and "scikit-image" in p.provenance
        native = S._render_cached.__wrapped__(p.kind, p.meta["path"], p.version, None)
        assert native.data() == Path(p.meta["path"]).read_bytes()  # native = the file itself
        small = p.render(128)
        assert max(small.size) == 128
        assert abs(small.height / small.width - native.height / native.width) * max(small.size) <= 1


# ----- user folders ---------------------------------------------------------------------


def test_seeds_from_dir_one_seed_per_image(tmp_path: Path) -> None:
    data_b = _write_png(tmp_path / "B photo (1).PNG", (60, 20))
    _write_png(tmp_path / "a.png", (20, 40))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden.png").write_bytes(b"ignored")
    seeds = S.seeds_from_dir(tmp_path)
    assert [s.name for s in seeds] == ["a", "b-photo-1"]
    b = seeds[1]
    assert b.kind == "user"
    assert b.provenance == str((tmp_path / "B photo (1).PNG").resolve())
    assert b.version == hashlib.sha256(data_b).hexdigest()[:12]
    assert b.render(None).data() == data_b  # native: the exact file bytes
    resized = b.render(30)
    assert resized.size == (30, 10)


def test_seeds_from_dir_bad_file_names_the_file(tmp_path: Path) -> None:
    _write_png(tmp_path / "good.png")
    (tmp_path / "broken.jpg").write_bytes(b"<html>not a jpeg</html>")
    with pytest.raises(BadImageError, match="broken.jpg"):
        S.seeds_from_dir(tmp_path)


def test_seeds_from_dir_empty_or_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least one image"):
        S.seeds_from_dir(tmp_path)
    with pytest.raises(ConfigError, match="no such folder"):
        S.seeds_from_dir(tmp_path / "missing")
    _write_png(tmp_path / "x.png")
    with pytest.raises(ConfigError, match="folder"):
        S.seeds_from_dir(tmp_path / "x.png")


def test_seeds_from_dir_name_clash_is_an_error(tmp_path: Path) -> None:
    _write_png(tmp_path / "same.png")
    _write_png(tmp_path / "Same.jpeg")
    with pytest.raises(ConfigError, match="Rename"):
        S.seeds_from_dir(tmp_path)


def test_user_seed_changed_on_disk_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "img.png"
    _write_png(path, colour=(1, 2, 3))
    seed = S.seeds_from_dir(tmp_path)[0]
    _write_png(path, colour=(200, 100, 3))
    with pytest.raises(ConfigError, match="changed"):
        seed.render(16)


# ----- lookup ---------------------------------------------------------------------------


def test_get_seed_and_resolve(tmp_path: Path) -> None:
    _write_png(tmp_path / "mine.png")
    assert S.get_seed("mine", extra_dirs=[tmp_path]).kind == "user"
    with pytest.raises(ConfigError, match="empty-table"):  # lists the valid names
        S.get_seed("no-such-seed")
    assert [s.name for s in S.resolve_seeds(None)] == [s.name for s in S.builtin_seeds()]
    got = S.resolve_seeds(["smooth-gradient", "mine", "smooth-gradient"], extra_dirs=[tmp_path])
    assert [s.name for s in got] == ["smooth-gradient", "mine"]
    assert "mine" in [s.name for s in S.resolve_seeds(None, extra_dirs=[tmp_path])]
    with pytest.raises(ConfigError, match="'nope'"):
        S.resolve_seeds(["empty-table", "nope"])


def test_user_seed_may_not_shadow_a_builtin(tmp_path: Path) -> None:
    _write_png(tmp_path / "empty-table.png")
    with pytest.raises(ConfigError, match="Rename"):
        S.get_seed("empty-table", extra_dirs=[tmp_path])


@settings(max_examples=30, deadline=None)
@given(st.text(max_size=30))
def test_slugify_gives_test_id_friendly_names(text: str) -> None:
    ident = slug(text)  # seed-dir names go through the one names.slug
    assert ident and slug(ident) == ident and ident[0] not in "-." and ident[-1] not in "-."
    assert all(ch in ".-" or unicodedata.category(ch)[0] in "LMN" for ch in ident)
