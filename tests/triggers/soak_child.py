"""The soak's trigger loop (run by ``tests/triggers/test_soak.py`` in a process of its own).

``python -m tests.triggers.soak_child IDS_FILE SECONDS INTERVAL``: one event loop runs a
``ZuoraWorkflowInstanceTrigger`` per instance id until ``SECONDS`` have passed (each then ends
with its timeout event), as a triggerer would; every 10 s it collects garbage and samples its
resident memory (after returning free heap pages to the OS), the Python memory blocks in use,
open file descriptors and TCP connections. Prints one JSON object last.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import json
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import psutil

SAMPLE_EVERY = 10.0


def _trim() -> None:
    """Give the C heap's free pages back to the OS (glibc), so RSS shows what is live, not the
    high-water mark of the most polls ever in flight at once."""
    with suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _status_mb(field: str) -> float:
    """A field of /proc/self/status in MiB (0 where the kernel has none)."""
    with suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def _sample(started: float) -> dict[str, float]:
    gc.collect()  # what stays, not what the next pass would free
    _trim()
    me = psutil.Process()
    return {
        "t": time.monotonic() - started,
        "rss_mb": me.memory_info().rss / 2**20,
        # Resident anonymous memory (heaps): what a leak grows. RSS adds file-backed pages, such as
        # the pages of a shared library or module first touched late, which are not a leak.
        "anon_mb": _status_mb("RssAnon"),
        "fds": me.num_fds(),
        "tcp": len(me.net_connections(kind="tcp")),
        "blocks": sys.getallocatedblocks(),  # Python objects' memory blocks in use: a leak grows it
    }


async def soak(ids: list[str], seconds: float, interval: float) -> dict[str, Any]:
    from airflow_provider_zuora.triggers.workflow import ZuoraWorkflowInstanceTrigger

    started = time.monotonic()
    end_time = time.time() + seconds
    triggers = [ZuoraWorkflowInstanceTrigger(i, poll_interval=interval, end_time=end_time) for i in ids]
    samples: list[dict[str, float]] = []

    async def run_one(trigger: ZuoraWorkflowInstanceTrigger) -> str:
        try:
            async for event in trigger.run():
                return str(event.payload["status"])
            return "none"
        finally:
            await trigger.cleanup()

    async def sampler() -> None:
        while time.monotonic() - started < seconds:
            samples.append(_sample(started))
            await asyncio.sleep(SAMPLE_EVERY)

    sampling = asyncio.create_task(sampler())
    results = await asyncio.gather(*(run_one(t) for t in triggers))
    sampling.cancel()
    return {"events": sorted(set(results)), "samples": samples}


def main() -> None:
    ids_file, seconds, interval = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    ids = Path(ids_file).read_text().split()
    print(json.dumps(asyncio.run(soak(ids, seconds, interval))))  # noqa: T201 - read by the test


if __name__ == "__main__":
    main()
