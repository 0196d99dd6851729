"""vae-roundtrip: a real diffusers VAE encode/decode per step, on tiny random configs of every
supported class.

Each VAE is built from its real diffusers class at a few thousand parameters (shapes after
diffusers' fast tests and tests/test_diffusers_pipelines.py), saved with save_pretrained and
loaded back by the editor through `model=<folder>`: the same from_pretrained path a
downloaded Hugging Face model takes. Random weights do not reconstruct the image, which
only makes "the output differs from the input" easier; what is checked is the plumbing:
sizes, crops, determinism, tiling and the one-line errors.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from iqa_audit.chains.chain import ChainSpec, build_chain
from iqa_audit.core.errors import ConfigError
from iqa_audit.core.images import Image
from iqa_audit.editors import create_editor, editor_entry, estimate_cost, vae_loading, vae_roundtrip
from iqa_audit.editors.base import derive_seed
from iqa_audit.editors.diffusers_editor import EditorUnavailable
from iqa_audit.editors.vae_loading import DEFAULT_MODEL, VAE_CLASSES
from iqa_audit.editors.vae_roundtrip import snap_box
from iqa_audit.store.store import Store
from iqa_audit.tasks.table import get_task
from tests.conftest import textured_image

diffusers = pytest.importorskip("diffusers", reason="the diffusers extra is not installed (pip install -e '.[diffusers]')")
torch = pytest.importorskip("torch")

PROMPT = get_task("replicate").prompt(1)
TILE = 64  # px: the tiny AutoencoderKL-family configs' sample_size, i.e. their tile


def tiny_vae(class_name: str):
    """A random `class_name` VAE with a spatial multiple of 8, as SD's, FLUX.2's and Qwen-Image's."""
    torch.manual_seed(0)
    if class_name == "AutoencoderKL":
        return diffusers.AutoencoderKL(
            block_out_channels=(4, 8, 8, 8),
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            latent_channels=4,
            norm_num_groups=4,
            layers_per_block=1,
            sample_size=TILE,
        )
    if class_name == "AutoencoderKLFlux2":
        return diffusers.AutoencoderKLFlux2(
            block_out_channels=(4, 4, 4, 4),
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            latent_channels=4,
            norm_num_groups=1,
            layers_per_block=1,
            sample_size=TILE,
        )
    if class_name == "AutoencoderKLQwenImage":
        return diffusers.AutoencoderKLQwenImage(
            base_dim=4,
            z_dim=4,
            dim_mult=[1, 2, 4, 4],
            num_res_blocks=1,
            temperal_downsample=[False, True, True],
            latents_mean=[0.0] * 4,
            latents_std=[1.0] * 4,
        )
    raise AssertionError(class_name)


# A VAE-only repository keeps its config at the root (SD's sd-vae-ft-mse); a pipeline
# repository in vae/ (FLUX.2 [dev], Qwen-Image): subfolder=auto must find both.
LAYOUT = {"AutoencoderKL": "", "AutoencoderKLFlux2": "vae", "AutoencoderKLQwenImage": "vae"}


@pytest.fixture(scope="module", params=sorted(VAE_CLASSES))
def saved_vae(request, tmp_path_factory):
    class_name = request.param
    folder = tmp_path_factory.mktemp(class_name)
    tiny_vae(class_name).save_pretrained(folder / LAYOUT[class_name])
    return class_name, folder


@pytest.fixture(autouse=True)
def fresh_cache():
    """Each test loads its own VAE: hooks a test adds never reach another."""
    vae_loading._LAST.clear()
    vae_loading._REFUSED.clear()
    yield
    vae_loading._LAST.clear()
    vae_loading._REFUSED.clear()


def spec(folder, **params) -> str:
    return "vae-roundtrip:" + ",".join(f"{k}={v}" for k, v in {"model": folder, **params}.items())


