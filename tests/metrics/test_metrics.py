"""Metrics: the offline pyiqa metrics really run, the classic measures, user and
entry-point metrics, name errors, and the fast skip when weights are missing."""

from __future__ import annotations

import hashlib
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iqa_audit.core.errors import BadImageError, ConfigError
from iqa_audit.core.images import Image
from iqa_audit.metrics import (
    OFFLINE_METRICS,
    Metric,
    MetricUnavailable,
    ScoreError,
    TypicalRange,
    create_metric,
    declare,
    list_metric_names,
    load_count,
)
from iqa_audit.metrics.normalise import TABLE2
from iqa_audit.metrics.registry import ENTRY_POINT_GROUP

REPO = Path(__file__).resolve().parents[2]
PLUGIN = "tests.plugin_metric_example"


def scene(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth, textured test image in mid-greys (no clipping when noise is added)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    base = 125 + 40 * np.sin(x / 9.0) * np.cos(y / 13.0) + 20 * (x / w - 0.5)
    rgb = np.stack([base, base * 0.9 + 10, base * 0.8 + 20], axis=2) + rng.normal(0, 1.0, (h, w, 3))
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def with_noise(pixels: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.round(pixels + rng.normal(0, sigma, pixels.shape)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def images() -> list[Image]:
    # Two sizes, so batching by size and one-by-one scoring are both exercised.
    return [
        Image.from_array(scene(160, 192, 1)),
        Image.from_array(scene(160, 192, 2)),
        Image.from_array(scene(128, 128, 3)),
        Image.from_array(with_noise(scene(160, 192, 4), 8, 5)),
    ]


@pytest.fixture()
def plugin_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))


# ----- offline pyiqa metrics --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["pyiqa:piqe", "pyiqa:entropy"])
def test_offline_pyiqa_metric_scores(name, images):
    m = create_metric(name)
    assert isinstance(m, Metric)
    assert m.id == name.split(":")[1] and m.name == name
    assert m.version.startswith("pyiqa-0.1.16+noweights+code-")
    assert m.range == TABLE2[m.id]
    s = m.score(images)
    assert s.dtype == np.float64 and s.shape == (len(images),)
    assert np.all(np.isfinite(s))
    # Same image, same score; a batch equals scoring one by one.
    assert np.array_equal(m.score(images), s)
    one_by_one = np.array([m.score([im])[0] for im in images])
    np.testing.assert_allclose(s, one_by_one, rtol=1e-5, atol=1e-5)
    assert m.score([]).shape == (0,)


def test_entropy_ranks_a_flat_image_below_a_textured_one():
    m = create_metric("pyiqa:entropy")
    flat = Image.from_array(np.full((64, 64, 3), 128, np.uint8))
    s = m.score([flat, Image.from_array(scene(64, 64, 7))])
    assert s[0] == pytest.approx(0.0, abs=1e-6) and s[1] > 3


def test_create_metric_loads_once_per_process():
    first = create_metric("pyiqa:entropy")
    loads = load_count("pyiqa:entropy")
    assert loads >= 1  # exactly 1 unless another test pointed TORCH_HOME elsewhere (other weights, other load)
    assert create_metric("pyiqa:entropy") is first and create_metric(" pyiqa:entropy ") is first
    assert load_count("pyiqa:entropy") == loads


def test_offline_metric_set_creates_here():
    assert OFFLINE_METRICS == ("pyiqa:piqe", "pyiqa:entropy", "iqa_audit:noise-sigma", "iqa_audit:blur-effect")
    for name in OFFLINE_METRICS:
        assert create_metric(name).name == name


def test_score_wants_a_list_of_images(images):
    m = create_metric("pyiqa:entropy")
    with pytest.raises(BadImageError, match="a sequence"):
        m.score(images[0])
    with pytest.raises(BadImageError, match="image 1"):
        m.score([images[0], np.zeros((8, 8, 3), np.uint8)])


def test_an_image_too_small_for_pyiqa_is_a_score_error():
    with pytest.raises(ScoreError, match=r"pyiqa:piqe: image\(s\) \[0\] \(4x4\)"):
        create_metric("pyiqa:piqe").score([Image.from_array(np.zeros((4, 4, 3), np.uint8))])


def test_cuda_request_without_gpu_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match="CUDA"):
        create_metric("pyiqa:entropy", device="cuda")
    with pytest.raises(ConfigError, match="'cpu', 'cuda'"):
        create_metric("pyiqa:entropy", device="tpu")


