"""The example DAGs run end to end against the emulator (dag.test(): tasks and triggers in-process)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import REPO, load_dag

pytestmark = [pytest.mark.dag, pytest.mark.integration]


def _run(path: str, dag_id: str) -> tuple[str, dict[str, str]]:
    from airflow.utils.session import create_session

    dr = load_dag(REPO / "example_dags" / path, dag_id).test()
    with create_session() as session:
        tis = {
            f"{ti.task_id}[{ti.map_index}]": str(ti.state) for ti in dr.get_task_instances(session=session)
        }
    return str(dr.state), tis


def test_example_workflow_dag_runs_the_workflow_once_and_waits(airflow_db: None, zuora_emulator: Any) -> None:
    state, tis = _run("example_zuora_workflow.py", "example_zuora_workflow")
    assert state == "success", tis
    assert set(tis.values()) == {"success"}
    assert zuora_emulator.backend.instance_count(396) == 1
    (instance,) = zuora_emulator.backend.instances
    assert instance["status"] == "Finished"
    assert instance["parameters"]["accountId"] == "8a90a1b2c3d4e5f60123456789abcdef"


def test_example_mapped_dag_runs_one_workflow_per_parameter_set(
    airflow_db: None, zuora_emulator: Any
) -> None:
    state, tis = _run("example_zuora_mapped.py", "example_zuora_mapped")
    assert state == "success", tis
    assert sorted(k for k in tis if k.startswith("run_per_account")) == [
        "run_per_account[0]",
        "run_per_account[1]",
        "run_per_account[2]",
    ]
    backend = zuora_emulator.backend
    assert backend.instance_count(396) == 3
    assert sorted(i["parameters"]["accountId"] for i in backend.instances) == [
        "A-00001",
        "A-00002",
        "A-00003",
    ]
    answered = [r for r in backend.requests("POST", "/workflows/396/run") if r.status == 200]
    keys = [r.headers.get("idempotency-key") for r in answered]  # (a 401 before a token refresh is not)
    assert len(keys) == 3 and len(set(keys)) == 3 and all(keys)
