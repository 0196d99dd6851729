"""`python -m iqa_audit ...`: the `iqa-audit` command without the console script."""

import sys

from iqa_audit.cli.main import main

sys.exit(main())
