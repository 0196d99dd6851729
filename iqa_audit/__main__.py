"""`python -m iqa_audit ...`: the `iqa-audit` command without the console script."""

import sys

from .cli import main

sys.exit(main())
