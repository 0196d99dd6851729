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
    ssim: in [-1, 1], 1 for identical images; alignment: 'identity', 'crop', 'outpaint'
    or 'stretch' (fidelity.alignment.align_to_reference's method)."""

    psnr_db: float | None
    ssim: float
    alignment: str

    @property
    def visible(self) -> bool:
        """Above the threshold of visible change by either measure (see the module doc)."""
        return (self.psnr_db is not None and self.psnr_db < PSNR_BOUND_DB) or self.ssim < SSIM_BOUND

    def to_dict(self) -> dict[str, Any]:
        return {"psnr_db": self.psnr_db, "ssim": self.ssim, "alignment": self.alignment}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Change":
        psnr = d.get("psnr_db")
        return cls(None if psnr is None else float(psnr), float(d["ssim"]), str(d["alignment"]))


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
        psnr = "identical pixels" if c.psnr_db is None else f"PSNR {c.psnr_db:.2f} dB, SSIM {c.ssim:.4f}"
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


def measure_change(reference: Image, later: Image) -> Change:
    """PSNR and SSIM of `later` against `reference` after aligning any crop the way the
    replication check does. Cost: the alignment (~0.3-0.6 s for a 2K pair, ~0 for a
    same-size pair that correlates at >= 0.98) plus one full-resolution SSIM.

    Raises BadImageError (from the alignment) when either is not an image."""
    from skimage.metrics import structural_similarity

    ref_px, out_px, info = align_to_reference(reference, later)
    a, b = np.asarray(ref_px, dtype=np.float64), np.asarray(out_px, dtype=np.float64)
    mse = float(np.mean((a - b) ** 2))
    psnr = None if mse == 0.0 else 10.0 * math.log10(255.0**2 / mse)
    side = min(a.shape[0], a.shape[1])
    win = min(7, side if side % 2 else side - 1)
    if mse == 0.0:
        ssim = 1.0
    elif win < 3:
        raise BadImageError(
            explain(
                "evidence of change",
                expected="aligned images at least 3x3 px",
                got=f"{a.shape[1]}x{a.shape[0]}",
                fix="Audit chains of images larger than 3x3 px.",
            )
        )
    else:
        ssim = float(structural_similarity(ref_px, out_px, channel_axis=2, data_range=255, win_size=win))
    return Change(psnr, ssim, str(info["method"]))


def describe_none_visible(evidence: tuple[RunEvidence, ...]) -> str:
    """Why a cell is inconclusive, with every run's numbers and the threshold."""
    runs = "; ".join(ev.describe() for ev in evidence)
    return (
        f"no run changed visibly between step {evidence[0].reference_step} and step {evidence[0].step} ({runs}); "
        f"{THRESHOLD_SOURCE}"
    )
