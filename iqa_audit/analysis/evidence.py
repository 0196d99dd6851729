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
float running sums round; these do not). Both run over strips of rows in buffers kept
per thread. A 512 px pair costs ~1 ms when PSNR decides and ~10 ms of CPU when SSIM is
needed (scikit-image's: ~50 ms), plus the alignment (~2 ms for a same-size pair).
"""

from __future__ import annotations

import inspect
import math
import sys
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Mapping

import numpy as np

from iqa_audit.core.errors import BadImageError, explain
from iqa_audit.core.images import Image
from iqa_audit.fidelity.alignment import align_to_reference

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
    mse = _squared_error(a, b) / a.size
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
# Both measures run over strips of rows, in buffers kept per thread for the last image
# width (_Workspace): no pass pays for fresh pages (allocating the arrays of a whole image
# per call cost more than the arithmetic), and each buffer stays near STRIP_BYTES, small
# enough for the CPU's cache, with at least MIN_STRIP_ROWS rows (fewer, and numpy's
# per-call cost dominates). Held: 13 buffers, ~3.5 MB up to 2048 px wide, 16 MB at 8192.
STRIP_BYTES = 256 * 1024
MIN_STRIP_ROWS = 32


def _strip_rows(width: int) -> int:
    return max(MIN_STRIP_ROWS, STRIP_BYTES // (4 * width))


def _squared_error(a: np.ndarray, b: np.ndarray) -> int:
    """Sum of squared differences of two same-shape (H, W, C) uint8 images, exact: divided
    by the count, the same mean square error (to the last bit) as a float64 mean of them."""
    h, w, channels = a.shape
    ws = _workspace(w * channels, 1)
    total = 0
    for r0 in range(0, h, ws.strip):
        r1 = min(h, r0 + ws.strip)
        x, y = ws.x[: r1 - r0], ws.y[: r1 - r0]
        np.copyto(x, a[r0:r1].reshape(r1 - r0, -1))
        np.copyto(y, b[r0:r1].reshape(r1 - r0, -1))
        np.subtract(x, y, out=x)
        total += int(np.einsum("ij,ij->", x, x, dtype=np.int64))
    return total


def _mean_ssim(a: np.ndarray, b: np.ndarray, win: int) -> float:
    """Mean SSIM of two same-shape (H, W, C) uint8 images over every win x win window that
    lies inside them, averaged over the channels: scikit-image's structural_similarity with
    channel_axis=2, data_range=255, win_size=win, uniform weights and sample covariance
    (its mean skips a border of (win-1)/2 px: exactly the windows inside the image).

    With n = win² window sums Sx, Sy, S(x²+y²), Sxy (exact integers), the local means and
    sample (co)variances are ux = Sx/n, vx = (n·Sxx - Sx²)/(n(n-1)), ..., so
      SSIM = (2ux·uy + C1)(2vxy + C2) / ((ux² + uy² + C1)(vx + vy + C2))
           = (P + C1·n²)(R + C2·n(n-1)) / ((Q + C1·n²)(T + C2·n(n-1)))
    with the integers P = 2·Sx·Sy, Q = Sx² + Sy², R = 2(n·Sxy) - P, T = n·S(x²+y²) - Q, all
    below 2^31 for 8-bit samples and win <= 7. Only the last line is floating point: no
    rounding from running sums, 7 float operations per window."""
    h, w, channels = a.shape
    hh = h - win + 1
    n = win * win
    if not 3 <= win <= 7 or win % 2 == 0:
        raise ValueError("_mean_ssim: exact in int32 for odd windows of 3x3 to 7x7")
    ws = _workspace(w, win)
    c1, c2 = _C1 * n * n, _C2 * n * (n - 1)
    totals = np.zeros(channels)
    for r0 in range(0, hh, ws.strip):
        rows = min(hh, r0 + ws.strip) - r0  # output rows of this strip
        x, y, sq = ws.x[: rows + win - 1], ws.y[: rows + win - 1], ws.sq[: rows + win - 1]
        sx, sy, ss, sxy, pp = (buf[:rows] for buf in ws.ints)
        num, den, tmp = (buf[:rows] for buf in ws.floats)
        for c in range(channels):
            np.copyto(x, a[r0 : r0 + rows + win - 1, :, c])
            np.copyto(y, b[r0 : r0 + rows + win - 1, :, c])
            ws.sums(x, sx)
            ws.sums(y, sy)
            np.multiply(x, y, out=sq)
            ws.sums(sq, sxy)
            np.multiply(x, x, out=sq)
            np.multiply(y, y, out=x)  # the samples are summed: x's buffer is free
            np.add(sq, x, out=sq)
            ws.sums(sq, ss)  # S(x² + y²)
            np.multiply(sx, sy, out=pp)
            np.multiply(pp, 2, out=pp)  # P
            np.multiply(sx, sx, out=sx)
            np.multiply(sy, sy, out=sy)
            np.add(sx, sy, out=sx)  # Q
            np.multiply(sxy, 2 * n, out=sxy)
            np.subtract(sxy, pp, out=sxy)  # R
            np.multiply(ss, n, out=ss)
            np.subtract(ss, sx, out=ss)  # T
            np.add(pp, c1, out=num)
            np.add(sxy, c2, out=tmp)
            num *= tmp
            np.add(sx, c1, out=den)
            np.add(ss, c2, out=tmp)
            den *= tmp
            num /= den
            totals[c] += num.sum(dtype=np.float64)
    return float(np.mean(totals / (hh * (w - win + 1))))


class _WindowSums:
    """out[i, j] = the sum of src over the win x win window at (i, j), for int32 arrays up
    to (rows, w): runs of 2 and 4 rows (then columns) are summed once and combined by the
    binary digits of win (7 = 4 + 2 + 1), 4 additions per direction instead of 6."""

    def __init__(self, rows: int, w: int, win: int):
        self.win = win
        self.v2, self.v4 = np.empty((rows - 1, w), np.int32), np.empty((max(rows - 3, 1), w), np.int32)
        self.rows = np.empty((rows - win + 1, w), np.int32)
        self.h2, self.h4 = np.empty((rows - win + 1, w - 1), np.int32), np.empty((rows - win + 1, max(w - 3, 1)), np.int32)

    def __call__(self, src: np.ndarray, out: np.ndarray) -> None:
        m = out.shape[0]
        rows = self.rows[:m]
        self._along(src, rows, self.v2[: m + self.win - 2], self.v4[: max(m + self.win - 4, 1)], axis=0)
        self._along(rows, out, self.h2[:m], self.h4[:m], axis=1)

    def _along(self, src: np.ndarray, out: np.ndarray, two: np.ndarray, four: np.ndarray, axis: int) -> None:
        def cut(arr: np.ndarray, start: int, length: int) -> np.ndarray:
            return arr[start : start + length] if axis == 0 else arr[:, start : start + length]

        size_in, m = src.shape[axis], out.shape[axis]
        runs = {1: src, 2: two}
        np.add(cut(src, 0, size_in - 1), cut(src, 1, size_in - 1), out=two)
        if self.win >= 4:
            np.add(cut(two, 0, size_in - 3), cut(two, 2, size_in - 3), out=four)
            runs[4] = four
        offset, first = 0, True
        for size in (4, 2, 1):
            if self.win & size:
                part = cut(runs[size], offset, m)
                if first:
                    np.copyto(out, part)
                    first = False
                else:
                    np.add(out, part, out=out)
                offset += size


class _Workspace:
    """The buffers of one strip for images `w` samples wide and windows of `win` (1: the
    squared error's, over whole rows of interleaved samples)."""

    def __init__(self, w: int, win: int):
        self.strip = strip = _strip_rows(w)
        rows = strip + win - 1
        self.key = (w, win)
        self.x, self.y, self.sq = (np.empty((rows, w), np.int32) for _ in range(3))
        if win > 1:
            self.sums = _WindowSums(rows, w, win)
            self.ints = tuple(np.empty((strip, w - win + 1), np.int32) for _ in range(5))
            self.floats = tuple(np.empty((strip, w - win + 1)) for _ in range(3))


_workspaces = threading.local()


def _workspace(w: int, win: int) -> _Workspace:
    """This thread's workspace for (w, win), kept until another shape is asked for."""
    kept = getattr(_workspaces, "by_key", None)
    if kept is None:
        kept = _workspaces.by_key = {}
    ws = kept.get((w, win))
    if ws is None:
        kept.clear() if len(kept) >= 2 else None
        ws = kept[(w, win)] = _Workspace(w, win)
    return ws


def describe_none_visible(evidence: tuple[RunEvidence, ...]) -> str:
    """Why a cell is inconclusive, with every run's numbers and the threshold."""
    runs = "; ".join(ev.describe() for ev in evidence)
    return (
        f"no run changed visibly between step {evidence[0].reference_step} and step {evidence[0].step} ({runs}); "
        f"{THRESHOLD_SOURCE}"
    )
