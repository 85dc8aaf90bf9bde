"""The one meaning of "finished" shared by the operator, the sensor and the trigger.

Zuora has no failed status: a run with failed tasks ends ``Finished`` with ``tasks.error > 0``,
and ``Stopped`` means someone stopped it. Any status not known to be terminal (``Queued``,
``Processing``, ``Stopping``, ``Pending``, or one Zuora adds later) is still running.
Pure functions, no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

FINISHED = "Finished"
STOPPED = "Stopped"
TERMINAL_STATUSES = frozenset({FINISHED, STOPPED})


class Verdict(str, enum.Enum):
    """Where a workflow instance stands, from the waiter's point of view."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class InstanceOutcome:
    """The verdict on one instance state, with a sentence a person on call can act on."""

    verdict: Verdict
    status: str
    task_errors: int
    reason: str

    @property
    def done(self) -> bool:
        return self.verdict is not Verdict.RUNNING


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def task_error_count(state: Mapping[str, Any]) -> int:
    """``tasks.error`` of an instance state; 0 when absent or unreadable."""
    tasks = state.get("tasks")
    return _as_int(tasks.get("error")) if isinstance(tasks, Mapping) else 0


def describe_instance(state: Mapping[str, Any]) -> str:
    """``instance 400 (WF-396-00000003)``: how logs and errors name an instance."""
    name = state.get("name")
    ident = state.get("id", "?")
    return f"instance {ident} ({name})" if name else f"instance {ident}"


def evaluate_instance(state: Mapping[str, Any], *, fail_on_task_errors: bool = True) -> InstanceOutcome:
    """Judge a workflow instance state (the body of ``GET /workflows/workflow_runs/{id}``).

    - ``Finished`` with no task errors: succeeded.
    - ``Finished`` with task errors: failed when ``fail_on_task_errors``, else succeeded.
    - ``Stopped``: failed.
    - anything else, unknown strings included: running.
    """
    raw = state.get("status")
    status = str(raw) if raw is not None else ""
    canonical = status.strip().capitalize()
    errors = task_error_count(state)
    who = describe_instance(state)
    if canonical == FINISHED:
        if errors and fail_on_task_errors:
            return InstanceOutcome(
                Verdict.FAILED, status, errors, f"Zuora workflow {who} finished with {errors} failed task(s)"
            )
        note = f" ({errors} failed task(s) ignored: fail_on_task_errors=False)" if errors else ""
        return InstanceOutcome(Verdict.SUCCEEDED, status, errors, f"Zuora workflow {who} finished{note}")
    if canonical == STOPPED:
        return InstanceOutcome(Verdict.FAILED, status, errors, f"Zuora workflow {who} was stopped")
    return InstanceOutcome(Verdict.RUNNING, status, errors, f"Zuora workflow {who} is {status or 'unknown'}")


def failed_tasks(tasks: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The tasks in ``Error`` status, trimmed to what explains the failure."""
    keep = ("id", "name", "action_type", "status", "error", "error_class", "error_details")
    return [
        {k: task.get(k) for k in keep if task.get(k) is not None}
        for task in tasks
        if str(task.get("status", "")).capitalize() == "Error"
    ]


def format_failed_task(task: Mapping[str, Any]) -> str:
    """One log line for a failed task: name, action type, error, error details."""
    line = f"task {task.get('name') or task.get('id', '?')!s} [{task.get('action_type') or '?'}]"
    line += f": {task.get('error') or 'no error message'}"
    details = task.get("error_details")
    if details:
        line += f" | details: {details}"
    return line


def failure_message(
    outcome: InstanceOutcome, tasks: Iterable[Mapping[str, Any]] = (), *, limit: int = 3
) -> str:
    """The exception text for a failed instance: the verdict and the first failed tasks."""
    lines = [format_failed_task(t) for t in tasks]
    if not lines:
        return outcome.reason
    more = f"; and {len(lines) - limit} more (see the task log)" if len(lines) > limit else ""
    return f"{outcome.reason}: " + "; ".join(lines[:limit]) + more
