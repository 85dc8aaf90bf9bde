"""Waiting for a Zuora workflow instance: the logic shared by the sensor, the operator and the trigger.

The meaning of success and failure lives in :mod:`airflow_provider_zuora.status`; this module adds
the I/O around it, once, for every caller:

- ``normalize_instance_id(value, field="instance_id") -> str``: validate an id before any request.
- ``is_transient(exc) -> bool``: 429/5xx/network errors (worth another poll) vs the rest.
- ``permanent_error_message(exc, instance_id, *, conn_id=None) -> str``: what a 401/403/404 means.
- ``poll_instance(hook, instance_id, *, fail_on_task_errors, last_status, log, conn_id=None)
  -> tuple[InstanceOutcome, dict]``: one GET; logs a status change once. Permanent API errors raise
  ``AirflowFailException``; transient ones propagate unchanged (see ``is_transient``).
- ``poll_or_none(...)``: the same, but a transient error is logged and gives None (poll again).
- ``finish(hook, outcome, state, *, log) -> dict``: a done instance; returns the state on success,
  else logs each failed task and raises ``ZuoraWorkflowFailed``.
- ``check_once(hook, instance_id, *, fail_on_task_errors, log, conn_id=None) -> dict | None``: the
  check before deferring: the final state of an instance already done, None when it is still
  running (or the check hit a transient error: the trigger will retry).
- ``stop_after_timeout(hook, instance_id, *, status, timeout, stop, log) -> str``: best-effort stop,
  returns the timeout message.
- ``resume_from_event(event, *, hook_factory, log, timeout=None, stop_on_timeout=True,
  timeout_error=ZuoraWaitTimeout) -> dict``: a deferred task's resume; the same messages as the sync path.
- For the trigger: ``status_line(state, outcome) -> str``, ``failure_report(outcome, tasks)
  -> tuple[str, list[dict], int]`` (message, failed tasks trimmed for an event, their count).

Trigger events are dicts with ``status`` one of ``success``, ``failed``, ``error``, ``timeout``
and ``instance_id``; ``state`` (the last instance state, may be None), ``message``; ``failed``
events add ``failed_tasks`` and ``failed_task_count``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from airflow_provider_zuora import api, calls
from airflow_provider_zuora._compat import AirflowFailException
from airflow_provider_zuora.exceptions import (
    ZuoraApiError,
    ZuoraAuthError,
    ZuoraConfigError,
    ZuoraError,
    ZuoraWaitTimeout,
    ZuoraWorkflowFailed,
)
from airflow_provider_zuora.status import (
    InstanceOutcome,
    Verdict,
    describe_instance,
    evaluate_instance,
    failed_tasks,
    failure_message,
    format_failed_task,
)

SUCCESS, FAILED, ERROR, TIMEOUT = "success", "failed", "error", "timeout"
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


def is_transient(exc: BaseException) -> bool:
    """True for errors another poll may get past: the hook's own rule for a GET (429, 5xx, network,
    the gateway's passing 401)."""
    return calls.is_transient(exc)


def permanent_error_message(exc: BaseException, instance_id: str, *, conn_id: str | None = None) -> str:
    """Say what a non-transient error means for the wait and what to do about it."""
    status = getattr(exc, "status_code", None)
    conn = f" of connection {conn_id!r}" if conn_id else ""
    if status == 401 and not isinstance(exc, ZuoraAuthError):
        what = (
            f"Zuora refused the access token{conn} for workflow instance {instance_id} (401), "
            "even after fetching a new one: check the OAuth client's access"
        )
    elif status == 403:
        what = (
            f"Zuora denied access to workflow instance {instance_id} (403): the OAuth client{conn} "
            "lacks the permission to read workflow runs"
        )
    elif status == 404:
        what = (
            f"Zuora workflow instance {instance_id} was not found (404): it does not exist, or it has "
            "aged out of Zuora's retention (run data is deleted 30 to 45 days after the run)"
        )
    else:  # bad credentials (the hook's message says what to fix), a bad connection, another 4xx
        what = f"Cannot wait for Zuora workflow instance {instance_id}"
    return f"{what}. {exc}"


def _fail_permanently(exc: Exception, instance_id: str, conn_id: str | None) -> AirflowFailException:
    return AirflowFailException(permanent_error_message(exc, instance_id, conn_id=conn_id))


