"""Every picture is audited as sRGB: embedded ICC profiles (RGB, grey, CMYK, Lab) and PNG
gAMA/cHRM/sRGB chunks are converted by littlecms, on every way in (files, imported chains,
seed folders, editor outputs, PIL images). A profile that cannot be used is an error that
names the file and the fix, never ignored.

The wide-gamut profiles are built here (iqa_audit.core.icc, a matrix/TRC writer); the expected
sRGB values are published ones (CSS Color 4 and Adobe RGB references) or the sRGB formula
worked out below, independently of littlecms.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import ImageCms, PngImagePlugin

from iqa_audit.chains.step import make_step
from iqa_audit.core import colour, icc
from iqa_audit.core.decode import decode_image, load_image
from iqa_audit.core.errors import BadImageError
from iqa_audit.core.images import Image
from iqa_audit.datasets.importer import import_manifest
from iqa_audit.datasets.registry import imported_chain_key
from iqa_audit.editors.base import EditResult
from iqa_audit.seeds import seeds_from_dir
from tests.conftest import textured_image

P3 = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))  # Display P3: DCI-P3 primaries, D65, sRGB curve
ADOBE = ((0.64, 0.33), (0.21, 0.71), (0.15, 0.06))  # Adobe RGB (1998): D65, gamma 563/256
PROPHOTO = ((0.7347, 0.2653), (0.1596, 0.8404), (0.0366, 0.0001))  # ROMM RGB: D50, gamma 1.8
D50_XY = (0.3457, 0.3585)

DISPLAY_P3 = icc.rgb_profile("Display P3", P3)
ADOBE_RGB = icc.rgb_profile("Adobe RGB (1998)", ADOBE, trc=563 / 256)
PROPHOTO_RGB = icc.rgb_profile("ProPhoto RGB", PROPHOTO, D50_XY, trc=1.8)
GREY_18 = icc.grey_profile("Gray Gamma 1.8", 1.8)
LCMS_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()

# Pure sRGB red and green written in other spaces (CSS Color 4: color(display-p3 0.9175
# 0.2003 0.1386); Adobe RGB: (219, 0, 0) and (144, 255, 60)): each must come back as the pure colour.
KNOWN = {
    "Display P3": (DISPLAY_P3, [((234, 51, 35), (255, 0, 0))]),
    "Adobe RGB": (ADOBE_RGB, [((219, 0, 0), (255, 0, 0)), ((144, 255, 60), (0, 255, 0))]),
}


def encode(pil: PILImage.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    pil.save(buf, format=fmt, **kw)
    return buf.getvalue()


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """The sRGB transfer function (IEC 61966-2-1), to 8-bit levels."""
    v = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(linear, 1 / 2.4) - 0.055)
    return np.round(v * 255)


def patch(colour, size=(8, 6)) -> np.ndarray:
    px = np.zeros((size[1], size[0], 3), np.uint8)
    px[:] = colour
    return px


# Lossless or near-lossless encodings of each format that carries an ICC profile.
FORMATS = {"PNG": {}, "JPEG": {"quality": 100, "subsampling": 0}, "WEBP": {"lossless": True}, "TIFF": {}}


# ----- RGB profiles -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("space", sorted(KNOWN))
def test_a_wide_gamut_file_decodes_to_the_srgb_colour_it_shows(space, fmt):
    profile, pairs = KNOWN[space]
    for written, srgb in pairs:
        data = encode(PILImage.fromarray(patch(written)), fmt, icc_profile=profile, **FORMATS[fmt])
        img = decode_image(data, source=f"picture.{fmt.lower()}")
        assert np.abs(img.pixels.astype(int) - srgb).max() <= 2, (written, img.pixels[0, 0])
        assert img.colour is not None and space.split()[0] in img.colour and "sRGB" in img.colour


def test_the_same_picture_saved_in_p3_or_srgb_decodes_to_the_same_pixels():
    """The issue's case: a faithful editor must see the same picture whichever space it was saved in."""
    srgb = textured_image(96, 64).pixels
    to_p3 = ImageCms.buildTransform(
        ImageCms.ImageCmsProfile(io.BytesIO(LCMS_SRGB)), ImageCms.ImageCmsProfile(io.BytesIO(DISPLAY_P3)), "RGB", "RGB"
    )
    p3 = to_p3.apply(PILImage.fromarray(srgb))  # the picture's own colours, written as P3 numbers
    assert np.abs(np.asarray(p3).astype(int) - srgb).mean() > 4  # different numbers on disk ...
    got = decode_image(encode(p3, "PNG", icc_profile=DISPLAY_P3), source="p3.png").pixels
    diff = np.abs(got.astype(int) - srgb)
    # ... the same colours decoded, to 8-bit rounding (a P3 code step spans up to a few sRGB
    # levels in saturated shadows, hence the percentile).
    assert np.percentile(diff, 99) <= 2 and diff.mean() < 0.5


