"""Was there anything to notice? Evidence that a chain visibly changed between step 1 and step Δ.

The study judges a metric by the sign of its gap Δi = mean score at step i − at step 1,
trusting that the images got worse (a human confirmed it by eye). The suite checks that
itself before judging: per run, step Δ is compared with step 1 by a full-reference
measure. A cell in which no run changed visibly is *inconclusive*: the sign of its gap is
the sign of rounding noise (fixed-quality JPEG is nearly idempotent after one
generation; a lossless chain of one image is exactly so), not a finding about the metric.

Measure. Step Δ is aligned to step 1 by `fidelity.alignment.align_to_reference`, the function the
replication check aligns a crop with (same-size images stay pixel for pixel), then:
- PSNR in dB over the three RGB channels, data range 255 (None: identical pixels);
- SSIM (Wang et al. 2004) with scikit-image's uniform 7x7 window, data range
  255, averaged over the RGB channels.

Threshold of visible change. A run changed visibly when either measure crosses its bound:
- PSNR < 20·log10(255/3) = 38.59 dB, i.e. an RMS error above 3 grey levels. 3 grey levels
  is the smallest visibility threshold of the luminance-adaptation JND profile of
  Chou & Li (1995, "A perceptually tuned subband image coder based on the measure of
  just-noticeable-distortion profile", IEEE TCSVT 5(6):467–476), reached on a mid-grey
  background (it rises to about 20 on dark ones and with texture masking). An error
  whose RMS stays below it is below the JND on average everywhere.
- SSIM < 0.95, the just-noticeable-difference point Flynn et al. measured for compressed
  versus uncompressed images (2013, "Image Quality Assessment Using the SSIM and the Just
  Noticeable Difference Paradigm", HCI International, LNCS 8019: 0.92–0.96 over six
  images, 0.95 on average). SSIM sees structural change that moves few grey levels.
Both bounds sit at the *lowest* point at which a change starts to be seen, so a cell is
called inconclusive only when its change is below visibility by both: a real degradation
keeps its verdict. Limitation: both are averages over the image, so a change confined to
a tiny region (one added object covering ~0.05 % of the pixels) can stay under both.

Cost. The rule is "PSNR below its bound, or else SSIM below its bound", so PSNR (one pass
over the pixels) comes first and SSIM is measured only when PSNR did not already show a
visible change; then `ssim` is None ("not needed"). SSIM, when needed, is one pass over
the three channels with exact integer window sums (`_mean_ssim`): the same statistic as
scikit-image's structural_similarity(..., channel_axis=2, data_range=255, win_size=win)
with its default uniform window and sample covariance, equal to it within 1e-13 (its
float running sums round; these do not), at a third of its cost. A 512 px pair costs
~1 ms when PSNR decides and ~15 ms when SSIM is needed, plus the alignment.
"""

from __future__ import annotations

import inspect
import math
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Mapping

import numpy as np

from iqa_audit.fidelity.alignment import align_to_reference
from iqa_audit.core.errors import BadImageError, explain
from iqa_audit.core.images import Image

JND_GREY_LEVELS = 3.0  # Chou & Li (1995): smallest luminance visibility threshold, 8-bit grey levels
PSNR_BOUND_DB = 20.0 * math.log10(255.0 / JND_GREY_LEVELS)  # 38.59 dB
SSIM_BOUND = 0.95  # Flynn et al. (2013): mean SSIM at the just-noticeable difference
THRESHOLD_SOURCE = (
    f"visible when PSNR < {PSNR_BOUND_DB:.2f} dB (RMS error above the {JND_GREY_LEVELS:g}-grey-level JND, "
    f"Chou & Li 1995) or SSIM < {SSIM_BOUND:g} (JND point, Flynn et al. 2013)"
)


def sources() -> tuple[ModuleType, ...]:
    """The code behind a measured change: this module and the module that aligns the crop
    (wherever fidelity keeps it). Their source enters every memo key (keys.code_digest),
    so editing either measures the evidence again."""
    return tuple(dict.fromkeys((sys.modules[__name__], inspect.getmodule(align_to_reference))))


