"""Test-only DAGs for the retry, clear and kill proofs under a real scheduler (tests/operators/).

Each takes the workflow to run from ``params.workflow_id`` and retries once, after 1 s.
- ``zuora_not_durable_dag``: ``durable=False``, waiting in the worker: every try its own run.
- ``zuora_deferred_dag``: the operator's wait deferred to the triggerer.
- ``zuora_run_then_sense_dag``: the operator without waiting, then the sensor on its instance id XCom.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag

from airflow_provider_zuora.operators.workflow import RunZuoraWorkflowOperator
from airflow_provider_zuora.sensors.workflow import ZuoraWorkflowInstanceSensor

COMMON = {
    "schedule": None,
    "start_date": pendulum.datetime(2026, 1, 1, tz="UTC"),
    "catchup": False,
    "params": {"workflow_id": Param(396, type=["integer", "string"])},
    "default_args": {"retries": 1, "retry_delay": timedelta(seconds=1)},
}
RUN = {"workflow_id": "{{ params.workflow_id }}", "parameters": {"accountId": "A-00001"}}


@dag(dag_id="zuora_not_durable_dag", **COMMON)  # type: ignore[arg-type]
def not_durable() -> None:
    RunZuoraWorkflowOperator(task_id="run", durable=False, wait_for_completion=True, poll_interval=0.5, **RUN)


@dag(dag_id="zuora_deferred_dag", **COMMON)  # type: ignore[arg-type]
def deferred() -> None:
    RunZuoraWorkflowOperator(
        task_id="run", wait_for_completion=True, deferrable=True, poll_interval=0.5, **RUN
    )


@dag(dag_id="zuora_run_then_sense_dag", **COMMON)  # type: ignore[arg-type]
def run_then_sense() -> None:
    run = RunZuoraWorkflowOperator(task_id="run", **RUN)
    ZuoraWorkflowInstanceSensor(task_id="wait", instance_id=run.output["instance_id"], poke_interval=0.5)


not_durable()
deferred()
run_then_sense()
