"""The metric audit: `pytest --pyargs iqa_audit.suite.metrics --metric NAME` (see iqa_audit/suite/__init__.py)."""
