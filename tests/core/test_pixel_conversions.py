"""One conversion table for every way pixels come in: files (load_image / decode_image, which
imported chains and editor outputs use), PIL images (Image.from_pil) and arrays
(Image.from_array, which the suite's own error messages recommend). The same samples give
the same 8-bit RGB pixels whichever way they came, by the rule the images module documents.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image as PILImage

from iqa_audit.core import samples
from iqa_audit.core.decode import decode_image, load_image
from iqa_audit.core.errors import BadImageError
from iqa_audit.core.images import Image
from iqa_audit.core.samples import CONVERSIONS
from iqa_audit.datasets.importer import import_manifest
from iqa_audit.datasets.registry import imported_chain_key

H, W = 24, 40
RAMP16 = np.linspace(0, 65535, H * W).round().astype(np.uint16).reshape(H, W)


def encode(pil: PILImage.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    pil.save(buf, format=fmt, **kw)
    return buf.getvalue()


def png16(samples: np.ndarray, trns: tuple[int, ...] | None = None) -> bytes:
    """A 16-bit PNG written by hand (Pillow writes 16-bit greyscale only): grey, grey+alpha, RGB or RGBA."""
    a = samples if samples.ndim == 3 else samples[:, :, None]
    h, w, c = a.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    raw = b"".join(b"\x00" + a[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    extra = chunk(b"tRNS", b"".join(struct.pack(">H", v) for v in trns)) if trns is not None else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0))
        + extra
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def grey(levels: np.ndarray) -> np.ndarray:
    return np.repeat(levels[:, :, None], 3, axis=2)


def over_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The expected compositing, in floats: within one level of Pillow's integer arithmetic."""
    a = alpha.astype(np.float64)[:, :, None] / 255.0
    return rgb.astype(np.float64) * a + 255.0 * (1.0 - a)


def rng_pixels(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


# ----- 16-bit: scaled by 1/257, like a 16-bit PNG ------------------------------------------------


def test_a_uint16_array_is_scaled_like_the_same_data_in_a_16_bit_png(tmp_path):
    expected = np.round(RAMP16 / 257.0).astype(np.uint8)
    (tmp_path / "ramp.png").write_bytes(encode(PILImage.fromarray(RAMP16)))  # mode I;16
    from_file = load_image(tmp_path / "ramp.png").pixels
    from_array = Image.from_array(RAMP16).pixels
    assert np.array_equal(from_file, grey(expected))
    assert np.array_equal(from_array, from_file)
    assert (from_array == 255).mean() < 0.01  # clipping made 99 % of the ramp 255


@pytest.mark.parametrize("channels", [2, 3, 4], ids=["grey-alpha", "rgb", "rgba"])
def test_16_bit_colour_pngs_are_read_at_full_depth_and_agree_with_their_arrays(channels):
    planes = [RAMP16, RAMP16[::-1], 65535 - RAMP16, np.full_like(RAMP16, 40000)]
    samples = np.stack(planes[:channels], axis=2)
    from_file = decode_image(png16(samples), source="deep.png").pixels
    from_array = Image.from_array(samples).pixels
    assert np.array_equal(from_file, from_array)
    if channels == 3:  # v / 257, not Pillow's high byte (v >> 8), which differs for a quarter of the levels
        assert np.array_equal(from_file[:, :, 0], np.round(RAMP16 / 257.0).astype(np.uint8))


# ----- alpha over white, everywhere ----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["RGBA", "LA", "PA", "RGBa", "La"])
def test_alpha_is_composited_over_white_from_files_pil_images_and_arrays(mode):
    rgba = rng_pixels((H, W, 4))
    rgba[0, 0, 3], rgba[0, 1, 3] = 0, 255
    rgba_pil = PILImage.fromarray(rgba, "RGBA")
    pil = {"PA": lambda: rgba_pil.convert("P").convert("PA"), "La": lambda: rgba_pil.convert("LA").convert("La")}.get(
        mode, lambda: rgba_pil.convert(mode)
    )()
    straight = pil.convert("LA").convert("RGBA") if mode == "La" else pil.convert("RGBA")  # Pillow: La -> LA only
    want = Image.from_array(np.asarray(straight)).pixels
    assert np.array_equal(Image.from_pil(pil).pixels, want)
    if mode in ("RGBA", "LA"):  # the modes a PNG stores as they are
        assert np.array_equal(decode_image(encode(pil)).pixels, want)
        assert np.array_equal(Image.from_array(np.asarray(pil)).pixels, want)
    assert tuple(want[0, 0]) == (255, 255, 255)  # fully transparent: white
    rgba_now = np.asarray(straight)
    assert np.abs(want.astype(int) - over_white(rgba_now[:, :, :3], rgba_now[:, :, 3])).max() <= 1


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32", "float64"])
def test_an_rgba_array_of_any_sample_type_is_composited_like_its_8_bit_file(dtype):
    rgba8 = rng_pixels((H, W, 4), seed=3)
    scale = {"uint8": 1, "uint16": 257, "float32": 1 / 255, "float64": 1 / 255}[dtype]
    samples = (rgba8.astype(np.float64) * scale).astype(dtype)
    want = decode_image(encode(PILImage.fromarray(rgba8, "RGBA"))).pixels
    assert np.array_equal(Image.from_array(samples).pixels, want)


# ----- tRNS colour keys -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "1"])
def test_a_trns_colour_key_makes_exactly_those_pixels_white(mode):
    rgb = rng_pixels((H, W, 3), seed=5)
    pil = PILImage.fromarray(rgb).convert(mode)
    samples = np.asarray(pil)
    key = samples[0, 0].tolist() if mode == "RGB" else int(samples[0, 0])
    data = encode(pil, transparency=tuple(key) if mode == "RGB" else key)
    out = decode_image(data, source=f"keyed-{mode}.png").pixels
    opaque = np.asarray(pil.convert("RGB"))
    keyed = np.all(samples == key, axis=2) if mode == "RGB" else samples == key
    assert keyed[0, 0] and not keyed.all()
    assert np.all(out[keyed] == 255)
    assert np.array_equal(out[~keyed], opaque[~keyed])


def test_a_16_bit_trns_key_is_compared_at_16_bits():
    samples = RAMP16.copy()
    samples[0, 0] = samples[0, 1] = 1000  # one 16-bit level, not every level that rounds to 4
    out = decode_image(png16(samples, trns=(1000,))).pixels
    assert tuple(out[0, 0]) == tuple(out[0, 1]) == (255, 255, 255)
    neighbours = (samples != 1000) & (np.round(samples / 257.0) == round(1000 / 257))
    assert neighbours.any() and np.all(out[neighbours] == round(1000 / 257))
    rgb = np.stack([RAMP16, RAMP16, RAMP16], axis=2)
    out = decode_image(png16(rgb, trns=(1000, 1000, 1000))).pixels
    assert np.all(out[RAMP16 == 1000] == 255) and not np.all(out == 255)


# ----- floats: [0, 1], anything else refused with the fix ----------------------------------------------


def test_a_float_tiff_holding_0_to_255_is_refused_with_the_fix_not_saturated(tmp_path):
    levels = (RAMP16 / 257.0).astype(np.float32)  # 0..255 in an "F" TIFF
    (tmp_path / "f.tif").write_bytes(encode(PILImage.fromarray(levels), "TIFF"))
    for load in (lambda: load_image(tmp_path / "f.tif"), lambda: Image.from_array(levels)):
        with pytest.raises(BadImageError) as info:
            load()
        text = str(info.value)
        assert "[0, 1]" in text and "divide by 255" in text and "255" in text


def test_a_float_image_in_0_1_agrees_between_file_and_array(tmp_path):
    unit = (RAMP16 / 65535.0).astype(np.float32)
    (tmp_path / "f.tif").write_bytes(encode(PILImage.fromarray(unit), "TIFF"))
    want = grey(np.round(unit.astype(np.float64) * 255).astype(np.uint8))
    assert np.array_equal(load_image(tmp_path / "f.tif").pixels, want)
    assert np.array_equal(Image.from_array(unit).pixels, want)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -0.01, 1.01])
