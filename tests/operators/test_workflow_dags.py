"""RunZuoraWorkflowOperator in real DAG runs (dag.test()) against the emulator over HTTP.

Sample workflows: 396 succeeds in ~2 s, 397 finishes with 2 failed tasks, 404 runs for 10 minutes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_zuora.links import ZuoraWorkflowInstanceLink
from tests.conftest import REPO, load_dag

pytestmark = [pytest.mark.dag, pytest.mark.integration]
DAG_FILE = REPO / "tests" / "dags" / "zuora_operator_dags.py"


@pytest.fixture(scope="module")
def module_emulator() -> Iterator[Any]:
    from airflow_provider_zuora.testing import ZuoraEmulator

    with ZuoraEmulator() as emu:
        yield emu


@pytest.fixture
def emu(airflow_db: None, module_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    module_emulator.backend.wait_idle()
    module_emulator.backend.reset()
    monkeypatch.setenv("AIRFLOW_CONN_ZUORA_DEFAULT", module_emulator.airflow_conn_json(max_attempts=2))
    return module_emulator


def run_dag(dag_id: str, workflow_id: int) -> tuple[str, dict[str, Any], dict[tuple[str, str], Any]]:
    """dag.test() one DAG; returns the run state, {task_id: (state, try_number)} and every XCom."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    dr = load_dag(DAG_FILE, dag_id).test(run_conf={"workflow_id": workflow_id})
    with create_session() as session:
        tis = {ti.task_id: (str(ti.state), ti.try_number) for ti in dr.get_task_instances(session=session)}
        rows = session.scalars(XComModel.get_many(run_id=dr.run_id, dag_ids=dag_id)).all()
        xcoms = {(r.task_id, r.key): XComModel.deserialize_value(r) for r in rows}
    return str(dr.state), tis, xcoms


def run_bodies(emu: Any) -> list[Any]:
    return [inst["parameters"] for inst in emu.backend.instances]


@pytest.mark.parametrize(
    ("dag_id", "expected"),
    [
        ("zuora_op_xcom_whole", {"accountId": "A-100", "paymentId": "P-7"}),
        ("zuora_op_xcom_values", {"accountId": "A-200", "paymentId": "P-7"}),
        ("zuora_op_jinja_string", {"accountId": "A-100", "paymentId": "P-7"}),
        ("zuora_op_jinja_native", {"accountId": "A-100", "paymentId": "P-7"}),
    ],
)
def test_parameters_reach_zuora_from_xcom(emu: Any, dag_id: str, expected: dict[str, Any]) -> None:
    state, tis, xcoms = run_dag(dag_id, 396)
    assert state == "success", tis
    assert run_bodies(emu) == [expected]
    (instance,) = emu.backend.instances
    assert xcoms[("run", "instance_id")] == instance["id"]
    assert xcoms[("run", "return_value")]["id"] == instance["id"]
    assert xcoms[("run", "return_value")]["status"] in {"Queued", "Processing"}
    link = xcoms[("run", ZuoraWorkflowInstanceLink().xcom_key)]  # the operator extra link's URL
    assert link == f"{emu.base_url}/workflows/instances/{instance['id']}"


def test_reserved_key_after_rendering_fails_once_without_a_request(emu: Any) -> None:
    state, tis, _ = run_dag("zuora_op_reserved_after_render", 396)
    assert state == "failed"
    assert tis["run"] == ("failed", 1)  # retries=3 but AirflowFailException: no retry
    assert emu.backend.requests(path="/workflows/396/run") == []


def test_wait_returns_the_final_state(emu: Any) -> None:
    state, tis, xcoms = run_dag("zuora_op_wait", 396)
    assert state == "success", tis
    (instance,) = emu.backend.instances
    assert xcoms[("report", "return_value")] == f"{instance['id']}:Finished:3"


def test_wait_fails_on_task_errors_and_logs_each_failed_task(
    emu: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    state, tis, xcoms = run_dag("zuora_op_wait", 397)
    assert (state, tis["run"][0], tis["report"][0]) == ("failed", "failed", "upstream_failed")
    # Pushed before waiting: the failed task still links to its run in Zuora.
    last = emu.backend.instances[-1]
    assert xcoms[("run", "instance_id")] == last["id"]
    assert xcoms[("run", ZuoraWorkflowInstanceLink().xcom_key)].endswith(f"/workflows/instances/{last['id']}")
    out = "".join(capfd.readouterr())
    assert "finished with 2 failed task(s)" in out
    assert "Payment gateway declined the charge" in out
    assert "card_declined" in out  # error details reach the log


def test_deferrable_wait_runs_the_trigger_and_returns_the_final_state(emu: Any) -> None:
    state, tis, xcoms = run_dag("zuora_op_wait_deferrable", 396)
    assert state == "success", tis
    (instance,) = emu.backend.instances
    assert xcoms[("report", "return_value")] == f"{instance['id']}:Finished:3"


@pytest.mark.parametrize("dag_id", ["zuora_op_wait_timeout", "zuora_op_wait_deferrable_timeout"])
def test_timeout_stops_the_instance_then_fails(emu: Any, dag_id: str) -> None:
    state, tis, _ = run_dag(dag_id, 404)
    assert (state, tis["run"][0]) == ("failed", "failed")
    (instance,) = emu.backend.instances
    assert instance["status"] in {"Stopping", "Stopped"}
    assert emu.backend.requests(method="PUT", path=f"/workflows/workflow_runs/{instance['id']}/stop")
