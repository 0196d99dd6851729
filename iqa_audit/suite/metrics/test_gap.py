"""The metric audit: one case per (metric, chain setting, seed, Δ step).

A case passes when the metric's mean normalised score at step Δ is below step 1's, i.e.
the metric noticed the degradation. With a baseline, known failures are xfail and a cell
that passed there and fails now is a regression. A cell whose scores the metric could not
give (NaN/±inf) is an error, raised by `gap_inputs` during setup, with the reason.
"""


def test_gap(gap_cell, gap_inputs, audit):
    audit.gap(gap_cell)
