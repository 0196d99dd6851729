"""The `iqa-audit` command: build, import, score, weights, list and forget."""
