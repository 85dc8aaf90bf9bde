"""What the reliability tests share: a task context as Airflow gives it, and the task state store."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

RUN_ID = "manual__2026-12-01T00:00:00+00:00"


class MemoryStore:
    """The task state store (Airflow 3.3) in memory: one per task instance, shared by its tries."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(json.dumps(self.data[key])) if key in self.data else default

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        self.data[key] = json.loads(json.dumps(value))


def task_context(store: MemoryStore | None = None, try_number: int = 1, **ti_fields: Any) -> dict[str, Any]:
    """The parts of a task's context the operator and the sensor read (``ti``, the state store)."""
    ti = mock.MagicMock(
        dag_id="reliability", task_id="zuora", run_id=RUN_ID, try_number=try_number, max_tries=1,
        map_index=-1, **ti_fields,
    )  # fmt: skip
    ctx: dict[str, Any] = {"ti": ti}
    if store is not None:
        ctx["task_state_store"] = store
    return ctx
