"""Before trusting a metric's gaps: finite, deterministic, batch-consistent scores, and
clean seeds inside the typical range used for normalisation (a warning, not a failure:
the study's ranges are typical, and scores outside them are kept unclamped)."""


def test_metric_sanity(sanity_case, audit):
    audit.sanity(sanity_case)