# ----- Table 2 vs pyiqa ------------------------------------------------------------------------


def test_table2_direction_agrees_with_pyiqa_lower_better():
    from pyiqa.default_model_configs import DEFAULT_CONFIGS

    overlap = sorted(set(TABLE2) & set(DEFAULT_CONFIGS))
    assert len(overlap) >= 21  # the study's 21 pyiqa metrics, plus entropy
    wrong = [n for n in overlap if TABLE2[n].higher_better == bool(DEFAULT_CONFIGS[n].get("lower_better", False))]
    assert wrong == []


def test_range_outside_table2_comes_from_pyiqa():
    from iqa_audit.metrics.pyiqa_adapter import pyiqa_range

    r = pyiqa_range("musiq-ava")
    assert (r.lo, r.hi, r.higher_better) == (1.0, 10.0, True) and r.source.startswith("pyiqa score_range")
    r = pyiqa_range("afine_nr")  # lower_better in pyiqa
    assert (r.lo, r.hi, r.higher_better) == (-2.0, 2.0, False)
    assert pyiqa_range("pi") is TABLE2["pi"]  # pyiqa has no upper bound; Table 2 (assumed 0-20) wins


# ----- classic measures --------------------------------------------------------------------------


def test_noise_sigma_rises_with_added_noise():
    """The positive control: more static noise must read as more noise."""
    m = create_metric("iqa_audit:noise-sigma")
    clean = scene(192, 192, 11)
    sigmas = [0.0, 2.0, 5.0, 10.0, 20.0]
    est = m.score([Image.from_array(with_noise(clean, s, 100 + i)) for i, s in enumerate(sigmas)])
    assert np.all(np.diff(est) > 0), est
    # The estimate is in grey levels: close to the true sigma once noise dominates.
    np.testing.assert_allclose(est[2:], sigmas[2:], rtol=0.15)
    assert m.range == TypicalRange(0.0, 20.0, False, "iqa-audit: declared")


@settings(max_examples=8, deadline=None)
@given(sigma=st.floats(min_value=1.0, max_value=15.0), extra=st.floats(min_value=2.0, max_value=10.0), seed=st.integers(0, 2**16))
def test_noise_sigma_is_monotone_in_noise(sigma, extra, seed):
    m = create_metric("iqa_audit:noise-sigma")
    clean = scene(96, 96, seed)
    a, b = m.score(
        [Image.from_array(with_noise(clean, sigma, seed)), Image.from_array(with_noise(clean, sigma + extra, seed + 1))]
    )
    assert b > a


