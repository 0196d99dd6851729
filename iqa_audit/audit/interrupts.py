"""Ctrl-C, seen however it arrives: a count of the SIGINTs a session received, and a
window in which one only counts (while the run's outputs are written).

pytest learns of Ctrl-C from a KeyboardInterrupt, and only where one reaches its main
loop: a second Ctrl-C 50 ms after the first lands in pytest's own interrupt handling or in
the session's teardown, escapes it, and the session finishes as if nothing had stopped it
(results.json said `interrupted: false` with 5 of 8 cells, and --update-baseline wrote
the baseline). Counting the signals themselves does not depend on where they land.

Only the main thread may set signal handlers; elsewhere (pytest run in a thread) both
helpers do nothing and the count stays 0.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@dataclass(eq=False)
class SigintCounter:
    """Counts every SIGINT while installed. The first does what the handler it replaced did
    (Python's: raise KeyboardInterrupt), so pytest stops as it always did. The second is
    only counted: pytest is already stopping, and raising again would cut its wrap-up
    (the report, the summary) short. A third forces the stop, for a wrap-up that hangs."""

    count: int = 0
    _previous: Any = None
    _installed: bool = False

    def install(self) -> None:
        if self._installed or not _main_thread():
            return
        self._previous = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, self._on_sigint)
        self._installed = True

    def uninstall(self) -> None:
        if not self._installed or not _main_thread():
            return
        if signal.getsignal(signal.SIGINT) == self._on_sigint:  # not if someone replaced it since
            signal.signal(signal.SIGINT, self._previous)
        self._installed = False

    def _on_sigint(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.count == 2:
            return
        if callable(self._previous):
            self._previous(signum, frame)
        elif self._previous != signal.SIG_IGN:  # SIG_DFL or unknown: Python's default, an interrupt
            raise KeyboardInterrupt


@dataclass(eq=False)
class Deferred:
    """The SIGINTs that arrived inside `sigint_deferred`."""

    count: int = 0

    def requested(self) -> bool:
        return self.count > 0


@contextmanager
def sigint_deferred(counter: SigintCounter | None = None) -> Iterator[Deferred]:
    """Inside: a SIGINT is counted (here and on `counter`) and raises nothing, so a file
    being written is finished, not cut in half; the caller asks `requested()` where a
    Ctrl-C should change what it writes next. The previous handler is back afterwards;
    the deferred Ctrl-C is not raised again (what it asked for, stopping, is happening)."""
    deferred = Deferred()
    if not _main_thread():
        yield deferred
        return

    def on_sigint(signum: int, frame: Any) -> None:
        deferred.count += 1
        if counter is not None:
            counter.count += 1

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield deferred
    finally:
        signal.signal(signal.SIGINT, previous)
