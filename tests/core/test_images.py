"""Bad input gets a documented conversion or an error naming the file and the fix."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage
from PIL import PngImagePlugin

from iqa_audit.core.decode import MAX_PIXELS, decode_image, load_image
from iqa_audit.core.errors import BadImageError
from iqa_audit.core.images import Image
from tests.conftest import textured_image


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
    monkeypatch.setattr("iqa_audit.core.decode.MAX_PIXELS", 100 * 100)
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


# ----- one picture per file: frames and pages are refused, never silently dropped -------------------------

FRAMES = [(255, 255, 255), (200, 30, 30), (30, 200, 30)]  # a blank white title card first


def _frames(fmt: str, n: int = 3, **kw) -> bytes:
    first, *rest = [PILImage.new("RGB", (16, 12), c) for c in (FRAMES * 2)[:n]]
    buf = io.BytesIO()
    first.save(buf, format=fmt, save_all=True, append_images=rest, **kw)
    return buf.getvalue()


@pytest.mark.parametrize(
    "fmt, n, words",
    [
        ("GIF", 3, "animated GIF with 3 frames"),
        ("PNG", 2, "animated PNG (APNG) with 2 frames"),
        ("WEBP", 4, "animated WebP with 4 frames"),
        ("TIFF", 3, "multi-page TIFF with 3 pages"),
        ("MPO", 2, "MPO (multi-picture JPEG) with 2 pictures"),
    ],
)
def test_a_file_of_several_frames_is_refused_with_the_count_and_the_fix(fmt, n, words, tmp_path):
    path = tmp_path / f"clip.{fmt.lower()}"
    path.write_bytes(_frames(fmt, n))
    with pytest.raises(BadImageError) as e:
        load_image(path)
    text = str(e.value)
    assert str(path) in text and words in text
    assert "im.seek(N)" in text and f"N from 0 to {n - 1}" in text


def test_single_frame_files_of_the_same_formats_still_decode():
    for fmt in ("GIF", "PNG", "WEBP", "TIFF", "MPO"):
        img = decode_image(_frames(fmt, 1), source=fmt)
        assert img.size == (16, 12), fmt


def test_previews_of_the_first_picture_are_not_frames_of_their_own(tmp_path):
    """Camera JPEGs often carry an MPO 'Large Thumbnail'; TIFFs a reduced-resolution page."""
    mpo = bytearray(_frames("MPO", 2))
    tiff = mpo.index(b"MPF\0") + 4  # the MP index is a little TIFF directory (CIPA DC-007)
    ifd = tiff + struct.unpack("<I", mpo[tiff + 4 : tiff + 8])[0]
    for k in range(struct.unpack("<H", mpo[ifd : ifd + 2])[0]):
        e = ifd + 2 + 12 * k
        if struct.unpack("<H", mpo[e : e + 2])[0] == 0xB002:  # MP Entry: 16 bytes per picture
            second = tiff + struct.unpack("<I", mpo[e + 8 : e + 12])[0] + 16
            mpo[second : second + 4] = struct.pack("<L", 0x010001)  # MP type: Large Thumbnail (VGA)
    with PILImage.open(io.BytesIO(bytes(mpo))) as pil:
        assert pil.format == "MPO" and pil.n_frames == 2
    assert decode_image(bytes(mpo), source="camera.jpg").pixels[0, 0].tolist() == [255, 255, 255]

    import tifffile

    path = tmp_path / "with-preview.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(np.full((12, 16, 3), 255, np.uint8), photometric="rgb")
        tif.write(np.zeros((3, 4, 3), np.uint8), photometric="rgb", subfiletype=1)  # reduced resolution
    assert load_image(path).size == (16, 12)


# ----- metadata chunks over Pillow's 1 MiB default ----------------------------------------------------------


def _png_with_text(kind: str, size: int) -> bytes:
    info = PngImagePlugin.PngInfo()
    text = "".join(chr(65 + (i * 7919) % 26) for i in range(size))  # compresses, but not to nothing
    if kind == "tEXt":
        info.add_text("workflow", text)
    elif kind == "zTXt":
        info.add_text("workflow", text, zip=True)
    else:
        info.add_itxt("workflow", text, zip=True)
    return _encode(PILImage.fromarray(np.full((8, 8, 3), 77, np.uint8)), "PNG", pnginfo=info)


@pytest.mark.parametrize("kind", ["tEXt", "zTXt", "iTXt"])
def test_a_valid_png_with_a_large_text_chunk_is_read(kind):
    data = _png_with_text(kind, 3 * 1024 * 1024)  # a ComfyUI workflow can be this large
    assert decode_image(data, source="workflow.png").pixels[0, 0].tolist() == [77, 77, 77]


def test_a_valid_png_with_a_large_icc_profile_is_read_and_applied():
    from iqa_audit.core import icc

    big = icc.rgb_profile("Display P3 " + "x" * 1_500_000, ((0.68, 0.32), (0.265, 0.69), (0.15, 0.06)))
    px = np.zeros((4, 4, 3), np.uint8)
    px[:] = (234, 51, 35)
    img = decode_image(_encode(PILImage.fromarray(px), "PNG", icc_profile=big), source="big-profile.png")
    assert np.abs(img.pixels.astype(int) - (255, 0, 0)).max() <= 2


def test_a_text_chunk_past_the_limit_is_named_as_such_not_as_a_truncated_file():
    from iqa_audit.core.decode import MAX_PNG_CHUNK_BYTES

    with pytest.raises(BadImageError) as e:
        decode_image(_png_with_text("zTXt", MAX_PNG_CHUNK_BYTES + 1024), source="bomb.png")
    text = str(e.value)
    assert "bomb.png" in text and "16 MiB" in text and "decompression bombs" in text
    assert "truncated" not in text and "re-download" not in text


# ----- headers declaring no pixels ----------------------------------------------------------------------------


def _zero_png(w: int, h: int) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def _patched(fmt: str, find: bytes, offset: int, value: bytes, **kw) -> bytes:
    data = bytearray(_encode(PILImage.new("RGB", (6, 4), (9, 9, 9)), fmt, **kw))
    at = data.index(find) if find else 0
    data[at + offset : at + offset + len(value)] = value
    return bytes(data)


def _zero_tiff() -> bytes:
    data = bytearray(_encode(PILImage.new("RGB", (6, 4)), "TIFF"))
    ifd = struct.unpack("<I", data[4:8])[0]
    for k in range(struct.unpack("<H", data[ifd : ifd + 2])[0]):
        e = ifd + 2 + 12 * k
        if struct.unpack("<H", data[e : e + 2])[0] == 257:  # ImageLength
            data[e + 8 : e + 12] = b"\0\0\0\0"
    return bytes(data)


ZERO_SIZED = {
    "png-width": (lambda: _zero_png(0, 5), "PNG header declaring 0x5 pixels (zero width)"),
    "png-both": (lambda: _zero_png(0, 0), "0x0 pixels (zero width and height)"),
    "jpeg-width": (lambda: _patched("JPEG", b"\xff\xc0", 7, b"\0\0"), "JPEG header declaring 0x4 pixels"),
    "jpeg-height": (lambda: _patched("JPEG", b"\xff\xc0", 5, b"\0\0"), "JPEG header declaring 6x0 pixels"),
    "bmp-width": (lambda: _patched("BMP", b"", 18, struct.pack("<i", 0)), "BMP header declaring 0x4 pixels"),
    "webp-lossy": (lambda: _patched("WEBP", b"\x9d\x01\x2a", 3, b"\0\0"), "WebP header declaring 0x4 pixels"),
    "tiff-height": (_zero_tiff, "TIFF header declaring 6x0 pixels (zero height)"),
}


@pytest.mark.parametrize("case", sorted(ZERO_SIZED))
def test_a_header_declaring_zero_pixels_is_called_that(case, tmp_path):
    make, words = ZERO_SIZED[case]
    path = tmp_path / f"{case}.img"
    path.write_bytes(make())
    with pytest.raises(BadImageError) as e:
        load_image(path)
    text = str(e.value)
    assert str(path) in text and words in text and "no pixels" in text
    assert "HTML" not in text and "no image decoder recognises" not in text


def test_a_known_signature_with_a_broken_header_is_not_called_an_html_page():
    data = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDX" + b"\x00" * 17
    with pytest.raises(BadImageError, match="a PNG signature followed by a header no decoder accepts") as e:
        decode_image(data, source="odd.png")
    assert "HTML" not in str(e.value)
