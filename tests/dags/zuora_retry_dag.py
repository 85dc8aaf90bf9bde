"""Test DAG: one RunZuoraWorkflowOperator that waits, with one retry, for the retry-safety tests."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag

from airflow_provider_zuora.operators.workflow import RunZuoraWorkflowOperator


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"workflow_id": Param(396, type=["integer", "string"])},
)
def zuora_retry_dag() -> None:
    RunZuoraWorkflowOperator(
        task_id="run",
        workflow_id="{{ params.workflow_id }}",
        parameters={"accountId": "A-00001"},
        wait_for_completion=True,
        poll_interval=0.5,
        timeout=120,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )


zuora_retry_dag()
