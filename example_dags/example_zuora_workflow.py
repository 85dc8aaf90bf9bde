"""Run a Zuora workflow with parameters from an upstream task, wait for it, use its result.

build_parameters (@task) -> run_workflow (RunZuoraWorkflowOperator, parameters from XCom)
-> wait_for_workflow (ZuoraWorkflowInstanceSensor, deferrable) -> report (@task).

The workflow id comes from the DAG param ``workflow_id`` (trigger with a conf to change it);
the connection is ``zuora_default``. ``make demo`` runs this DAG against the bundled emulator.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_zuora.operators.workflow import RunZuoraWorkflowOperator
from airflow_provider_zuora.sensors.workflow import ZuoraWorkflowInstanceSensor


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["zuora", "example"],
    params={"workflow_id": Param(396, type=["integer", "string"], description="Zuora workflow to run")},
    doc_md=__doc__,
)
def example_zuora_workflow() -> None:
    @task
    def build_parameters(ds: str | None = None) -> dict[str, Any]:
        """Whatever upstream work decides what Zuora should do: here, an account and a payment."""
        return {"accountId": "8a90a1b2c3d4e5f60123456789abcdef", "paymentId": f"P-{ds or 'today'}"}

    run = RunZuoraWorkflowOperator(
        task_id="run_workflow",
        workflow_id="{{ params.workflow_id }}",
        parameters=build_parameters(),  # an XComArg: the dict the task returned
    )

    wait = ZuoraWorkflowInstanceSensor(
        task_id="wait_for_workflow",
        instance_id=run.output["instance_id"],  # the XCom *key* the operator pushes
        deferrable=True,
        poke_interval=2,
        timeout=600,
    )

    @task
    def report(state: dict[str, Any]) -> str:
        """Use the final instance state: here, a one-line summary."""
        tasks = state.get("tasks") or {}
        summary = (
            f"{state.get('name')} (instance {state.get('id')}) {state.get('status')}: "
            f"{tasks.get('success', 0)}/{tasks.get('total', 0)} tasks succeeded"
        )
        print(summary)  # noqa: T201 - the task log shows it
        return summary

    report(wait.output)


example_zuora_workflow()
