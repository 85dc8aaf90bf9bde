"""One wait on one workflow instance, decided without I/O: the operator's wait in a worker, the
sensor's pokes and the trigger all feed a :class:`Waiter` each poll's answer (an instance state or
an error) and the clock, and act on the :class:`Decision` it gives back: what to log, and whether
to keep waiting, finish (success or failure, as :mod:`.status` judges), give up on an error no
poll can get past, or time out. Each driver turns that into its own Airflow action.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_zuora.calls import is_transient
from airflow_provider_zuora.exceptions import ZuoraAuthError
from airflow_provider_zuora.status import InstanceOutcome, evaluate_instance

KEEP_WAITING, DONE, GIVE_UP, TIMED_OUT = "keep waiting", "done", "give up", "timed out"
#: Transient errors in a row: log the first, then one in this many, and the recovery.
LOG_ERRORS_EVERY = 10


class Decision:
    """What a driver does after a poll: ``action``; ``logs`` as (level, message) pairs, in order;
    for ``DONE`` the ``outcome`` and the ``state``; for ``GIVE_UP`` the ``message`` to fail with."""

    __slots__ = ("action", "logs", "message", "outcome", "state")

    def __init__(
        self,
        action: str,
        logs: list[tuple[str, str]],
        *,
        outcome: InstanceOutcome | None = None,
        state: dict[str, Any] | None = None,
        message: str = "",
    ) -> None:
        self.action, self.logs, self.outcome, self.state, self.message = action, logs, outcome, state, message

    def __repr__(self) -> str:
        return f"Decision({self.action!r}, logs={len(self.logs)})"


def status_line(state: Mapping[str, Any], outcome: InstanceOutcome) -> str:
    """``Zuora workflow instance 400 (WF-1) is Processing (tasks: 2 of 4 done, 0 failed)``."""
    tasks = state.get("tasks")
    if not isinstance(tasks, Mapping) or "total" not in tasks:
        return outcome.reason
    done = sum(int(tasks.get(k) or 0) for k in ("success", "error", "stopped"))
    return f"{outcome.reason} (tasks: {done} of {tasks.get('total')} done, {outcome.task_errors} failed)"


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


class Waiter:
    """The wait on ``instance_id``: the last status seen, the transient errors in a row, and the
    ``deadline`` (on whatever clock the driver passes as ``now``; None: no deadline here)."""

    def __init__(
        self,
        instance_id: str,
        *,
        fail_on_task_errors: bool,
        conn_id: str | None = None,
        deadline: float | None = None,
    ) -> None:
        self.instance_id = instance_id
        self.fail_on_task_errors = fail_on_task_errors
        self.conn_id = conn_id
        self.deadline = deadline
        self.last_status: str | None = None
        self.state: dict[str, Any] | None = None  # the last state polled
        self.errors = 0  # transient errors in a row

    def polled(self, state: dict[str, Any], *, now: float | None = None) -> Decision:
        """A poll answered ``state``."""
        logs: list[tuple[str, str]] = []
        if self.errors:
            again = f"Polling instance {self.instance_id} works again after {self.errors} error(s)"
            logs.append(("info", again))
            self.errors = 0
        self.state = state
        outcome = evaluate_instance(state, fail_on_task_errors=self.fail_on_task_errors)
        if outcome.status != self.last_status:  # a status change is logged once, not every poll
            logs.append(("info", status_line(state, outcome)))
            self.last_status = outcome.status
        if outcome.done:
            return Decision(DONE, logs, outcome=outcome, state=state)
        return self._wait_or_time_out(logs, now)

    def failed(self, error: BaseException, *, now: float | None = None) -> Decision:
        """A poll raised ``error``: another poll may get past a transient one, never a permanent one."""
        if not is_transient(error):
            message = permanent_error_message(error, self.instance_id, conn_id=self.conn_id)
            return Decision(GIVE_UP, [], message=message)
        self.errors += 1
        logs = []
        if self.errors % LOG_ERRORS_EVERY == 1:
            logs.append((
                "warning",
                f"Transient error {self.errors} polling Zuora workflow instance {self.instance_id} "
                f"(will retry): {error}",
            ))  # fmt: skip
        return self._wait_or_time_out(logs, now)

    def _wait_or_time_out(self, logs: list[tuple[str, str]], now: float | None) -> Decision:
        if self.deadline is not None and now is not None and now >= self.deadline:
            return Decision(TIMED_OUT, logs, state=self.state)
        return Decision(KEEP_WAITING, logs, state=self.state)
