"""ZuoraWorkflowInstanceSensor against a fake hook: poke, timeouts, deferral, resume (no HTTP).

The same sensor in real DAG runs against the emulator: tests/sensors/test_workflow_dags.py.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
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
from tests.test_waiting import FAILED_TASKS, FakeHook, state
from tests.versions import AIRFLOW_3_0


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
# dag.test() runs the tasks (and, for deferrable mode, the trigger) in this process. One pytest
# process for all of them: the first dag.test() pays ~8 s of set-up, later ones ~0.4 s.
DAG_FILE = Path(__file__).resolve().parents[1] / "dags" / "zuora_sensor_dags.py"
MODES = ["poke", "reschedule", "deferrable"]


# Airflow 3.0's dag.test() hands a rescheduled sensor its first reschedule date as a string, and
# BaseSensorOperator's run-duration check after a poke that is not final fails on it (TypeError).
# Real runs decode the date. Strict where a second, non-final poke is certain (the sensor's own
# timeout on an hour-long run); not strict where the run may end before it (then it passes).
def modes_under_dag_test(*, strict: bool) -> list[Any]:
    return [
        pytest.param(
            mode,
            marks=pytest.mark.xfail(
                AIRFLOW_3_0 and mode == "reschedule",
                reason="Airflow 3.0's dag.test() gives a rescheduled sensor its first reschedule date as a "
                "string; BaseSensorOperator's run-duration check raises TypeError on it",
                strict=strict,
            ),
        )
        for mode in MODES
    ]


@pytest.fixture(scope="module")
def dag_emulator() -> Iterator[Any]:
    from airflow_provider_zuora.testing import ZuoraEmulator
    from tests.triggers.test_workflow import emulator_workflows

    with ZuoraEmulator(workflows=emulator_workflows()) as emu:
        yield emu


@pytest.fixture(scope="module")
def warm_dag_test(airflow_db: None) -> None:
    """The first dag.test() in a process spends seconds building the in-process API before its first
    task: pay it here, so an instance started by a test is still running when the sensor first looks."""
    from tests.conftest import load_dag

    assert str(load_dag(DAG_FILE.with_name("smoke_dag.py"), "smoke_dag").test().state) == "success"


@pytest.fixture
def dag_emu(warm_dag_test: None, dag_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    dag_emulator.backend.reset()
    monkeypatch.setenv("AIRFLOW_CONN_ZUORA_DEFAULT", dag_emulator.airflow_conn_json(max_attempts=1))
    return dag_emulator


def run_dag(dag_id: str, instance_id: str) -> tuple[str, dict[str, str], Any]:
    """dag.test() the DAG; returns the run's state, each task's state and the ``report`` task's XCom."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from tests.conftest import load_dag

    dr = load_dag(DAG_FILE, dag_id).test(run_conf={"instance_id": instance_id})
    with create_session() as session:
        states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances(session=session)}
        query = XComModel.get_many(run_id=dr.run_id, dag_ids=dag_id, task_ids="report", key="return_value")
        row = session.scalars(query).first()
        report = XComModel.deserialize_value(row) if row is not None else None
    return str(dr.state), states, report


def start_instance(emu: Any, workflow_id: int) -> str:
    """Start a run whose clock stands still until the sensor's first poll, so the first poll sees
    it Queued however long this Airflow takes to start the task (3.1's first dag.test(): ~8 s)."""
    import threading

    backend = emu.backend
    backend.freeze_clock()
    instance_id = str(backend.run_workflow(workflow_id, {})["id"])

    def unfreeze_after_first_poll() -> None:
        deadline = time.monotonic() + 120
        while not backend.requests("GET", f"/workflows/workflow_runs/{instance_id}"):
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        backend.unfreeze_clock()

    threading.Thread(target=unfreeze_after_first_poll, daemon=True).start()
    return instance_id


