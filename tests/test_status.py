"""The one status function, as a table: every status and task-count combination."""

from __future__ import annotations

import itertools

import pytest

from airflow_provider_zuora.status import (
    InstanceOutcome,
    Verdict,
    describe_instance,
    evaluate_instance,
    failed_tasks,
    failure_message,
    format_failed_task,
)

S, F, R = Verdict.SUCCEEDED, Verdict.FAILED, Verdict.RUNNING

# Task-count shapes Zuora (or a proxy) may send: no counts, clean, failed, odd types.
TASKS = {
    "absent": None,
    "none_failed": {"total": 4, "success": 4, "error": 0},
    "one_failed": {"total": 4, "success": 3, "error": 1},
    "three_failed": {"total": 5, "success": 2, "error": 3},
    "error_as_str": {"total": 2, "error": "2"},
    "error_null": {"total": 2, "error": None},
    "error_garbage": {"total": 2, "error": "n/a"},
    "tasks_not_a_dict": [1, 2],
}
ERRORS = {
    "absent": 0,
    "none_failed": 0,
    "one_failed": 1,
    "three_failed": 3,
    "error_as_str": 2,
    "error_null": 0,
    "error_garbage": 0,
    "tasks_not_a_dict": 0,
}

# (status, tasks, fail_on_task_errors) -> verdict, for the terminal statuses.
TERMINAL_TABLE = [
    ("Finished", "absent", True, S),
    ("Finished", "absent", False, S),
    ("Finished", "none_failed", True, S),
    ("Finished", "none_failed", False, S),
    ("Finished", "one_failed", True, F),
    ("Finished", "one_failed", False, S),
    ("Finished", "three_failed", True, F),
    ("Finished", "three_failed", False, S),
    ("Finished", "error_as_str", True, F),
    ("Finished", "error_as_str", False, S),
    ("Finished", "error_null", True, S),
    ("Finished", "error_garbage", True, S),
    ("Finished", "tasks_not_a_dict", True, S),
    ("FINISHED", "one_failed", True, F),
    (" finished ", "none_failed", True, S),
    ("Stopped", "absent", True, F),
    ("Stopped", "none_failed", True, F),
    ("Stopped", "none_failed", False, F),
    ("Stopped", "one_failed", True, F),
    ("Stopped", "three_failed", False, F),
    ("stopped", "one_failed", False, F),
]

# Everything not known to be terminal keeps waiting, whatever the task counts say.
RUNNING_STATUSES = ["Queued", "Processing", "Stopping", "Pending", "Archived", "", None]
RUNNING_TABLE = [
    (status, tasks, fail, R)
    for status, tasks, fail in itertools.product(RUNNING_STATUSES, TASKS, [True, False])
]


def _state(status: str | None, tasks: str) -> dict:
    state: dict = {"id": 400, "name": "WF-396-00000003"}
    if status is not None:
        state["status"] = status
    if TASKS[tasks] is not None:
        state["tasks"] = TASKS[tasks]
    return state


@pytest.mark.parametrize(("status", "tasks", "fail", "verdict"), TERMINAL_TABLE + RUNNING_TABLE)
def test_evaluate_instance_table(status: str | None, tasks: str, fail: bool, verdict: Verdict) -> None:
    outcome = evaluate_instance(_state(status, tasks), fail_on_task_errors=fail)

    assert outcome.verdict is verdict
    assert outcome.done is (verdict is not R)
    assert outcome.task_errors == ERRORS[tasks]
    assert outcome.status == (status or "")
    assert "400 (WF-396-00000003)" in outcome.reason


def test_default_fails_on_task_errors() -> None:
    assert evaluate_instance(_state("Finished", "one_failed")).verdict is F


@pytest.mark.parametrize(
    ("status", "tasks", "fail", "fragment"),
    [
        ("Finished", "three_failed", True, "finished with 3 failed task(s)"),
        ("Finished", "three_failed", False, "3 failed task(s) ignored: fail_on_task_errors=False"),
        ("Finished", "none_failed", True, "finished"),
        ("Stopped", "none_failed", True, "was stopped"),
        ("Pending", "none_failed", True, "is Pending"),
        (None, "absent", True, "is unknown"),
    ],
)
def test_reason_says_why(status: str | None, tasks: str, fail: bool, fragment: str) -> None:
    assert fragment in evaluate_instance(_state(status, tasks), fail_on_task_errors=fail).reason


def test_clean_finish_mentions_no_failures() -> None:
    assert "failed" not in evaluate_instance(_state("Finished", "none_failed")).reason


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({"id": 400, "name": "WF-1"}, "instance 400 (WF-1)"),
        ({"id": "400"}, "instance 400"),
        ({}, "instance ?"),
    ],
)
def test_describe_instance(state: dict, expected: str) -> None:
    assert describe_instance(state) == expected


TASK_LIST = [
    {"id": 1, "name": "Export", "action_type": "Export", "status": "Success"},
    {
        "id": 2,
        "name": "Callout",
        "action_type": "Callout",
        "status": "Error",
        "error": "HTTP 500",
        "error_class": "CalloutError",
        "error_details": "upstream said no",
        "start_time": "2026-01-01T00:00:00Z",
    },
    {"id": 3, "name": "Notify", "action_type": "Email", "status": "error"},
    {"id": 4, "name": "Wait", "action_type": "Delay", "status": "Pending"},
]


def test_failed_tasks_keeps_only_errors_and_useful_fields() -> None:
    failed = failed_tasks(TASK_LIST)

    assert [t["id"] for t in failed] == [2, 3]
    assert failed[0] == {
        "id": 2,
        "name": "Callout",
        "action_type": "Callout",
        "status": "Error",
        "error": "HTTP 500",
        "error_class": "CalloutError",
        "error_details": "upstream said no",
    }


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        (
            {"name": "Callout", "action_type": "Callout", "error": "HTTP 500", "error_details": "no"},
            "task Callout [Callout]: HTTP 500 | details: no",
        ),
        ({"id": 7}, "task 7 [?]: no error message"),
        ({}, "task ? [?]: no error message"),
    ],
)
def test_format_failed_task(task: dict, expected: str) -> None:
    assert format_failed_task(task) == expected


def test_failure_message_lists_the_first_tasks_and_counts_the_rest() -> None:
    outcome = InstanceOutcome(F, "Finished", 5, "Zuora workflow instance 1 finished with 5 failed task(s)")
    tasks = [{"name": f"t{i}", "action_type": "Callout", "error": f"e{i}"} for i in range(5)]

    message = failure_message(outcome, tasks)

    assert message.startswith(outcome.reason + ": task t0 [Callout]: e0; task t1")
    assert "t2" in message
    assert "t3" not in message
    assert message.endswith("; and 2 more (see the task log)")


def test_failure_message_without_tasks_is_the_reason() -> None:
    outcome = InstanceOutcome(F, "Stopped", 0, "Zuora workflow instance 1 was stopped")
    assert failure_message(outcome) == outcome.reason