@dataclass(frozen=True)
class Change:
    """How one image differs from another after alignment.

    psnr_db: dB (None when the aligned pixels are identical: PSNR is infinite);
    ssim: in [-1, 1], 1 for identical images, None when not measured because PSNR alone
    already showed a visible change (the rule needs no more); alignment: 'identity',
    'crop', 'outpaint' or 'stretch' (fidelity.alignment.align_to_reference's method)."""

    psnr_db: float | None
    ssim: float | None
    alignment: str

    @property
    def visible(self) -> bool:
        """Above the threshold of visible change by either measure (see the module doc)."""
        return (self.psnr_db is not None and self.psnr_db < PSNR_BOUND_DB) or (self.ssim is not None and self.ssim < SSIM_BOUND)

    def to_dict(self) -> dict[str, Any]:
        return {"psnr_db": self.psnr_db, "ssim": self.ssim, "alignment": self.alignment}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Change":
        psnr, ssim = d.get("psnr_db"), d.get("ssim")
        return cls(None if psnr is None else float(psnr), None if ssim is None else float(ssim), str(d["alignment"]))


@dataclass(frozen=True)
class RunEvidence:
    """One run's evidence for a gap cell: step `step` compared with `reference_step`."""

    run: int
    reference_step: int
    step: int
    change: Change

    @property
    def visible(self) -> bool:
        return self.change.visible

    def describe(self) -> str:
        """'run 0: PSNR 52.10 dB, SSIM 0.9981 (no visible change)'."""
        c = self.change
        ssim = "" if c.ssim is None else f", SSIM {c.ssim:.4f}"  # None: PSNR alone showed the change
        psnr = "identical pixels" if c.psnr_db is None else f"PSNR {c.psnr_db:.2f} dB{ssim}"
        align = "" if c.alignment == "identity" else f", aligned by {c.alignment}"
        return f"run {self.run}: {psnr}{align} ({'visible change' if c.visible else 'no visible change'})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "reference_step": self.reference_step,
            "step": self.step,
            **self.change.to_dict(),
            "visible": self.visible,
        }


def measure_change(reference: Image, later: Image, *, full: bool = False) -> Change:
    """PSNR and, where the rule needs it, SSIM of `later` against `reference` after aligning
    any crop the way the replication check does (see the module doc: SSIM is None when PSNR
    alone shows a visible change). `full`: measure SSIM in every case, for a caller that
    compares the numbers rather than applying the rule. Cost: the alignment (~0.3-0.6 s
    for a 2K pair, ~2 ms for a same-size pair that correlates at >= 0.98), one pass for
    PSNR and, when needed, one for SSIM.

    Raises BadImageError (from the alignment) when either is not an image, and for aligned
    images smaller than 3x3 px that differ."""
    ref_px, out_px, info = align_to_reference(reference, later)
    method = str(info["method"])
    a, b = np.asarray(ref_px), np.asarray(out_px)
    # The sum of squared differences of 8-bit samples, exact in int64: divided by the count,
    # the same mean square error (to the last bit) as a float64 mean, in a tenth of the time.
    d = a.astype(np.int32).ravel()
    d -= b.ravel()
    mse = int(np.einsum("i,i->", d, d, dtype=np.int64)) / d.size
    if mse == 0.0:
        return Change(None, 1.0, method)
    psnr = 10.0 * math.log10(255.0**2 / mse)
    side = min(a.shape[0], a.shape[1])
    win = min(7, side if side % 2 else side - 1)
    if win < 3:
        raise BadImageError(
            explain(
                "evidence of change",
                expected="aligned images at least 3x3 px",
                got=f"{a.shape[1]}x{a.shape[0]}",
                fix="Audit chains of images larger than 3x3 px.",
            )
        )
    if psnr < PSNR_BOUND_DB and not full:
        return Change(psnr, None, method)  # visible by PSNR: the rule needs no SSIM
    return Change(psnr, _mean_ssim(a, b, win), method)


