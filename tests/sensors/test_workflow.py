"""ZuoraWorkflowInstanceSensor against a fake hook: poke, timeouts, deferral, resume (no HTTP).

The same sensor in real DAG runs against the emulator: tests/sensors/test_workflow_dags.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest
from airflow.sdk import PokeReturnValue

from airflow_provider_zuora._compat import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)
from airflow_provider_zuora.exceptions import ZuoraApiError, ZuoraAuthError, ZuoraTransportError
from airflow_provider_zuora.sensors.workflow import ZuoraWorkflowInstanceSensor
from airflow_provider_zuora.triggers.workflow import ZuoraWorkflowInstanceTrigger
from tests.helpers import FAILED_TASKS, FakeHook, state


def sensor(hook: FakeHook, **kwargs: Any) -> ZuoraWorkflowInstanceSensor:
    task = ZuoraWorkflowInstanceSensor(
        **{"task_id": "wait", "instance_id": 400, "poke_interval": 0, **kwargs}
    )
    task.hook = hook  # type: ignore[assignment]
    return task


# ------------------------------------------------------------------ poke
def test_poke_waits_on_every_non_terminal_status() -> None:
    statuses = ["Queued", "Processing", "Pending", "Stopping", "SomethingNew"]
    task = sensor(FakeHook(*[state(s) for s in statuses]))
    assert [task.poke({}) for _ in statuses] == [False] * 5


def test_poke_returns_the_final_state_as_xcom() -> None:
    result = sensor(FakeHook(state("Finished"))).poke({})
    assert isinstance(result, PokeReturnValue)
    assert result.is_done
    assert result.xcom_value == state("Finished")


def test_transient_errors_only_skip_a_poke() -> None:
    task = sensor(FakeHook(ZuoraApiError(503, "busy"), ZuoraTransportError("reset"), state("Finished")))
    assert task.execute({}) == state("Finished")
    assert task.hook.calls == [("get", "400")] * 3  # type: ignore[attr-defined]


def test_task_errors_fail_without_retry_listing_the_tasks() -> None:
    task = sensor(FakeHook(state("Processing"), state("Finished", errors=2), tasks=FAILED_TASKS))
    with pytest.raises(AirflowFailException) as info:
        task.execute({})
    assert str(info.value) == (
        "Zuora workflow instance 400 (WF-1-00000001) finished with 2 failed task(s): "
        "task Callout [Callout]: HTTP 500 | details: upstream down; task Notify [Email]: bad address"
    )


def test_task_errors_pass_when_not_failing_on_them() -> None:
    final = state("Finished", errors=2)
    assert sensor(FakeHook(final), fail_on_task_errors=False).execute({}) == final


def test_stopped_fails() -> None:
    with pytest.raises(AirflowFailException, match="was stopped"):
        sensor(FakeHook(state("Stopped"))).execute({})


def test_soft_fail_skips_a_failed_instance_and_does_not_take_it_for_a_timeout() -> None:
    task = sensor(FakeHook(state("Stopped")), soft_fail=True)
    with pytest.raises(AirflowSkipException) as info:
        task.execute({})
    assert "Timed out" not in str(info.value)
    assert ("stop", "400") not in task.hook.calls  # type: ignore[attr-defined]  # nothing to stop


@pytest.mark.parametrize(
    ("exc", "fragment"),
    [
        (ZuoraApiError(404, "nope"), "aged out"),
        (ZuoraApiError(403, "no"), "(403)"),
        (ZuoraApiError(401, "x"), "(401)"),
        (ZuoraAuthError(401, "refused the OAuth client credentials"), "credentials"),
    ],
)
def test_permanent_errors_fail_at_once(exc: Exception, fragment: str) -> None:
    task = sensor(FakeHook(exc))
    with pytest.raises(AirflowFailException, match=fragment):
        task.execute({})
    assert len(task.hook.calls) == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("bad", [None, "None", "", [1]])
def test_bad_instance_id_fails_before_any_request(bad: Any) -> None:
    task = sensor(FakeHook())
    task.instance_id = bad
    with pytest.raises(AirflowFailException, match="instance_id"):
        task.execute({})
    assert task.hook.calls == []  # type: ignore[attr-defined]


# ------------------------------------------------------------------ timeout (poke mode)
def test_timeout_stops_the_instance_then_fails() -> None:
    task = sensor(FakeHook(state("Processing"), state("Processing")), timeout=0)
    with pytest.raises(AirflowSensorTimeout) as info:
        task.execute({})
    assert str(info.value) == (
        "Timed out after 0 s waiting for Zuora workflow instance 400 (last status: Processing)"
        "; it was stopped"
    )
    assert task.hook.calls[-1] == ("stop", "400")  # type: ignore[attr-defined]


def test_timeout_with_soft_fail_stops_and_skips() -> None:
    task = sensor(FakeHook(state("Pending")), timeout=0, soft_fail=True)
    with pytest.raises(AirflowSkipException, match="it was stopped"):
        task.execute({})
    assert task.hook.calls[-1] == ("stop", "400")  # type: ignore[attr-defined]


def test_timeout_can_leave_the_instance_running() -> None:
    task = sensor(FakeHook(state("Pending")), timeout=0, stop_on_timeout=False)
    with pytest.raises(AirflowSensorTimeout, match="left running"):
        task.execute({})
    assert ("stop", "400") not in task.hook.calls  # type: ignore[attr-defined]


# ------------------------------------------------------------------ deferrable
def test_deferrable_never_defers_an_instance_already_done() -> None:
    task = sensor(FakeHook(state("Finished")), deferrable=True)
    assert task.execute({}) == state("Finished")


def test_deferrable_fails_at_once_on_an_instance_already_failed() -> None:
    task = sensor(FakeHook(state("Finished", errors=1), tasks=FAILED_TASKS), deferrable=True)
    with pytest.raises(AirflowFailException, match="finished with 1 failed task"):
        task.execute({})
    with pytest.raises(AirflowSkipException):
        sensor(FakeHook(state("Stopped")), deferrable=True, soft_fail=True).execute({})


@pytest.mark.parametrize("first", [state("Pending"), ZuoraApiError(502, "bad gateway")])
def test_deferrable_defers_to_the_trigger(first: Any) -> None:
    task = sensor(FakeHook(first), deferrable=True, poke_interval=7, timeout=600, fail_on_task_errors=False)
    before = time.time()
    with pytest.raises(TaskDeferred) as info:
        task.execute({})

    trigger = info.value.trigger
    assert isinstance(trigger, ZuoraWorkflowInstanceTrigger)
    assert (trigger.instance_id, trigger.poll_interval, trigger.fail_on_task_errors) == ("400", 7.0, False)
    assert trigger.zuora_conn_id == "zuora_default"
    assert before + 600 <= trigger.end_time <= time.time() + 600  # type: ignore[operator]
    assert info.value.method_name == "execute_complete"
    assert info.value.timeout.total_seconds() > 600  # Airflow's own timeout is only a safety net


def test_deferrable_fails_at_once_on_a_permanent_error() -> None:
    with pytest.raises(AirflowFailException, match="aged out"):
        sensor(FakeHook(ZuoraApiError(404, "nope")), deferrable=True).execute({})


def test_execute_complete_returns_the_state_of_a_success_event() -> None:
    event = {"status": "success", "instance_id": "400", "state": state("Finished"), "message": "done"}
    assert sensor(FakeHook(), deferrable=True).execute_complete({}, event) == state("Finished")


def test_execute_complete_fails_a_failed_event_without_retry() -> None:
    event = {"status": "failed", "instance_id": "400", "state": state("Stopped"), "message": "was stopped"}
    with pytest.raises(AirflowFailException, match=r"^was stopped$"):
        sensor(FakeHook(), deferrable=True).execute_complete({}, event)


def test_execute_complete_stops_the_instance_on_a_timeout_event() -> None:
    hook = FakeHook()
    event = {"status": "timeout", "instance_id": "400", "state": state("Processing"), "message": "t"}
    with pytest.raises(AirflowSensorTimeout) as info:
        sensor(hook, deferrable=True, timeout=30).execute_complete({}, event)
    assert hook.calls == [("stop", "400")]
    assert str(info.value) == (
        "Timed out after 30 s waiting for Zuora workflow instance 400 (last status: Processing)"
        "; it was stopped"
    )


def test_resume_with_soft_fail_skips_a_timeout() -> None:
    event = {"status": "timeout", "instance_id": "400", "state": None, "message": "t"}
    task = sensor(FakeHook(), deferrable=True, soft_fail=True)
    with pytest.raises(AirflowSkipException):
        task.resume_execution("execute_complete", {"event": event}, {})  # type: ignore[arg-type]


def test_deferrable_defaults_to_the_operators_config() -> None:
    code = (
        "from airflow_provider_zuora.sensors.workflow import ZuoraWorkflowInstanceSensor as S;"
        "print(S(task_id='t', instance_id=1).deferrable)"
    )
    env = {**os.environ, "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "true"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip().splitlines()[-1] == "True"


def test_instance_id_and_conn_id_are_templated_so_a_dag_run_picks_its_tenant() -> None:
    sensor = ZuoraWorkflowInstanceSensor(
        task_id="t", instance_id="{{ params.run }}", zuora_conn_id="zuora_{{ params.tenant }}"
    )
    sensor.render_template_fields({"params": {"run": "400", "tenant": "eu"}})  # type: ignore[arg-type]
    assert (sensor.instance_id, sensor.zuora_conn_id) == ("400", "zuora_eu")
    assert sensor.hook.zuora_conn_id == "zuora_eu"


# ================================================================== real DAG runs against the emulator
