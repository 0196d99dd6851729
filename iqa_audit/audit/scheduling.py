"""Which xdist worker runs which audit cell: the cells of one group run on one worker.

xdist 3.8 tags a grouped item by rewriting Item._nodeid, which pytest 9 no longer reads:
every cell became its own work unit, the three Δ cells of one series landed on different
workers, and each worker scored the same images (-n 2 ran no faster than -n 0). The
controller knows every cell from the config alone, so it maps test ids to groups itself
(cells.AuditCells.groups); tests that are not cells are scheduled one by one as before.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest


def make_scheduler(config: pytest.Config, log, groups: Mapping[str, str]):
    """`--dist loadgroup` that groups the audit's cells by `groups` ({test parameter id:
    xdist group}) whatever pytest's version."""
    from xdist.scheduler import LoadGroupScheduling

    class AuditCellScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)  # 'group' where xdist could tag the id
            return scope if scope != nodeid else groups.get(param_id(nodeid), nodeid)

    return AuditCellScheduling(config, log)


def param_id(nodeid: str) -> str | None:
    """'tests_metrics/test_gap.py::test_gap[piqe-x-d5]' -> 'piqe-x-d5' (None if not parametrized)."""
    name = nodeid.rsplit("::", 1)[-1]
    return name[name.index("[") + 1 : -1] if name.endswith("]") and "[" in name else None
