#!/usr/bin/env python3
"""The `iqa-audit` command from a source tree, under its old name. Prefer `iqa-audit`
(installed by `bin/setup` as .venv/bin/iqa-audit) or `python -m iqa_audit`. See --help."""

import sys

from iqa_audit.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
