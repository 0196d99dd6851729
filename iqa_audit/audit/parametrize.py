"""Which test is about which cell: the audit's fixtures parametrised with the session's cells.

A test function asks for one cell fixture per kind (`gap_cell`, `sanity_case`,
`stability_cell`, `editor_cell`) and gets one case per cell, its id the cell's test id
and its xdist group the cell's group. An editor test function carries its check
(`iqa_check`) and gets that check's cells only. A kind with no cell in the configuration
gives one skipped placeholder, saying so.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from iqa_audit.audit.cells import AuditCells, Cell

CELL_PARAMS = ("gap_cell", "stability_cell", "editor_cell", "sanity_case")  # one per audit kind


def parametrize(metafunc: pytest.Metafunc, cells: AuditCells) -> None:
    """Parametrise each cell fixture `metafunc`'s function asks for (see the module doc)."""
    names = metafunc.fixturenames
    if "gap_cell" in names:
        metafunc.parametrize("gap_cell", _params(cells.gap, "no metric cells in this configuration"))
    if "sanity_case" in names:
        metafunc.parametrize("sanity_case", _params(cells.sanity, None))
    if "stability_cell" in names:
        metafunc.parametrize("stability_cell", _params(cells.stability, "no stability cells in this configuration"))
    if "editor_cell" in names:
        check = getattr(metafunc.function, "iqa_check", None)
        mine = [c for c in cells.editor if check is None or c.check == check]
        metafunc.parametrize("editor_cell", _params(mine, f"no {check} cells in this configuration"))


def _params(cells: Sequence[Cell], if_none: str | None) -> list:
    params = [pytest.param(c, id=c.id, marks=pytest.mark.xdist_group(c.group)) for c in cells]
    if not params and if_none is not None:
        return [pytest.param(None, marks=pytest.mark.skip(reason=if_none))]
    return params


def cell_params(item: pytest.Item) -> dict:
    """The item's parameters (empty for a test that is not parametrised)."""
    return getattr(getattr(item, "callspec", None), "params", {})


def audit_cell(item: pytest.Item) -> Cell | None:
    """The audit cell a test is about (its gap_cell, stability_cell, editor_cell or
    sanity_case parameter), or None for any other test."""
    params = cell_params(item)
    return next((params[p] for p in CELL_PARAMS if params.get(p) is not None), None)
