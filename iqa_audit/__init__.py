"""iqa-audit: does an image-quality metric notice iterative editing degradation?

PYTEST_DONT_REWRITE: this module holds no assert; the marker keeps pytest from warning that
it was imported before pytest could rewrite it, as `iqa-audit audit` does (cli/audit_cmd.py)."""

__version__ = "0.1.0"