def test_nan_infinite_or_overshooting_floats_are_refused(bad):
    a = np.full((4, 4, 3), 0.5)
    a[1, 2, 0] = bad
    with pytest.raises(BadImageError, match=r"Image\.from_array"):
        Image.from_array(a)


# ----- 32-bit integers: as the docstring says ----------------------------------------------------------


def test_32_bit_integer_images_are_16_bit_levels_from_files_and_arrays(tmp_path):
    i32 = RAMP16.astype(np.int32)
    (tmp_path / "i.tif").write_bytes(encode(PILImage.fromarray(i32), "TIFF"))  # mode I
    want = Image.from_array(RAMP16).pixels
    assert np.array_equal(load_image(tmp_path / "i.tif").pixels, want)
    for dtype in (np.int32, np.int64, np.uint32):
        assert np.array_equal(Image.from_array(RAMP16.astype(dtype)).pixels, want)
    assert np.array_equal(Image.from_array(np.zeros((3, 3), np.int64)).pixels, np.zeros((3, 3, 3), np.uint8))


@pytest.mark.parametrize(
    "values, fix",
    [((0, 70000), "65535"), ((-5, 300), "65535"), ((0, 255), "astype(np.uint8)")],
    ids=["wider-than-16-bit", "negative", "8-bit-or-16-bit"],
)
def test_integer_samples_of_unclear_depth_are_refused_with_the_fix(values, fix, tmp_path):
    a = np.linspace(*values, H * W).round().astype(np.int32).reshape(H, W)
    (tmp_path / "i.tif").write_bytes(encode(PILImage.fromarray(a), "TIFF"))
    for load in (lambda: load_image(tmp_path / "i.tif"), lambda: Image.from_array(a)):
        with pytest.raises(BadImageError, match=fix.replace("(", r"\(").replace(")", r"\)")):
            load()


