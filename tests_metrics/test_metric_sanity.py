"""Before trusting a metric's gaps: finite, deterministic, batch-consistent scores, and
clean seeds inside the typical range used for normalisation (a warning, not a failure:
the study's ranges are typical, and scores outside them are kept unclamped)."""

from iqa_audit.audit.outcomes import audit_sanity


def test_metric_sanity(sanity_case, audit_engine, record_cell):
    audit_sanity(sanity_case, audit_engine, record_cell)
