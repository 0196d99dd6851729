"""The audit's test modules, shipped in the package so the audit runs wherever iqa-audit is installed.

- `iqa_audit.suite.metrics`: the metric audit (gap, sanity, stability, model-like findings);
- `iqa_audit.suite.editors`: the editor audit (one test function per fidelity check).

They run through pytest and the plugin's fixtures (`gap_cell`, `audit`, ...), so every
option of the plugin and of pytest applies: `iqa-audit audit [options]` (cli/audit_cmd.py)
or `pytest --pyargs iqa_audit.suite.metrics --metric mypkg.metrics:sharpness` from any
folder. This repository's tests_metrics/ and tests_editors/ collect these same modules
(thin entry points), so its test ids keep their folder names.
"""

METRICS = f"{__name__}.metrics"  # the metric audit's package, as `pytest --pyargs` takes it
EDITORS = f"{__name__}.editors"  # the editor audit's package
AUDITS = {"metrics": METRICS, "editors": EDITORS}  # every audit, in the order `iqa-audit audit` runs them