def test_each_class_round_trips_crops_to_its_multiple_and_is_deterministic(saved_vae):
    class_name, folder = saved_vae
    seed = textured_image(101, 75)  # neither side a multiple of 8
    editor = create_editor(spec(folder))
    images, metas = [seed], []
    for step in (1, 2, 3):
        result = editor.edit(images[-1], get_task("replicate").prompt(step), seed=0, step=step)
        images.append(result.image)
        metas.append(dict(result.meta))
        json.dumps(metas[-1])  # the store keeps meta as JSON

    first = metas[0]
    assert first["vae_class"] == class_name and first["subfolder"] == LAYOUT[class_name] and first["multiple"] == 8
    # 101 x 75 -> 96 x 72: 5 columns (2 left, 3 right) and 3 rows (1 top, 2 bottom) cropped
    assert first["crop_box"] == [2, 1, 98, 73] and first["cropped_cols"] == 5 and first["cropped_rows"] == 3
    assert first["size"] == [96, 72] and images[1].size == (96, 72)
    assert all(m["cropped_rows"] == m["cropped_cols"] == 0 and m["size"] == [96, 72] for m in metas[1:])
    assert all(im.size == (96, 72) for im in images[1:])
    # a real round trip: the decoder's output, not the cropped input handed back
    cropped = seed.pixels[1:73, 2:98].astype(int)
    assert np.abs(images[1].pixels.astype(int) - cropped).mean() > 5
    assert not np.array_equal(images[2].pixels, images[1].pixels)
    # deterministic: a fresh editor (and a fresh load) gives the same bytes for the same step
    vae_loading._LAST.clear()
    again = create_editor(spec(folder)).edit(images[1], get_task("replicate").prompt(2), seed=5, step=2)
    assert again.image.data() == images[2].data()


