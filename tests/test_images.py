"""Bad input gets a documented conversion or an error naming the file and the fix."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage

from iqa_audit.errors import BadImageError
from iqa_audit.images import MAX_PIXELS, Image, decode_image, load_image

from .conftest import textured_image


def _encode(pil: PILImage.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    pil.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(BadImageError, match=r"nope\.png.*no such file.*Check the path"):
        load_image(tmp_path / "nope.png")


def test_directory_is_refused(tmp_path):
    with pytest.raises(BadImageError, match="a directory"):
        load_image(tmp_path)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    with pytest.raises(BadImageError, match=r"empty\.png.*0 bytes"):
        load_image(p)


def test_not_an_image(tmp_path):
    p = tmp_path / "page.png"
    p.write_bytes(b"<html>404 not found</html>")
    with pytest.raises(BadImageError, match=r"page\.png.*no image decoder recognises.*HTML error page"):
        load_image(p)


def test_truncated_png_and_jpeg(tmp_path):
    img = textured_image(200, 150)
    for fmt in ("PNG", "JPEG"):
        data = _encode(img.to_pil(), fmt)
        p = tmp_path / f"cut.{fmt.lower()}"
        p.write_bytes(data[: len(data) // 2])
        with pytest.raises(BadImageError, match=r"cut\..*truncated"):
            load_image(p)


def test_decompression_bomb_is_refused_without_decoding(tmp_path, monkeypatch):
    # A real bomb is a small file declaring a huge canvas; lower the limit to test cheaply.
    monkeypatch.setattr("iqa_audit.images.MAX_PIXELS", 100 * 100)
    p = tmp_path / "bomb.png"
    p.write_bytes(_encode(PILImage.new("RGB", (200, 200))))
    with pytest.raises(BadImageError, match=r"bomb\.png.*decompression bomb"):
        load_image(p)
    assert MAX_PIXELS >= 5632 * 3072  # the study's 4K outputs must load


def test_sixteen_bit_greyscale_is_scaled_to_eight_bits(tmp_path):
    a = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)
    p = tmp_path / "deep.png"
    p.write_bytes(_encode(PILImage.fromarray(a)))
    img = load_image(p)
    assert img.pixels.dtype == np.uint8 and img.pixels.shape == (64, 64, 3)
    expected = np.round(a.astype(float) / 257).astype(np.uint8)
    assert np.array_equal(img.pixels[:, :, 0], expected)


def test_rgba_is_composited_over_white():
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[0, 0, 3] = 0  # transparent pixel -> white
    rgba[1:, :, 3] = 255
    img = decode_image(_encode(PILImage.fromarray(rgba, "RGBA")))
    assert tuple(img.pixels[0, 0]) == (255, 255, 255)
    assert tuple(img.pixels[2, 2]) == (255, 0, 0)


@pytest.mark.parametrize("mode", ["P", "L", "LA", "1", "CMYK", "I;16"])
def test_other_modes_become_rgb(mode):
    base = textured_image(32, 24).to_pil()
    pil = base.convert("L").convert(mode) if mode in ("I;16", "1", "LA") else base.convert(mode)
    fmt = "TIFF" if mode == "CMYK" else "PNG"
    img = decode_image(_encode(pil, fmt), source=f"x.{fmt.lower()}")
    assert img.pixels.shape == (24, 32, 3) and img.pixels.dtype == np.uint8


def test_exact_bytes_are_kept():
    data = _encode(textured_image().to_pil(), "JPEG", quality=80)
    img = decode_image(data)
    assert img.data() == data and img.format == "jpeg"


def test_pixels_are_read_only():
    img = textured_image()
    with pytest.raises(ValueError):
        img.pixels[0, 0, 0] = 1


def test_wrong_array_gets_a_clear_error():
    with pytest.raises(BadImageError, match=r"expected an \(H, W, 3\) array"):
        Image(np.zeros((4, 4), np.uint8))
    with pytest.raises(BadImageError, match="dtype uint8"):
        Image(np.zeros((4, 4, 3), np.float32))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048), st.integers(0, 3))
def test_fuzzed_bytes_decode_or_raise_bad_image_error(noise, where):
    """Any byte string, or a real PNG with random bytes spliced in, either decodes to a
    valid RGB image or raises BadImageError: never a raw exception from deep inside."""
    good = _encode(textured_image(16, 12).to_pil())
    candidates = [noise, good[: len(noise) % len(good)], good[:40] + noise + good[40 + len(noise) :], noise + good]
    data = candidates[where]
    try:
        img = decode_image(data, source="fuzz.png")
    except BadImageError as e:
        assert "fuzz.png" in str(e)
    else:
        assert img.pixels.ndim == 3 and img.pixels.shape[2] == 3


def test_png_header_followed_by_garbage_names_the_file():
    good = _encode(textured_image(16, 12).to_pil())
    with pytest.raises(BadImageError, match=r"^garbage\.png: expected "):
        decode_image(good[:20] + b"\x00" * 30, source="garbage.png")