# SSIM's constants (Wang et al. 2004; scikit-image's defaults) for 8-bit samples.
_C1 = (0.01 * 255.0) ** 2
_C2 = (0.03 * 255.0) ** 2


def _mean_ssim(a: np.ndarray, b: np.ndarray, win: int) -> float:
    """Mean SSIM of two same-shape (H, W, C) uint8 images over every win x win window that
    lies inside them, averaged over the channels: scikit-image's structural_similarity with
    channel_axis=2, data_range=255, win_size=win, uniform weights and sample covariance
    (its mean skips a border of (win-1)/2 px: exactly the windows inside the image).

    Window sums of x, y, x², y², xy are exact integers (int32 holds n·Σx² - (Σx)² for
    win <= 7), so the local variances carry no rounding from running sums; the formula is
    then evaluated in float64. One channel at a time, in preallocated buffers: the
    temporaries stay small and no array is allocated per operation."""
    h, w, channels = a.shape
    hh, ww = h - win + 1, w - win + 1
    n = win * win
    if win > 7:
        raise ValueError("_mean_ssim: window sums are exact in int32 only up to 7x7 windows")
    x, y, p = (np.empty((h, w), np.int32) for _ in range(3))
    rows = np.empty((hh, w), np.int32)
    sx, sy, sxx, syy, sxy, t = (np.empty((hh, ww), np.int32) for _ in range(6))
    ux, uy, vx, vy, vxy, s = (np.empty((hh, ww), np.float64) for _ in range(6))

    def window_sums(src: np.ndarray, out: np.ndarray) -> None:
        np.copyto(rows, src[0:hh])
        for k in range(1, win):
            np.add(rows, src[k : hh + k], out=rows)
        np.copyto(out, rows[:, 0:ww])
        for k in range(1, win):
            np.add(out, rows[:, k : ww + k], out=out)

    means = []
    for c in range(channels):
        np.copyto(x, a[:, :, c])
        np.copyto(y, b[:, :, c])
        window_sums(x, sx)
        window_sums(y, sy)
        np.multiply(x, x, out=p)
        window_sums(p, sxx)
        np.multiply(y, y, out=p)
        window_sums(p, syy)
        np.multiply(x, y, out=p)
        window_sums(p, sxy)
        # n(n-1)·(sample variances and covariance), exact: n·Σxx - Σx·Σx
        for sq, u, v in ((sxx, sx, sx), (syy, sy, sy), (sxy, sx, sy)):
            np.multiply(u, v, out=t)
            np.multiply(sq, n, out=sq)
            np.subtract(sq, t, out=sq)
        np.divide(sx, n, out=ux)
        np.divide(sy, n, out=uy)
        np.divide(sxx, n * (n - 1), out=vx)
        np.divide(syy, n * (n - 1), out=vy)
        np.divide(sxy, n * (n - 1), out=vxy)
        # S = (2 ux uy + C1)(2 vxy + C2) / ((ux² + uy² + C1)(vx + vy + C2)), in place
        np.multiply(ux, uy, out=s)
        s *= 2.0
        s += _C1
        vxy *= 2.0
        vxy += _C2
        s *= vxy
        ux *= ux
        uy *= uy
        ux += uy
        ux += _C1
        vx += vy
        vx += _C2
        ux *= vx
        s /= ux
        means.append(s.mean(dtype=np.float64))
    return float(np.mean(np.asarray(means, dtype=np.float64)))


def describe_none_visible(evidence: tuple[RunEvidence, ...]) -> str:
    """Why a cell is inconclusive, with every run's numbers and the threshold."""
    runs = "; ".join(ev.describe() for ev in evidence)
    return (
        f"no run changed visibly between step {evidence[0].reference_step} and step {evidence[0].step} ({runs}); "
        f"{THRESHOLD_SOURCE}"
    )
