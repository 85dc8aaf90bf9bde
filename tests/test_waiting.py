"""The waiting I/O around the waiter, against a fake hook (no HTTP): polls, ends, timeouts, events."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from airflow_provider_zuora import waiting
from airflow_provider_zuora._compat import AirflowFailException, AirflowSensorTimeout
from airflow_provider_zuora.exceptions import (
    ZuoraApiError,
    ZuoraConfigError,
    ZuoraError,
    ZuoraTransportError,
    ZuoraWorkflowFailed,
)
from airflow_provider_zuora.status import evaluate_instance
from tests.helpers import FAILED_TASKS, FakeHook, state

LOG = logging.getLogger("test.waiting")


# ------------------------------------------------------------------ instance ids
@pytest.mark.parametrize(
    ("value", "expected"), [(400, "400"), ("400", "400"), (" 19063 ", "19063"), ("a/b", "a/b")]
)
def test_normalize_instance_id_keeps_the_plain_id(value: Any, expected: str) -> None:
    assert waiting.normalize_instance_id(value) == expected  # unquoted: the hook quotes it for the path


@pytest.mark.parametrize("value", [None, "", "  ", "None", "null", True, 4.5, [400], {"id": 1}])
def test_normalize_instance_id_rejects_bad_input_naming_the_field(value: Any) -> None:
    with pytest.raises(ZuoraConfigError, match=r"^my_field "):
        waiting.normalize_instance_id(value, field="my_field")


# ------------------------------------------------------------------ poll_once
def test_poll_once_logs_what_the_waiter_says_and_fails_on_a_permanent_error() -> None:
    from unittest import mock

    from airflow_provider_zuora.waiter import DONE, KEEP_WAITING, Waiter

    log = mock.MagicMock()
    hook = FakeHook(ZuoraApiError(503, "busy"), state("Finished"), ZuoraApiError(404, "gone"))
    waiter = Waiter("400", fail_on_task_errors=True)
    assert waiting.poll_once(hook, waiter, log).action == KEEP_WAITING
    assert "Transient error 1 polling Zuora workflow instance 400" in log.warning.call_args.args[1]
    done = waiting.poll_once(hook, waiter, log)
    assert done.action == DONE and done.state == state("Finished")
    assert [c.args[1] for c in log.info.call_args_list][-1].endswith("(tasks: 3 of 3 done, 0 failed)")
    with pytest.raises(AirflowFailException, match="was not found") as info:
        waiting.poll_once(hook, waiter, log)
    assert isinstance(info.value.__cause__, ZuoraApiError)
    assert hook.calls == [("get", "400")] * 3


def test_events_are_built_as_resume_reads_them() -> None:
    built = waiting.event(waiting.SUCCESS, "400", state("Finished"), "done")
    assert built == {"status": "success", "instance_id": "400", "state": state("Finished"), "message": "done"}
    assert waiting.resume_from_event(built, hook_factory=FakeHook, log=LOG) == state("Finished")
    failed = waiting.event(
        waiting.FAILED, "400", state("Finished", errors=1), "1 failed", failed_tasks=FAILED_TASKS[:1],
        failed_task_count=3,
    )  # fmt: skip
    assert waiting.read_event(json.loads(json.dumps(failed))) == failed  # as the metadata DB gives it back
    with pytest.raises(ZuoraWorkflowFailed, match="1 failed"):
        waiting.resume_from_event(failed, hook_factory=FakeHook, log=LOG)
    with pytest.raises(ValueError, match="unknown event kind"):
        waiting.event("maybe", "400", None, "")  # type: ignore[arg-type]
    for bad in (None, "success", {"status": "maybe"}):
        with pytest.raises(ZuoraError, match="Unexpected event"):
            waiting.read_event(bad)


# ------------------------------------------------------------------ finish
def test_finish_returns_the_state_of_a_success() -> None:
    final = state("Finished")
    assert waiting.final_state_or_raise(FakeHook(), evaluate_instance(final), final, log=LOG) is final


def test_finish_lists_failed_tasks_in_log_and_exception(caplog: pytest.LogCaptureFixture) -> None:
    final = state("Finished", errors=2)
    hook = FakeHook(tasks=FAILED_TASKS)
    with caplog.at_level(logging.INFO, logger=LOG.name), pytest.raises(ZuoraWorkflowFailed) as info:
        waiting.final_state_or_raise(hook, evaluate_instance(final), final, log=LOG)

    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        "Failed task Callout [Callout]: HTTP 500 | details: upstream down",
        "Failed task Notify [Email]: bad address",
    ]
    assert str(info.value) == (
        "Zuora workflow instance 400 (WF-1-00000001) finished with 2 failed task(s): "
        "task Callout [Callout]: HTTP 500 | details: upstream down; task Notify [Email]: bad address"
    )
    assert info.value.state == final
    assert hook.calls == [("tasks", "400")]


def test_finish_of_a_stopped_instance_without_task_errors_lists_nothing() -> None:
    final = state("Stopped")
    hook = FakeHook(tasks=FAILED_TASKS)
    with pytest.raises(
        ZuoraWorkflowFailed, match=r"^Zuora workflow instance 400 \(WF-1-00000001\) was stopped$"
    ):
        waiting.final_state_or_raise(hook, evaluate_instance(final), final, log=LOG)
    assert hook.calls == []


def test_finish_still_fails_when_the_task_list_cannot_be_read(caplog: pytest.LogCaptureFixture) -> None:
    final = state("Finished", errors=1)
    with caplog.at_level(logging.WARNING, logger=LOG.name), pytest.raises(ZuoraWorkflowFailed) as info:
        waiting.final_state_or_raise(
            FakeHook(tasks=ZuoraApiError(503, "busy")), evaluate_instance(final), final, log=LOG
        )
    assert str(info.value).endswith("finished with 1 failed task(s)")
    assert "Could not list the tasks" in caplog.text


def test_finish_refuses_a_running_instance() -> None:
    running = state("Processing")
    with pytest.raises(ValueError, match="done instance"):
        waiting.final_state_or_raise(FakeHook(), evaluate_instance(running), running, log=LOG)


def test_failure_report_trims_long_fields_and_caps_the_list() -> None:
    tasks = [
        {"name": f"t{i}", "status": "Error", "error": "x" * 10_000, "error_details": "y" * 5}
        for i in range(waiting.MAX_EVENT_TASKS + 5)
    ]
    outcome = evaluate_instance(state("Finished", errors=len(tasks)))

    message, failed, count = waiting.failure_report(outcome, tasks)

    assert count == waiting.MAX_EVENT_TASKS + 5
    assert len(failed) == waiting.MAX_EVENT_TASKS
    assert len(failed[0]["error"]) == waiting.MAX_FIELD_CHARS + 3
    assert failed[0]["error_details"] == "y" * 5
    assert message.endswith(f"; and {count - 3} more (see the task log)")


# ------------------------------------------------------------------ final_state_before_deferring
def test_before_deferring_returns_none_while_running_or_on_a_hiccup() -> None:
    assert (
        waiting.final_state_before_deferring(
            FakeHook(state("Queued")), "1", fail_on_task_errors=True, log=LOG
        )
        is None
    )
    hook = FakeHook(ZuoraTransportError("reset"))
    assert waiting.final_state_before_deferring(hook, "1", fail_on_task_errors=True, log=LOG) is None


def test_before_deferring_finishes_a_done_instance() -> None:
    final = state("Finished", errors=1)
    assert (
        waiting.final_state_before_deferring(FakeHook(final), "1", fail_on_task_errors=False, log=LOG)
        is final
    )
    with pytest.raises(ZuoraWorkflowFailed):
        waiting.final_state_before_deferring(
            FakeHook(final, tasks=FAILED_TASKS), "1", fail_on_task_errors=True, log=LOG
        )


def test_before_deferring_fails_on_a_permanent_error() -> None:
    with pytest.raises(AirflowFailException, match="not found"):
        waiting.final_state_before_deferring(
            FakeHook(ZuoraApiError(404, "x")), "1", fail_on_task_errors=True, log=LOG
        )


# ------------------------------------------------------------------ timeouts
def test_stop_after_timeout_stops_and_says_so() -> None:
    hook = FakeHook()
    message = waiting.stop_after_timeout(hook, "5", status="Processing", timeout=60, stop=True, log=LOG)
    expected = "Timed out after 60 s waiting for Zuora workflow instance 5 (last status: Processing)"
    assert message == expected + "; it was stopped"
    assert hook.calls == [("stop", "5")]


def test_stop_after_timeout_is_best_effort(caplog: pytest.LogCaptureFixture) -> None:
    hook = FakeHook(stop=ZuoraApiError(404, "Cannot find a workflow run"))
    with caplog.at_level(logging.ERROR, logger=LOG.name):
        message = waiting.stop_after_timeout(hook, "5", status=None, timeout=None, stop=True, log=LOG)
    assert message.startswith(
        "Timed out waiting for Zuora workflow instance 5 (last status: unknown); stopping it failed"
    )
    assert "Could not stop" in caplog.text


def test_stop_after_timeout_can_leave_it_running() -> None:
    hook = FakeHook()
    message = waiting.stop_after_timeout(hook, "5", status="Pending", timeout=1.5, stop=False, log=LOG)
    assert message.endswith(
        "after 1.5 s waiting for Zuora workflow instance 5 (last status: Pending); it was left running"
    )
    assert hook.calls == []


# ------------------------------------------------------------------ resume_from_event
def test_resume_success_returns_the_state() -> None:
    final = state("Finished")
    event = {"status": "success", "instance_id": "400", "state": final, "message": "done"}
    assert waiting.resume_from_event(event, hook_factory=FakeHook, log=LOG) == final


def test_resume_failed_raises_the_sync_message_and_logs_tasks(caplog: pytest.LogCaptureFixture) -> None:
    final = state("Finished", errors=2)
    outcome = evaluate_instance(final)
    message, failed, count = waiting.failure_report(outcome, FAILED_TASKS)
    event = {"status": "failed", "instance_id": "400", "state": final, "message": message,
             "failed_tasks": failed, "failed_task_count": count}  # fmt: skip
    with pytest.raises(ZuoraWorkflowFailed) as sync:
        waiting.final_state_or_raise(FakeHook(tasks=FAILED_TASKS), outcome, final, log=LOG)

    with caplog.at_level(logging.ERROR, logger=LOG.name), pytest.raises(ZuoraWorkflowFailed) as resumed:
        waiting.resume_from_event(event, hook_factory=FakeHook, log=LOG)

    assert str(resumed.value) == str(sync.value)
    assert resumed.value.state == final
    assert [r.getMessage() for r in caplog.records][-2:] == [
        "Failed task Callout [Callout]: HTTP 500 | details: upstream down",
        "Failed task Notify [Email]: bad address",
    ]


def test_resume_failed_counts_tasks_left_out_of_the_event(caplog: pytest.LogCaptureFixture) -> None:
    event = {"status": "failed", "instance_id": "1", "state": state("Finished", 30), "message": "m",
             "failed_tasks": [{"name": "a", "error": "e"}], "failed_task_count": 30}  # fmt: skip
    with caplog.at_level(logging.ERROR, logger=LOG.name), pytest.raises(ZuoraWorkflowFailed, match=r"^m$"):
        waiting.resume_from_event(event, hook_factory=FakeHook, log=LOG)
    assert "29 more failed task(s)" in caplog.text


def test_resume_error_fails_without_retry() -> None:
    event = {"status": "error", "instance_id": "1", "state": None, "message": "gone (404)"}
    with pytest.raises(AirflowFailException, match=r"^gone \(404\)$"):
        waiting.resume_from_event(event, hook_factory=FakeHook, log=LOG)


def test_resume_timeout_stops_the_instance_then_fails() -> None:
    hook = FakeHook()
    event = {"status": "timeout", "instance_id": "77", "state": state("Processing", ident=77), "message": "t"}
    with pytest.raises(waiting.ZuoraWaitTimeout) as info:
        waiting.resume_from_event(event, hook_factory=lambda: hook, log=LOG, timeout=30)
    assert hook.calls == [("stop", "77")]
    assert str(info.value) == waiting.stop_after_timeout(
        FakeHook(), "77", status="Processing", timeout=30, stop=True, log=LOG
    )


def test_resume_timeout_uses_the_callers_exception_and_may_leave_it_running() -> None:
    hook = FakeHook()
    event = {"status": "timeout", "instance_id": "77", "state": None, "message": "t"}
    with pytest.raises(AirflowSensorTimeout, match="left running"):
        waiting.resume_from_event(
            event,
            hook_factory=lambda: hook,
            log=LOG,
            stop_on_timeout=False,
            timeout_error=AirflowSensorTimeout,
        )
    assert hook.calls == []


@pytest.mark.parametrize("event", [None, "success", {}, {"status": "weird"}, [1]])
def test_resume_rejects_an_unknown_event(event: Any) -> None:
    with pytest.raises(Exception, match="Unexpected event"):
        waiting.resume_from_event(event, hook_factory=FakeHook, log=LOG)
