"""The reference-vs-output checks: aspect ratio, object count, tint, replication (SSIM).

Each is a pure function (reference or expected value, output, tolerance) -> Finding. The
reference is whatever the output should match: the seed for replication, or the seed
transformed as the task asks (mirrored, rotated); the caller (the engine, through the
check table) decides.
"""

from __future__ import annotations

import math

import numpy as np

from iqa_audit.core.errors import BadImageError, ConfigError, explain
from iqa_audit.core.images import Image
from iqa_audit.fidelity.alignment import _aligned_or_same
from iqa_audit.fidelity.finding import Finding, _image, _non_negative
from iqa_audit.fidelity.palette import _lab_points
from iqa_audit.fidelity.pixels import _reduce
from iqa_audit.vlm.counting import ObjectCounter

# --------------------------------------------------------------------------------------
# Aspect ratio
# --------------------------------------------------------------------------------------


def check_aspect_ratio(reference: Image, output: Image, *, tolerance: float = 0.005) -> Finding:
    """Relative change of height/width. 5632x3072 -> 2816x1504 is -2.08 %.

    The 0.5 % default sits far above rounding (a 5632x3072 image resized to 1024 px
    wide rounds its height by at most 0.1 %) and far below the crops the study saw.
    """
    ref, out = _image(reference, "reference"), _image(output, "output")
    _non_negative(tolerance, "tolerance")
    change = out.aspect_ratio / ref.aspect_ratio - 1.0
    passed = abs(change) <= tolerance + 1e-12
    message = (
        f"aspect ratio {ref.aspect_ratio:.4f} -> {out.aspect_ratio:.4f} ({change * 100:+.2f} %), "
        f"tolerance {tolerance * 100:g} %; output {out.width}x{out.height} from {ref.width}x{ref.height}"
    )
    details = {
        "reference_size": (ref.width, ref.height),
        "output_size": (out.width, out.height),
        "reference_aspect_ratio": ref.aspect_ratio,
        "output_aspect_ratio": out.aspect_ratio,
        "scale_x": out.width / ref.width,
        "scale_y": out.height / ref.height,
    }
    return Finding("aspect_ratio", passed, change, tolerance, details, message)


# --------------------------------------------------------------------------------------
# Object count
# --------------------------------------------------------------------------------------


def check_object_count(output: Image, expected: int, *, counter: ObjectCounter, tolerance: int = 0) -> Finding:
    """Counted minus expected objects (add-apples: step k should show k apples)."""
    out = _image(output, "output")
    if isinstance(expected, bool) or not isinstance(expected, (int, np.integer)) or expected < 0:
        raise ConfigError(
            explain(
                "expected object count",
                expected="an integer >= 0",
                got=repr(expected),
                fix="Pass the number the task expects at this step.",
            )
        )
    _non_negative(tolerance, "tolerance")
    if not isinstance(counter, ObjectCounter):
        raise ConfigError(
            explain(
                "counter",
                expected="an ObjectCounter (id, count(image))",
                got=type(counter).__name__,
                fix="Pass BlobCounter() or VLMCounter(model=...).",
            )
        )
    counted = int(counter.count(out))
    difference = counted - int(expected)
    passed = abs(difference) <= tolerance
    counter_id = str(getattr(counter, "id", type(counter).__name__))
    message = f"counted {counted} objects with {counter_id}, expected {expected} ({difference:+d}), tolerance ±{tolerance:g}"
    details = {"counted": counted, "expected": int(expected), "counter": counter_id, "output_size": (out.width, out.height)}
    return Finding("object_count", passed, difference, tolerance, details, message)


# --------------------------------------------------------------------------------------
# Tint
# --------------------------------------------------------------------------------------

TINT_LONG_SIDE = 512  # a mean needs no more pixels; both images are reduced the same way


