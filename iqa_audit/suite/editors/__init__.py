"""The editor audit: `pytest --pyargs iqa_audit.suite.editors` (see iqa_audit/suite/__init__.py)."""
