"""ZuoraWorkflowInstanceSensor in real DAG runs (dag.test()) against the emulator, in every mode.

The sensor's own logic against a fake hook: tests/sensors/test_workflow.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.versions import AIRFLOW_3_0

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
    from tests.helpers import emulator_workflows

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