def poll_instance(
    hook: InstanceApi,
    instance_id: str,
    *,
    fail_on_task_errors: bool,
    last_status: str | None,
    log: Log,
    conn_id: str | None = None,
) -> tuple[InstanceOutcome, dict[str, Any]]:
    """GET the instance once and judge it; log the status only when it differs from ``last_status``.

    Transient errors propagate unchanged (the caller polls again); permanent ones raise
    ``AirflowFailException`` with ``permanent_error_message``.
    """
    try:
        state = hook.get_workflow_instance(instance_id)
    except (ZuoraApiError, ZuoraConfigError) as exc:
        if is_transient(exc):
            raise
        raise _fail_permanently(exc, instance_id, conn_id) from exc
    outcome = evaluate_instance(state, fail_on_task_errors=fail_on_task_errors)
    if outcome.status != last_status:
        log.info("%s", status_line(state, outcome))
    return outcome, state


def poll_or_none(
    hook: InstanceApi,
    instance_id: str,
    *,
    fail_on_task_errors: bool,
    last_status: str | None,
    log: Log,
    conn_id: str | None = None,
) -> tuple[InstanceOutcome, dict[str, Any]] | None:
    """``poll_instance``, except that a transient error is logged and gives None: poll again later."""
    try:
        return poll_instance(
            hook,
            instance_id,
            fail_on_task_errors=fail_on_task_errors,
            last_status=last_status,
            log=log,
            conn_id=conn_id,
        )
    except ZuoraError as exc:
        if not is_transient(exc):
            raise
        log.warning("Transient error polling Zuora workflow instance %s: %s", instance_id, exc)
        return None


def status_line(state: Mapping[str, Any], outcome: InstanceOutcome) -> str:
    """``Zuora workflow instance 400 (WF-1) is Processing (tasks: 2 of 4 done, 0 failed)``."""
    tasks = state.get("tasks")
    if not isinstance(tasks, Mapping) or "total" not in tasks:
        return outcome.reason
    done = sum(int(tasks.get(k) or 0) for k in ("success", "error", "stopped"))
    return f"{outcome.reason} (tasks: {done} of {tasks.get('total')} done, {outcome.task_errors} failed)"


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


def finish(hook: InstanceApi, outcome: InstanceOutcome, state: dict[str, Any], *, log: Log) -> dict[str, Any]:
    """End the wait on a done instance: return its state, or explain the failure and raise."""
    if outcome.verdict is Verdict.SUCCEEDED:  # poll_instance has logged the status line
        return state
    if outcome.verdict is not Verdict.FAILED:
        raise ValueError(f"finish() needs a done instance, got {outcome.status!r}")
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


def check_once(
    hook: InstanceApi,
    instance_id: str,
    *,
    fail_on_task_errors: bool,
    log: Log,
    conn_id: str | None = None,
) -> dict[str, Any] | None:
    """The check before deferring: an instance already done never defers.

    Returns the final state (or raises as ``finish`` does); None when the instance is still running
    or the check hit a transient error (the trigger retries those).
    """
    polled = poll_or_none(
        hook, instance_id, fail_on_task_errors=fail_on_task_errors, last_status=None, log=log, conn_id=conn_id
    )
    if polled is None:
        return None
    outcome, state = polled
    return finish(hook, outcome, state, log=log) if outcome.done else None


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
    if not isinstance(event, Mapping) or event.get("status") not in EVENT_STATUSES:
        raise ZuoraError(f"Unexpected event from the Zuora workflow trigger: {event!r}")
    kind = event["status"]
    state = dict(event.get("state") or {})
    if kind == SUCCESS:
        log.info("%s", event.get("message") or f"Zuora workflow {describe_instance(state)} finished")
        return state
    message = str(event.get("message") or "")
    if kind == FAILED:
        tasks = list(event.get("failed_tasks") or [])
        log_failed_tasks(tasks, int(event.get("failed_task_count") or len(tasks)), log)
        raise ZuoraWorkflowFailed(message, state=state)
    if kind == ERROR:
        raise AirflowFailException(message)
    instance_id = str(event.get("instance_id"))
    message = stop_after_timeout(
        hook_factory(),
        instance_id,
        status=state.get("status"),
        timeout=timeout,
        stop=stop_on_timeout,
        log=log,
    )
    raise timeout_error(message)
