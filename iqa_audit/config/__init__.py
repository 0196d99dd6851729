"""What to audit: the options table, profiles from pyproject.toml and the resolved AuditConfig."""
