"""What the trigger benchmarks share: poll gaps, lateness figures, and the collector's full passes."""

from __future__ import annotations

import gc
import itertools
import statistics
import time
from collections.abc import Callable, Iterable, Sequence


def gaps(polls: Iterable[Sequence[float]], start: float, end: float) -> list[tuple[float, float]]:
    """Each pair of successive polls of one waiter whose first poll falls in ``[start, end)``."""
    return [(a, b) for times in polls for a, b in itertools.pairwise(times) if start <= a < end]


def lateness(pairs: Iterable[tuple[float, float]], interval: float) -> dict[str, float]:
    """Median, p99, max of each gap past ``interval`` (as a fraction of it), and the share over 10%."""
    late = sorted(max(0.0, b - a - interval) / interval for a, b in pairs)
    return {
        "late_median": statistics.median(late) if late else 0.0,
        "late_p99": late[int(0.99 * (len(late) - 1))] if late else 0.0,
        "late_max": late[-1] if late else 0.0,
        "late_over_10": sum(x > 0.10 for x in late) / max(len(late), 1),
    }


def watch_full_gc(record: Callable[[float, float], None], clock: Callable[[], float] = time.time) -> None:
    """Call ``record(start, seconds)`` after each full garbage-collection pass (``start`` on ``clock``)."""
    began = [0.0, 0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            began[:] = [clock(), time.perf_counter()]
        else:
            record(began[0], time.perf_counter() - began[1])

    gc.callbacks.append(callback)
