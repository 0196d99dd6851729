# Thin on purpose: everything lives in the plugin so users can load it elsewhere with
# `pytest -p iqa_audit.pytest_plugin`.
pytest_plugins = ["iqa_audit.pytest_plugin"]
