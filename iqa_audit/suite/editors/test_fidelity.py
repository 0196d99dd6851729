"""The editor audit: does each editor keep the picture it was asked to keep?

One case per (editor, task, seed) and check; ids read like the finding, e.g.
`test_aspect_ratio[sim-crop-replicate-grid-perspective]`. Controls: `identity` passes
every check; each failure simulator fails the check it models. Known failures come
from the same baseline mechanism as the metric audit.

The test functions come from the check table (iqa_audit.fidelity.table.CHECKS): one function
`test_<check>` per entry, each parametrized by the plugin with that check's cells.
"""

from iqa_audit.fidelity.table import CHECKS


def _editor_test(check: str):
    def test(editor_cell, audit):
        audit.editor(editor_cell)

    test.__name__ = test.__qualname__ = f"test_{check}"
    test.__doc__ = f"{check}: {CHECKS[check].summary}"
    test.iqa_check = check  # read by the plugin's parametrization
    return test


for _name in CHECKS:
    globals()[f"test_{_name}"] = _editor_test(_name)
