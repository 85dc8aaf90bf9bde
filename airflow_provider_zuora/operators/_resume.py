"""Which Zuora run a task try belongs to: the idempotency keys and the run record.

A retry (after a crash, a kill, a failed workflow) must never start a second run of a workflow
that is still going or already succeeded; a user's **clear** means "run it again". Both follow from
one key scheme that needs no storage:

    key = hash(dag id, run id, task id, map index, workflow id, first try of the clear, n)

*The first try of the current clear* is Airflow's own ``max_tries - retries + 1``: a clear raises
``max_tries``, an automatic retry does not. *n* counts the runs of this clear that failed: it
moves on only when the instance its key gave has failed or was stopped. Zuora replays the first
answer to a key for 24 hours, so any try can find the clear's runs again by resending keys
0, 1, ... in turn; the first whose instance has not failed is the run to reattach to, and the
key after the last failed one starts the next run.

Where Airflow keeps task state (3.3+, ``task_state_store``), the record of the key, the clear and
the instance id saves those resends: a retry reads the instance id and reattaches directly.
Without it (3.0 to 3.2) the resends are the record. The limit of both: a retry more than 24 hours
after a run call of the same key is not replayed by Zuora and starts a new run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Task state store key of the run record.
STATE_KEY = "zuora_workflow_run"


@dataclass(frozen=True)
class TryIdentity:
    """The task instance, its try, and the first try of the clear it belongs to."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    first_try: int

    @classmethod
    def of(cls, context: Context, *, retries: int) -> TryIdentity:
        ti = context["ti"]
        try_number = _int(getattr(ti, "try_number", 1), 1)
        max_tries = _int(getattr(ti, "max_tries", None), try_number - 1 + retries)
        # Airflow's own formula (RuntimeTaskInstance.get_first_reschedule_date); kept within 1..try.
        first_try = min(max(1, max_tries - retries + 1), try_number)
        map_index = _int(getattr(ti, "map_index", -1), -1)
        return cls(str(ti.dag_id), str(ti.run_id), str(ti.task_id), map_index, try_number, first_try)

    @property
    def tries_before(self) -> int:
        """How many tries of this clear ran before this one (each may have sent one new key)."""
        return self.try_number - self.first_try

    def key(self, workflow_id: int | str, n: int) -> str:
        """The key of the clear's run number ``n`` (0 first, one more per failed run)."""
        return self._key(workflow_id, f"clear {self.first_try} run {n}")

    def own_key(self, workflow_id: int | str) -> str:
        """A key of this try alone (``durable=False``: every try starts its own run)."""
        return self._key(workflow_id, f"try {self.try_number}")

    def _key(self, workflow_id: int | str, which: str) -> str:
        seed = "|".join(
            [self.dag_id, self.run_id, self.task_id, str(self.map_index), str(workflow_id), which]
        )
        return "airflow-" + hashlib.sha256(seed.encode()).hexdigest()[:40]


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


class RunRecord:
    """The run's key, its number ``n`` in the clear, the clear and the instance id, in the task
    state store (3.3+). Without a store it holds nothing and saves nothing: the keys are the record.
    """

    def __init__(self, store: Any, value: Mapping[str, Any] | None) -> None:
        self.store = store
        value = value or {}
        self.idempotency_key: str | None = value.get("idempotency_key")
        self.instance_id: str | int | None = value.get("instance_id")
        self.workflow_id: str | int | None = value.get("workflow_id")
        self.clear: int | None = value.get("clear")  # None: written before clears were recorded
        self.run_number: int = _int(value.get("run_number"), 0)

    @classmethod
    def load(cls, context: Context) -> RunRecord:
        store = context.get("task_state_store")
        if store is None:
            return cls(None, None)
        value = store.get(STATE_KEY)
        return cls(store, value if isinstance(value, Mapping) else None)

    def is_from_an_earlier_clear(self, ident: TryIdentity) -> bool:
        """A record of another clear's run (a record without one is taken as this clear's: safe)."""
        return self.store is not None and self.clear is not None and self.clear != ident.first_try

    def holds_key_for(self, workflow_id: int | str) -> bool:
        return bool(self.idempotency_key) and str(self.workflow_id) == str(workflow_id)

    def reset(self) -> None:
        self.idempotency_key = self.instance_id = self.workflow_id = None
        self.clear, self.run_number = None, 0

    def save_key(self, key: str, workflow_id: int | str, ident: TryIdentity, run_number: int) -> None:
        self.idempotency_key, self.workflow_id = key, workflow_id
        self.clear, self.run_number, self.instance_id = ident.first_try, run_number, None
        self._save()

    def save_instance(self, instance_id: str | int) -> None:
        self.instance_id = instance_id
        self._save()

    def _save(self) -> None:
        if self.store is None:
            return
        value: dict[str, Any] = {
            "idempotency_key": self.idempotency_key,
            "workflow_id": self.workflow_id,
            "clear": self.clear,
            "run_number": self.run_number,
        }
        if self.instance_id is not None:
            value["instance_id"] = self.instance_id
        self.store.set(STATE_KEY, value)
