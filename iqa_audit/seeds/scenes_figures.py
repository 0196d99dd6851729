"""Procedural seeds of drawn things whose checks read `Seed.meta`: the empty table (object
additions), a flat cartoon, and the 3x3 faces with 4-colour eyes (palette simplification).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw

from iqa_audit.seeds import paint as P
from iqa_audit.seeds.paint import NO_CAMERA, Camera, Scene


def _draw_empty_table(h: int, w: int, seed: int) -> np.ndarray:
    x, y = P.coords(h, w)
    px = 1.0 / w
    ar = h / w
    tx0, ty0, tx1, ty1 = 0.04, 0.06 * ar, 0.96, 0.94 * ar
    # Planks run left-right; each has its own grain offset and a slight tone shift.
    planks = 6
    ply = (y - ty0) / (ty1 - ty0) * planks
    plank = np.clip(np.floor(ply), 0, planks - 1)
    fy = ply - plank
    fw = np.full_like(ply, planks * px / (ty1 - ty0))
    # Flat-sawn grain: growth rings of a log cut by a plane give nested arches
    # ("cathedrals") around a centre per plank, thin dark latewood lines, long fibres.
    prng = P.rng(seed, 5)
    centre_x = prng.uniform(0.1, 0.9, planks).astype(np.float32)[plank.astype(np.int64)]
    centre_y = (prng.uniform(-0.6, 1.6, planks).astype(np.float32))[plank.astype(np.int64)]
    dy = (fy - centre_y) * (ty1 - ty0) / planks
    rings = np.sqrt(dy * dy + (0.045 * (x - centre_x)) ** 2)
    rings = rings + 0.003 * P.fbm(seed, 1, h, w, 3, 4, aniso=4.0) + 0.0015 * P.fbm(seed, 6, h, w, 12, 3, aniso=6.0)
    ring_t = (rings * 75.0 + plank * 0.37) % 1.0
    latewood = P.smoothstep(0.55, 0.92, ring_t) * (1 - P.smoothstep(0.94, 1.0, ring_t))
    fibres = P.fbm(seed, 2, h, w, 12, 5, aniso=25.0)
    tone = 1 + 0.08 * (P.hash01(plank, plank, 3) - 0.5)
    light_wood = P.rgb(0.80, 0.71, 0.58)
    dark_wood = P.rgb(0.60, 0.50, 0.41)
    wood = P.mix(light_wood, dark_wood, np.clip(0.75 * latewood + 0.25 * (fibres + 0.3), 0, 1)) * tone[..., None]
    wood = wood * (1 + 0.04 * P.fbm(seed, 3, h, w, 6, 3, aniso=4.0))[..., None]
    gap = 1 - 0.55 * (P.box(fy, -0.02, 0.015, fw) + P.box(fy, 0.985, 1.02, fw))
    wood = wood * np.clip(gap, 0.3, 1)[..., None]
    # Soft window light from the top left.
    wood = wood * (0.92 + 0.12 * np.exp(-(((x - 0.2) ** 2 + (y - 0.1) ** 2) / 0.4)))[..., None]
    # Floor: neutral dark grey, so the counter's background stays the wood.
    floor = P.rgb(0.24, 0.235, 0.23) * (1 + 0.15 * P.fbm(seed, 4, h, w, 20, 5))[..., None]
    table = P.box(np.broadcast_to(x, (h, w)), tx0, tx1, np.full((h, w), px, np.float32)) * P.box(
        np.broadcast_to(y, (h, w)), ty0, ty1, np.full((h, w), px, np.float32)
    )
    edge = P.box(np.broadcast_to(x, (h, w)), tx0 + 0.006, tx1 - 0.006, np.full((h, w), px, np.float32)) * P.box(
        np.broadcast_to(y, (h, w)), ty0 + 0.006, ty1 - 0.006, np.full((h, w), px, np.float32)
    )
    wood = wood * (0.8 + 0.2 * edge)[..., None]
    # Shadow of the table on the floor (down-right).
    sh = P.box(np.broadcast_to(x, (h, w)), tx0 + 0.02, tx1 + 0.02, np.full((h, w), 0.02, np.float32)) * P.box(
        np.broadcast_to(y, (h, w)), ty0 + 0.02, ty1 + 0.02, np.full((h, w), 0.02, np.float32)
    )
    floor = floor * (1 - 0.5 * sh)[..., None]
    out = P.mix(floor, wood, table)
    out = out + P.grain(seed, h, w, 0.01)
    return _cap_saturation(out, 0.30)


def _cap_saturation(rgb: np.ndarray, max_s: float) -> np.ndarray:
    """Pull any pixel whose HSV saturation exceeds max_s towards grey (keeping its max)."""
    rgb = np.clip(rgb, 0.0, 1.0)
    mx = rgb.max(axis=-1, keepdims=True)
    mn = rgb.min(axis=-1, keepdims=True)
    s = (mx - mn) / np.maximum(mx, 1e-6)
    scale = np.where(s > max_s, max_s / np.maximum(s, 1e-6), 1.0)
    return mx - (mx - rgb) * scale


def _draw_flat_cartoon(h: int, w: int, seed: int) -> np.ndarray:
    ss = P.supersample_factor(h, w)
    W, H = w * ss, h * ss
    img = PILImage.new("RGB", (W, H), (140, 205, 240))
    d = ImageDraw.Draw(img)
    S = lambda v: v * W  # width units -> canvas px
    ol = max(1, round(S(0.005)))
    black = (25, 20, 30)

    def ell(cx: float, cy: float, rx: float, ry: float, fill: tuple[int, int, int], outline: bool = True) -> None:
        d.ellipse(
            (S(cx - rx), S(cy - ry), S(cx + rx), S(cy + ry)),
            fill=fill,
            outline=black if outline else None,
            width=ol if outline else 0,
        )

    def poly(pts: Sequence[tuple[float, float]], fill: tuple[int, int, int], outline: bool = True) -> None:
        d.polygon([(S(a), S(b)) for a, b in pts], fill=fill, outline=black if outline else None, width=ol if outline else 0)

    # Background: sun, clouds, two hills.
    ell(0.86, 0.12, 0.065, 0.065, (255, 214, 70))
    for cx, cy in ((0.18, 0.12), (0.55, 0.08)):
        for dx, dy, r in ((0, 0, 0.04), (0.045, -0.015, 0.05), (0.095, 0, 0.038)):
            ell(cx + dx, cy + dy, r * 1.3, r, (255, 255, 255), outline=False)
    ell(0.2, 0.95, 0.6, 0.33, (120, 190, 90))
    ell(0.9, 1.0, 0.55, 0.36, (95, 170, 75))
    ell(0.12, 0.66, 0.05, 0.02, (175, 220, 120), outline=False)
    # Character: a round orange fox-cat standing on the hill.
    cx = 0.5
    ell(cx + 0.17, 0.55, 0.09, 0.035, (240, 140, 50))  # tail
    ell(cx + 0.245, 0.53, 0.035, 0.03, (255, 250, 240))  # tail tip
    ell(cx - 0.07, 0.66, 0.045, 0.03, (230, 120, 40))  # feet
    ell(cx + 0.07, 0.66, 0.045, 0.03, (230, 120, 40))
    ell(cx, 0.52, 0.14, 0.15, (245, 145, 55))  # body
    ell(cx, 0.55, 0.085, 0.1, (255, 240, 215))  # belly
    ell(cx - 0.15, 0.47, 0.04, 0.07, (245, 145, 55))  # arms
    ell(cx + 0.15, 0.47, 0.04, 0.07, (245, 145, 55))
    poly([(cx - 0.17, 0.14), (cx - 0.06, 0.2), (cx - 0.15, 0.3)], (245, 145, 55))  # ears
    poly([(cx + 0.17, 0.14), (cx + 0.06, 0.2), (cx + 0.15, 0.3)], (245, 145, 55))
    poly([(cx - 0.15, 0.185), (cx - 0.09, 0.22), (cx - 0.14, 0.26)], (255, 175, 185), outline=False)
    poly([(cx + 0.15, 0.185), (cx + 0.09, 0.22), (cx + 0.14, 0.26)], (255, 175, 185), outline=False)
    ell(cx, 0.3, 0.16, 0.13, (245, 145, 55))  # head
    ell(cx, 0.35, 0.09, 0.06, (255, 240, 215), outline=False)  # muzzle
    for side in (-1, 1):
        ex = cx + side * 0.065
        ell(ex, 0.28, 0.032, 0.04, (255, 255, 255))
        ell(ex + 0.006, 0.285, 0.019, 0.026, (40, 30, 60), outline=False)
        ell(ex + 0.012, 0.272, 0.007, 0.008, (255, 255, 255), outline=False)
        ell(cx + side * 0.11, 0.345, 0.022, 0.013, (255, 150, 160), outline=False)  # cheeks
    ell(cx, 0.33, 0.016, 0.011, black, outline=False)  # nose
    d.arc((S(cx - 0.035), S(0.32), S(cx), S(0.37)), 0, 160, fill=black, width=ol)
    d.arc((S(cx), S(0.32), S(cx + 0.035), S(0.37)), 20, 180, fill=black, width=ol)
    # A flat blue scarf.
    poly([(cx - 0.12, 0.41), (cx + 0.12, 0.41), (cx + 0.11, 0.445), (cx - 0.11, 0.445)], (70, 110, 220))
    poly([(cx + 0.04, 0.44), (cx + 0.085, 0.44), (cx + 0.1, 0.53), (cx + 0.055, 0.52)], (70, 110, 220))
    return P.downsample(img, ss, (w, h))


# Eye palette of the faces seed: four clearly distinct hues (red, yellow, green, blue),
# laid out as a conic gradient around each iris: pure colour k at angle 90k degrees.
_EYE_COLOURS: tuple[tuple[int, int, int], ...] = ((215, 45, 50), (240, 200, 40), (40, 165, 85), (45, 95, 215))
_EYE_SAMPLE_RADIUS = 0.62  # of the iris radius: between pupil (0.28) and limbal ring (0.85)


def _face_layout() -> tuple[tuple[float, float, float], ...]:
    """Iris centres and radius (x, y, r) in width units for the 3x3 faces, left eye first."""
    c = 1.0 / 3.0
    eyes = []
    for j in range(3):
        for i in range(3):
            fx, fy = (i + 0.5) * c, (j + 0.52) * c
            for side in (-1, 1):
                eyes.append((fx + side * 0.14 * c, fy - 0.04 * c, 0.075 * c))
    return tuple(eyes)


def _eye_samples() -> tuple[tuple[float, float, int], ...]:
    """(x, y, colour index) points, as fractions of width/height (the image is square)."""
    pts = []
    for ex, ey, r in _face_layout():
        for k in range(4):
            a = math.radians(90 * k)
            pts.append(
                (round(ex + _EYE_SAMPLE_RADIUS * r * math.cos(a), 6), round(ey + _EYE_SAMPLE_RADIUS * r * math.sin(a), 6), k)
            )
    return tuple(pts)


def _draw_faces(h: int, w: int, seed: int) -> np.ndarray:
    rng = P.rng(seed, 1)
    ss = P.supersample_factor(h, w)
    W, H = w * ss, h * ss
    img = PILImage.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(img)
    S = lambda v: v * W  # width units -> canvas px
    ol = max(1, round(S(0.0035)))
    ink = (40, 30, 35)
    skins = [(250, 220, 190), (235, 190, 150), (200, 150, 110), (150, 100, 70), (110, 75, 55), (245, 205, 175)]
    hairs = [(40, 30, 25), (110, 70, 40), (225, 190, 110), (170, 80, 40), (140, 140, 145), (60, 45, 40)]
    backs = [(205, 225, 240), (240, 225, 205), (215, 240, 215), (240, 215, 225), (225, 220, 245), (245, 240, 205)]
    c = 1.0 / 3.0
    eyes = _face_layout()
    for j in range(3):
        for i in range(3):
            k = j * 3 + i
            x0, y0 = i * c, j * c
            d.rectangle((S(x0), S(y0), S(x0 + c), S(y0 + c)), fill=backs[rng.integers(len(backs))])
            fx, fy = (i + 0.5) * c, (j + 0.52) * c
            skin, hair = skins[rng.integers(len(skins))], hairs[rng.integers(len(hairs))]
            style = int(rng.integers(3))
            if style == 0:  # long hair behind the head
                d.rounded_rectangle(
                    (S(fx - 0.38 * c), S(fy - 0.42 * c), S(fx + 0.38 * c), S(fy + 0.38 * c)),
                    radius=S(0.2 * c),
                    fill=hair,
                    outline=ink,
                    width=ol,
                )
            d.ellipse(
                (S(fx - 0.36 * c), S(fy - 0.05 * c), S(fx - 0.28 * c), S(fy + 0.09 * c)), fill=skin, outline=ink, width=ol
            )  # ears
            d.ellipse((S(fx + 0.28 * c), S(fy - 0.05 * c), S(fx + 0.36 * c), S(fy + 0.09 * c)), fill=skin, outline=ink, width=ol)
            d.ellipse((S(fx - 0.31 * c), S(fy - 0.36 * c), S(fx + 0.31 * c), S(fy + 0.38 * c)), fill=skin, outline=ink, width=ol)
            if style in (0, 1):  # fringe
                d.chord(
                    (S(fx - 0.32 * c), S(fy - 0.40 * c), S(fx + 0.32 * c), S(fy + 0.05 * c)),
                    180,
                    360,
                    fill=hair,
                    outline=ink,
                    width=ol,
                )
            else:  # bun on top
                d.ellipse(
                    (S(fx - 0.1 * c), S(fy - 0.47 * c), S(fx + 0.1 * c), S(fy - 0.29 * c)), fill=hair, outline=ink, width=ol
                )
                d.chord(
                    (S(fx - 0.31 * c), S(fy - 0.37 * c), S(fx + 0.31 * c), S(fy - 0.05 * c)),
                    190,
                    350,
                    fill=hair,
                    outline=ink,
                    width=ol,
                )
            for ex, ey, r in eyes[2 * k : 2 * k + 2]:
                d.ellipse(
                    (S(ex - 1.45 * r), S(ey - 1.2 * r), S(ex + 1.45 * r), S(ey + 1.2 * r)),
                    fill=(252, 252, 250),
                    outline=ink,
                    width=ol,
                )
                d.arc(
                    (S(ex - 1.3 * r), S(ey - 2.4 * r), S(ex + 1.3 * r), S(ey - 1.2 * r)), 200, 340, fill=hair, width=ol * 2
                )  # brow
            d.line(
                (S(fx), S(fy + 0.02 * c), S(fx - 0.025 * c), S(fy + 0.1 * c), S(fx + 0.01 * c), S(fy + 0.11 * c)),
                fill=ink,
                width=ol,
            )  # nose
            mouth = int(rng.integers(2))
            if mouth == 0:
                d.arc((S(fx - 0.1 * c), S(fy + 0.08 * c), S(fx + 0.1 * c), S(fy + 0.22 * c)), 20, 160, fill=ink, width=ol)
            else:
                d.chord(
                    (S(fx - 0.09 * c), S(fy + 0.12 * c), S(fx + 0.09 * c), S(fy + 0.24 * c)),
                    0,
                    180,
                    fill=(180, 60, 70),
                    outline=ink,
                    width=ol,
                )
            cheek = (min(255, skin[0] + 5), int(skin[1] * 0.85), int(skin[2] * 0.85))
            for side in (-1, 1):
                d.ellipse(
                    (S(fx + side * 0.2 * c - 0.045 * c), S(fy + 0.06 * c), S(fx + side * 0.2 * c + 0.045 * c), S(fy + 0.11 * c)),
                    fill=cheek,
                )
    out = P.downsample(img, ss, (w, h))
    return _paint_irises(out, eyes)


def _paint_irises(out: np.ndarray, eyes: Sequence[tuple[float, float, float]]) -> np.ndarray:
    """Conic 4-colour irises with pupil, limbal ring and highlight, antialiased."""
    h, w = out.shape[:2]
    cols = np.array(_EYE_COLOURS, np.float32) / 255.0
    for ex, ey, r in eyes:
        rp = r * w
        x0, x1 = int(max(0, ex * w - rp - 2)), int(min(w, ex * w + rp + 3))
        y0, y1 = int(max(0, ey * w - rp - 2)), int(min(h, ey * w + rp + 3))
        dx = (np.arange(x0, x1, dtype=np.float32) + 0.5)[None, :] - ex * w
        dy = (np.arange(y0, y1, dtype=np.float32) + 0.5)[:, None] - ey * w
        dist = np.sqrt(dx * dx + dy * dy)
        rel = dist / rp
        ang = (np.degrees(np.arctan2(dy, dx)) % 360.0) / 90.0  # 0..4: stop k at k
        k0 = np.floor(ang).astype(np.int64) % 4
        t = ang - np.floor(ang)
        blend = P.smoothstep(0.25, 0.75, t)  # pure colour within +-22.5 degrees of each stop
        iris = cols[k0] + (cols[(k0 + 1) % 4] - cols[k0]) * blend[..., None]
        iris = iris * (1 - 0.55 * P.smoothstep(0.85, 1.0, rel))[..., None]
        pupil = np.clip((0.28 * rp - dist) + 0.5, 0, 1)
        iris = P.mix(iris, P.rgb(0.05, 0.04, 0.06), pupil)
        # Highlight up-left, between the green (180) and blue (270) stops, clear of samples.
        hx, hy = -0.42 * rp, -0.42 * rp
        hl = np.clip(0.17 * rp - np.sqrt((dx - hx) ** 2 + (dy - hy) ** 2) + 0.5, 0, 1)
        iris = P.mix(iris, P.rgb(1.0, 1.0, 1.0), hl)
        alpha = np.clip(rp - dist + 0.5, 0, 1)
        out[y0:y1, x0:x1] = P.mix(out[y0:y1, x0:x1], iris, alpha)
    return out


# name, challenge (the study's Table 1), aspect (height / width), rng seed, painter
SCENES: tuple[Scene, ...] = (
    Scene(
        "empty-table",
        "empty table for object additions (low-saturation wooden table seen from above)",
        0.75,
        1111,
        _draw_empty_table,
        meta={
            "placement_box": (0.1, 0.15, 0.9, 0.85),
            "table_box": (0.04, 0.06, 0.96, 0.94),
            "max_saturation": 0.32,  # HSV saturation of every pixel (drawn <= 0.30; rounding adds a little)
        },
    ),
    Scene(
        "flat-cartoon",
        "flat-colour character (cartoon, flat animation colours, black outlines)",
        0.75,
        1212,
        _draw_flat_cartoon,
        # Flat fills are this scene's challenge, and no camera keeps them flat: it stays a
        # clean render (BRISQUE 71.7 at 512 px, the one seed outside the study's range).
        version="v1",
        camera=NO_CAMERA,
    ),
    Scene(
        "eye-palette-faces",
        "3x3 grid of drawn faces whose eyes carry 4-colour gradients (palette simplification)",
        1.0,
        1313,
        _draw_faces,
        version="v4",  # v4: photographed through its own camera (below), not the default one
        # The eyes' 4-colour gradients are a few pixels wide at the smallest size the seed
        # guarantees them (eye_min_long_side): blur or surface texture moves a sampled eye
        # pixel more than the 12 levels tests/seeds/test_seeds.py allows; sensor grain alone
        # keeps it, at BRISQUE 2.7 (512 px).
        camera=Camera(blur_px=0.0, texture=0.0, grain=1.5),
        meta={
            "eye_colours": _EYE_COLOURS,
            "eye_centres": _face_layout(),
            "eye_samples": _eye_samples(),
            "eye_min_long_side": 256,  # below this an iris is < 7 px across and the samples blur together
            "grid": (3, 3),
        },
    ),
)
