"""Table 2 and the [0, 100] normalisation, as the study defines them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iqa_audit.core.errors import ConfigError
from iqa_audit.metrics.base import TypicalRange
from iqa_audit.metrics.normalise import TABLE2, normalise

# Table 2 of the study (DESIGN.md), written out again on purpose: a change to the table
# in normalise.py must be a deliberate change to this test too.
EXPECTED_TABLE2 = {
    "arniqa": (0, 1, True),
    "brisque": (0, 150, False),
    "clipiqa": (0, 1, True),
    "cnniqa": (0, 1, True),
    "dbcnn": (0, 1, True),
    "hyperiqa": (0, 1, True),
    "ilniqe": (0, 100, False),
    "liqe": (1, 5, True),
    "maniqa": (0, 1, True),
    "musiq": (0, 100, True),
    "nima": (0, 10, True),
    "niqe": (0, 100, False),
    "nrqm": (0, 10, True),
    "paq2piq": (0, 100, True),
    "pi": (0, 20, False),
    "piqe": (0, 100, False),
    "qalign": (1, 5, True),
    "qualiclip": (0, 1, True),
    "topiq_nr": (0, 1, True),
    "tres": (0, 100, True),
    "wadiqam_nr": (-1, 0.1, True),
    "visualquality-r1": (1, 5, True),
    "rali": (1, 5, True),
    "entropy": (0, 8, True),
}

SETTINGS = settings(max_examples=60, deadline=None)
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def ranges(draw) -> TypicalRange:
    lo = draw(st.floats(min_value=-1e3, max_value=1e3, allow_nan=False))
    width = draw(st.floats(min_value=1e-3, max_value=1e3, allow_nan=False))
    return TypicalRange(lo, lo + width, draw(st.booleans()), "hypothesis")


def test_table2_is_exactly_the_study_table():
    got = {k: (r.lo, r.hi, r.higher_better) for k, r in TABLE2.items()}
    assert got == {k: (float(lo), float(hi), hb) for k, (lo, hi, hb) in EXPECTED_TABLE2.items()}


def test_table2_says_where_each_range_comes_from():
    study = {k for k in EXPECTED_TABLE2 if k not in ("pi", "entropy")}
    assert all(TABLE2[k].source == "Banana100 Table 2" for k in study)
    # PI has no upper bound in the study: the 0-20 is ours and the source must say so.
    assert "assume" in TABLE2["pi"].source and "20" in TABLE2["pi"].source
    assert "not in the study" in TABLE2["entropy"].source


def test_table2_is_read_only():
    with pytest.raises(TypeError):
        TABLE2["brisque"] = TypicalRange(0, 1, True, "x")  # type: ignore[index]


def test_brisque_example_from_the_study():
    # 34.1 on a clean image; -9.8 ("better" than any typical image) after 20 replications.
    r = TABLE2["brisque"]
    assert normalise(34.1, r) == pytest.approx(100 * (150 - 34.1) / 150)
    after = normalise(-9.8, r)
    assert after == pytest.approx(100 * 159.8 / 150) and after > 100  # no clamping


def test_higher_better_formula():
    assert normalise(50.0, TABLE2["musiq"]) == pytest.approx(50.0)
    assert normalise(3.0, TABLE2["liqe"]) == pytest.approx(50.0)
    assert normalise(-0.45, TABLE2["wadiqam_nr"]) == pytest.approx(50.0)


def test_out_of_range_scores_are_not_clamped():
    r = TABLE2["liqe"]  # 1-5, higher better
    assert normalise(0.0, r) == pytest.approx(-25.0)
    assert normalise(6.0, r) == pytest.approx(125.0)
    out = normalise(np.array([0.0, 6.0]), r)
    assert out.min() < 0 and out.max() > 100


def test_array_in_array_out_float_in_float_out():
    r = TABLE2["piqe"]
    raw = np.array([0.0, 25.0, 100.0, 130.0])
    out = normalise(raw, r)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    assert out.tolist() == pytest.approx([normalise(float(s), r) for s in raw])
    assert isinstance(normalise(25.0, r), float) and isinstance(normalise(25, r), float)


def test_nan_stays_nan():
    assert math.isnan(normalise(float("nan"), TABLE2["musiq"]))


@pytest.mark.parametrize("lo,hi", [(5.0, 5.0), (0.0, 0.0)])
def test_zero_width_range_is_refused(lo, hi):
    with pytest.raises(ConfigError, match="lo != hi"):
        normalise(1.0, TypicalRange(lo, hi, True, "test"))


@pytest.mark.parametrize("lo,hi", [(2.0, 1.0), (float("nan"), 1.0), (0.0, float("inf"))])
def test_malformed_ranges_are_refused(lo, hi):
    with pytest.raises(ConfigError):
        TypicalRange(lo, hi, True, "test")


@SETTINGS
@given(r=ranges())
def test_range_ends_map_to_0_and_100(r):
    best, worst = (r.hi, r.lo) if r.higher_better else (r.lo, r.hi)
    assert normalise(best, r) == pytest.approx(100.0, abs=1e-6)
    assert normalise(worst, r) == pytest.approx(0.0, abs=1e-6)


@SETTINGS
@given(r=ranges(), a=finite, b=finite)
def test_monotone_in_the_better_direction(r, a, b):
    lo_s, hi_s = sorted((a, b))
    n_lo, n_hi = normalise(lo_s, r), normalise(hi_s, r)
    if r.higher_better:
        assert n_lo <= n_hi
    else:
        assert n_lo >= n_hi


@SETTINGS
@given(r=ranges(), t=st.floats(min_value=-50.0, max_value=50.0, allow_nan=False))
def test_outside_the_range_lands_outside_0_100(r, t):
    # s = lo + t * width: t in [0, 1] is inside the range; beyond by 1 % or more is outside.
    s = r.lo + t * (r.hi - r.lo)
    n = normalise(s, r)
    if t < -0.01 or t > 1.01:
        assert n < 0 or n > 100
    elif 0.01 < t < 0.99:
        assert 0 < n < 100


@SETTINGS
@given(r=ranges(), s=finite)
def test_flipping_the_direction_mirrors_the_scale(r, s):
    flipped = TypicalRange(r.lo, r.hi, not r.higher_better, r.source)
    a, b = normalise(s, r), normalise(s, flipped)
    assert a + b == pytest.approx(100.0, abs=1e-9 * max(1.0, abs(a), abs(b)))
