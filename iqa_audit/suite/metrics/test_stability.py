"""Metric stability under content change: one case per (metric, add task, seed).

On an add-objects chain the picture changes on purpose every step; a metric that measures
quality should move there about as much as on the replicate chain of the same editor and
seed. `test_stability[piqe-add-fruits-empty-table]` fails when the robust spread of PIQE's
step-to-step differences on the add-fruits chain exceeds 3 times the replicate chain's
(iqa_audit.analysis.stability): the study's Figure 7, a metric whose score jumps with content.
A score the metric could not give (NaN/±inf) is an error, raised by `stability_inputs`
during setup, naming the image.
"""


def test_stability(stability_cell, stability_inputs, audit):
    audit.stability(stability_cell)
