#!/usr/bin/env python3
"""Build and cache degradation chains (and scores) ahead of a test run. See --help."""

import sys

from iqa_audit.cli import main

if __name__ == "__main__":
    sys.exit(main())