def test_blur_effect_rises_with_blur():
    from scipy.ndimage import gaussian_filter

    m = create_metric("iqa_audit:blur-effect")
    y, x = np.mgrid[0:128, 0:128]
    checker = np.where(((x // 8) + (y // 8)) % 2 == 0, 60.0, 190.0)  # hard edges: blur_effect near 0
    sharp = np.repeat(checker[:, :, None], 3, axis=2)
    imgs = [
        Image.from_array(np.clip(gaussian_filter(sharp, sigma=(s, s, 0)), 0, 255).astype(np.uint8))
        if s
        else Image.from_array(sharp.astype(np.uint8))
        for s in (0, 1, 2, 4)
    ]
    est = m.score(imgs)
    assert np.all(np.diff(est) > 0) and np.all((est >= 0) & (est <= 1)), est
    assert m.range.higher_better is False and (m.range.lo, m.range.hi) == (0.0, 1.0)


def test_classic_versions_name_skimage_algorithm_and_source():
    import skimage

    from iqa_audit.core.keys import code_digest
    from iqa_audit.metrics import classic

    for name, mid in (("iqa_audit:noise-sigma", "noise-sigma"), ("iqa_audit:blur-effect", "blur-effect")):
        m = create_metric(name)
        assert m.id == mid and m.version.startswith(f"skimage-{skimage.__version__}+")
        assert m.version.endswith(f"{mid}-1+code-{code_digest(classic)[:12]}")


# ----- user metrics ----------------------------------------------------------------------------------


def test_user_metric_by_module_path(plugin_on_path, images):
    m = create_metric(f"{PLUGIN}:sharpness")
    assert m.id == "plugin_metric_example-sharpness" and m.name == f"{PLUGIN}:sharpness"
    digest = hashlib.sha256((REPO / "tests" / "plugin_metric_example.py").read_bytes()).hexdigest()[:12]
    assert m.version == f"1+src-{digest}"  # the declared version, and the source it was scored with
    assert m.range == TypicalRange(0.0, 50.0, True, f"declared by {PLUGIN}:sharpness")
    s = m.score(images)
    assert s.shape == (4,) and np.all(np.isfinite(s))
    assert s[3] > s[0]  # the noisy image has more fine detail


def test_user_batch_metric_declared_by_dict_uses_file_hash_version(plugin_on_path, images):
    m = create_metric(f"{PLUGIN}:mean_brightness")
    digest = hashlib.sha256((REPO / "tests" / "plugin_metric_example.py").read_bytes()).hexdigest()[:12]
    assert m.version == f"file-{digest}"
    np.testing.assert_allclose(m.score(images), [im.pixels.mean() for im in images])


def test_undeclared_direction_says_how_to_declare(plugin_on_path):
    with pytest.raises(ConfigError) as e:
        create_metric(f"{PLUGIN}:undeclared")
    msg = str(e.value)
    assert "direction" in msg and "@iqa_audit.metrics.declare(lower_better=False, range=(0, 1)" in msg
    assert "IQA_AUDIT" in msg


def test_declare_refuses_a_missing_direction_at_import_time():
    with pytest.raises(ConfigError, match="lower_better"):

        @declare(range=(0, 1))
        def f(pixels):
            return 0.0

    with pytest.raises(ConfigError, match="range"):

        @declare(lower_better=True)
        def g(pixels):
            return 0.0


def test_user_metric_errors_name_the_metric_and_image(plugin_on_path, images):
    with pytest.raises(ScoreError, match=r"plugin_metric_example:broken: image\(s\) \[0\]") as e:
        create_metric(f"{PLUGIN}:broken").score(images)
    assert isinstance(e.value.__cause__, ValueError)  # the user's own traceback is kept
    with pytest.raises(ScoreError, match="score"):
        create_metric(f"{PLUGIN}:wrong_count").score(images[:2])


@pytest.mark.parametrize(
    "name,match",
    [
        (f"{PLUGIN}:missing_fn", "no such attribute"),
        (f"{PLUGIN}:not_callable", "callable"),
        ("no_such_module_xyz.sub:fn", "importable module"),
    ],
)
def test_bad_user_metric_names(plugin_on_path, name, match):
    with pytest.raises(ConfigError, match=match):
        create_metric(name)


def _fake_distribution(root: Path, metric_name: str, target: str) -> None:
    dist = root / "iqa_audit_fake_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: iqa-audit-fake-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{metric_name} = {target}\n")


def test_entry_point_metric(tmp_path, monkeypatch, plugin_on_path, images):
    name = f"fake-sharpness-{uuid.uuid4().hex[:8]}"  # unique: create_metric caches per process
    _fake_distribution(tmp_path, name, f"{PLUGIN}:sharpness")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert name in list_metric_names()
    m = create_metric(name)
    direct = create_metric(f"{PLUGIN}:sharpness")
    # The entry point's version: the declaration's and the source's, plus the distribution's.
    assert m.id == name and m.name == name and m.version == f"{direct.version}+iqa-audit-fake-plugin-1.0"
    np.testing.assert_array_equal(m.score(images), direct.score(images))


def test_entry_point_metric_must_be_declared(tmp_path, monkeypatch, plugin_on_path):
    name = f"fake-undeclared-{uuid.uuid4().hex[:8]}"
    _fake_distribution(tmp_path, name, f"{PLUGIN}:undeclared")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match="entry point .*direction"):
        create_metric(name)


# ----- names ------------------------------------------------------------------------------------


def test_list_metric_names():
    names = list_metric_names()
    assert set(OFFLINE_METRICS) <= set(names)
    assert {f"pyiqa:{n}" for n in TABLE2 if n not in ("visualquality-r1", "rali")} <= set(names)
    assert "pyiqa:fid" not in names and "pyiqa:lpips" not in names  # image-set and full-reference metrics


@pytest.mark.parametrize(
    "name,match",
    [
        ("pyiqa:musiqq", "pyiqa:musiq"),
        ("pyiqa:lpips", "FR"),
        ("pyiqa:fid", "image sets"),
        ("iqa_audit:noise", "iqa_audit:noise-sigma"),
        ("brisque", "pyiqa:brisque"),
        ("", "metric name"),
    ],
)
def test_unknown_names_suggest_close_matches(name, match):
    with pytest.raises(ConfigError, match=match):
        create_metric(name)


# ----- missing weights: a fast, clear skip ---------------------------------------------------------


def test_weight_needing_metric_is_unavailable_fast_with_empty_torch_home(tmp_path, monkeypatch):
    import pyiqa  # noqa: F401  the import itself is slow (seconds); the check must not be

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    t0 = time.perf_counter()
    with pytest.raises(MetricUnavailable) as e:
        create_metric("pyiqa:musiq")
    assert time.perf_counter() - t0 < 5
    msg = str(e.value)
    assert "musiq_koniq_ckpt-e95806b9.pth" in msg and str(tmp_path) in msg
    from iqa_audit.core.console import cli_command

    assert cli_command("weights", "--metric", "pyiqa:musiq") in msg


@pytest.mark.parametrize(
    "metric,wanted",
    [
        ("niqe", "niqe_modelparameters.mat"),  # pyiqa's own checkpoint, via load_file_from_url
        ("clipiqa", "RN50.pt"),  # CLIP backbone, via pyiqa's CLIP loader
        ("tres", "resnet50-0676ba61.pth"),  # torchvision backbone, via torch.hub
        # timm backbone via Hugging Face (offline); on a machine whose HF cache has it, the pyiqa file next
        ("hyperiqa", "models--timm--resnet50|HyperIQA-resnet50-koniq10k"),
    ],
)
def test_creation_blocks_every_download_path(tmp_path, monkeypatch, metric, wanted):
    """Even past the file check (a file the prediction missed), creation never downloads or waits."""
    from huggingface_hub import constants

    from iqa_audit.metrics.pyiqa_loading import build_pyiqa_model

    hf_offline_before = constants.HF_HUB_OFFLINE
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    t0 = time.perf_counter()
    with pytest.raises(MetricUnavailable, match=wanted):
        build_pyiqa_model(metric, "cpu", offline=True)
    assert time.perf_counter() - t0 < 20
    assert not any(p.is_file() for p in tmp_path.rglob("*"))  # nothing was written
    import pyiqa.utils.download_util as dl
    import torch.hub

    assert dl.download_url_to_file is torch.hub.download_url_to_file  # patches undone
    assert constants.HF_HUB_OFFLINE == hf_offline_before