def check_tint(reference: Image, output: Image, *, tolerance: float = 2.0) -> Finding:
    """Global colour cast: the shift of a*, b* (output - reference) in CIELAB.

    The shift is the median over pixels of the per-pixel difference of the aligned
    images, not the difference of the means: a global cast moves every pixel, so the
    median is the cast; an editor that adds 12 red apples (the add-apples task, ~4 % of
    the image) moves the mean a* by ~2 units without any cast, and the median by ~0.
    The means are in the details too. value = hypot(Δa*, Δb*). The 2.0 default is about
    one just-noticeable difference; adding 6 to the green channel of a grey image moves
    a* by -3.4 and b* by +2.5. Direction: the larger axis names it — Δa* < 0 green,
    > 0 magenta, Δb* > 0 yellow, < 0 blue ('none' for no shift at all).
    """
    ref, out = _image(reference, "reference"), _image(output, "output")
    _non_negative(tolerance, "tolerance")
    ref_px, out_px, alignment = _aligned_or_same(ref, out)
    difference = _lab_points(out_px, TINT_LONG_SIDE) - _lab_points(ref_px, TINT_LONG_SIDE)
    delta_l, delta_a, delta_b = np.median(difference, axis=0).tolist()
    mean_l, mean_a, mean_b = difference.mean(axis=0).tolist()
    magnitude = math.hypot(delta_a, delta_b)
    if abs(delta_a) >= abs(delta_b):
        direction = "green" if delta_a < 0 else "magenta"
    else:
        direction = "yellow" if delta_b > 0 else "blue"
    if magnitude == 0.0:
        direction = "none"
    passed = magnitude <= tolerance
    message = f"tint Δa* {delta_a:+.2f}, Δb* {delta_b:+.2f} ({direction}), magnitude {magnitude:.2f}, tolerance {tolerance:g}"
    details = {
        "delta_a": delta_a,
        "delta_b": delta_b,
        "delta_l": delta_l,
        "mean_delta_a": mean_a,
        "mean_delta_b": mean_b,
        "mean_delta_l": mean_l,
        "direction": direction,
        "alignment": alignment,
    }
    return Finding("tint", passed, magnitude, tolerance, details, message)


# --------------------------------------------------------------------------------------
# Replication (similarity after alignment)
# --------------------------------------------------------------------------------------

# SSIM is computed twice and the lower value is the verdict:
# - on the whole aligned image reduced to at most GLOBAL_LONG_SIDE px: sees structural
#   changes anywhere (duplicated objects, warps, lost texture);
# - on a native-resolution centre crop of at most DETAIL_SIDE x DETAIL_SIDE px: sees
#   pixel-level noise, which area-averaging for the global view would wash out (noise of
#   sigma 10 at 1024 px becomes sigma 5 at 512 px).
GLOBAL_LONG_SIDE = 512
DETAIL_SIDE = 512


def check_replication(reference: Image, output: Image, *, min_ssim: float = 0.90) -> Finding:
    """SSIM between the reference and the output after aligning crops and scale."""
    ref, out = _image(reference, "reference"), _image(output, "output")
    if not 0.0 <= min_ssim <= 1.0:
        raise ConfigError(explain("min_ssim", expected="a value in [0, 1]", got=repr(min_ssim), fix="Use e.g. 0.90."))
    ref_px, out_px, alignment = _aligned_or_same(ref, out)
    global_ref, global_out = (_reduce(ref_px, GLOBAL_LONG_SIDE), _reduce(out_px, GLOBAL_LONG_SIDE))
    ssim_global = _ssim(global_ref, global_out)
    if global_ref.shape == ref_px.shape:
        ssim_detail = ssim_global  # the image is small enough that the global view is native
        detail_shape = ref_px.shape
    else:
        detail_ref, detail_out = (_centre_crop(ref_px, DETAIL_SIDE), _centre_crop(out_px, DETAIL_SIDE))
        ssim_detail = _ssim(detail_ref, detail_out)
        detail_shape = detail_ref.shape
    value = min(ssim_global, ssim_detail)
    passed = value >= min_ssim
    message = (
        f"SSIM {value:.4f} (whole image at {global_ref.shape[1]}x{global_ref.shape[0]}: {ssim_global:.4f}, "
        f"native-resolution centre {detail_shape[1]}x{detail_shape[0]}: {ssim_detail:.4f}), minimum {min_ssim:g}; "
        f"alignment {alignment['method']} (NCC {alignment['ncc']:.3f})"
    )
    details = {
        "ssim_global": ssim_global,
        "ssim_detail": ssim_detail,
        "global_size": (global_ref.shape[1], global_ref.shape[0]),
        "detail_size": (detail_shape[1], detail_shape[0]),
        "alignment": alignment,
    }
    return Finding("replication", passed, value, min_ssim, details, message)


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    side = min(a.shape[0], a.shape[1])
    win = min(7, side if side % 2 else side - 1)
    if win < 3:
        raise BadImageError(
            explain(
                "replication check",
                expected="aligned images at least 3x3 px",
                got=f"{a.shape[1]}x{a.shape[0]}",
                fix="SSIM needs a 3x3 window: check the images are not tiny and that the output shows the reference's scene.",
            )
        )
    return float(structural_similarity(a, b, channel_axis=2, data_range=255, win_size=win))


def _centre_crop(pixels: np.ndarray, side: int) -> np.ndarray:
    h, w = pixels.shape[:2]
    top, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return pixels[top : top + side, left : left + side]
