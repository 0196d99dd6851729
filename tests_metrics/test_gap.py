"""This checkout's entry point to iqa_audit/suite/metrics/test_gap.py, the module the package
ships: the same tests (not a copy), collected here so their ids read `tests_metrics/test_gap.py::...`."""

from iqa_audit.suite.metrics.test_gap import *  # noqa: F403
