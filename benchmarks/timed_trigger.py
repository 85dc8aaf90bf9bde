"""The provider's trigger, noting when each poll starts (wall clock) and writing them when it ends.

``bench_triggerer.py`` defers its tasks on this (classpath ``timed_trigger.TimedTrigger``, with
``benchmarks/`` on the triggerer's PYTHONPATH). For the diagnosis, the process's full
garbage-collection passes are noted too, as (start, seconds), and written beside the polls.
"""

from __future__ import annotations

import json
import time
from array import array
from collections.abc import AsyncIterator
from typing import Any

from _measure import watch_full_gc
from airflow.triggers.base import TriggerEvent

from airflow_provider_zuora.triggers.workflow import ZuoraWorkflowInstanceTrigger

GC_PASSES: list[tuple[float, float]] = []
watch_full_gc(lambda start, seconds: GC_PASSES.append((start, seconds)))


class TimedTrigger(ZuoraWorkflowInstanceTrigger):
    def __init__(self, *, out: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.out = out

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{__name__}.TimedTrigger", {**super().serialize()[1], "out": self.out}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        times = array("d")
        original = self.hook.aget_workflow_instance

        async def timed(instance_id: Any) -> Any:
            times.append(time.time())
            return await original(instance_id)

        self.hook.aget_workflow_instance = timed  # type: ignore[method-assign]
        try:
            async for event in super().run():
                yield event
        finally:
            with open(self.out, "a") as f:
                f.write(json.dumps([self.instance_id, list(times)]) + "\n")
            with open(self.out + ".gc", "w") as f:
                json.dump(GC_PASSES, f)