def test_a_gamma_only_difference_is_converted_by_the_profiles_curve():
    """ProPhoto (gamma 1.8, D50) grey and a grey-gamma-1.8 profile: neutral 128 is the
    linear light (128/255)^1.8, re-encoded with the sRGB curve."""
    want = srgb_encode(np.array((128 / 255) ** 1.8))
    got = decode_image(encode(PILImage.fromarray(patch((128, 128, 128))), "PNG", icc_profile=PROPHOTO_RGB)).pixels
    assert np.abs(got.astype(int) - want).max() <= 1
    grey = decode_image(encode(PILImage.fromarray(np.full((4, 4), 128, np.uint8)), "JPEG", icc_profile=GREY_18, quality=100))
    assert np.abs(grey.pixels.astype(int) - want).max() <= 1
    assert "Gray Gamma 1.8" in grey.colour


def test_grey_samples_under_an_rgb_profile_are_that_spaces_neutrals():
    """Pillow keeps `icc_profile` through convert('L'), so grey PNGs with an RGB profile exist."""
    want = srgb_encode(np.array((128 / 255) ** (563 / 256)))
    got = decode_image(encode(PILImage.fromarray(np.full((4, 4), 128, np.uint8)), "PNG", icc_profile=ADOBE_RGB)).pixels
    assert np.abs(got.astype(int) - want).max() <= 1


@pytest.mark.parametrize("profile", [LCMS_SRGB, icc.rgb_profile("sRGB written by hand")], ids=["lcms-sRGB", "own-sRGB"])
def test_an_srgb_profile_leaves_the_pixels_exactly_as_they_are(profile):
    px = textured_image().pixels
    for fmt in ("PNG", "TIFF"):
        img = decode_image(encode(PILImage.fromarray(px), fmt, icc_profile=profile))
        assert np.array_equal(img.pixels, px)
        assert img.colour is None


def test_16_bit_data_is_scaled_then_colour_managed():
    """A 16-bit P3 PNG: the 1/257 rule first, then the profile, like its 8-bit twin."""
    levels = np.array([[234, 51, 35], [128, 128, 128], [255, 255, 255]], np.uint16)
    rgb16 = np.repeat((levels * 257)[None], 4, axis=0)
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in rgb16)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 3, 4, 16, 2, 0, 0, 0))
        + chunk(b"iCCP", b"Display P3\x00\x00" + zlib.compress(DISPLAY_P3))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    got = decode_image(data, source="p3-16.png")
    eight = decode_image(encode(PILImage.fromarray(levels.astype(np.uint8)[None].repeat(4, 0)), "PNG", icc_profile=DISPLAY_P3))
    assert np.array_equal(got.pixels, eight.pixels)
    assert np.abs(got.pixels[0, 0].astype(int) - (255, 0, 0)).max() <= 2
    assert "Display P3" in got.colour


def test_alpha_is_composited_over_srgb_white_after_the_conversion():
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = (234, 51, 35)
    rgba[..., 3] = 255
    rgba[:2, :, 3] = 0  # transparent half: white, whatever the profile does to its colour
    got = decode_image(encode(PILImage.fromarray(rgba, "RGBA"), "PNG", icc_profile=DISPLAY_P3)).pixels
    assert (got[:2] == 255).all()
    assert np.abs(got[2:].astype(int) - (255, 0, 0)).max() <= 2


# ----- PNG colour chunks ----------------------------------------------------------------------------------


