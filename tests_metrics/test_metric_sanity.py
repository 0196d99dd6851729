"""This checkout's entry point to iqa_audit/suite/metrics/test_metric_sanity.py, the module the package
ships: the same tests (not a copy), collected here so their ids read `tests_metrics/test_metric_sanity.py::...`."""

from iqa_audit.suite.metrics.test_metric_sanity import *  # noqa: F403
