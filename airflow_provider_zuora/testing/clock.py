"""The emulated clock, shared by the runs and by the gateway's state, and Zuora's timestamp format.

Real time plus an offset, so runs progress in real time and tests can also jump ahead: token
expiry, the idempotency store's 24 hours, run retention and rate-limit windows all follow it.
"""

from __future__ import annotations

import math
import threading
import time


def zuora_time(t: float) -> str:
    """Zuora's run timestamp format: ``2019-09-19 18:25:33 UTC``."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


class Clock:
    """Real time (or a frozen instant) plus the offset tests moved it by. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Back to real time, running."""
        with self._lock:
            self._offset = 0.0
            self._frozen: float | None = None

    @property
    def offset(self) -> float:
        return self._offset

    @property
    def frozen(self) -> bool:
        return self._frozen is not None

    def now(self) -> float:
        """The emulated time, in epoch seconds."""
        frozen = self._frozen
        return (frozen if frozen is not None else time.time()) + self._offset

    def freeze(self) -> float:
        """Stop the clock at the current emulated time (``advance`` still moves it); returns it."""
        with self._lock:
            if self._frozen is None:
                self._frozen = time.time()
        return self.now()

    def unfreeze(self) -> float:
        """Let the clock run again from where it stood (the frozen time is kept as an offset)."""
        with self._lock:
            if self._frozen is not None:
                self._offset -= time.time() - self._frozen
                self._frozen = None
        return self.now()

    def advance(self, seconds: float) -> float:
        """Move the clock forward; returns the new emulated time."""
        if not isinstance(seconds, (int, float)) or seconds < 0 or math.isnan(seconds):
            raise ValueError(f"advance_clock: seconds must be a number >= 0, got {seconds!r}")
        with self._lock:
            self._offset += seconds
        return self.now()
