"""Waiting for a Zuora workflow instance: the I/O around :class:`~.waiter.Waiter`, shared by the
operator's wait in a worker, the sensor and the trigger (whose events are built and read here).

Success and failure mean what :mod:`.status` says; what to log and when to stop, what
:mod:`.waiter` decides. Here: one sync poll (``poll_once``), ending a done wait (``final_state_or_raise``: the
state, or the failed tasks and ``ZuoraWorkflowFailed``), the check before deferring
(``final_state_before_deferring``), the stop after a timeout, and the trigger's events (a ``WaitEvent``:
``event`` builds it, ``read_event`` and ``resume_from_event`` read it back in the resumed task).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, Protocol, Required, TypedDict, cast

from airflow_provider_zuora import api
from airflow_provider_zuora._compat import AirflowFailException
from airflow_provider_zuora.exceptions import ZuoraError, ZuoraWaitTimeout, ZuoraWorkflowFailed
from airflow_provider_zuora.status import (
    InstanceOutcome,
    Verdict,
    describe_instance,
    failed_tasks,
    failure_message,
    format_failed_task,
)
from airflow_provider_zuora.waiter import DONE, GIVE_UP, Decision, Waiter

EventKind = Literal["success", "failed", "error", "timeout"]
SUCCESS: EventKind = "success"
FAILED: EventKind = "failed"
ERROR: EventKind = "error"
TIMEOUT: EventKind = "timeout"
EVENT_STATUSES = frozenset({SUCCESS, FAILED, ERROR, TIMEOUT})
# A trigger event lands in the metadata DB: keep it small whatever Zuora sends back.
MAX_EVENT_TASKS = 20
MAX_FIELD_CHARS = 2000


class InstanceApi(Protocol):
    """The sync hook methods the waiters need (``ZuoraHook`` has them)."""

    def get_workflow_instance(self, instance_id: str) -> dict[str, Any]: ...

    def get_workflow_instance_tasks(self, instance_id: str) -> list[dict[str, Any]]: ...

    def stop_workflow_instance(self, instance_id: str) -> dict[str, Any]: ...


class Log(Protocol):
    """A stdlib-style logger (Airflow's ``self.log`` fits)."""

    def info(self, msg: Any, /, *args: Any, **kwargs: Any) -> Any: ...

    def warning(self, msg: Any, /, *args: Any, **kwargs: Any) -> Any: ...

    def error(self, msg: Any, /, *args: Any, **kwargs: Any) -> Any: ...


def normalize_instance_id(value: Any, field: str = "instance_id") -> str:
    """Return a workflow instance id as a plain string, or raise ``ZuoraConfigError`` naming ``field``.

    The rules are the API's (``api.normalize_id``: int or non-empty str, not what a missing XCom
    renders to); the id is kept unquoted, as the hook quotes it again for the path.
    """
    return api.clean_id(value, field)


def emit(decision: Decision, log: Log) -> None:
    """Log what the waiter said to, at the level it said."""
    for level, message in decision.logs:
        getattr(log, level)("%s", message)


def poll_once(hook: InstanceApi, waiter: Waiter, log: Log, *, now: float | None = None) -> Decision:
    """One GET of the waiter's instance, judged by the waiter, its lines logged; an error no poll can
    get past raises ``AirflowFailException`` saying what it means and what to do."""
    try:
        state = hook.get_workflow_instance(waiter.instance_id)
    except ZuoraError as exc:
        decision = waiter.failed(exc, now=now)
        emit(decision, log)
        if decision.action == GIVE_UP:
            raise AirflowFailException(decision.message) from exc
        return decision
    decision = waiter.polled(state, now=now)
    emit(decision, log)
    return decision


class WaitEvent(TypedDict, total=False):
    """The trigger event's payload: a plain dict on the wire (it is stored in the metadata DB,
    so events fired by an earlier release still resume), typed where it is built and read."""

    status: Required[EventKind]
    instance_id: Required[str]
    state: Required[Mapping[str, Any] | None]
    message: Required[str]
    failed_tasks: list[dict[str, Any]]  # ``failed`` only: the first MAX_EVENT_TASKS, trimmed
    failed_task_count: int  # ``failed`` only: all of them


def event(
    kind: EventKind,
    instance_id: str,
    state: Mapping[str, Any] | None,
    message: str,
    *,
    failed_tasks: list[dict[str, Any]] | None = None,
    failed_task_count: int | None = None,
) -> WaitEvent:
    """A trigger event's payload, as ``read_event`` and ``resume_from_event`` read it."""
    if kind not in EVENT_STATUSES:
        raise ValueError(f"unknown event kind {kind!r}")
    built = WaitEvent(status=kind, instance_id=instance_id, state=state, message=message)
    if failed_tasks is not None:
        built["failed_tasks"] = failed_tasks
    if failed_task_count is not None:
        built["failed_task_count"] = failed_task_count
    return built


def read_event(payload: Any) -> WaitEvent:
    """The payload a resumed task got, checked: a dict whose ``status`` is one of ours."""
    if not isinstance(payload, Mapping) or payload.get("status") not in EVENT_STATUSES:
        raise ZuoraError(f"Unexpected event from the Zuora workflow trigger: {payload!r}")
    return cast(WaitEvent, payload)


def _trim(task: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: (v[:MAX_FIELD_CHARS] + "...") if isinstance(v, str) and len(v) > MAX_FIELD_CHARS else v
        for k, v in task.items()
    }


def failure_report(
    outcome: InstanceOutcome, tasks: Iterable[Mapping[str, Any]]
) -> tuple[str, list[dict[str, Any]], int]:
    """The exception text, the failed tasks to keep (trimmed, at most ``MAX_EVENT_TASKS``), their count."""
    failed = [_trim(t) for t in failed_tasks(tasks)]
    return failure_message(outcome, failed), failed[:MAX_EVENT_TASKS], len(failed)


def log_failed_tasks(tasks: Iterable[Mapping[str, Any]], total: int, log: Log) -> None:
    """One error line per failed task, and how many were left out."""
    shown = 0
    for task in tasks:
        log.error("Failed %s", format_failed_task(task))
        shown += 1
    if total > shown:
        log.error("... and %d more failed task(s): see the workflow run in Zuora", total - shown)


def final_state_or_raise(
    hook: InstanceApi, outcome: InstanceOutcome, state: dict[str, Any], *, log: Log
) -> dict[str, Any]:
    """End the wait on a done instance: return its state, or explain the failure and raise."""
    if outcome.verdict is Verdict.SUCCEEDED:  # the waiter has logged the status line
        return state
    if outcome.verdict is not Verdict.FAILED:
        raise ValueError(f"final_state_or_raise() needs a done instance, got {outcome.status!r}")
    instance_id = str(state.get("id", ""))
    tasks: list[dict[str, Any]] = []
    if outcome.task_errors:
        try:
            tasks = hook.get_workflow_instance_tasks(instance_id)
        except ZuoraError as exc:
            log.warning(
                "Could not list the tasks of %s to show why it failed: %s", describe_instance(state), exc
            )
    message, failed, total = failure_report(outcome, tasks)
    log_failed_tasks(failed, total, log)
    raise ZuoraWorkflowFailed(message, state=state)


def final_state_before_deferring(
    hook: InstanceApi,
    instance_id: str,
    *,
    fail_on_task_errors: bool,
    log: Log,
    conn_id: str | None = None,
) -> dict[str, Any] | None:
    """The check before deferring: an instance already done never defers.

    Returns the final state (or raises as ``final_state_or_raise`` does); None when the instance
    is still running or the check hit a transient error (the trigger retries those).
    """
    waiter = Waiter(instance_id, fail_on_task_errors=fail_on_task_errors, conn_id=conn_id)
    decision = poll_once(hook, waiter, log)
    if decision.action != DONE or decision.outcome is None or decision.state is None:
        return None
    return final_state_or_raise(hook, decision.outcome, decision.state, log=log)


def stop_after_timeout(
    hook: InstanceApi,
    instance_id: str,
    *,
    status: str | None,
    timeout: float | None,
    stop: bool,
    log: Log,
) -> str:
    """Stop the instance (best effort, logged) when ``stop``; return the timeout message."""
    after = f" after {timeout:g} s" if timeout is not None else ""
    last = status or "unknown"
    message = f"Timed out{after} waiting for Zuora workflow instance {instance_id} (last status: {last})"
    if not stop:
        return message + "; it was left running"
    try:
        hook.stop_workflow_instance(instance_id)
    except ZuoraError as exc:
        log.error("Could not stop Zuora workflow instance %s after the timeout: %s", instance_id, exc)
        return message + f"; stopping it failed: {exc}"
    log.info("Stopped Zuora workflow instance %s after the timeout", instance_id)
    return message + "; it was stopped"


def resume_from_event(
    event: Any,
    *,
    hook_factory: Callable[[], InstanceApi],
    log: Log,
    timeout: float | None = None,
    stop_on_timeout: bool = True,
    timeout_error: Callable[[str], Exception] = ZuoraWaitTimeout,
) -> dict[str, Any]:
    """Finish a deferred wait from the trigger's event, raising as the sync path would.

    ``success`` returns the final state; ``failed`` logs the failed tasks and raises
    ``ZuoraWorkflowFailed``; ``error`` raises ``AirflowFailException``; ``timeout`` stops the
    instance (``stop_on_timeout``, through ``hook_factory()``) and raises ``timeout_error(message)``.
    """
    got = read_event(event)
    kind = got["status"]
    state = dict(got.get("state") or {})
    if kind == SUCCESS:
        log.info("%s", got.get("message") or f"Zuora workflow {describe_instance(state)} finished")
        return state
    message = str(got.get("message") or "")
    if kind == FAILED:
        tasks = list(got.get("failed_tasks") or [])
        log_failed_tasks(tasks, int(got.get("failed_task_count") or len(tasks)), log)
        raise ZuoraWorkflowFailed(message, state=state)
    if kind == ERROR:
        raise AirflowFailException(message)
    instance_id = str(got.get("instance_id"))
    message = stop_after_timeout(
        hook_factory(),
        instance_id,
        status=state.get("status"),
        timeout=timeout,
        stop=stop_on_timeout,
        log=log,
    )
    raise timeout_error(message)
