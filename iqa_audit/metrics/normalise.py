"""Typical ranges (Table 2 of the Banana100 study) and the map of a raw score to [0, 100].

normalised = 100·(s − lo)/(hi − lo) when higher is better, 100·(hi − s)/(hi − lo) when
lower is better, so 100 is always "best typical" and 0 "worst typical".

No clamping, on purpose: a score outside its typical range lands outside [0, 100]. The
study's BRISQUE example goes from 34.1 on a clean image to −9.8 after 20 replications;
clamped, that "improvement" would hide the very gap the audit measures, and a real
degradation beyond the range end would read as a gap of 0.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping, overload

import numpy as np

from iqa_audit.core.errors import ConfigError, explain
from iqa_audit.metrics.base import TypicalRange

_STUDY = "Banana100 Table 2"


def _row(lo: float, hi: float, higher_better: bool, source: str = _STUDY) -> TypicalRange:
    return TypicalRange(float(lo), float(hi), higher_better, source)


# Keyed by pyiqa name. VisualQuality-R1 and RALI are not in pyiqa 0.1.16; they are keyed
# here so a user adapter for them (or a later pyiqa) normalises them like the study did.
TABLE2: Mapping[str, TypicalRange] = MappingProxyType(
    {
        "arniqa": _row(0, 1, True),
        "brisque": _row(0, 150, False),
        "clipiqa": _row(0, 1, True),
        "cnniqa": _row(0, 1, True),
        "dbcnn": _row(0, 1, True),
        "hyperiqa": _row(0, 1, True),
        "ilniqe": _row(0, 100, False),
        "liqe": _row(1, 5, True),
        "maniqa": _row(0, 1, True),
        "musiq": _row(0, 100, True),
        "nima": _row(0, 10, True),
        "niqe": _row(0, 100, False),
        "nrqm": _row(0, 10, True),
        "paq2piq": _row(0, 100, True),
        "pi": _row(0, 20, False, f"{_STUDY} gives 0–? (PI >= 0, no upper bound); iqa-audit assumes 0–20, the study states none"),
        "piqe": _row(0, 100, False),
        "qalign": _row(1, 5, True),
        "qualiclip": _row(0, 1, True),
        "topiq_nr": _row(0, 1, True),
        "tres": _row(0, 100, True),
        "wadiqam_nr": _row(-1, 0.1, True),
        "visualquality-r1": _row(1, 5, True),
        "rali": _row(1, 5, True),
        "entropy": _row(0, 8, True, "pyiqa score_range 0–8 (bits per pixel of an 8-bit histogram); entropy is not in the study"),
    }
)


@overload
def normalise(raw: float, r: TypicalRange) -> float: ...
@overload
def normalise(raw: np.ndarray, r: TypicalRange) -> np.ndarray: ...


def normalise(raw, r):
    """Map raw score(s) to the 0–100, higher-is-better scale of `r`. No clamping."""
    width = r.hi - r.lo
    if width == 0:  # TypicalRange refuses this already; kept because a division by 0 must never pass silently
        raise ConfigError(
            explain(
                f"typical range ({r.source})",
                expected="lo != hi",
                got=f"lo = hi = {r.lo}",
                fix="Give the range scores really span.",
            )
        )
    if isinstance(raw, np.ndarray):
        s = raw.astype(np.float64, copy=False)
        return 100.0 * ((s - r.lo) if r.higher_better else (r.hi - s)) / width
    s = float(raw)
    return 100.0 * ((s - r.lo) if r.higher_better else (r.hi - s)) / width
