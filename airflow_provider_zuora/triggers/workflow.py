"""ZuoraWorkflowInstanceTrigger: wait for a workflow instance in the triggerer, holding no worker slot.

Serves the sensor and the operator's ``wait_for_completion`` with ``deferrable=True``. It keeps no
state that correctness depends on: a restart (here or on another triggerer) polls afresh. All
triggers of one connection in a process share the hook's OAuth token and HTTP connection pool.
"""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from collections.abc import AsyncIterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_zuora import waiting
from airflow_provider_zuora._compat import has_trigger_on_kill
from airflow_provider_zuora.exceptions import ZuoraError
from airflow_provider_zuora.status import Verdict
from airflow_provider_zuora.waiter import DONE, GIVE_UP, TIMED_OUT, Waiter

if TYPE_CHECKING:
    from airflow_provider_zuora.hooks.zuora import ZuoraHook

CLASSPATH = "airflow_provider_zuora.triggers.workflow.ZuoraWorkflowInstanceTrigger"
# on_kill's own bound on the stop call (Airflow gives it ``[triggerer] on_kill_timeout``, 30 s).
_STOP_TIMEOUT = 20.0


class ZuoraWorkflowInstanceTrigger(BaseTrigger):
    """Poll a workflow instance until it is done or ``end_time`` passes; fire one event.

    :param instance_id: the workflow instance (run) id.
    :param zuora_conn_id: the Zuora connection.
    :param poll_interval: seconds between polls (a fixed cadence, not sleep-after-poll).
    :param end_time: Unix time at which to give up with a ``timeout`` event; None waits for ever.
    :param fail_on_task_errors: ``Finished`` with failed tasks is a failure.

    Events (see :mod:`airflow_provider_zuora.waiting`): ``success`` with the final state,
    ``failed`` with the reason and the failed tasks, ``error`` for a permanent API error
    (401/403/404), ``timeout`` with the last state. Transient errors (429, 5xx, network) are
    retried at the next poll.
    """

    def __init__(
        self,
        instance_id: int | str,
        zuora_conn_id: str = "zuora_default",
        poll_interval: float = 30.0,
        end_time: float | None = None,
        fail_on_task_errors: bool = True,
    ) -> None:
        super().__init__()
        if not poll_interval > 0:
            raise ValueError(f"poll_interval must be > 0 seconds, got {poll_interval!r}")
        self.instance_id = waiting.normalize_instance_id(instance_id)
        self.zuora_conn_id = zuora_conn_id
        self.poll_interval = float(poll_interval)
        self.end_time = None if end_time is None else float(end_time)
        self.fail_on_task_errors = bool(fail_on_task_errors)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            CLASSPATH,
            {
                "instance_id": self.instance_id,
                "zuora_conn_id": self.zuora_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "fail_on_task_errors": self.fail_on_task_errors,
            },
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ZuoraWorkflowInstanceTrigger):
            return NotImplemented
        return self.serialize() == other.serialize()

    def __hash__(self) -> int:
        return hash(json.dumps(self.serialize(), sort_keys=True))

    @cached_property
    def hook(self) -> ZuoraHook:
        """The connection's hook, made on first use (the hook module loads only then)."""
        from airflow_provider_zuora.hooks.zuora import ZuoraHook

        return ZuoraHook(zuora_conn_id=self.zuora_conn_id)

    def _first_delay(self) -> float:
        """Spread triggers over the poll interval so a thousand of them do not poll in one burst.

        The instance was checked just before deferring, so the first poll may wait.
        """
        return self.poll_interval * (zlib.crc32(self.instance_id.encode()) % 1000) / 1000

    def _event(
        self,
        kind: waiting.EventKind,
        state: dict[str, Any] | None,
        message: str,
        *,
        failed_tasks: list[dict[str, Any]] | None = None,
        failed_task_count: int | None = None,
    ) -> TriggerEvent:
        payload = waiting.event(
            kind,
            self.instance_id,
            state,
            message,
            failed_tasks=failed_tasks,
            failed_task_count=failed_task_count,
        )
        return TriggerEvent(payload)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            async for event in self._poll():
                yield event
        except asyncio.CancelledError:
            if not has_trigger_on_kill():
                # Airflow < 3.3 cancels the trigger when a user clears or marks the deferred task,
                # and never calls on_kill(): say which run is left going (it may also be a
                # triggerer stopping, whose successor polls afresh).
                self.log.warning(
                    "Stopped waiting on Zuora workflow instance %s; this Airflow does not stop the "
                    "run when a deferred task is cleared or marked (Airflow 3.3 does): it goes on in Zuora",
                    self.instance_id,
                )
            raise

    async def _poll(self) -> AsyncIterator[TriggerEvent]:
        hook = self.hook
        loop = asyncio.get_running_loop()
        next_poll = loop.time() + self._first_delay()
        waiter = Waiter(
            self.instance_id,
            fail_on_task_errors=self.fail_on_task_errors,
            conn_id=self.zuora_conn_id,
            deadline=self.end_time,  # wall clock: the end time travels in the serialized trigger
        )
        while True:
            if self.end_time is not None:
                next_poll = min(next_poll, loop.time() + max(0.0, self.end_time - time.time()))
            await asyncio.sleep(max(0.0, next_poll - loop.time()))
            next_poll = max(next_poll + self.poll_interval, loop.time())
            try:
                state = await hook.aget_workflow_instance(self.instance_id)
            except ZuoraError as exc:
                decision = waiter.failed(exc, now=time.time())
            else:
                decision = waiter.polled(state, now=time.time())
            waiting.emit(decision, self.log)
            if decision.action == GIVE_UP:
                yield self._event(waiting.ERROR, waiter.state, decision.message)
                return
            if decision.action == DONE and decision.outcome is not None:
                outcome = decision.outcome
                if outcome.verdict is Verdict.SUCCEEDED:
                    yield self._event(waiting.SUCCESS, decision.state, outcome.reason)
                    return
                tasks = await self._tasks() if outcome.task_errors else []
                message, failed, count = waiting.failure_report(outcome, tasks)
                yield self._event(
                    waiting.FAILED, decision.state, message, failed_tasks=failed, failed_task_count=count
                )
                return
            if decision.action == TIMED_OUT:
                yield self._event(
                    waiting.TIMEOUT, waiter.state, f"Zuora workflow instance {self.instance_id} timed out"
                )
                return

    async def _tasks(self) -> list[dict[str, Any]]:
        """The instance's tasks, to say why it failed; best effort, as in the sync path."""
        try:
            return await self.hook.aget_workflow_instance_tasks(self.instance_id)
        except ZuoraError as exc:
            self.log.warning("Could not list the tasks of instance %s: %s", self.instance_id, exc)
            return []

    async def on_kill(self) -> None:
        """The user marked the deferred task failed or success, or cleared it: stop the instance."""
        try:
            await asyncio.wait_for(self.hook.astop_workflow_instance(self.instance_id), _STOP_TIMEOUT)
        except (ZuoraError, TimeoutError) as exc:
            self.log.error("Could not stop Zuora workflow instance %s: %s", self.instance_id, exc)
            return
        self.log.info("Stopped Zuora workflow instance %s: the deferred task was killed", self.instance_id)

    async def cleanup(self) -> None:
        """Release this trigger's hold on the shared HTTP clients."""
        hook = self.__dict__.pop("hook", None)  # only a hook that was made (cached_property)
        if hook is not None:
            await hook.aclose()
