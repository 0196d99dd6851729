"""The paid-step allowance: one object every chain-building path takes.

`build`, `score` (either engine), `build --engine ray`, the pytest audit and its report all
build chains through `chains.build_chain`, and each passes a `PaidBudget`; the default is
`PaidBudget()` with `max_steps=0`, so nothing can spend money unless the user set
`--max-paid-steps`. The budget also carries the one paid-step rule a user may relax:

- `resend_unknown` (`--resend-unknown`): a request that was sent but never answered (a
  read timeout, a dropped connection after sending) has an unknown outcome: it may have
  been billed. Its step is stored with status 'unknown', the chain stops, and later runs
  do not send it again unless this is set; then it is sent once more (and counted again).

A budget shared by several processes (`build --jobs N`, pytest-xdist workers) keeps its
count in a ledger file guarded by a file lock, so N processes together stay under the one
cap the user gave (not N times it). A budget without a ledger refuses to be pickled, for the
same reason: a copy in another process would spend the allowance a second time (a budget
of 0 has nothing to spend and crosses freely).
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from iqa_audit.core.errors import ConfigError, StoreError, explain


class BudgetExhausted(StoreError):
    """The run's --max-paid-steps allowance is used up; finished steps are kept."""


@dataclass
class PaidBudget:
    """How many *new* paid editor requests this run may make, in all its processes.

    `max_steps`: the cap (--max-paid-steps; 0 by default: paid chains need an explicit
    budget). `resend_unknown`: see the module docstring. `ledger`: a file holding the count
    when several processes share the budget (make one with `PaidBudget.shared`)."""

    max_steps: int = 0
    resend_unknown: bool = False
    ledger: Path | None = None
    _used: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int) or self.max_steps < 0:
            raise ConfigError(
                explain(
                    "--max-paid-steps",
                    expected="a whole number >= 0",
                    got=repr(self.max_steps),
                    fix="Pass --max-paid-steps N (0: no paid requests).",
                )
            )

    @classmethod
    def shared(cls, max_steps: int, *, resend_unknown: bool = False, folder: str | Path | None = None) -> PaidBudget:
        """A budget whose count lives in a new ledger file (in `folder`, default the temp
        folder), so it can be handed to other processes (pickled) and still be one budget."""
        fd, path = tempfile.mkstemp(prefix="iqa-audit-paid-", suffix=".count", dir=folder)
        with os.fdopen(fd, "w") as f:
            f.write("0")
        return cls(max_steps, resend_unknown, Path(path))

    @property
    def used(self) -> int:
        """Paid requests made so far under this budget (in every process sharing its ledger)."""
        if self.ledger is None:
            return self._used
        with FileLock(f"{self.ledger}.lock"):
            return _read_count(self.ledger)

    def take(self, what: str) -> None:
        """Count one paid request for `what` (a label for the message), before it is sent.
        Raises BudgetExhausted, sending nothing, when the cap is reached."""
        with self._lock:
            if self.ledger is None:
                self._check(what, self._used)
                self._used += 1
                return
            with FileLock(f"{self.ledger}.lock"):
                used = _read_count(self.ledger)
                self._check(what, used)
                self.ledger.write_text(str(used + 1))

    def _check(self, what: str, used: int) -> None:
        if used >= self.max_steps:
            raise BudgetExhausted(
                explain(
                    f"paid step for {what}",
                    expected=f"at most {self.max_steps} paid steps this run (--max-paid-steps)",
                    got=f"{used} already requested",
                    fix="Raise --max-paid-steps to continue; finished steps are kept.",
                )
            )

    def close(self) -> None:
        """Remove the ledger (the process that made it calls this when the run ends)."""
        if self.ledger is not None:
            for path in (self.ledger, Path(f"{self.ledger}.lock")):
                path.unlink(missing_ok=True)

    def __getstate__(self) -> dict:
        if self.ledger is None and self.max_steps > 0:
            raise TypeError(
                "a PaidBudget without a ledger cannot cross processes (each copy would spend the "
                "whole allowance); make it with PaidBudget.shared(...)"
            )
        return {"max_steps": self.max_steps, "resend_unknown": self.resend_unknown, "ledger": self.ledger}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["max_steps"], state["resend_unknown"], state["ledger"])  # type: ignore[misc]


def _read_count(path: Path) -> int:
    text = path.read_text().strip()
    return int(text) if text else 0