@pytest.mark.dag
@pytest.mark.integration
@pytest.mark.parametrize("mode", modes_under_dag_test(strict=False))
@pytest.mark.parametrize("workflow_id", [8101, 8102], ids=["success", "with-pending"])
def test_dag_sensor_succeeds_and_hands_the_state_downstream(
    dag_emu: Any,
    mode: str,
    workflow_id: int,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)  # dag.test()'s own lines go to logging, the task's to stdout
    instance_id = start_instance(dag_emu, workflow_id)
    state, tasks, report = run_dag(f"zuora_sensor_{mode}", instance_id)
    assert (state, tasks) == ("success", {"wait": "success", "report": "success"})
    assert report == f"{instance_id}:Finished"

    out = "".join(capfd.readouterr()) + caplog.text
    # It really waited: a status before the end was logged (how far the run got by the first poll
    # depends on how fast this Airflow starts the task).
    assert any(f"is {status}" in out for status in ("Queued", "Processing", "Pending"))
    if workflow_id == 8102:
        assert f"Zuora workflow instance {instance_id} (WF-8102-00000001) is Pending" in out
    assert ("Rescheduling task, marking task as UP_FOR_RESCHEDULE" in out) is (mode == "reschedule")
    assert ("[DAG TEST] running trigger in line" in out) is (mode == "deferrable")


@pytest.mark.dag
@pytest.mark.integration
@pytest.mark.parametrize("mode", MODES)
def test_dag_sensor_fails_on_task_errors(dag_emu: Any, mode: str, capfd: pytest.CaptureFixture[str]) -> None:
    instance_id = start_instance(dag_emu, 8103)
    state, tasks, _ = run_dag(f"zuora_sensor_{mode}", instance_id)
    assert (state, tasks["wait"], tasks["report"]) == ("failed", "failed", "upstream_failed")
    out = "".join(capfd.readouterr())
    # The task's own lines (the exception text is the unit tests' business: Airflow 3.0's dag.test()
    # does not always print a failed task's traceback).
    assert f"{instance_id} (WF-8103-00000001) finished with 1 failed task(s)" in out
    assert "Failed task Callout [Callout]: HTTP 500" in out


@pytest.mark.dag
@pytest.mark.integration
@pytest.mark.parametrize("mode", MODES)
def test_dag_sensor_fails_when_stopped_in_the_middle(dag_emu: Any, mode: str) -> None:
    import threading

    instance_id = start_instance(dag_emu, 8105)
    stopper = threading.Timer(2.0, dag_emu.backend.stop_workflow_run, args=[instance_id])
    stopper.start()
    try:
        state, tasks, _ = run_dag(f"zuora_sensor_{mode}", instance_id)
    finally:
        stopper.cancel()
    assert (state, tasks["wait"]) == ("failed", "failed")
    assert dag_emu.backend.get_instance(instance_id)["status"] == "Stopped"


@pytest.mark.dag
@pytest.mark.integration
@pytest.mark.parametrize("mode", modes_under_dag_test(strict=True))
def test_dag_sensor_timeout_stops_the_instance(dag_emu: Any, mode: str) -> None:
    instance_id = start_instance(dag_emu, 8105)
    state, tasks, _ = run_dag(f"zuora_sensor_{mode}_timeout", instance_id)
    assert (state, tasks["wait"]) == ("failed", "failed")
    assert dag_emu.backend.get_instance(instance_id)["status"] in ("Stopping", "Stopped")
    assert len(dag_emu.backend.requests(method="PUT", path="/workflows/workflow_runs/*/stop")) == 1


@pytest.mark.dag
@pytest.mark.integration
@pytest.mark.parametrize("mode", MODES)
def test_dag_sensor_fails_at_once_on_an_unknown_instance(dag_emu: Any, mode: str) -> None:
    state, tasks, _ = run_dag(f"zuora_sensor_{mode}", "999999")
    assert (state, tasks["wait"]) == ("failed", "failed")
    gets = dag_emu.backend.requests(method="GET", path="/workflows/workflow_runs/999999")
    assert [r.status for r in gets if r.status != 401] == [404]  # (a 401: a token from an earlier test)
