"""Run one Zuora workflow per parameter set, with dynamic task mapping.

Each mapped task instance gets its own idempotency key (kept in the task state store), so a
retry of instance 2 can never re-run instance 1's workflow, nor its own twice.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_zuora.operators.workflow import RunZuoraWorkflowOperator


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["zuora", "example"],
    params={"workflow_id": Param(396, type=["integer", "string"], description="Zuora workflow to run")},
    doc_md=__doc__,
)
def example_zuora_mapped() -> None:
    @task
    def accounts_to_bill() -> list[dict[str, Any]]:
        return [{"accountId": f"A-{n:05d}"} for n in range(1, 4)]

    RunZuoraWorkflowOperator.partial(
        task_id="run_per_account",
        workflow_id="{{ params.workflow_id }}",
        wait_for_completion=True,
        poll_interval=1,
        timeout=600,
    ).expand(parameters=accounts_to_bill())


example_zuora_mapped()
