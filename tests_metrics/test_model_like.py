"""This checkout's entry point to iqa_audit/suite/metrics/test_model_like.py, the module the package
ships: the same tests (not a copy), collected here so their ids read `tests_metrics/test_model_like.py::...`."""

from iqa_audit.suite.metrics.test_model_like import *  # noqa: F403
