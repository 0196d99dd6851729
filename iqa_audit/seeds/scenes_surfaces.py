"""Procedural seeds that stress texture: a grid in perspective, food, many objects, fur,
iridescent scales.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw

from iqa_audit.seeds import paint as P
from iqa_audit.seeds.paint import STUDY_ASPECT, Camera, Scene, ndi


def _draw_grid_perspective(h: int, w: int, seed: int) -> np.ndarray:
    x, y = P.coords(h, w)
    # Facade plane (u, v in [0, 1]) seen at an angle: near edge left, receding right.
    hm = P.homography([(0, 0), (1, 0), (1, 1), (0, 1)], [(-0.05, -0.10), (0.86, 0.11), (0.86, 0.43), (-0.05, 0.64)])
    inv = np.linalg.inv(hm).astype(np.float64)
    xs, ys = np.broadcast_to(x, (h, w)).astype(np.float64), np.broadcast_to(y, (h, w)).astype(np.float64)
    den = inv[2, 0] * xs + inv[2, 1] * ys + inv[2, 2]
    u = ((inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]) / den).astype(np.float32)
    v = ((inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]) / den).astype(np.float32)

    # Sky with soft clouds.
    sky = P.gradient_palette(np.broadcast_to(y / 0.45, (h, w)), [(0, (0.33, 0.52, 0.80)), (1, (0.74, 0.82, 0.92))])
    clouds = P.smoothstep(0.05, 0.6, P.fbm(seed, 1, h, w, 3, 6) * 1.6 + 0.1)
    sky = P.mix(sky, P.rgb(0.95, 0.95, 0.96), clouds * 0.85)

    # Bricks: 7 courses per storey, running bond (odd courses offset by half a brick).
    ncols, nrows = 14, 9
    cu, cv = u * ncols, v * nrows
    bv = cv * 7
    course = np.floor(bv)
    bu = cu * 3.0 + 0.5 * (course % 2)
    fw_bu, fw_bv = P.footprint(bu), P.footprint(bv)
    brick_i = np.floor(bu)
    body = P.box(bu - brick_i, 0.06, 0.97, fw_bu) * P.box(bv - course, 0.10, 0.96, fw_bv)
    # Per-brick colour variation fades out where bricks are smaller than a pixel (no aliasing).
    fade = np.clip(1.5 - 2.0 * np.maximum(fw_bu, fw_bv), 0, 1)
    var = (P.hash01(brick_i, course, 7) - 0.5) * fade
    brick = P.rgb(0.58, 0.31, 0.22) * (1.0 + 0.35 * var)[..., None]
    brick = brick + 0.05 * P.fbm(seed, 2, h, w, 40, 4)[..., None]
    mortar = P.rgb(0.70, 0.68, 0.63)
    wall = P.mix(mortar, brick, body)
    wall = wall * (1.0 + 0.06 * P.fbm(seed, 3, h, w, 6, 3))[..., None]  # weathering

    # Window grid: frame, glass (sky reflection or blinds), sill with a shadow under it.
    fu, fv = cu - np.floor(cu), cv - np.floor(cv)
    fw_u, fw_v = P.footprint(cu), P.footprint(cv)
    ci, ri = np.floor(cu), np.floor(cv)
    opening = P.box(fu, 0.25, 0.75, fw_u) * P.box(fv, 0.22, 0.74, fw_v)
    glass = P.box(fu, 0.285, 0.715, fw_u) * P.box(fv, 0.255, 0.71, fw_v) * (1 - P.box(fu, 0.485, 0.515, fw_u))
    r1, r2, r3 = P.hash01(ci, ri, 11), P.hash01(ci, ri, 12), P.hash01(ci, ri, 13)
    refl = np.clip(0.25 + 0.5 * (1 - (fv - 0.25) / 0.46) * 0.6 + 0.4 * r1 + 0.25 * (fu - 0.5), 0, 1)
    glass_col = P.mix(P.rgb(0.12, 0.15, 0.20), P.rgb(0.62, 0.72, 0.82), refl)
    blind_drop = 0.255 + (0.2 + 0.6 * r3) * 0.455
    slats = 0.5 + 0.5 * np.cos(2 * np.pi * fv * 60)
    slat_amp = np.clip(1.0 - fw_v * 60 * 1.5, 0, 1)
    blind_col = P.rgb(0.80, 0.76, 0.68) * (0.9 + 0.1 * slats * slat_amp)[..., None]
    blind = (r2 < 0.35) * P.box(fv, 0.2, blind_drop, fw_v)
    glass_col = P.mix(glass_col, blind_col, blind)
    frame_col = P.rgb(0.90, 0.89, 0.86)
    facade = P.mix(wall, frame_col, opening)
    facade = P.mix(facade, glass_col, glass)
    sill = P.box(fu, 0.22, 0.78, fw_u) * P.box(fv, 0.74, 0.775, fw_v)
    facade = P.mix(facade, P.rgb(0.82, 0.80, 0.76), sill)
    shadow = P.box(fu, 0.22, 0.78, fw_u) * P.box(fv, 0.775, 0.83, fw_v)
    facade = facade * (1 - 0.35 * shadow)[..., None]
    # Stone string course at every floor, and the facade darkens away from the sun.
    ledge = P.box(fv, 0.0, 0.05, fw_v)
    facade = P.mix(facade, P.rgb(0.76, 0.73, 0.67) * (1 + 0.04 * P.fbm(seed, 4, h, w, 60, 3))[..., None], ledge)
    facade = facade * (1.0 - 0.25 * np.clip(u, 0, 1))[..., None]

    # Ground (pavement) below the facade, distant hazy trees right of it.
    ground = P.rgb(0.47, 0.46, 0.44) * (1 + 0.08 * P.fbm(seed, 5, h, w, 50, 5))[..., None]
    ground = ground * (0.75 + 0.25 * np.clip((y - 0.43) / 0.12, 0, 1))[..., None]
    trees_top = 0.36 + 0.025 * P.fbm(seed, 6, 1, w, 30, 4)[0][None, :]
    px = 1.0 / w
    trees_col = P.rgb(0.36, 0.42, 0.38) * (1 + 0.12 * P.fbm(seed, 7, h, w, 120, 3))[..., None]
    out = P.mix(sky, trees_col, np.clip((y - trees_top) / px + 0.5, 0, 1))
    ground_line = 0.43
    out = P.mix(out, ground, np.clip((y - ground_line) / px + 0.5, 0, 1))
    on_facade = P.box(u, 0.0, 1.0, P.footprint(u)) * P.box(v, -1.0, 1.0, P.footprint(v))
    out = P.mix(out, facade, on_facade)
    # Pavement in front of the facade continues the ground.
    below = np.clip((v - 1.0) / P.footprint(v) + 0.5, 0, 1) * (u < 1.0)
    out = P.mix(out, ground, below)
    return out + P.grain(seed, h, w, 0.012)


def _draw_food_texture(h: int, w: int, seed: int) -> np.ndarray:
    rng = P.rng(seed, 1)
    # Kinds, drawn bottom layer first: (count, radius, aspect, rgb, colour spread, wrinkle)
    kinds = [
        (1400, 0.0045, 0.7, (0.78, 0.62, 0.40), 0.12, 0.0),  # crumbs
        (450, 0.0065, 0.55, (0.90, 0.84, 0.68), 0.08, 0.0),  # sesame / sunflower seeds
        (560, 0.024, 0.72, (0.82, 0.66, 0.42), 0.10, 0.3),  # oat flakes
        (70, 0.013, 0.8, (0.93, 0.90, 0.82), 0.05, 0.4),  # coconut flakes
        (40, 0.017, 0.45, (0.36, 0.44, 0.22), 0.10, 0.1),  # pumpkin seeds
        (34, 0.034, 0.58, (0.56, 0.34, 0.19), 0.10, 0.15),  # almonds
        (60, 0.013, 0.85, (0.24, 0.10, 0.11), 0.15, 0.8),  # raisins
    ]
    ids = PILImage.new("I", (w, h), 0)
    col = PILImage.new("RGB", (w, h), (0, 0, 0))
    d_id, d_col = ImageDraw.Draw(ids), ImageDraw.Draw(col)
    heights = [0.0]
    radii = [1.0]
    wrinkles = [0.0]
    k = 0
    for count, rad, asp, rgb, spread, wrinkle in kinds:
        xs, ys = rng.uniform(-0.03, 1.03, count), rng.uniform(-0.03, h / w + 0.03, count)
        sizes = rad * rng.uniform(0.65, 1.3, count)
        angles = rng.uniform(0, np.pi, count)
        tint = 1.0 + spread * rng.standard_normal(count)
        lift = rng.uniform(0.0, 1.0, count)
        polys = P.ellipse_polys(xs * w, ys * w, sizes * w, sizes * w * asp, angles, rng.uniform(-0.12, 0.12, (count, 12)))
        colours = np.clip(np.outer(tint, rgb) * 255, 0, 255).astype(int).tolist()
        for i in range(count):
            k += 1
            poly = [tuple(p) for p in polys[i].tolist()]
            d_id.polygon(poly, fill=k)
            d_col.polygon(poly, fill=tuple(colours[i]))
        heights.extend((lift * 0.3 + sizes * 8).tolist())
        radii.extend(np.maximum(sizes * w * asp, 1.0).tolist())
        wrinkles.extend([wrinkle] * count)
    id_img = np.asarray(ids, dtype=np.int32)
    base = np.asarray(col, np.float32) / 255.0
    bed = P.rgb(0.40, 0.28, 0.16) * (1 + 0.25 * P.fbm(seed, 2, h, w, 40, 5))[..., None]
    base = np.where((id_img == 0)[..., None], bed, base)

    # Dome-shaped height per object from the distance to its outline.
    edges = np.zeros((h, w), bool)
    edges[:, 1:] |= id_img[:, 1:] != id_img[:, :-1]
    edges[1:, :] |= id_img[1:, :] != id_img[:-1, :]
    # Mean of chessboard and city-block distance: ~Euclidean (octagonal), 4x faster.
    inside = ~edges
    dist = 0.5 * (ndi.distance_transform_cdt(inside, "chessboard") + ndi.distance_transform_cdt(inside, "taxicab")).astype(
        np.float32
    )
    rad_px = np.asarray(radii, np.float32)[id_img]
    dome = np.sqrt(np.clip(dist / rad_px, 0, 1))
    height = np.asarray(heights, np.float32)[id_img] + dome * rad_px / w * 25
    fine = P.fbm(seed, 3, h, w, 160, 3)
    height = height + (np.asarray(wrinkles, np.float32)[id_img] * 0.004 * w / 100) * fine
    height = ndi.gaussian_filter(height, 0.6)
    gy, gx = np.gradient(height * w / 60.0)
    shade = np.clip(0.75 - 0.55 * (gx * 0.6 + gy * 0.8) / np.sqrt(1 + gx * gx + gy * gy), 0.15, 1.4)
    occl = np.clip(1.0 + 2.0 * (height - ndi.uniform_filter(height, size=max(3, w // 60))), 0.45, 1.1)
    out = base * (shade * occl)[..., None]
    out = out * (1 + 0.08 * P.fbm(seed, 4, h, w, 300, 2))[..., None]
    return out + P.grain(seed, h, w, 0.015)


def _draw_many_objects(h: int, w: int, seed: int) -> np.ndarray:
    x, y = P.coords(h, w)
    # Burlap: two woven thread directions, faded where threads are sub-pixel.
    n = 150
    amp = float(np.clip(1.5 - 2.0 * n / w * 1.0, 0, 1))
    weave = 0.5 + 0.25 * amp * (np.sin(2 * np.pi * x * n) * np.sin(2 * np.pi * y * n * 0.5) + np.sin(2 * np.pi * y * n))
    out = (P.rgb(0.50, 0.41, 0.29) * (weave * (1 + 0.2 * P.fbm(seed, 1, h, w, 30, 5)))[..., None]) * 1.1
    out = np.array(np.broadcast_to(out, (h, w, 3)), np.float32)
    rng = P.rng(seed, 2)
    count = 330
    xs = rng.uniform(-0.02, 1.02, count)
    ys = rng.uniform(-0.02, h / w + 0.02, count)
    # A pile: more beans near the middle, so they overlap there.
    keep = rng.random(count) < 0.35 + 0.65 * np.exp(-(((xs - 0.5) / 0.45) ** 2 + ((ys - h / w / 2) / 0.4) ** 2))
    xs, ys = xs[keep], ys[keep]
    angles = rng.uniform(0, np.pi, len(xs))
    sizes = rng.uniform(0.028, 0.036, len(xs))
    tints = rng.normal(1.0, 0.09, len(xs))
    mottle = P.fbm(seed, 3, h, w, 120, 3)
    light = np.array([-0.45, -0.55, 0.70], np.float32)
    light /= np.linalg.norm(light)
    halfv = light + np.array([0, 0, 1], np.float32)
    halfv /= np.linalg.norm(halfv)
    for cx, cy, ang, a, tint in zip(xs, ys, angles, sizes, tints):
        b = a * 0.66
        ax, bx = a * w, b * w
        x0, x1 = int(max(0, (cx - a * 1.25) * w)), int(min(w, (cx + a * 1.25) * w + 1))
        y0, y1 = int(max(0, (cy - a * 1.25) * w)), int(min(h, (cy + a * 1.25) * w + 1))
        if x0 >= x1 or y0 >= y1:
            continue
        px_ = (np.arange(x0, x1, dtype=np.float32) + 0.5)[None, :] - cx * w
        py_ = (np.arange(y0, y1, dtype=np.float32) + 0.5)[:, None] - cy * w
        ca, sa = math.cos(ang), math.sin(ang)
        p = (px_ * ca + py_ * sa) / ax
        q = (-px_ * sa + py_ * ca) / bx
        patch = out[y0:y1, x0:x1]
        # Soft contact shadow, offset away from the light.
        ps = ((px_ - 0.12 * bx) * ca + (py_ - 0.18 * bx) * sa) / (ax * 1.08)
        qs = (-(px_ - 0.12 * bx) * sa + (py_ - 0.18 * bx) * ca) / (bx * 1.12)
        patch *= (1 - 0.6 * P.smoothstep(1.15, 0.6, np.sqrt(ps * ps + qs * qs)))[..., None]
        r = np.sqrt(p * p + q * q)
        alpha = np.clip((1 - r) * bx + 0.5, 0, 1)
        z = np.sqrt(np.clip(1 - r * r, 0, 1))
        nx_l, ny_l = p / ax * 1.0, q / bx * 1.0
        nrm = np.sqrt(nx_l**2 + ny_l**2 + (z / bx) ** 2) + 1e-6
        nx_l, ny_l, nz = nx_l / nrm, ny_l / nrm, (z / bx) / nrm
        nx, ny = nx_l * ca - ny_l * sa, nx_l * sa + ny_l * ca
        lam = np.clip(nx * light[0] + ny * light[1] + nz * light[2], 0, 1)
        spec = np.clip(nx * halfv[0] + ny * halfv[1] + nz * halfv[2], 0, 1) ** 40
        # The crease: an S-shaped groove along the long axis.
        qc = q - 0.16 * np.sin(np.pi * p)
        groove = np.exp(-((qc / 0.09) ** 2)) * P.smoothstep(0.95, 0.6, np.abs(p))
        colour = P.rgb(0.33, 0.19, 0.10) * tint * (1 + 0.15 * mottle[y0:y1, x0:x1])[..., None]
        colour = colour * (0.25 + 0.95 * lam)[..., None] * (1 - 0.75 * groove)[..., None]
        colour = colour + (0.55 * spec)[..., None]
        patch[:] = P.mix(patch, colour, alpha)
    return out + P.grain(seed, h, w, 0.014)


def _draw_soft_texture(h: int, w: int, seed: int) -> np.ndarray:
    x, y = P.coords(h, w)
    # Strand coordinates: t across strands, s along them; a smooth warp bends the flow.
    warp_a = P.fbm(seed, 1, h, w, 2.5, 3)
    warp_b = P.fbm(seed, 2, h, w, 2.5, 3)
    t = x + 0.10 * warp_a + 0.35 * y
    s = y + 0.12 * warp_b - 0.1 * x
    fur = np.zeros((h, w), np.float32)
    total = 0.0
    for k, (ct, cs, amp) in enumerate([(160, 10, 1.0), (330, 18, 0.8), (650, 30, 0.6)]):
        total += amp
        if ct > w * 0.6:
            continue
        fur += amp * P.vnoise_at(seed, 10 + k, t * ct, s * cs)
    fur /= total
    clumps = P.vnoise_at(seed, 20, t * 22, s * 5) * 0.6 + P.vnoise_at(seed, 21, t * 45, s * 9) * 0.4
    tone = 0.5 + 0.5 * P.fbm(seed, 3, h, w, 3, 3)
    body = P.gradient_palette(
        np.clip(0.5 + 0.9 * fur + 0.5 * clumps, 0, 1),
        [(0.0, (0.42, 0.28, 0.15)), (0.45, (0.72, 0.55, 0.33)), (0.8, (0.88, 0.74, 0.52)), (1.0, (0.97, 0.90, 0.74))],
    )
    body = body * (0.75 + 0.35 * tone)[..., None]
    light = 0.85 + 0.2 * (1 - y / (h / w)) - 0.1 * x
    return body * light[..., None] + P.grain(seed, h, w, 0.01)


def _draw_iridescent(h: int, w: int, seed: int) -> np.ndarray:
    x, y = P.coords(h, w)
    # Curved rows of overlapping scales.
    u = x * 0.94 + y * 0.34 + 0.05 * P.fbm(seed, 1, h, w, 2, 3)
    v = -x * 0.34 + y * 0.94 + 0.05 * P.fbm(seed, 2, h, w, 2, 3)
    nu, nv = 95.0, 60.0
    cv = v * nv
    row = np.floor(cv)
    cu = u * nu + 0.5 * (row % 2)
    col = np.floor(cu)
    fu, fv = cu - col, cv - row
    fw = np.maximum(P.footprint(cu), P.footprint(cv))
    # Scale: a shingle with a rounded tip at the bottom of its cell.
    tip = 0.92 - 0.45 * (2 * fu - 1) ** 2
    inside = P.box(fu, 0.06, 0.94, fw) * np.clip((tip - fv) / fw + 0.5, 0, 1)
    ridges_amp = np.clip(1.3 - fw * 8 * 2, 0, 1)
    ridges = 1 + 0.18 * ridges_amp * np.cos(2 * np.pi * fu * 8)
    # Film thickness: smooth over the wing, jittered per scale -> shimmering colour patches.
    thick = 400 + 260 * P.fbm(seed, 3, h, w, 2.5, 4) + 40 * (P.hash01(col, row, 5) - 0.5) + 15 * fv
    film = _thin_film_rgb(thick)
    brightness = (0.35 + 0.65 * fv) * ridges
    scale_col = (0.03 + 1.1 * film**1.6) * brightness[..., None]
    gap = P.rgb(0.03, 0.025, 0.04)
    out = P.mix(gap, scale_col, inside)
    # Wing veins: dark curving lines.
    vein_f = P.fbm(seed, 4, h, w, 1.5, 2) * 3
    vein = np.abs(((vein_f + 10) % 1.0) - 0.5)
    out = out * (1 - 0.85 * P.smoothstep(0.03, 0.0, vein))[..., None]
    return out + P.grain(seed, h, w, 0.01)


def _thin_film_rgb(thickness_nm: np.ndarray) -> np.ndarray:
    """Colour reflected by a thin film (soap bubble, oil, wing scale) of given thickness.

    Looked up in `_thin_film_table` (the physics is a 1-D function of thickness).
    """
    table_t, table_rgb = _thin_film_table()
    t = np.asarray(thickness_nm, np.float32)
    return np.stack([np.interp(t, table_t, table_rgb[:, c]).astype(np.float32) for c in range(3)], axis=-1)


@functools.lru_cache(maxsize=1)
def _thin_film_table(n_film: float = 1.45) -> tuple[np.ndarray, np.ndarray]:
    """Two-beam interference summed over the visible spectrum, weighted by rough Gaussian
    colour-matching curves, so the hues are the real interference sequence (gold, magenta,
    blue, green ...), not pure primaries. White light -> (1, 1, 1). Thickness 0-1500 nm.
    """
    thick = np.linspace(0.0, 1500.0, 3001)
    lams = np.arange(400.0, 701.0, 10.0)
    cmf = np.stack(
        [
            np.exp(-(((lams - 600) / 42) ** 2)) + 0.15 * np.exp(-(((lams - 445) / 22) ** 2)),
            np.exp(-(((lams - 550) / 45) ** 2)),
            np.exp(-(((lams - 455) / 28) ** 2)),
        ],
        axis=1,
    )
    cmf /= cmf.sum(axis=0, keepdims=True)
    refl = 0.5 + 0.5 * np.cos(4 * np.pi * n_film * thick[:, None] / lams[None, :])
    return thick, refl @ cmf


# name, challenge (the study's Table 1), aspect (height / width), rng seed, painter
SCENES: tuple[Scene, ...] = (
    Scene(
        "grid-perspective",
        "regular grid with perspective (brick facade with window grid)",
        STUDY_ASPECT,
        101,
        _draw_grid_perspective,
    ),
    Scene("food-texture", "multi-scale food-like texture (granola: flakes, nuts, seeds, crumbs)", 0.75, 202, _draw_food_texture),
    Scene("many-objects", "many objects of one kind (roasted coffee beans on burlap)", 2 / 3, 303, _draw_many_objects),
    Scene(
        "soft-texture",
        "soft non-periodic texture (golden fur)",
        0.75,
        707,
        _draw_soft_texture,
        # Long coherent strands: the default finish leaves BRISQUE at 49; more surface
        # texture breaks their over-regular correlation (44.6).
        camera=Camera(texture=0.15),
    ),
    Scene(
        "iridescent-texture",
        "iridescent fine texture (butterfly-wing scales, thin-film colours)",
        0.75,
        808,
        _draw_iridescent,
        # Scales rendered with aliasing-sharp rims: BRISQUE 54 at 0.9 px, 45 at 1.2 px.
        camera=Camera(blur_px=1.2),
    ),
)
