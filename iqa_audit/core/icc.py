"""Build small ICC profiles (matrix/TRC RGB, TRC grey) for littlecms to convert from.

A PNG without an embedded profile may still say what its samples mean with a gAMA chunk
(the encoding gamma) and a cHRM chunk (the primaries and white point). littlecms, through
Pillow's ImageCms, does every colour conversion in this suite, but ImageCms cannot make an
RGB profile from primaries (its `createProfile` knows only sRGB, LAB and XYZ). So this
module writes the profile those chunks describe, as ICC v4 bytes, and littlecms converts
from it like from any embedded profile.

The only arithmetic here is the textbook colorant matrix: primaries and white point (CIE
xy) -> the RGB->XYZ matrix with Y(white) = 1, chromatically adapted to the ICC's D50
connection space with the Bradford transform (ICC.1:2022 annex E), as every matrix/TRC
profile stores it. The conversion itself stays littlecms's.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

# The ICC profile connection space illuminant, as the standard spells it (s15Fixed16 values).
D50 = (0.9642, 1.0, 0.8249)
D65_XY = (0.3127, 0.3290)
# sRGB (IEC 61966-2-1) primaries, CIE xy: red, green, blue.
SRGB_PRIMARIES = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))
# The sRGB transfer function as an ICC parametric curve (type 3: Y = (aX + b)^g for X >= d,
# cX below), the one ICC's own sRGB profiles use.
SRGB_TRC = "srgb"

_BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])


def _xyz(x: float, y: float) -> np.ndarray:
    """CIE xy -> XYZ with Y = 1."""
    return np.array([x / y, 1.0, (1.0 - x - y) / y])


def colorants(primaries: Sequence[Sequence[float]], white: Sequence[float]) -> np.ndarray:
    """3x3 RGB -> XYZ (D50-adapted) matrix whose columns are the red, green and blue
    colorant tags of a matrix/TRC profile."""
    m = np.stack([_xyz(*p) for p in primaries], axis=1)
    w = _xyz(*white)
    rgb_to_xyz = m * np.linalg.solve(m, w)  # scale each primary so R = G = B = 1 is the white
    return adaptation(white) @ rgb_to_xyz


def adaptation(white: Sequence[float]) -> np.ndarray:
    """Bradford matrix from `white` (CIE xy) to D50: the profile's 'chad' tag."""
    w = _xyz(*white)
    cone_src, cone_dst = _BRADFORD @ w, _BRADFORD @ np.array(D50)
    return np.linalg.inv(_BRADFORD) @ np.diag(cone_dst / cone_src) @ _BRADFORD


def rgb_profile(
    description: str,
    primaries: Sequence[Sequence[float]] = SRGB_PRIMARIES,
    white: Sequence[float] = D65_XY,
    trc: float | str = SRGB_TRC,
) -> bytes:
    """ICC v4 display profile of an RGB space: `primaries` ((x, y) of red, green, blue),
    `white` (x, y) and `trc` (a decoding gamma, e.g. 2.2, or SRGB_TRC)."""
    cols = colorants(primaries, white)
    curve = _trc(trc)
    tags = [
        (b"desc", _mluc(description)),
        (b"cprt", _mluc("No copyright, use freely")),
        (b"wtpt", _xyz_tag(D50)),
        (b"chad", _sf32(adaptation(white))),
        (b"rXYZ", _xyz_tag(cols[:, 0])),
        (b"gXYZ", _xyz_tag(cols[:, 1])),
        (b"bXYZ", _xyz_tag(cols[:, 2])),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    return assemble(b"RGB ", tags)


def grey_profile(description: str, trc: float | str = SRGB_TRC) -> bytes:
    """ICC v4 display profile of grey samples with the D50 white and `trc`."""
    tags = [
        (b"desc", _mluc(description)),
        (b"cprt", _mluc("No copyright, use freely")),
        (b"wtpt", _xyz_tag(D50)),
        (b"kTRC", _trc(trc)),
    ]
    return assemble(b"GRAY", tags)


# ----- ICC encoding (ICC.1:2022: header, tag table, tag types) ----------------------------------


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(float(v) * 65536))


def _xyz_tag(xyz: Sequence[float]) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in xyz)


def _sf32(m: np.ndarray) -> bytes:
    return b"sf32\0\0\0\0" + b"".join(_s15(v) for v in np.asarray(m).reshape(-1))


def _mluc(text: str) -> bytes:
    utf16 = text.encode("utf-16-be")
    return b"mluc\0\0\0\0" + struct.pack(">II", 1, 12) + b"enUS" + struct.pack(">II", len(utf16), 28) + utf16


def _trc(trc: float | str) -> bytes:
    if trc == SRGB_TRC:
        params = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)
        return b"para\0\0\0\0" + struct.pack(">HH", 3, 0) + b"".join(_s15(p) for p in params)
    gamma = float(trc)
    if not 0.0 < gamma < 256.0:
        raise ValueError(f"a TRC gamma must be in (0, 256), got {gamma!r}")
    return b"para\0\0\0\0" + struct.pack(">HH", 0, 0) + _s15(gamma)


def assemble(
    colour_space: bytes, tags: list[tuple[bytes, bytes]], *, device_class: bytes = b"mntr", pcs: bytes = b"XYZ "
) -> bytes:
    """An ICC v4 profile: header (`device_class`, `colour_space` -> `pcs`), tag table and
    the tags ((signature, encoded tag) pairs, in order)."""
    table_end = 128 + 4 + 12 * len(tags)
    entries, body, offset = [], b"", table_end
    for sig, data in tags:
        entries.append(struct.pack(">4sII", sig, offset, len(data)))
        pad = (-len(data)) % 4  # every tag starts on a 4-byte boundary
        body += data + b"\0" * pad
        offset += len(data) + pad
    size = table_end + len(body)
    header = (
        struct.pack(">I", size)
        + b"\0\0\0\0"  # preferred CMM: none
        + struct.pack(">I", 0x04300000)  # version 4.3
        + device_class
        + colour_space
        + pcs
        + struct.pack(">6H", 2024, 1, 1, 0, 0, 0)  # a fixed date: the same chunk gives the same bytes
        + b"acsp"
        + b"\0" * 24  # platform, flags, manufacturer, model, attributes
        + struct.pack(">I", 0)  # rendering intent: perceptual
        + b"".join(_s15(v) for v in D50)
        + b"\0" * 4  # creator
        + b"\0" * 16  # profile ID (optional)
        + b"\0" * 28  # reserved
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + b"".join(entries) + body
