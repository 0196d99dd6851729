"""Procedural seeds that stress light and tone: haze, particles on black, deep shadows,
reflections, smooth gradients.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw

from iqa_audit.seeds import paint as P
from iqa_audit.seeds.paint import Camera, Scene, ndi


def _draw_haze(h: int, w: int, seed: int) -> np.ndarray:
    x, y = P.coords(h, w)
    px = 1.0 / w
    haze = P.rgb(0.80, 0.82, 0.84)
    sun = np.exp(-(((x - 0.68) ** 2 + (y - 0.14) ** 2) / 0.03))
    out = P.gradient_palette(
        np.broadcast_to(y / (h / w), (h, w)), [(0, (0.74, 0.77, 0.81)), (0.6, (0.84, 0.85, 0.86)), (1, (0.85, 0.86, 0.86))]
    )
    out = out + (sun * 0.06)[..., None] * P.rgb(1.0, 0.9, 0.7)
    xs = np.arange(w, dtype=np.float64) / w
    layers = 7
    for k in range(layers):
        rng = P.rng(seed, 10 + k)
        depth = k / (layers - 1)  # 0 far .. 1 near
        base = 0.27 + 0.055 * k
        ridge = np.zeros(w)
        broad = np.zeros(w)  # the ridge without its fine (tree) detail, for the valley fog
        for o, (cells, amp) in enumerate(
            [(3, 0.06), (7, 0.03), (17, 0.013), (40, 0.006), (110, 0.003), (300, 0.0015 * (1 + 2 * depth))]
        ):
            pts = rng.uniform(-1, 1, cells + 2)
            ridge += amp * (0.6 + 0.8 * depth) * np.interp(xs * cells, np.arange(cells + 2), pts)
            if o < 3:
                broad[:] = ridge
        ridge = (base + ridge).astype(np.float32)[None, :]
        broad = (base + broad).astype(np.float32)[None, :]
        cover = np.clip((y - ridge) / px + 0.5, 0, 1)
        # Far layers melt into the haze; valley fog lightens each layer towards its foot.
        near_col = P.mix(P.rgb(0.30, 0.36, 0.34), P.rgb(0.22, 0.28, 0.25), np.float32(depth))
        fogginess = 0.88 - 0.42 * depth
        below = np.clip((y - broad) / 0.12, 0, 1)
        valley = P.smoothstep(0.15, 1.0, below) * (0.55 - 0.2 * depth)
        tex = 0.10 * (0.3 + depth) * P.fbm(seed, 20 + k, h, w, 60 + 40 * k, 4)
        layer = P.mix(near_col * (1 + tex)[..., None], haze, np.clip(fogginess + valley, 0, 1))
        out = P.mix(out, layer, cover)
    fog = P.smoothstep(-0.2, 0.8, P.fbm(seed, 40, h, w, 4, 4, aniso=2.5))
    out = P.mix(out, haze * 1.03, fog * 0.25)
    return out + P.grain(seed, h, w, 0.006)


def _draw_particles(h: int, w: int, seed: int) -> np.ndarray:
    x, y = P.coords(h, w)
    rng = P.rng(seed, 1)
    acc = np.zeros((h * w, 3), np.float64)

    def splat(sx: np.ndarray, sy: np.ndarray, energy: np.ndarray, rgb: np.ndarray) -> None:
        """Bilinear splat of point samples (x, y in width units) into the buffer."""
        fx, fy = sx * w - 0.5, sy * w - 0.5
        ix, iy = np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64)
        tx, ty = fx - ix, fy - iy
        idx, wts = [], []
        for dx, dy, wt in ((0, 0, (1 - tx) * (1 - ty)), (1, 0, tx * (1 - ty)), (0, 1, (1 - tx) * ty), (1, 1, tx * ty)):
            jx, jy = ix + dx, iy + dy
            ok = (jx >= 0) & (jx < w) & (jy >= 0) & (jy < h)
            idx.append((jy * w + jx)[ok])
            wts.append((wt * energy)[ok, None] * rgb[ok])
        flat, weights = np.concatenate(idx), np.concatenate(wts)
        for c in range(3):
            acc[:, c] += np.bincount(flat, weights=weights[:, c], minlength=h * w)

    def temperature(t: np.ndarray) -> np.ndarray:  # 0 = dull red ember .. 1 = white-hot
        return np.stack([np.ones_like(t), 0.25 + 0.7 * t, 0.05 + 0.8 * t**2], axis=1)

    # Sparks: streaks flying out of a source low-left, along slightly curved paths.
    n = 900
    src = np.array([0.18, 0.72])
    ang = rng.uniform(-1.35, 0.25, n)
    dist = rng.gamma(2.0, 0.18, n)
    length = rng.uniform(0.004, 0.05, n) * (0.5 + dist)
    heat = np.clip(rng.beta(2, 2, n) - 0.3 * dist, 0, 1)
    starts = src + dist[:, None] * np.stack([np.cos(ang), np.sin(ang)], 1) + rng.normal(0, 0.02, (n, 2))
    step = 0.7 / w
    counts = np.maximum(2, (length / step).astype(int))
    seg = np.repeat(np.arange(n), counts)
    t = np.concatenate([np.linspace(0, 1, c) for c in counts])
    curve = 0.15 * length[seg] * t**2
    sx = starts[seg, 0] + np.cos(ang[seg]) * length[seg] * t
    sy = starts[seg, 1] + np.sin(ang[seg]) * length[seg] * t + curve
    energy = (0.6 + 1.6 * heat[seg]) * (0.3 + 0.7 * t) * rng.uniform(0.5, 1.3, n)[seg]
    splat(sx, sy, energy, temperature(heat[seg]))
    # Embers and dust: single points, a few bright, many dim.
    m = 2500
    ex, ey = rng.uniform(0, 1, m), rng.uniform(0, h / w, m)
    ee = rng.pareto(2.0, m) * 0.5
    splat(ex, ey, ee, temperature(rng.uniform(0, 0.7, m)))
    img = acc.reshape(h, w, 3).astype(np.float32)
    img = ndi.gaussian_filter(img, 0.6, axes=(0, 1))  # lens point-spread
    bloom = P.soft_blur(img, w / 160)
    # Out-of-focus bokeh discs further back.
    bok = PILImage.new("L", (w, h), 0)
    d = ImageDraw.Draw(bok)
    for _ in range(32):
        bx, by, br = rng.uniform(0, 1), rng.uniform(0, h / w), rng.uniform(0.008, 0.03)
        d.ellipse(((bx - br) * w, (by - br) * w, (bx + br) * w, (by + br) * w), fill=int(rng.uniform(12, 45)))
    bok_f = ndi.gaussian_filter(np.asarray(bok, np.float32) / 255.0, w / 900, truncate=3.0)
    smoke = 0.02 * np.clip(P.fbm(seed, 2, h, w, 4, 5) + 0.3, 0, 1)
    base = (
        P.rgb(0.012, 0.010, 0.016)
        + smoke[..., None] * P.rgb(0.6, 0.5, 0.5)
        + 0.015 * np.exp(-((x - 0.18) ** 2 + (y - 0.72) ** 2) / 0.05)[..., None] * P.rgb(1, 0.5, 0.2)
    )
    light = img + 0.6 * bloom + bok_f[..., None] * P.rgb(1.0, 0.55, 0.25)
    out = base + (1 - np.exp(-1.6 * light))  # filmic shoulder: hot cores clip to white smoothly
    return out + P.grain(seed, h, w, 0.006)


def _draw_deep_shadows(h: int, w: int, seed: int) -> np.ndarray:
    x, y = P.coords(h, w)
    px = 1.0 / w
    floor_y = 0.46
    # Back wall: dark plaster over stone courses.
    wall = P.rgb(0.075, 0.062, 0.052) * (1 + 0.35 * P.fbm(seed, 1, h, w, 8, 7))[..., None]
    course = (y * 28 + 0.3 * P.fbm(seed, 2, h, w, 5, 2)) % 1.0
    wall = wall * (1 - 0.25 * P.box(course, 0.0, 0.06, np.full_like(course, 28 * px)))[..., None]
    # Floor boards in perspective, converging on a vanishing point at the wall's middle.
    depth = np.maximum(y - floor_y + 0.004, 0.004)
    board_x = (x - 0.5) / depth * 1.2  # board index across the floor
    boards = board_x % 1.0
    fw_b = np.maximum(1.2 * px / depth, 1e-4)
    along = 1.0 / depth  # distance into the room, for grain running along the boards
    board_tone = 0.25 * (P.hash01(np.floor(board_x), np.floor(along * 0.05), 3) - 0.5)
    streaks = 0.3 * P.vnoise_at(seed, 3, board_x * 6.0, along * 0.15)
    floor = P.rgb(0.055, 0.038, 0.026) * (1 + board_tone + streaks + 0.2 * P.fbm(seed, 4, h, w, 90, 3))[..., None]
    floor = floor * (1 - 0.5 * P.box(boards, 0.0, 0.04, fw_b))[..., None]
    on_floor = np.clip((y - floor_y) / px + 0.5, 0, 1)
    scene = P.mix(wall, floor, on_floor)

    # Window: four bright panes, overexposed.
    wx0, wx1, wy0, wy1 = 0.13, 0.31, 0.07, 0.33
    pane = P.box(np.broadcast_to(x, (h, w)), wx0, wx1, np.full((h, w), px, np.float32)) * P.box(
        np.broadcast_to(y, (h, w)), wy0, wy1, np.full((h, w), px, np.float32)
    )
    mull = P.box(np.broadcast_to(x, (h, w)), 0.215, 0.225, np.full((h, w), px, np.float32)) + P.box(
        np.broadcast_to(y, (h, w)), 0.195, 0.205, np.full((h, w), px, np.float32)
    )
    window = pane * np.clip(1 - mull, 0, 1)
    outside = P.rgb(1.0, 0.96, 0.86) * (0.9 + 0.1 * P.fbm(seed, 5, h, w, 20, 3))[..., None]
    scene = P.mix(scene, outside, window)

    # Light shafts: radial blur of the window towards the sun (off-canvas, up-left).
    # Shafts are soft, so they are accumulated on a small canvas with many samples (no
    # stair-steps) and upsampled.
    lw = min(w, 320)
    lh = max(1, round(h * lw / w))
    small = PILImage.fromarray((window * 255).astype(np.uint8)).resize((lw, lh), PILImage.Resampling.BOX)
    sun_x, sun_y = -0.35 * lw, -0.55 * lw
    acc = np.zeros((lh, lw), np.float32)
    samples = 64
    for k in range(samples):
        s = 1.0 - 0.7 * k / samples
        warped = small.transform(
            (lw, lh), PILImage.Transform.AFFINE, (s, 0, sun_x * (1 - s), 0, s, sun_y * (1 - s)), PILImage.Resampling.BILINEAR
        )
        acc += np.asarray(warped, np.float32) * (0.98**k)
    acc = ndi.gaussian_filter(acc, 0.8) / 255.0 / samples * 5.0
    shafts = np.asarray(PILImage.fromarray(acc, mode="F").resize((w, h), PILImage.Resampling.BICUBIC))
    dust = 0.7 + 0.3 * P.fbm(seed, 6, h, w, 10, 5) + 0.25 * P.fbm(seed, 7, h, w, 40, 3)
    shafts = shafts * np.clip(dust, 0.2, 1.5) * (1 - window)
    # Where the shafts meet the floor, the boards are lit.
    lit_floor = on_floor * np.clip(shafts * 2.2, 0, 1)
    scene = scene + (shafts * 0.35)[..., None] * P.rgb(1.0, 0.9, 0.72)
    scene = scene + (lit_floor[..., None] * floor * 9.0)
    # Motes sparkling inside the shafts.
    motes = P.rng(seed, 8).random((h, w), dtype=np.float32)
    scene = scene + ((motes > 0.9985) * np.clip(shafts, 0, 1) * 0.6)[..., None]
    # A pillar in the foreground right, nearly black, with a faint rim.
    pillar = P.box(np.broadcast_to(x, (h, w)), 0.74, 0.84, np.full((h, w), px, np.float32))
    pillar_col = (
        P.rgb(0.02, 0.017, 0.015) * (1 + 0.3 * P.fbm(seed, 9, h, w, 30, 4))[..., None]
        + (0.04 * P.box(np.broadcast_to(x, (h, w)), 0.74, 0.748, np.full((h, w), px, np.float32)))[..., None]
    )
    scene = P.mix(scene, pillar_col, pillar)
    vignette = 1 - 0.45 * np.clip(((x - 0.4) ** 2 + ((y - 0.3) * 1.3) ** 2) / 0.35, 0, 1)
    return scene * vignette[..., None] + P.grain(seed, h, w, 0.006)


def _draw_reflections(h: int, w: int, seed: int) -> np.ndarray:
    x, y = P.coords(h, w)
    rng = P.rng(seed, 1)
    ss = P.supersample_factor(h, w)
    W, H = w * ss, h * ss
    waterline = 0.40
    canvas = PILImage.new("RGB", (W, H), (0, 0, 0))
    sky = P.gradient_palette(np.broadcast_to(y / waterline, (h, w)), [(0, (0.42, 0.60, 0.84)), (1, (0.80, 0.86, 0.92))])
    sky = P.mix(sky, P.rgb(0.96, 0.96, 0.97), P.smoothstep(0.1, 0.7, P.fbm(seed, 2, h, w, 4, 5) + 0.2) * 0.8)
    mask = PILImage.new("L", (W, H), 0)
    d, dm = ImageDraw.Draw(canvas), ImageDraw.Draw(mask)
    palette = [
        (0.80, 0.55, 0.25),
        (0.70, 0.25, 0.20),
        (0.30, 0.45, 0.60),
        (0.85, 0.78, 0.55),
        (0.45, 0.58, 0.40),
        (0.88, 0.60, 0.55),
        (0.55, 0.30, 0.25),
        (0.92, 0.88, 0.80),
        (0.30, 0.50, 0.55),
    ]

    def c255(c: Sequence[float]) -> tuple[int, int, int]:
        return tuple(int(np.clip(v, 0, 1) * 255) for v in c)  # type: ignore[return-value]

    def S(v: float) -> float:  # width units -> supersampled pixels
        return v * W

    hx = -0.01
    quay = waterline - 0.03
    while hx < 1.01:
        hw_ = rng.uniform(0.055, 0.095)
        top = rng.uniform(0.08, 0.17)
        colour = np.array(palette[rng.integers(len(palette))]) * rng.uniform(0.9, 1.05)
        d.rectangle((S(hx), S(top), S(hx + hw_), S(quay)), fill=c255(colour))
        dm.rectangle((S(hx), S(top), S(hx + hw_), S(quay)), fill=255)
        roof = rng.integers(3)
        if roof == 0:  # gable
            pts = [(S(hx), S(top)), (S(hx + hw_ / 2), S(top - hw_ * 0.45)), (S(hx + hw_), S(top))]
            d.polygon(pts, fill=c255(colour * 0.92))
            dm.polygon(pts, fill=255)
            d.line(pts, fill=c255((0.95, 0.95, 0.93)), width=max(1, int(S(0.003))))
        elif roof == 1:  # stepped gable
            for k in range(4):
                sw = hw_ * (1 - k * 0.22)
                d.rectangle(
                    (S(hx + (hw_ - sw) / 2), S(top - 0.012 * (k + 1)), S(hx + (hw_ + sw) / 2), S(top - 0.012 * k)),
                    fill=c255(colour),
                )
                dm.rectangle(
                    (S(hx + (hw_ - sw) / 2), S(top - 0.012 * (k + 1)), S(hx + (hw_ + sw) / 2), S(top - 0.012 * k)), fill=255
                )
        else:  # flat with cornice
            d.rectangle((S(hx - 0.002), S(top - 0.006), S(hx + hw_ + 0.002), S(top + 0.002)), fill=c255((0.92, 0.91, 0.88)))
            dm.rectangle((S(hx - 0.002), S(top - 0.006), S(hx + hw_ + 0.002), S(top + 0.002)), fill=255)
        cols = max(2, int(hw_ / 0.021))
        floors = int((quay - top - 0.05) / 0.045)
        arched = rng.random() < 0.3
        frame = c255((0.96, 0.95, 0.92))
        for r in range(floors):
            for c in range(cols):
                cx = hx + hw_ * (c + 0.5) / cols
                wy = top + 0.018 + r * 0.045
                ww, wh = 0.0085, 0.022
                glass = c255(np.array([0.12, 0.15, 0.20]) + rng.uniform(0, 0.25))
                box = (S(cx - ww), S(wy), S(cx + ww), S(wy + wh))
                d.rectangle((box[0] - S(0.002), box[1] - S(0.002), box[2] + S(0.002), box[3] + S(0.002)), fill=frame)
                if arched:
                    d.pieslice(
                        (box[0] - S(0.002), box[1] - S(ww + 0.002), box[2] + S(0.002), box[1] + S(ww + 0.002)),
                        180,
                        360,
                        fill=frame,
                    )
                    d.pieslice((box[0], box[1] - S(ww), box[2], box[1] + S(ww)), 180, 360, fill=glass)
                d.rectangle(box, fill=glass)
                d.line((S(cx), box[1], S(cx), box[3]), fill=frame, width=max(1, int(S(0.0015))))
                d.line((box[0], S(wy + wh * 0.45), box[2], S(wy + wh * 0.45)), fill=frame, width=max(1, int(S(0.0015))))
        door_x = hx + hw_ * rng.uniform(0.3, 0.6)
        d.rectangle((S(door_x), S(quay - 0.035), S(door_x + 0.014), S(quay)), fill=c255(colour * 0.45))
        hx += hw_ + rng.uniform(0.0, 0.004)
    # Quay stones.
    d.rectangle((0, S(quay), W, S(waterline)), fill=c255((0.55, 0.53, 0.50)))
    dm.rectangle((0, S(quay), W, S(waterline)), fill=255)
    houses = P.downsample(canvas, ss, (w, h))
    hmask = P.downsample(mask, ss, (w, h))[..., None]
    houses = houses * (1 + 0.07 * P.fbm(seed, 3, h, w, 120, 3) + 0.04 * P.fbm(seed, 4, h, w, 8, 3))[..., None]
    houses = houses * (1 - 0.15 * np.clip((y - 0.1) / 0.3, 0, 1))[..., None]
    above = P.mix(sky, houses, hmask)

    # Water: mirror about the waterline, displaced by perspective ripples.
    row = np.arange(h)
    wl_px = waterline * w
    water_rows = row[(row + 0.5) > wl_px]
    if len(water_rows):
        yy = ((water_rows + 0.5) / w)[:, None].astype(np.float32)
        dz = (yy - waterline) + 0.004
        X = (x - 0.5) / dz
        ripple = P.vnoise_at(seed, 5, X * 0.5, 1 / dz * 0.9) + 0.5 * P.vnoise_at(seed, 6, X * 1.2, 1 / dz * 2.3)
        amp = 0.004 + 0.05 * dz
        src_x = (x + amp * 0.35 * ripple) * w - 0.5
        src_y = (2 * waterline - yy + amp * 0.6 * ripple) * w - 0.5
        src_y = np.clip(src_y, 0, wl_px - 1)
        refl = np.stack(
            [
                ndi.map_coordinates(above[..., c], [np.broadcast_to(src_y, src_x.shape), src_x], order=1, mode="nearest")
                for c in range(3)
            ],
            -1,
        )
        fres = 0.55 + 0.3 * np.clip(1 - (yy - waterline) / 0.27, 0, 1)
        water = P.rgb(0.06, 0.13, 0.15) * (1 - fres)[..., None] + refl * fres[..., None]
        water = water * (1 + 0.12 * ripple)[..., None]
        above[water_rows] = water
    return above + P.grain(seed, h, w, 0.01)


def _draw_smooth_gradient(h: int, w: int, seed: int) -> np.ndarray:
    x, y = P.coords(h, w)
    horizon = 0.42
    sky = P.gradient_palette(
        np.broadcast_to(y / horizon, (h, w)),
        [(0.0, (0.10, 0.14, 0.36)), (0.35, (0.36, 0.27, 0.52)), (0.7, (0.86, 0.47, 0.45)), (1.0, (1.0, 0.74, 0.42))],
    )
    sun_x, sun_y = 0.62, 0.39
    dist = np.sqrt((x - sun_x) ** 2 + (y - sun_y) ** 2)
    glow = np.exp(-dist / 0.10) * 0.55 + np.exp(-dist / 0.03) * 0.35
    sky = sky + glow[..., None] * P.rgb(1.0, 0.75, 0.45)
    disc = np.clip((0.028 - dist) * w + 0.5, 0, 1)
    sky = P.mix(sky, P.rgb(1.0, 0.97, 0.88), disc)
    # Two soft cloud bands: smooth, wide, low-contrast.
    bands = (
        np.exp(-(((y - 0.22 - 0.03 * np.sin(x * 5)) / 0.025) ** 2)) * 0.12
        + np.exp(-(((y - 0.31 + 0.02 * x) / 0.015) ** 2)) * 0.10
    )
    sky = P.mix(sky, P.rgb(0.55, 0.30, 0.45), bands)
    depth = np.clip((y - horizon) / (h / w - horizon), 0, 1)
    sea = P.gradient_palette(depth, [(0.0, (0.78, 0.48, 0.45)), (0.3, (0.38, 0.28, 0.45)), (1.0, (0.08, 0.10, 0.26))])
    column = np.exp(-(((x - sun_x) / (0.02 + 0.08 * depth)) ** 2)) * np.exp(-depth * 3) * 0.7
    sea = sea + column[..., None] * P.rgb(1.0, 0.75, 0.45)
    return P.mix(sky, sea, np.clip((y - horizon) * w + 0.5, 0, 1))


# name, challenge (the study's Table 1), aspect (height / width), rng seed, painter
SCENES: tuple[Scene, ...] = (
    Scene("low-contrast-haze", "low-contrast haze (mountain ridges fading into fog)", 2 / 3, 404, _draw_haze),
    Scene(
        "high-contrast-particles",
        "high-contrast particles (sparks and embers on black)",
        0.75,
        505,
        _draw_particles,
        # Mostly black: multiplicative texture has nothing to act on, and the default blur
        # smears the sparks (BRISQUE 77 at 0.9 px); a sharp lens and film grain give 44.
        camera=Camera(blur_px=0.4, texture=0.0, grain=3.0),
    ),
    Scene("deep-shadows", "deep shadows with light shafts (dark interior, sun through a window)", 2 / 3, 606, _draw_deep_shadows),
    Scene(
        "reflections",
        "reflections with repeated varied patterns (waterfront houses mirrored in water)",
        2 / 3,
        909,
        _draw_reflections,
    ),
    Scene("smooth-gradient", "smooth colour gradients (twilight sky and sea, no texture)", 2 / 3, 1010, _draw_smooth_gradient),
)