def test_the_docstring_states_every_rule_the_code_applies():
    doc = samples.__doc__
    for rule in ("round(v / 257)", "round(v * 255)", "[0, 1]", "0..65535", "1..255", "over white", "tRNS"):
        assert rule in doc, rule
    assert [c.kind for c in CONVERSIONS] == ["bool", "uint8", "uint16", "int", "float"]
    for dtype, kind in (
        (bool, "bool"),
        (np.uint8, "uint8"),
        (np.uint16, "uint16"),
        (np.int32, "int"),
        (np.int64, "int"),
        (np.uint32, "int"),
        (np.float16, "float"),
        (np.float32, "float"),
    ):
        assert samples.sample_kind(np.dtype(dtype)) == kind


# ----- every mode: file, PIL image and array agree --------------------------------------------------------

# (mode, how to make it from an 8-bit RGB texture, file format)
MODES = {
    "1": (lambda p: p.convert("1"), "PNG"),
    "L": (lambda p: p.convert("L"), "PNG"),
    "LA": (lambda p: p.convert("LA"), "PNG"),
    "P": (lambda p: p.convert("P"), "PNG"),
    "RGB": (lambda p: p, "PNG"),
    "RGBA": (lambda p: p.convert("RGBA"), "PNG"),
    "I;16": (lambda p: PILImage.fromarray(np.asarray(p.convert("L")).astype(np.uint16) * 257), "PNG"),
    "I": (lambda p: PILImage.fromarray(np.asarray(p.convert("L")).astype(np.int32) * 257), "TIFF"),
    "F": (lambda p: PILImage.fromarray(np.asarray(p.convert("L")).astype(np.float32) / 255), "TIFF"),
    "CMYK": (lambda p: p.convert("CMYK"), "TIFF"),
    "YCbCr": (lambda p: p.convert("YCbCr"), "TIFF"),
}
ARRAY_MODES = {"1", "L", "LA", "RGB", "RGBA", "I;16", "I", "F"}  # np.asarray(pil) holds the samples themselves


@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_mode_gives_the_same_pixels_from_a_file_a_pil_image_and_an_array(mode, tmp_path):
    make, fmt = MODES[mode]
    pil = make(PILImage.fromarray(rng_pixels((H, W, 3), seed=7)))
    assert pil.mode == mode
    (tmp_path / f"x.{fmt.lower()}").write_bytes(encode(pil, fmt))
    from_file = load_image(tmp_path / f"x.{fmt.lower()}").pixels
    assert from_file.shape == (H, W, 3) and from_file.dtype == np.uint8
    assert np.array_equal(Image.from_pil(pil).pixels, from_file)
    if mode in ARRAY_MODES:
        assert np.array_equal(Image.from_array(np.asarray(pil)).pixels, from_file)
    if mode in ("L", "I;16", "I", "F", "1"):  # one grey level per pixel, replicated
        assert np.array_equal(from_file[:, :, 0], from_file[:, :, 2])


def test_arrays_of_other_shapes_and_types_get_a_clear_error():
    for bad in (
        np.zeros((4, 4, 5), np.uint8),
        np.zeros((4,), np.uint8),
        np.zeros((4, 4, 3), np.complex64),
        np.zeros((0, 4, 3), np.uint8),
    ):
        with pytest.raises(BadImageError, match=r"Image\.from_array"):
            Image.from_array(bad)


# ----- imported chains use the same table ------------------------------------------------------------


def test_imported_chains_decode_by_the_same_table(store, tmp_path):
    d = tmp_path / "deep"
    d.mkdir()
    rgba = rng_pixels((H, W, 4), seed=9)
    files = {
        0: encode(PILImage.fromarray(RAMP16)),
        1: encode(PILImage.fromarray(rgba, "RGBA")),
        2: png16(np.stack([RAMP16] * 3, 2)),
    }
    rows = ["seed,setting,run,step,path"]
    for k, data in files.items():
        (d / f"s{k}.png").write_bytes(data)
        rows.append(f"deep,import,0,{k},s{k}.png")
    (d / "manifest.csv").write_text("\n".join(rows) + "\n")
    summary = import_manifest(store, d / "manifest.csv")
    steps = {s.step: s for s in store.steps(imported_chain_key(summary.dataset, "import", "deep", 0))}
    stored = {k: store.get_image(s.image_hash, s.ext).pixels for k, s in steps.items()}
    assert np.array_equal(stored[0], Image.from_array(RAMP16).pixels)
    assert np.array_equal(stored[1], Image.from_array(rgba).pixels)
    assert np.array_equal(stored[2], Image.from_array(np.stack([RAMP16] * 3, 2)).pixels)
    # ... and a float file holding 0..255 is refused at import, nothing written.
    (d / "s3.tif").write_bytes(encode(PILImage.fromarray((RAMP16 / 257.0).astype(np.float32)), "TIFF"))
    (d / "manifest.csv").write_text("\n".join(rows + ["deep,import,1,0,s3.tif"]) + "\n")
    with pytest.raises(Exception, match="divide by 255"):
        import_manifest(store, d / "manifest.csv", name="again")
