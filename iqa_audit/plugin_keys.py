"""Where the pytest plugin keeps its per-session state, shared by the modules that read it.

`pytest_plugin` writes these and `report.pytest_html_support` reads them; both import
them from here, so neither imports the other (no cycle).

- CONFIG_KEY: the session's resolved `AuditConfig`, in `config.stash`.
- ENGINE_KEY: the lazily created per-process audit engine, in `config.stash`.
- STARTED_KEY: the session's start, `time.time()` seconds, in `config.stash`.
- BUDGET_KEY: the run's one `paid.PaidBudget` (its ledger shared with every xdist worker).
- PROPERTY: the `user_properties` name under which each test attaches its cell record
  (a JSON string) to its report; the controller gathers them from every xdist worker.
"""

from __future__ import annotations

import pytest

from .config import AuditConfig

CONFIG_KEY = pytest.StashKey[AuditConfig]()
ENGINE_KEY = pytest.StashKey["object"]()
STARTED_KEY = pytest.StashKey[float]()
BUDGET_KEY = pytest.StashKey["object"]()
PROPERTY = "iqa_audit_cell"
