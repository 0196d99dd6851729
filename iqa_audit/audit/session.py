"""The pytest plugin's per-session state: one `AuditSession` in `config.stash[SESSION_KEY]`.

`pytest_plugin` makes it when pytest configures (on the controller and on every xdist
worker) and its hooks, fixtures and `report.pytest_html_support` read it from here, so
neither imports the other. What a session holds:

- `cfg`: the resolved `AuditConfig` (options, pyproject.toml, profile);
- `started`: when the session configured, `time.time()` seconds (results.json's start);
- `budget`: the run's one `paid.PaidBudget` (its ledger shared with every xdist worker);
- `reports_root`: the folder the run's report folder goes in; `explicit_name`: whether
  the user chose `--run-name` (then a taken name is refused before any test runs);
- `imported`: the id of the import `--dataset` resolved to (the controller imports a
  manifest once; workers read that import instead of importing again), else None;
- `engine`: the per-process audit `Engine`, created on first use so `pytest --help` and
  unit tests pay nothing.

`PROPERTY` is the `user_properties` name under which each test attaches its cell record
(a JSON string) to its report; the controller gathers them from every xdist worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from iqa_audit.config.audit_config import AuditConfig

if TYPE_CHECKING:
    from iqa_audit.audit.engine import Engine

PROPERTY = "iqa_audit_cell"


@dataclass(eq=False)
class AuditSession:
    """The state of one configured pytest session (see the module docstring)."""

    cfg: AuditConfig
    started: float
    budget: Any  # paid.PaidBudget
    reports_root: Path
    explicit_name: bool = False
    imported: str | None = None

    @cached_property
    def engine(self) -> Engine:
        """This process's audit engine (store opened, nothing loaded yet), made once."""
        from iqa_audit.audit.engine import Engine

        return Engine(self.cfg, budget=self.budget, imported=self.imported)

    def claim_run_dir(self) -> Path:
        """The run's report folder, created now and never shared (see `claim_run_dir`)."""
        return claim_run_dir(self.reports_root, self.cfg.run_name or "latest", explicit=self.explicit_name)


SESSION_KEY = pytest.StashKey[AuditSession]()


def refuse_taken_run_name(reports_root: Path, name: str) -> None:
    """An explicit --run-name whose folder already exists is refused before any test runs:
    a report is never written over another run's."""
    from iqa_audit.core.errors import ConfigError, explain

    folder = reports_root / name
    if folder.exists():
        raise ConfigError(
            explain(
                f"--run-name {name}",
                expected="a name no earlier run used",
                got=f"{folder} already exists",
                fix="Pick another --run-name (or leave it out for a unique one), or delete that folder.",
            )
        )


def claim_run_dir(reports_root: Path, name: str, *, explicit: bool) -> Path:
    """Create and return the run's own report folder. Runs never share one: the default
    name (profile + second) gets -2, -3, ... when another run of the same second took it;
    an explicit name was checked when pytest started, and if another run took it since,
    this run also moves to NAME-2 (and says so in its summary) rather than overwrite."""
    reports_root.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        folder = reports_root / (name if n == 1 else f"{name}-{n}")
        try:
            folder.mkdir()  # atomic: exactly one run creates it
            return folder
        except FileExistsError:
            continue
    raise FileExistsError(f"{reports_root}/{name}-*: 9999 runs of this name")