def png_with(pixels: np.ndarray, **chunks: bytes) -> bytes:
    info = PngImagePlugin.PngInfo()
    for tag, data in chunks.items():
        info.add(tag.encode(), data)
    return encode(PILImage.fromarray(pixels), "PNG", pnginfo=info)


def gama(gamma: float) -> bytes:
    return struct.pack(">I", round(gamma * 100000))


def chrm(white, primaries) -> bytes:
    return struct.pack(">8I", *(round(v * 100000) for v in (*white, *(c for xy in primaries for c in xy))))


def test_a_linear_gamma_png_is_converted():
    """gAMA 1.0: the samples are linear light; 128 -> sRGB 188."""
    want = srgb_encode(np.array(128 / 255))
    for px in (patch((128, 128, 128)), np.full((4, 4), 128, np.uint8)):  # RGB and grey
        img = decode_image(png_with(px, gAMA=gama(1.0)), source="linear.png")
        assert np.abs(img.pixels.astype(int) - want).max() <= 1
        assert "gAMA" in img.colour


def test_chrm_primaries_without_gama_use_the_srgb_curve():
    img = decode_image(png_with(patch((234, 51, 35)), cHRM=chrm(icc.D65_XY, P3)), source="p3-chunks.png")
    assert np.abs(img.pixels.astype(int) - (255, 0, 0)).max() <= 2
    assert "cHRM" in img.colour


def test_the_srgb_stand_in_chunks_and_the_srgb_chunk_leave_pixels_alone():
    px = textured_image().pixels
    for chunks in (
        {"gAMA": gama(0.45455)},
        {"gAMA": gama(0.45455), "cHRM": chrm(icc.D65_XY, icc.SRGB_PRIMARIES)},
        {"sRGB": b"\x00", "gAMA": gama(1.0)},  # sRGB wins over gAMA (PNG precedence)
    ):
        img = decode_image(png_with(px, **chunks))
        assert np.array_equal(img.pixels, px), chunks
        assert img.colour is None


def test_an_embedded_profile_wins_over_png_gamma():
    info = PngImagePlugin.PngInfo()
    info.add(b"gAMA", gama(1.0))
    px = textured_image().pixels
    img = decode_image(encode(PILImage.fromarray(px), "PNG", pnginfo=info, icc_profile=LCMS_SRGB))
    assert np.array_equal(img.pixels, px)


@pytest.mark.parametrize(
    "chunks, expected",
    [({"gAMA": gama(0)}, "positive gamma"), ({"cHRM": chrm((0.3, 0.0), P3)}, "describe no colour space")],
    ids=["gamma-zero", "white-y-zero"],
)
def test_invalid_colour_chunks_are_refused_with_the_fix(chunks, expected):
    with pytest.raises(BadImageError, match=expected) as e:
        decode_image(png_with(patch((1, 2, 3)), **chunks), source="odd.png")
    assert "odd.png" in str(e.value) and "re-save" in str(e.value)


# ----- CMYK and Lab ------------------------------------------------------------------------------------------


def cmyk_profile() -> bytes:
    """A CMYK printer profile (lut16 A2B0 to Lab) where only ink K darkens: L* = 100 (1 - K),
    a* = b* = 0. Pillow's naive CMYK conversion would show cyan ink as cyan; this profile
    shows it as white, so the pixels say which was used."""
    grid = 2
    clut = b""
    for c in range(grid):
        for m in range(grid):
            for y in range(grid):
                for k in range(grid):
                    clut += struct.pack(">3H", round((1 - k) * 0xFF00), 0x8000, 0x8000)  # Lab, lut16 encoding
    identity = b"".join(struct.pack(">i", 65536 if i % 4 == 0 else 0) for i in range(9))
    ramp = struct.pack(">2H", 0, 65535)
    a2b0 = b"mft2\0\0\0\0" + bytes([4, 3, grid, 0]) + identity + struct.pack(">HH", 2, 2) + ramp * 4 + clut + ramp * 3
    tags = [(b"desc", icc._mluc("K only")), (b"wtpt", icc._xyz_tag(icc.D50)), (b"A2B0", a2b0)]
    return icc.assemble(b"CMYK", tags, device_class=b"prtr", pcs=b"Lab ")


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
def test_a_cmyk_file_is_converted_through_its_profile(fmt):
    px = np.zeros((4, 8, 4), np.uint8)
    px[:, :4] = (255, 0, 0, 0)  # cyan ink only
    px[:, 4:] = (0, 0, 0, 128)  # half black
    pil = PILImage.fromarray(px, "CMYK")
    kw = {"quality": 100} if fmt == "JPEG" else {}
    untagged = decode_image(encode(pil, fmt, **kw)).pixels
    assert np.abs(untagged[0, 0].astype(int) - (0, 255, 255)).max() <= 3  # naive: cyan
    tagged = decode_image(encode(pil, fmt, icc_profile=cmyk_profile(), **kw), source=f"print.{fmt.lower()}")
    assert np.abs(tagged.pixels[:, :4].astype(int) - 255).max() <= 2  # the profile: no K, white
    half = tagged.pixels[:, 4:].astype(int)
    assert (half.max() - half.min()) <= 2 and 110 <= half.mean() <= 130  # L* ~ 50: sRGB ~ 119
    assert "CMYK" in tagged.colour


