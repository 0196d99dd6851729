"""Task checks over a whole chain: is a monochrome output grey, does colour return, and did
each mirror or rotation step happen?

The study's users asked for monochrome and got images that were not grey; and editors
often failed to mirror or rotate at all. The end-state checks cannot see either: a grey
reference says nothing about a tint that comes and goes, and a mirror chain of 10 steps
that never mirrored ends exactly where a faithful one does. So these checks read every
step of a chain: `steps` is the chain's ((step number, image), ...) from step 0 on.

Grey is judged per pixel by CIELAB chroma C*ab = hypot(a*, b*). For a pixel and the grey
of the same lightness, ΔE*ab is exactly C*ab, so a pixel is visibly coloured when its
chroma exceeds one just-noticeable difference, ΔE*ab ≈ 2.3 (Mahy, Van Eycken & Oosterlinck
1994, "Evaluation of uniform color spaces developed after the adoption of CIELAB and
CIELUV", Color Research & Application 19(2):105-121; the JND quoted in Sharma, Digital
Color Imaging Handbook, 2003). Pixels are area-averaged to CHROMA_LONG_SIDE first, so
zero-mean chroma noise (a codec's) averages out while a cast, which moves every pixel the
same way, stays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from iqa_audit.core.errors import ConfigError, explain
from iqa_audit.core.images import Image
from iqa_audit.fidelity.alignment import _ncc
from iqa_audit.fidelity.finding import Finding, _image
from iqa_audit.fidelity.palette import _lab_points
from iqa_audit.fidelity.pixels import _grey, _resize_grey, _scaled

if TYPE_CHECKING:
    from iqa_audit.tasks.table import Task

GREY_CHROMA = 2.3  # C*ab of one just-noticeable difference from grey (Mahy et al. 1994)
CHROMA_LONG_SIDE = 256
# A monochrome output may have at most this fraction of visibly coloured pixels (ours: room
# for a few coloured rims a resampling leaves at edges, none for a cast or a coloured region).
MAX_COLOURED_FRACTION = 0.01
# A colourised output must have at least this fraction of visibly coloured pixels (ours: a
# quarter of the picture; a faithful colourisation colours nearly all of it, black and white
# regions excepted, and a grey image has none).
MIN_COLOURED_FRACTION = 0.25
# A mirror or rotation step succeeded when the output resembles the transformed previous
# step more than the untouched previous step, by more than TRANSFORM_MARGIN in normalised
# cross-correlation (grey, at TRANSFORM_LONG_SIDE); closer than that, the step is a tie
# (content symmetric under the transform) and is not counted.
TRANSFORM_LONG_SIDE = 64
TRANSFORM_MARGIN = 0.02
# Pass when at least this share of the decided steps (over all runs) succeeded (ours: a
# faithful editor transforms every step; 0.9 allows one miss in ten).
MIN_TRANSFORM_RATE = 0.9


def coloured_fraction(image: Image, *, chroma: float = GREY_CHROMA) -> tuple[float, float, float, float]:
    """(fraction of pixels with C*ab > `chroma`, 99th-percentile C*ab, median a*, median b*),
    on the image area-averaged to CHROMA_LONG_SIDE."""
    lab = _lab_points(_image(image, "image").pixels, CHROMA_LONG_SIDE)
    c = np.hypot(lab[:, 1], lab[:, 2])
    return (float(np.mean(c > chroma)), float(np.percentile(c, 99)), float(np.median(lab[:, 1])), float(np.median(lab[:, 2])))


def _later_steps(steps: Sequence[tuple[int, Image]], check: str) -> list[tuple[int, Image]]:
    later = [(int(k), img) for k, img in steps if k >= 1]
    if not later:
        raise ConfigError(
            explain(
                f"{check} check",
                expected="a chain with at least step 1",
                got=f"steps {[k for k, _ in steps]}",
                fix="Build the chain one step or more.",
            )
        )
    return later


def _per_step(steps, check: str) -> list[dict[str, Any]]:
    out = []
    for k, img in _later_steps(steps, check):
        fraction, p99, a, b = coloured_fraction(img)
        out.append({"step": k, "coloured_fraction": fraction, "chroma_p99": p99, "median_a": a, "median_b": b})
    return out


def check_monochrome(steps: Sequence[tuple[int, Image]], *, max_fraction: float = MAX_COLOURED_FRACTION) -> Finding:
    """Every step from 1 on is grey: at most `max_fraction` of its pixels visibly coloured.

    value = the largest coloured fraction over the steps (the worst step), tolerance =
    `max_fraction`. The message names the first step that was not grey and its cast."""
    per = _per_step(steps, "monochrome")
    worst = max(per, key=lambda s: s["coloured_fraction"])
    failing = [s for s in per if s["coloured_fraction"] > max_fraction]
    passed = not failing
    if passed:
        message = (
            f"grey at every step 1-{per[-1]['step']}: at most {100 * worst['coloured_fraction']:.2f} % of pixels "
            f"visibly coloured (C*ab > {GREY_CHROMA}), allowed {100 * max_fraction:g} %"
        )
    else:
        first = failing[0]
        message = (
            f"not grey from step {first['step']} on ({len(failing)} of {len(per)} steps): "
            f"{100 * first['coloured_fraction']:.1f} % of pixels visibly coloured (C*ab > {GREY_CHROMA}), allowed "
            f"{100 * max_fraction:g} %; cast a* {first['median_a']:+.1f}, b* {first['median_b']:+.1f}; worst step "
            f"{worst['step']}: {100 * worst['coloured_fraction']:.1f} %"
        )
    return Finding(
        "monochrome",
        passed,
        worst["coloured_fraction"],
        max_fraction,
        {"grey_chroma": GREY_CHROMA, "steps": per, "first_coloured_step": failing[0]["step"] if failing else None},
        message,
    )


def check_colour_returns(steps: Sequence[tuple[int, Image]], *, min_fraction: float = MIN_COLOURED_FRACTION) -> Finding:
    """Colourising a monochrome image brings colour back, at every step from 1 on: at least
    `min_fraction` of the pixels visibly coloured. value = the smallest coloured fraction
    over the steps, tolerance = `min_fraction` (higher is better)."""
    per = _per_step(steps, "colour_returns")
    worst = min(per, key=lambda s: s["coloured_fraction"])
    passed = worst["coloured_fraction"] >= min_fraction
    message = (
        f"{'colour returned' if passed else 'colour did not return'}: the least coloured step "
        f"({worst['step']}) has {100 * worst['coloured_fraction']:.1f} % of pixels visibly coloured "
        f"(C*ab > {GREY_CHROMA}), needed {100 * min_fraction:g} %"
    )
    return Finding(
        "colour_returns", passed, worst["coloured_fraction"], min_fraction, {"grey_chroma": GREY_CHROMA, "steps": per}, message
    )


def _small_grey(image: Image, size: tuple[int, int]) -> np.ndarray:
    return _resize_grey(_grey(image.pixels), size)


def check_transform_steps(task: Task, steps: Sequence[tuple[int, Image]], *, min_rate: float = MIN_TRANSFORM_RATE) -> Finding:
    """Per step k >= 1: did the output match the task's transform of step k-1 (mirrored,
    rotated) better than step k-1 left as it was?

    Both candidates are compared with the output in grey at the output's shape reduced to
    TRANSFORM_LONG_SIDE (the untouched candidate of a rotation is stretched to it), by
    normalised cross-correlation. value = successes / decided steps, tolerance `min_rate`
    (higher is better). Only consecutive stored steps are compared."""
    if task is None or task.transform == "none":
        raise ConfigError(
            explain(
                "transform_steps check",
                expected="a task that mirrors or rotates",
                got=getattr(task, "name", "no task"),
                fix="Apply it to the mirror and rotate90 tasks only.",
            )
        )
    per = []
    for (k0, prev), (k, out) in zip(steps, steps[1:]):
        if k != k0 + 1:
            continue
        out, prev = _image(out, "output"), _image(prev, "previous step")
        size = _scaled(out.pixels.shape, min(1.0, TRANSFORM_LONG_SIDE / max(out.width, out.height)))
        target = _small_grey(out, size)
        transformed = _ncc(target, _small_grey(task.ideal_edit(prev, k), size))
        untouched = _ncc(target, _small_grey(prev, size))
        decided = abs(transformed - untouched) > TRANSFORM_MARGIN
        per.append(
            {
                "step": k,
                "ncc_transformed": transformed,
                "ncc_untouched": untouched,
                "outcome": ("done" if transformed > untouched else "missed") if decided else "tie",
            }
        )
    return _rate_finding(task.transform, per, min_rate)


def _rate_finding(transform: str, per: list[dict[str, Any]], min_rate: float) -> Finding:
    successes = sum(s["outcome"] == "done" for s in per)
    decided = sum(s["outcome"] != "tie" for s in per)
    rate = successes / decided if decided else 0.0
    passed = decided > 0 and rate >= min_rate
    missed = [s["step"] for s in per if s["outcome"] == "missed"]
    if decided == 0:
        message = f"no {transform} step could be judged: the content looks the same transformed (choose another seed)"
    else:
        message = (
            f"{transform} done on {successes} of {decided} steps ({100 * rate:.0f} %), needed "
            f"{100 * min_rate:g} %"
            + (f"; missed at steps {missed[:10]}" if missed else "")
            + (f"; {len(per) - decided} ties" if len(per) > decided else "")
        )
    return Finding(
        "transform_steps",
        passed,
        rate,
        min_rate,
        {"transform": transform, "successes": successes, "decided": decided, "steps": per},
        message,
    )


def pooled_rate(check: Any, findings: Sequence[Finding]) -> Finding:
    """The transform success rate over steps and runs: all runs' steps pooled into one rate
    (a run with a missed step does not fail the cell by itself; the rate does)."""
    per = [dict(s, run=i) for i, f in enumerate(findings) for s in f.details["steps"]]
    pooled = _rate_finding(str(findings[0].details["transform"]), per, float(findings[0].tolerance))
    runs = f" over {len(findings)} runs" if len(findings) > 1 else ""
    return replace(pooled, message=pooled.message + runs)
