"""How a cell's record travels from the test that made it to the controller that writes it.

In the test's process the record is kept typed on the test item (`attach`, `attached`):
the error-record check and the pytest-html extras read it there. To reach the controller
it rides on the test's report as JSON in `user_properties` under `PROPERTY`, the only
form an xdist worker can send; the controller parses it once (`received`), adding what
only the report knows (pytest's outcome, the node id), and keeps it typed from then on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from iqa_audit.results.records import Record, parse

PROPERTY = "iqa_audit_cell"  # the user_properties name of a cell's record (a JSON string)
LAST = pytest.StashKey[Record]()  # the last record attached to a test item


def attach(item: pytest.Item, rec: Record) -> None:
    """Attach `rec` to the item's test report (see the module doc); the controller keeps a
    cell's last record (the call's after the setup's)."""
    item.stash[LAST] = rec
    item.user_properties.append((PROPERTY, json.dumps(rec.to_dict(), sort_keys=True, default=float)))


def attached(item: pytest.Item) -> Record | None:
    """The last record attached to `item` in this process, or None."""
    return item.stash.get(LAST, None)


def received(report: pytest.TestReport, outcome: str) -> Iterator[Record]:
    """The records a report carries, parsed (records.parse), with `outcome` (pytest's word
    for the test) and the report's node id."""
    for name, value in report.user_properties:
        if name == PROPERTY:
            yield parse({**json.loads(value), "outcome": outcome, "nodeid": report.nodeid})