def test_a_lab_tiff_with_its_lab_profile_matches_the_untagged_one():
    lab = PILImage.new("LAB", (4, 4), (128, 140, 100))
    tagged = decode_image(encode(lab, "TIFF", icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()))
    plain = decode_image(encode(lab, "TIFF"))
    assert np.abs(tagged.pixels.astype(int) - plain.pixels.astype(int)).max() <= 2


# ----- profiles that cannot be used: refused, named, with the fix ---------------------------------------


def _rgb(fmt: str, profile: bytes) -> bytes:
    return encode(PILImage.fromarray(patch((10, 20, 30))), fmt, icc_profile=profile, **FORMATS[fmt])


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("profile", [b"not a profile" * 20, DISPLAY_P3[:200]], ids=["garbage", "cut-short"])
def test_an_unreadable_profile_is_an_error_naming_the_file_and_the_fix(fmt, profile):
    with pytest.raises(BadImageError) as e:
        decode_image(_rgb(fmt, profile), source=f"shot.{fmt.lower()}")
    text = str(e.value)
    assert f"shot.{fmt.lower()}" in text and "cannot parse" in text and "exiftool -icc_profile=" in text


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda: _rgb("PNG", GREY_18), "for GRAY data"),
        (lambda: _rgb("PNG", ImageCms.ImageCmsProfile(ImageCms.createProfile("XYZ")).tobytes()), "for XYZ data"),
        (lambda: _rgb("TIFF", ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()), "for LAB data"),
        (lambda: encode(PILImage.new("CMYK", (4, 4)), "JPEG", icc_profile=ADOBE_RGB), "for RGB data"),
        (lambda: encode(PILImage.new("RGB", (4, 4)), "JPEG", icc_profile=cmyk_profile()), "for CMYK data"),
    ],
    ids=["grey-on-rgb", "xyz-on-rgb", "lab-on-rgb", "rgb-on-cmyk", "cmyk-on-rgb"],
)
def test_a_profile_that_does_not_fit_the_pixels_is_refused(make, expected):
    with pytest.raises(BadImageError, match=expected) as e:
        decode_image(make(), source="mismatch.img")
    assert "mismatch.img" in str(e.value) and "exiftool" in str(e.value)


def test_a_png_profile_that_does_not_decompress_is_not_silently_dropped():
    """Pillow sets icc_profile=None for an iCCP chunk whose zlib stream is broken."""
    good = encode(PILImage.fromarray(patch((1, 2, 3))), "PNG", icc_profile=DISPLAY_P3)
    at = good.index(b"iCCP")
    length = struct.unpack(">I", good[at - 4 : at])[0]
    body = bytearray(good[at + 4 : at + 4 + length])
    body[body.index(b"\0") + 2 :] = b"\x78\x9c" + b"\xff" * (len(body) - body.index(b"\0") - 4)
    crc = struct.pack(">I", zlib.crc32(b"iCCP" + bytes(body)) & 0xFFFFFFFF)
    bad = good[:at] + b"iCCP" + bytes(body) + crc + good[at + 8 + length :]
    with pytest.raises(BadImageError, match="does not decompress") as e:
        decode_image(bad, source="broken-iccp.png")
    assert "broken-iccp.png" in str(e.value)


