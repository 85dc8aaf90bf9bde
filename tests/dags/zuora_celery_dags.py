"""Test-only DAGs for the production topology (PostgreSQL, Celery, two triggerers; tests/operators/).

- ``zuora_mapped_deferred_dag``: 50 mapped runs of ``params.workflow_id``, each waiting deferred.
- ``zuora_worker_wait_dag``: one run waiting in its Celery worker, retried once after 1 s.
- ``zuora_load_dag``: 200 mapped runs, each waiting in its worker (the load test under 429s).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag

from airflow_provider_zuora.operators.workflow import RunZuoraWorkflowOperator

MAPPED = 50
LOAD = 200
COMMON = {
    "schedule": None,
    "start_date": pendulum.datetime(2026, 1, 1, tz="UTC"),
    "catchup": False,
    "params": {"workflow_id": Param(396, type=["integer", "string"])},
    "default_args": {"retries": 1, "retry_delay": timedelta(seconds=1)},
}


@dag(dag_id="zuora_mapped_deferred_dag", max_active_tasks=MAPPED, **COMMON)  # type: ignore[arg-type]
def mapped_deferred() -> None:
    RunZuoraWorkflowOperator.partial(
        task_id="run",
        workflow_id="{{ params.workflow_id }}",
        wait_for_completion=True,
        deferrable=True,
        poll_interval=2,
        timeout=900,
    ).expand(parameters=[{"accountId": f"A-{n:05d}"} for n in range(MAPPED)])


@dag(dag_id="zuora_worker_wait_dag", **COMMON)  # type: ignore[arg-type]
def worker_wait() -> None:
    RunZuoraWorkflowOperator(
        task_id="run",
        workflow_id="{{ params.workflow_id }}",
        parameters={"accountId": "A-00001"},
        wait_for_completion=True,
        poll_interval=1,
        timeout=900,
    )


@dag(dag_id="zuora_load_dag", max_active_tasks=LOAD, **COMMON)  # type: ignore[arg-type]
def load() -> None:
    RunZuoraWorkflowOperator.partial(
        task_id="run",
        workflow_id="{{ params.workflow_id }}",
        wait_for_completion=True,
        poll_interval=1,
        timeout=900,
    ).expand(parameters=[{"accountId": f"A-{n:05d}"} for n in range(LOAD)])


mapped_deferred()
worker_wait()
load()
