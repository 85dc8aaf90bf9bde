"""ZuoraWorkflowInstanceSensor: wait for a Zuora workflow instance (run) to finish.

Success and failure mean what they mean for the operator (:mod:`airflow_provider_zuora.status`,
through :mod:`airflow_provider_zuora.waiting`). Poke, reschedule and deferrable modes give the same
verdicts, messages and XCom (the final instance state).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_zuora._compat import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    conf,
)
from airflow_provider_zuora.exceptions import ZuoraConfigError, ZuoraWorkflowFailed

if TYPE_CHECKING:  # waiting (and through it status and api) loads at run time: cheap DAG files
    from airflow.sdk import Context

    from airflow_provider_zuora.hooks.zuora import ZuoraHook
    from airflow_provider_zuora.waiter import Waiter

_T = TypeVar("_T")
# How far past the trigger's own end time Airflow's deferral timeout fires (a safety net only:
# the trigger reports the timeout itself, so the instance gets stopped).
_DEFER_GRACE = timedelta(seconds=60)


class ZuoraWorkflowInstanceSensor(BaseSensorOperator):
    """Wait until a Zuora workflow instance is ``Finished`` (success) or fails.

    ``Finished`` without task errors succeeds; ``Finished`` with task errors fails when
    ``fail_on_task_errors``; ``Stopped`` fails; any other status keeps waiting. The final
    instance state is the XCom ``return_value``.

    :param instance_id: the instance (run) id; templated; e.g. ``run.output["instance_id"]``.
    :param zuora_conn_id: the Zuora connection.
    :param fail_on_task_errors: fail when the instance finished with failed tasks.
    :param stop_on_timeout: stop the instance in Zuora when the sensor times out.
    :param deferrable: wait in the triggerer (no worker slot); default ``[operators] default_deferrable``.

    Transient API errors (429, 5xx, network, after the hook's own retries) only skip a poke;
    401, 403 and 404 fail at once, without retries.
    """

    template_fields: Sequence[str] = ("instance_id", "zuora_conn_id")
    ui_color = "#e6f1f2"

    def __init__(
        self,
        *,
        instance_id: int | str,
        zuora_conn_id: str = "zuora_default",
        fail_on_task_errors: bool = True,
        stop_on_timeout: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.instance_id = instance_id
        self.zuora_conn_id = zuora_conn_id
        self.fail_on_task_errors = fail_on_task_errors
        self.stop_on_timeout = stop_on_timeout
        self.deferrable = deferrable
        self._waiter: Waiter | None = None  # the wait across pokes in this process
        self._poke_failed = False

    @cached_property
    def hook(self) -> ZuoraHook:
        """The connection's hook, made on first use (the hook module loads only then)."""
        from airflow_provider_zuora.hooks.zuora import ZuoraHook

        return ZuoraHook(zuora_conn_id=self.zuora_conn_id)

    def _instance_id(self) -> str:
        from airflow_provider_zuora import waiting

        try:
            return waiting.normalize_instance_id(self.instance_id)
        except ZuoraConfigError as exc:
            raise AirflowFailException(str(exc)) from exc

    def execute(self, context: Context) -> Any:
        from airflow_provider_zuora import waiting

        instance_id = self._instance_id()
        if self.deferrable:
            try:
                final = self._no_retry_if_failed(
                    lambda: waiting.final_state_before_deferring(
                        self.hook,
                        instance_id,
                        fail_on_task_errors=self.fail_on_task_errors,
                        log=self.log,
                        conn_id=self.zuora_conn_id,
                    )
                )
            except AirflowFailException as exc:  # as BaseSensorOperator treats a poke's failure
                if self.soft_fail or self.never_fail:
                    raise AirflowSkipException(f"Skipping (soft_fail/never_fail): {exc}") from exc
                raise
            if final is not None:  # already done: never defer
                return final
            self._defer(instance_id)
        try:
            return super().execute(context)
        except (AirflowSensorTimeout, AirflowSkipException) as exc:
            # BaseSensorOperator's own timeout (a skip under soft_fail): stop the instance first. A
            # skip raised while a poke was failing is soft_fail's verdict on that failure instead.
            if isinstance(exc, AirflowSkipException) and self._poke_failed:
                raise
            message = waiting.stop_after_timeout(
                self.hook,
                instance_id,
                status=self._waiter.last_status if self._waiter else None,
                timeout=self.timeout,
                stop=self.stop_on_timeout,
                log=self.log,
            )
            raise (AirflowSkipException if self.soft_fail else AirflowSensorTimeout)(message) from exc

    def poke(self, context: Context) -> bool | PokeReturnValue:
        try:
            return self._poke()
        except BaseException:
            self._poke_failed = True  # what BaseSensorOperator raises next is about this: see execute()
            raise

    def _poke(self) -> bool | PokeReturnValue:
        from airflow_provider_zuora import waiting
        from airflow_provider_zuora.waiter import DONE, Waiter

        instance_id = self._instance_id()
        if self._waiter is None:  # one per process: a reschedule-mode poke starts afresh
            self._waiter = Waiter(
                instance_id, fail_on_task_errors=self.fail_on_task_errors, conn_id=self.zuora_conn_id
            )
        decision = waiting.poll_once(self.hook, self._waiter, self.log)
        outcome, state = decision.outcome, decision.state
        if decision.action != DONE or outcome is None or state is None:
            return False
        return PokeReturnValue(
            True,
            self._no_retry_if_failed(
                lambda: waiting.final_state_or_raise(self.hook, outcome, state, log=self.log)
            ),
        )

    def _defer(self, instance_id: str) -> None:
        from airflow_provider_zuora.triggers.workflow import ZuoraWorkflowInstanceTrigger

        self.defer(
            trigger=ZuoraWorkflowInstanceTrigger(
                instance_id=instance_id,
                zuora_conn_id=self.zuora_conn_id,
                poll_interval=self.poke_interval or 1.0,
                end_time=time.time() + self.timeout,
                fail_on_task_errors=self.fail_on_task_errors,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) + _DEFER_GRACE,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger: the same verdicts and messages as poke mode."""
        from airflow_provider_zuora import waiting

        return self._no_retry_if_failed(
            lambda: waiting.resume_from_event(
                event,
                hook_factory=lambda: self.hook,
                log=self.log,
                timeout=self.timeout,
                stop_on_timeout=self.stop_on_timeout,
                timeout_error=AirflowSensorTimeout,
            )
        )

    @staticmethod
    def _no_retry_if_failed(step: Callable[[], _T]) -> _T:
        """Run ``step``; a failed instance fails the sensor without retries (a retry sees the same end)."""
        try:
            return step()
        except ZuoraWorkflowFailed as exc:
            raise AirflowFailException(str(exc)) from exc
