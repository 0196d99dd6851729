"""Metrics: the Metric protocol, the pyiqa adapter, built-in classic measures, user metrics.

from iqa_audit.metrics import create_metric
m = create_metric("pyiqa:piqe")          # or iqa_audit:noise-sigma, mypkg.mod:sharpness
raw = m.score(images)                     # float64, one per image
"""

from iqa_audit.metrics.base import Metric, MetricUnavailable, ScoreError, TypicalRange, declare
from iqa_audit.metrics.registry import OFFLINE_METRICS, create_metric, list_metric_names, load_count

__all__ = [
    "Metric",
    "MetricUnavailable",
    "ScoreError",
    "TypicalRange",
    "declare",
    "OFFLINE_METRICS",
    "create_metric",
    "list_metric_names",
    "load_count",
]