def test_sample_mode_draws_with_a_per_step_seed(saved_vae):
    class_name, folder = saved_vae
    image = Image.from_array(textured_image(64, 48).pixels)
    sample = create_editor(spec(folder, mode="sample", base_seed=3))
    a = sample.edit(image, PROMPT, seed=1, step=4)
    assert a.meta["seed"] == derive_seed(3, 1, 4, "per-step")
    assert sample.edit(image, PROMPT, seed=1, step=4).image.data() == a.image.data()  # same run and step: same draw
    assert sample.edit(image, PROMPT, seed=1, step=5).image.data() != a.image.data()  # another step: another draw
    assert sample.edit(image, PROMPT, seed=2, step=4).image.data() != a.image.data()  # another run: another draw
    mean_editor = create_editor(spec(folder))
    mean = mean_editor.edit(image, PROMPT, seed=1, step=4)
    assert mean.image.data() != a.image.data() and "seed" not in mean.meta
    # mode=mean decodes the posterior's mean, written out here by hand
    loaded = mean_editor._vae()
    x = torch.from_numpy(image.pixels.astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
    x = x[:, :, None] if loaded.frames else x
    with torch.no_grad():
        y = loaded.vae.decode(loaded.vae.encode(x).latent_dist.mean).sample
    y = y[:, :, 0] if loaded.frames else y
    expected = ((y[0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.array_equal(mean.image.pixels, expected)


class Calls:
    """Counts forward passes of the VAE's encoder and decoder (tiled: one per tile)."""

    def __init__(self, vae):
        self.encoder = self.decoder = 0
        vae.encoder.register_forward_pre_hook(lambda *a: self._add("encoder"))
        vae.decoder.register_forward_pre_hook(lambda *a: self._add("decoder"))

    def _add(self, part):
        setattr(self, part, getattr(self, part) + 1)


def test_tiling_is_on_and_used_beyond_one_tile(saved_vae):
    class_name, folder = saved_vae
    editor = create_editor(spec(folder, tile_px=TILE))
    small = Image.from_array(textured_image(TILE, TILE).pixels)
    editor.edit(small, PROMPT, seed=0, step=1)  # loads the VAE
    vae = editor._vae().vae
    assert vae.use_tiling
    calls = Calls(vae)
    editor.edit(small, PROMPT, seed=0, step=1)
    assert (calls.encoder, calls.decoder) == (1, 1)  # one tile: one pass each
    calls.encoder = calls.decoder = 0
    large = Image.from_array(textured_image(3 * TILE, 2 * TILE + 8).pixels)
    out = editor.edit(large, PROMPT, seed=0, step=1)
    assert out.image.size == (3 * TILE, 2 * TILE + 8)  # tiles blended back to the whole image
    assert calls.encoder >= 6 and calls.decoder >= 6  # 4 x 3 tiles at a 48 px stride


def test_default_tile_is_the_vaes_own(saved_vae):
    """tile_px=0: AutoencoderKL-family VAEs tile at their config's sample_size (64 here),
    Qwen-Image's at its fixed 256 px; the tile size is restored for a VAE shared with an
    editor that set another."""
    class_name, folder = saved_vae
    own = 256 if class_name == "AutoencoderKLQwenImage" else TILE
    create_editor(spec(folder, tile_px=128)).edit(textured_image(64, 64), PROMPT, seed=0, step=1)
    editor = create_editor(spec(folder))  # shares the loaded VAE (the process keeps the last one)
    editor.edit(textured_image(64, 64), PROMPT, seed=0, step=1)
    vae = editor._vae().vae
    assert getattr(vae, "tile_sample_min_height", getattr(vae, "tile_sample_min_size", None)) == own


def test_a_chain_through_the_builder_lands_in_the_store_and_is_reused(saved_vae, tmp_path, monkeypatch):
    class_name, folder = saved_vae
    store = Store(tmp_path / "store")
    loads = []
    real = vae_roundtrip.load_vae

    def counting_load(request):
        loads.append(request)
        return real(request)

    monkeypatch.setattr(vae_roundtrip, "load_vae", counting_load)
    chain_spec = ChainSpec(seed="grid-perspective", editor=spec(folder), steps=2, long_side=100)
    try:
        chain = build_chain(store, chain_spec)
        step0, step1, step2 = chain.ok_steps
        out1, out2 = (store.get_image(s.image_hash, s.ext) for s in (step1, step2))
        assert out1.width % 8 == 0 and out1.height % 8 == 0 and out2.size == out1.size
        assert step1.meta["vae_class"] == class_name and step1.meta["size"] == list(out1.size)
        assert len(loads) == 1
        again = build_chain(store, chain_spec)  # cached: nothing is encoded again
        assert [s.image_hash for s in again.ok_steps] == [s.image_hash for s in chain.ok_steps] and len(loads) == 1
    finally:
        store.close()


# ----- errors: one line each ---------------------------------------------------------------------


def one_line(error: BaseException) -> str:
    message = str(error)
    assert "\n" not in message, message
    return message


def test_missing_weights_name_the_model_and_the_fetch_command(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    editor = create_editor("vae-roundtrip:model=iqa-audit-tests/no-such-vae")
    with pytest.raises(EditorUnavailable) as info:
        editor.edit(textured_image(64, 64), PROMPT, seed=0, step=1)
    message = one_line(info.value)
    assert "iqa-audit-tests/no-such-vae" in message and "HF_HUB_OFFLINE=1" in message
    assert 'hf download iqa-audit-tests/no-such-vae --include "vae/*"' in message
    assert "hf auth login" not in message  # not a gated model
    assert isinstance(info.value, ConfigError)  # a setup problem, not a failed step


def test_a_refused_vae_is_refused_at_once_for_the_rest_of_the_run(monkeypatch):
    """Every chain asks for the VAE; an offline miss costs the Hub client's retries each time."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    looked = []
    real = vae_loading._find_config
    monkeypatch.setattr(vae_loading, "_find_config", lambda *a: looked.append(1) or real(*a))
    messages = []
    for _ in range(3):
        with pytest.raises(EditorUnavailable) as info:
            create_editor("vae-roundtrip:model=iqa-audit-tests/no-such-vae").edit(textured_image(64, 64), PROMPT, seed=0, step=1)
        messages.append(str(info.value))
    assert len(looked) == 1 and len(set(messages)) == 1


def test_the_default_flux2_vae_names_the_login_it_needs(monkeypatch):
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(DEFAULT_MODEL, "vae/config.json"), str):
        pytest.skip("FLUX.2 [dev]'s VAE is in this machine's Hugging Face cache")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EditorUnavailable) as info:
        create_editor("vae-roundtrip").edit(textured_image(64, 64), PROMPT, seed=0, step=1)
    message = one_line(info.value)
    assert 'hf download black-forest-labs/FLUX.2-dev --include "vae/*"' in message
    assert "hf auth login" in message


@pytest.mark.parametrize(
    "params, words",
    [
        ("mode=median", "mode"),
        ("mode=sample,base_seed=-1", "base_seed"),
        ("dtype=float8", "dtype"),
        ("tile_px=100", "tile_px"),
        ("subfolder=../vae", "subfolder"),
        ("device=", "device"),
    ],
)
def test_bad_parameters_are_one_line_config_errors(params, words):
    with pytest.raises(ConfigError) as info:
        create_editor(f"vae-roundtrip:{params}")
    assert words in one_line(info.value)


def test_unknown_parameter_lists_the_editors_parameters():
    with pytest.raises(ConfigError, match="base_seed, device, dtype, mode, model, subfolder, tile_px"):
        create_editor("vae-roundtrip:seed_mode=fixed")


def test_a_subfolder_the_model_lacks_lists_the_ones_it_has(tmp_path):
    tiny_vae("AutoencoderKLFlux2").save_pretrained(tmp_path / "vae")
    (tmp_path / "unet").mkdir()  # a folder without a config is not offered
    with pytest.raises(ConfigError) as info:
        create_editor(spec(tmp_path, subfolder="decoder")).edit(textured_image(64, 64), PROMPT, seed=0, step=1)
    message = one_line(info.value)
    assert "decoder/config.json" in message and "subfolder= one of vae." in message
    with pytest.raises(ConfigError, match="one of vae"):
        create_editor(spec(tmp_path, subfolder="none")).edit(textured_image(64, 64), PROMPT, seed=0, step=1)


def test_a_model_that_is_not_a_supported_vae_says_which_classes_are(tmp_path):
    (tmp_path / "vae").mkdir()
    (tmp_path / "vae" / "config.json").write_text(json.dumps({"_class_name": "UNet2DConditionModel"}))
    with pytest.raises(ConfigError) as info:
        create_editor(spec(tmp_path)).edit(textured_image(64, 64), PROMPT, seed=0, step=1)
    message = one_line(info.value)
    assert "'UNet2DConditionModel'" in message and all(name in message for name in VAE_CLASSES)


def test_an_image_smaller_than_one_latent_is_refused(saved_vae):
    _, folder = saved_vae
    with pytest.raises(ConfigError, match="at least 8 px per side"):
        create_editor(spec(folder)).edit(textured_image(7, 40), PROMPT, seed=0, step=1)


def test_the_table_row_is_free_and_names_flux2_by_default():
    entry = editor_entry("vae-roundtrip")
    assert entry.defaults["model"] == "black-forest-labs/FLUX.2-dev" and entry.defaults["subfolder"] == "auto"
    assert entry.cost is None and estimate_cost("vae-roundtrip", 100) is None
    editor = create_editor("vae-roundtrip:model=stabilityai/sd-vae-ft-mse,subfolder=")
    assert editor.paid is False and editor.id == "vae-roundtrip" and editor.params()["subfolder"] == "none"
    json.dumps(dict(editor.params()))


@pytest.mark.parametrize(
    ("width", "height", "box"), [(96, 72, (0, 0, 96, 72)), (101, 75, (2, 1, 98, 73)), (17, 16, (0, 0, 16, 16))]
)
def test_snap_box_centre_crops_to_the_multiple(width, height, box):
    assert snap_box(width, height, 8) == box
