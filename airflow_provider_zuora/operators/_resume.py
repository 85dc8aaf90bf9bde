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

``RunFinder`` applies this for the operator: the run a try waits on, found or started.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_zuora._compat import AirflowException
from airflow_provider_zuora.exceptions import ZuoraApiError
from airflow_provider_zuora.status import Verdict, describe_instance, evaluate_instance
from airflow_provider_zuora.waiting import Log

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_zuora.hooks.zuora import ZuoraHook


class Send(Protocol):
    """The operator's run call under a key (``resent``: an earlier try may have sent it)."""

    def __call__(self, key: str, *, resent: bool) -> dict[str, Any]: ...


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


@dataclass
class RunFinder:
    """Finds the run of this clear a try must wait on, or starts the clear's next one.

    The operator's retry-safety in one place: read the run record (3.3+) or resend the keys of
    the clear's earlier tries (before 3.3); reattach to a run that has not failed; stop a run an
    earlier clear left going before starting a new one.
    """

    hook: ZuoraHook
    log: Log
    workflow_id: int | str
    send: Send
    fail_on_task_errors: bool = True

    def instance_for(self, context: Context, ident: TryIdentity) -> dict[str, Any]:
        """The state of the instance this try waits on (found, replayed or newly started)."""
        record = RunRecord.load(context)
        if record.store is None:
            return self._find_by_resending(ident)
        if record.is_from_an_earlier_clear(ident):
            self._retire(record.instance_id)
            record.reset()
        same_workflow = record.holds_key_for(self.workflow_id)
        if same_workflow and record.instance_id is not None:
            found = self._reattach(record.instance_id)
            if found is not None:
                return found
            run_number, key, resent = record.run_number + 1, None, False
        elif same_workflow:  # the key was sent, its answer never recorded: Zuora replays it
            run_number, key, resent = record.run_number, record.idempotency_key, True
        else:
            run_number, key, resent = 0, None, False
        key = key or ident.key(self.workflow_id, run_number)
        record.save_key(key, self.workflow_id, ident, run_number)  # before the POST: a crash replays
        state = self.send(key, resent=resent)
        record.save_instance(state["id"])
        return state

    def _find_by_resending(self, ident: TryIdentity) -> dict[str, Any]:
        """No task state store (Airflow < 3.3): resend the keys earlier tries of this clear may have
        sent, in turn; Zuora replays each one's run. Reattach to the first that has not failed, else
        start the next run. At most one resend per earlier try."""
        if ident.tries_before == 0 and ident.try_number > 1:
            self.log.info("Try %d is the first of a clear: starting a new run", ident.try_number)
        for run_number in range(ident.tries_before):
            state = self.send(ident.key(self.workflow_id, run_number), resent=True)
            found = self._reattach(state["id"])
            if found is not None:
                return found
        return self.send(ident.key(self.workflow_id, ident.tries_before), resent=False)

    def _retire(self, instance_id: str | int | None) -> None:
        """A user cleared the task since ``instance_id`` started: it must not go on beside the new
        run. Airflow stops a running task's run through ``on_kill`` (a deferred one's only on 3.3,
        and only once the triggerer runs its trigger), so a run still going is stopped here; one
        that cannot be stopped fails the try rather than run twice at once."""
        if instance_id is None:
            self.log.info("Cleared since an earlier run call: starting a new run")
            return
        try:
            state = self.hook.get_workflow_instance(instance_id)
        except ZuoraApiError as err:
            if err.status_code != 404:  # 404: aged out of Zuora, so not running
                raise
            state = {"id": instance_id, "status": "Finished"}
        outcome = evaluate_instance(state, fail_on_task_errors=self.fail_on_task_errors)
        if outcome.done:
            self.log.info("Cleared since instance %s ran: starting a new run", instance_id)
            return
        self.log.warning(
            "Cleared since instance %s ran, which is still %s: stopping it, then starting a new run",
            instance_id,
            outcome.status,
        )
        try:
            self.hook.stop_workflow_instance(instance_id)
        except ZuoraApiError as err:
            raise AirflowException(
                f"Could not stop Zuora workflow instance {instance_id}, started before the task was "
                f"cleared and still {outcome.status} ({err}); not starting a second run beside it. "
                "Stop it in Zuora or let it end, then clear the task again"
            ) from err

    def _reattach(self, instance_id: str | int) -> dict[str, Any] | None:
        """The state of an instance of this clear to wait on; None when it failed (a new run is due)."""
        state = self.hook.get_workflow_instance(instance_id)
        outcome = evaluate_instance(state, fail_on_task_errors=self.fail_on_task_errors)
        if outcome.verdict is Verdict.FAILED:
            self.log.warning("%s; an earlier try started it: running the workflow afresh", outcome.reason)
            return None
        self.log.info(
            "Reattaching to Zuora workflow %s started by an earlier try (%s): no new run",
            describe_instance(state),
            outcome.status,
        )
        return state