def test_a_jpeg_missing_part_of_its_profile_is_refused():
    """A profile over 64 KiB spans several APP2 segments; lose one and Pillow gives None."""
    big = icc.rgb_profile("Display P3 " + "x" * 70000, P3)
    data = encode(PILImage.fromarray(patch((1, 2, 3))), "JPEG", icc_profile=big)
    first = data.index(b"\xff\xe2")
    second = data.index(b"\xff\xe2", first + 2)
    length = struct.unpack(">H", data[second + 2 : second + 4])[0]
    with pytest.raises(BadImageError, match="incomplete"):
        decode_image(data[:second] + data[second + 2 + length :], source="half.jpg")


# ----- every way in -------------------------------------------------------------------------------------------


def p3_file(tmp_path, name="p3.jpg"):
    path = tmp_path / name
    path.write_bytes(_known_p3(name.rsplit(".", 1)[1]))
    return path


def _known_p3(ext: str) -> bytes:
    fmt = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP", "tif": "TIFF"}[ext]
    return encode(PILImage.fromarray(patch((234, 51, 35), (16, 12))), fmt, icc_profile=DISPLAY_P3, **FORMATS[fmt])


def test_files_pil_images_and_stored_steps_agree(tmp_path, store):
    path = p3_file(tmp_path)
    from_file = load_image(path)
    with PILImage.open(path) as pil:
        from_pil = Image.from_pil(pil)
    digest, ext = store.put_bytes(path.read_bytes())
    from_store = store.get_image(digest, ext)
    for img in (from_file, from_pil, from_store):
        assert np.abs(img.pixels.astype(int) - (255, 0, 0)).max() <= 2
        assert "Display P3" in img.colour
    # An array has no profile: it is taken as sRGB.
    assert Image.from_array(patch((234, 51, 35))).colour is None


def test_a_seed_folder_seed_is_colour_managed_and_says_so(tmp_path):
    folder = tmp_path / "seeds"
    folder.mkdir()
    p3_file(folder, "wide.png")
    (seed,) = seeds_from_dir(folder)
    assert "Display P3" in seed.meta["colour"]
    assert np.abs(seed.render(None).pixels.astype(int) - (255, 0, 0)).max() <= 2


def test_an_imported_chain_is_colour_managed_and_records_it(tmp_path, store):
    d = tmp_path / "ds"
    d.mkdir()
    p3_file(d, "s0.webp")
    (d / "s1.png").write_bytes(textured_image().data())
    (d / "manifest.csv").write_text("seed,setting,run,step,path\nwide,imp,0,0,s0.webp\nwide,imp,0,1,s1.png\n")
    summary = import_manifest(store, d / "manifest.csv")
    steps = {s.step: s for s in store.steps(imported_chain_key(summary.dataset, "imp", "wide", 0))}
    assert "Display P3" in steps[0].meta["colour"]
    assert "colour" not in steps[1].meta  # sRGB already: nothing to record
    assert np.abs(store.get_image(steps[0].image_hash, steps[0].ext).pixels.astype(int) - (255, 0, 0)).max() <= 2


def test_an_editor_output_is_colour_managed_and_the_step_records_it():
    class P3Editor:
        id = "p3-editor"

        def edit(self, image, prompt, *, seed, step):
            return EditResult(decode_image(_known_p3("jpg"), source=f"{self.id} output"))

    task = type("T", (), {"prompt": lambda self, k: "replicate"})()
    outcome = make_step(P3Editor(), task, textured_image(), 1, 0)
    assert "Display P3" in outcome.meta["colour"]
    assert np.abs(outcome.image.pixels.astype(int) - (255, 0, 0)).max() <= 2


def test_the_docstring_and_the_colour_table_agree():
    doc = colour.__doc__
    assert [s.kind for s in colour.COLOUR_SOURCES] == ["icc", "srgb-chunk", "png-gamma", "none"]
    for rule in ("ICC profile", "sRGB chunk", "gAMA", "cHRM", "littlecms", "Image.colour", "one level"):
        assert rule in doc, rule
