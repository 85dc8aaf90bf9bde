"""ZuoraWorkflowInstanceTrigger against a fake async hook: serialisation, events, retries, kill, cleanup."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_zuora import waiter, waiting
from airflow_provider_zuora.exceptions import ZuoraApiError, ZuoraAuthError, ZuoraTransportError
from airflow_provider_zuora.status import evaluate_instance
from airflow_provider_zuora.triggers import workflow as trigger_module
from airflow_provider_zuora.triggers.workflow import CLASSPATH, ZuoraWorkflowInstanceTrigger
from tests.helpers import CALLOUT_DETAILS, emulator_workflows, modules_added

LOG = logging.getLogger("test.trigger")
TASKS = [
    {"id": 1, "name": "Export", "action_type": "Export", "status": "Success"},
    {"id": 2, "name": "Callout", "action_type": "Callout", "status": "Error", "error": "HTTP 500"},
]


def state(status: str, errors: int = 0) -> dict[str, Any]:
    return {"id": 400, "name": "WF-1-00000001", "status": status, "tasks": {"total": 2, "error": errors}}


class FakeAsyncHook:
    """The hook's async methods, answering from a script (a state dict or an exception each poll)."""

    def __init__(self, *answers: Any, tasks: Any = (), stop: Any = None) -> None:
        self.answers: Iterator[Any] = iter(answers)
        self.tasks = tasks
        self.stop = stop
        self.calls: list[str] = []
        self.closed = False

    async def aget_workflow_instance(self, instance_id: str) -> dict[str, Any]:
        self.calls.append(f"get {instance_id}")
        answer = next(self.answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def aget_workflow_instance_tasks(self, instance_id: str) -> list[dict[str, Any]]:
        self.calls.append(f"tasks {instance_id}")
        if isinstance(self.tasks, Exception):
            raise self.tasks
        return list(self.tasks)

    async def astop_workflow_instance(self, instance_id: str) -> dict[str, Any]:
        self.calls.append(f"stop {instance_id}")
        if isinstance(self.stop, Exception):
            raise self.stop
        return {"success": True}

    async def aclose(self) -> None:
        self.closed = True


def make(hook: FakeAsyncHook, **kwargs: Any) -> ZuoraWorkflowInstanceTrigger:
    trigger = ZuoraWorkflowInstanceTrigger(**{"instance_id": 400, "poll_interval": 0.01, **kwargs})
    trigger.hook = hook  # type: ignore[assignment]
    trigger._log = LOG  # a stdlib logger, so caplog sees the lines (Airflow's default is structlog)
    return trigger


async def events(trigger: ZuoraWorkflowInstanceTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


# ------------------------------------------------------------------ serialisation
def test_serialize_is_a_fixed_classpath_and_plain_json() -> None:
    trigger = ZuoraWorkflowInstanceTrigger(
        instance_id=400,
        zuora_conn_id="zc",
        poll_interval=5,
        end_time=1_800_000_000,
        fail_on_task_errors=False,
    )
    classpath, kwargs = trigger.serialize()

    assert classpath == CLASSPATH == f"{type(trigger).__module__}.{type(trigger).__name__}"
    assert kwargs == {
        "instance_id": "400",
        "zuora_conn_id": "zc",
        "poll_interval": 5.0,
        "end_time": 1_800_000_000.0,
        "fail_on_task_errors": False,
    }
    assert json.loads(json.dumps(kwargs)) == kwargs


@pytest.mark.parametrize("end_time", [None, 1_800_000_000.5])
def test_round_trip_rebuilds_an_equal_trigger(end_time: float | None) -> None:
    from airflow_provider_zuora._compat import deserialize, import_string, serialize

    trigger = ZuoraWorkflowInstanceTrigger(instance_id="19063", poll_interval=2, end_time=end_time)
    classpath, kwargs = trigger.serialize()

    rebuilt = import_string(classpath)(**deserialize(serialize(kwargs)))

    assert rebuilt == trigger
    assert hash(rebuilt) == hash(trigger)
    assert rebuilt != ZuoraWorkflowInstanceTrigger(instance_id="19064", poll_interval=2, end_time=end_time)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"instance_id": None}, "instance_id"),
        ({"instance_id": " "}, "instance_id"),
        ({"instance_id": 1, "poll_interval": 0}, "poll_interval"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ZuoraWorkflowInstanceTrigger(**kwargs)


def test_first_polls_are_spread_over_the_interval() -> None:
    delays = {
        ZuoraWorkflowInstanceTrigger(instance_id=i, poll_interval=10)._first_delay() for i in range(100)
    }
    assert all(0 <= d < 10 for d in delays)
    assert len(delays) > 50


def test_importing_the_trigger_module_does_not_import_http_clients() -> None:
    # Airflow itself brings httpx; what counts is what our modules add on top of it.
    added = modules_added(
        "import airflow_provider_zuora.triggers.workflow, airflow_provider_zuora.sensors.workflow",
        after="import airflow.sdk, airflow.triggers.base",
        roots=("requests", "httpx", ".hooks"),
    )
    assert added == []


# ------------------------------------------------------------------ run()
async def test_success_event_carries_the_final_state(caplog: pytest.LogCaptureFixture) -> None:
    hook = FakeAsyncHook(state("Queued"), state("Processing"), state("Processing"), state("Finished"))
    with caplog.at_level(logging.INFO):
        got = await events(make(hook))

    assert got == [
        {
            "status": "success",
            "instance_id": "400",
            "state": state("Finished"),
            "message": "Zuora workflow instance 400 (WF-1-00000001) finished",
        }
    ]
    assert hook.calls == ["get 400"] * 4
    status_lines = [r.getMessage() for r in caplog.records if "Zuora workflow instance 400" in r.getMessage()]
    assert len(status_lines) == 3  # Queued, Processing, Finished: a change is logged once


async def test_task_errors_give_a_failed_event_with_the_tasks() -> None:
    hook = FakeAsyncHook(state("Processing"), state("Finished", errors=1), tasks=TASKS)
    (event,) = await events(make(hook))

    outcome = evaluate_instance(state("Finished", errors=1))
    assert event == {
        "status": "failed",
        "instance_id": "400",
        "state": state("Finished", errors=1),
        "message": waiting.failure_report(outcome, TASKS)[0],
        "failed_tasks": [TASKS[1]],
        "failed_task_count": 1,
    }
    assert event["message"].endswith("finished with 1 failed task(s): task Callout [Callout]: HTTP 500")
    assert hook.calls == ["get 400", "get 400", "tasks 400"]


async def test_task_errors_succeed_when_not_failing_on_them() -> None:
    (event,) = await events(make(FakeAsyncHook(state("Finished", errors=1)), fail_on_task_errors=False))
    assert event["status"] == "success"
    assert "ignored" in event["message"]


async def test_stopped_is_a_failure() -> None:
    hook = FakeAsyncHook(state("Stopping"), state("Stopped"))
    (event,) = await events(make(hook))
    assert (event["status"], event["message"]) == (
        "failed",
        "Zuora workflow instance 400 (WF-1-00000001) was stopped",
    )
    assert event["failed_tasks"] == []
    assert "tasks 400" not in hook.calls


async def test_transient_errors_are_retried(caplog: pytest.LogCaptureFixture) -> None:
    hook = FakeAsyncHook(
        ZuoraApiError(503, "busy"),
        ZuoraTransportError("reset"),
        ZuoraApiError(429, "slow down"),
        state("Finished"),
    )
    with caplog.at_level(logging.INFO):
        (event,) = await events(make(hook))
    assert event["status"] == "success"
    assert len(hook.calls) == 4
    assert "works again after 3 error(s)" in caplog.text


@pytest.mark.parametrize(
    ("exc", "fragment"),
    [
        (ZuoraApiError(404, "Cannot find"), "does not exist, or it has aged out of Zuora's retention"),
        (ZuoraAuthError(401, "Zuora refused the OAuth client credentials"), "refused the OAuth client"),
        (ZuoraApiError(403, "Forbidden"), "(403)"),
    ],
)
async def test_permanent_errors_end_the_wait_at_once(exc: Exception, fragment: str) -> None:
    hook = FakeAsyncHook(state("Processing"), exc)
    (event,) = await events(make(hook))
    assert event["status"] == "error"
    assert event["message"] == waiter.permanent_error_message(exc, "400", conn_id="zuora_default")
    assert fragment in event["message"]
    assert event["state"] == state("Processing")


async def test_timeout_event_after_the_end_time() -> None:
    hook = FakeAsyncHook(*[state("Pending")] * 1000)
    (event,) = await events(make(hook, poll_interval=0.02, end_time=time.time() + 0.1))

    assert event["status"] == "timeout"
    assert event["state"] == state("Pending")
    assert 2 <= len(hook.calls) < 1000


async def test_timeout_during_an_outage_still_ends() -> None:
    hook = FakeAsyncHook(*[ZuoraApiError(503, "down")] * 1000)
    (event,) = await events(make(hook, end_time=time.time() + 0.05))
    assert event["status"] == "timeout"
    assert event["state"] is None


async def test_an_end_time_already_past_polls_once() -> None:
    hook = FakeAsyncHook(state("Processing"), state("Processing"))
    (event,) = await events(make(hook, poll_interval=60, end_time=time.time() - 1))
    assert event["status"] == "timeout"
    assert hook.calls == ["get 400"]


async def test_resumed_task_gets_the_sync_paths_message_from_a_failed_event() -> None:
    from airflow_provider_zuora.exceptions import ZuoraWorkflowFailed

    log = LOG
    (event,) = await events(make(FakeAsyncHook(state("Finished", errors=1), tasks=TASKS)))
    with pytest.raises(ZuoraWorkflowFailed) as resumed:
        waiting.resume_from_event(event, hook_factory=lambda: None, log=log)  # type: ignore[arg-type,return-value]

    class SyncHook:
        def get_workflow_instance_tasks(self, instance_id: str) -> list[dict[str, Any]]:
            return TASKS

    final = state("Finished", errors=1)
    with pytest.raises(ZuoraWorkflowFailed) as sync:
        waiting.final_state_or_raise(SyncHook(), evaluate_instance(final), final, log=log)  # type: ignore[arg-type]
    assert str(resumed.value) == str(sync.value)


# ------------------------------------------------------------------ on_kill, cleanup
async def test_on_kill_stops_the_instance() -> None:
    hook = FakeAsyncHook()
    await make(hook).on_kill()
    assert hook.calls == ["stop 400"]


async def test_on_kill_logs_a_failed_stop(caplog: pytest.LogCaptureFixture) -> None:
    hook = FakeAsyncHook(stop=ZuoraApiError(404, "Cannot find a workflow run with id provided."))
    with caplog.at_level(logging.ERROR):
        await make(hook).on_kill()
    assert "Could not stop Zuora workflow instance 400" in caplog.text


@pytest.mark.parametrize("calls_on_kill", [True, False], ids=["3.3+", "older"])
async def test_a_cancelled_wait_says_the_run_goes_on_where_airflow_never_calls_on_kill(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, calls_on_kill: bool
) -> None:
    """A clear or mark of a deferred task cancels its trigger; only 3.3+ then calls on_kill()."""
    monkeypatch.setattr(trigger_module, "has_trigger_on_kill", lambda: calls_on_kill)
    hook = FakeAsyncHook(state("Processing"))
    task = asyncio.ensure_future(events(make(hook, poll_interval=0.01)))
    while not hook.calls:
        await asyncio.sleep(0.01)
    with caplog.at_level(logging.WARNING):
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    said = "Stopped waiting on Zuora workflow instance 400" in caplog.text
    assert said is not calls_on_kill
    assert "stop 400" not in hook.calls  # cancelling alone never stops the run


async def test_cleanup_releases_the_hook_once() -> None:
    hook = FakeAsyncHook()
    trigger = make(hook)
    await trigger.cleanup()
    await trigger.cleanup()
    assert hook.closed
    assert "hook" not in vars(trigger)  # released: a later use would make a new one


async def test_cleanup_without_a_hook_does_nothing() -> None:
    await ZuoraWorkflowInstanceTrigger(instance_id=1).cleanup()


# ================================================================== against the emulator
@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    from airflow_provider_zuora.testing import ZuoraEmulator

    with ZuoraEmulator(workflows=emulator_workflows()) as emu:
        yield emu


@pytest.fixture
def emu(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Fresh emulator state; the connection allows one attempt per request, so the trigger sees each 503."""
    emulator.backend.reset()
    monkeypatch.setenv("AIRFLOW_CONN_ZUORA_DEFAULT", emulator.airflow_conn_json(max_attempts=1))
    return emulator


def start(emu: Any, workflow_id: int) -> str:
    return str(emu.backend.run_workflow(workflow_id, {})["id"])


async def run_real(instance_id: str, **kwargs: Any) -> dict[str, Any]:
    """Run a trigger as the triggerer would: first event, then cleanup()."""
    trigger = ZuoraWorkflowInstanceTrigger(**{"instance_id": instance_id, "poll_interval": 0.1, **kwargs})
    trigger._log = LOG
    try:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")
    finally:
        await trigger.cleanup()


@pytest.mark.integration
async def test_emulated_success(emu: Any) -> None:
    event = await run_real(start(emu, 8101))
    assert event["status"] == "success"
    assert event["state"]["status"] == "Finished"
    assert event["state"]["tasks"]["success"] == 2


@pytest.mark.integration
async def test_emulated_pending_keeps_waiting(emu: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=LOG.name):
        event = await run_real(start(emu, 8102))
    assert event["status"] == "success"
    assert "is Pending" in caplog.text


@pytest.mark.integration
async def test_emulated_task_errors(emu: Any) -> None:
    instance_id = start(emu, 8103)
    event = await run_real(instance_id)
    assert event["status"] == "failed"
    assert event["failed_task_count"] == 1
    (task,) = event["failed_tasks"]
    assert (task["name"], task["action_type"], task["error"]) == ("Callout", "Callout", "HTTP 500")
    assert task["error_details"] == CALLOUT_DETAILS
    assert event["message"] == (
        f"Zuora workflow instance {instance_id} (WF-8103-00000001) finished with 1 failed task(s): "
        f"task Callout [Callout]: HTTP 500 | details: {CALLOUT_DETAILS}"
    )


@pytest.mark.integration
async def test_emulated_stopped(emu: Any) -> None:
    event = await run_real(start(emu, 8104))
    assert event["status"] == "failed"
    assert event["message"].endswith("was stopped")
    assert event["state"]["status"] == "Stopped"


@pytest.mark.integration
async def test_emulated_stop_in_the_middle(emu: Any) -> None:
    import asyncio

    instance_id = start(emu, 8105)
    waiting_task = asyncio.create_task(run_real(instance_id))
    await asyncio.sleep(0.3)
    emu.backend.stop_workflow_run(instance_id)
    event = await asyncio.wait_for(waiting_task, 10)
    assert (event["status"], event["state"]["status"]) == ("failed", "Stopped")


@pytest.mark.integration
async def test_emulated_timeout(emu: Any) -> None:
    instance_id = start(emu, 8105)
    event = await run_real(instance_id, end_time=time.time() + 0.4)
    assert event["status"] == "timeout"
    assert event["state"]["status"] == "Processing"
    assert (
        emu.backend.get_instance(instance_id)["status"] == "Processing"
    )  # stopping is the resumed task's job


@pytest.mark.integration
async def test_emulated_transient_503s_are_retried(emu: Any) -> None:
    instance_id = start(emu, 8101)
    fault = emu.backend.inject_fault(method="GET", path="/workflows/workflow_runs/*", status=503, count=3)
    event = await run_real(instance_id)
    assert event["status"] == "success"
    assert fault.hits == 3


@pytest.mark.integration
async def test_emulated_unknown_instance_is_a_clear_error(emu: Any) -> None:
    event = await run_real("999999")
    assert event["status"] == "error"
    assert "999999 was not found (404)" in event["message"]
    assert "retention" in event["message"]


@pytest.mark.integration
async def test_emulated_bad_credentials_are_a_clear_error(emu: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = json.loads(emu.airflow_conn_json())
    monkeypatch.setenv("AIRFLOW_CONN_ZUORA_BAD", json.dumps({**conn, "password": "wrong"}))
    event = await run_real(start(emu, 8101), zuora_conn_id="zuora_bad")
    assert event["status"] == "error"
    assert "refused the OAuth client credentials of connection 'zuora_bad'" in event["message"]
    assert "wrong" not in event["message"]


@pytest.mark.integration
async def test_emulated_on_kill_stops_the_instance(emu: Any) -> None:
    import asyncio

    instance_id = start(emu, 8105)
    trigger = ZuoraWorkflowInstanceTrigger(instance_id=instance_id, poll_interval=0.1)
    task = asyncio.create_task(anext(trigger.run()))
    await asyncio.sleep(0.3)
    task.cancel()  # what the triggerer does on a user's mark-failed/success or clear, before on_kill()
    with pytest.raises(asyncio.CancelledError):
        await task
    await trigger.on_kill()
    await trigger.cleanup()
    assert emu.backend.get_instance(instance_id)["status"] in ("Stopping", "Stopped")
    assert len(emu.backend.requests(method="PUT", path="/workflows/workflow_runs/*/stop")) == 1


@pytest.mark.integration
async def test_emulated_triggers_share_one_token(emu: Any) -> None:
    import asyncio

    ids = [start(emu, 8101) for _ in range(30)]
    events = await asyncio.gather(*(run_real(i) for i in ids))
    assert {e["status"] for e in events} == {"success"}
    assert emu.backend.tokens_issued == 1
