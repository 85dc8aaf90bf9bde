"""Test-only DAGs for RunZuoraWorkflowOperator (see tests/operators/test_workflow_dags.py).

Each DAG feeds ``parameters`` a different way (a whole XComArg, XComArgs inside the dict, Jinja
with and without native rendering) or waits a different way. The workflow id comes from the
run's conf (``workflow_id``); the connection from ``AIRFLOW_CONN_ZUORA_DEFAULT`` (the emulator).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag, task

from airflow_provider_zuora.operators.workflow import RunZuoraWorkflowOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")
WF = "{{ dag_run.conf['workflow_id'] }}"
PULL = "{{ ti.xcom_pull(task_ids='build') }}"


@task
def build() -> dict[str, Any]:
    return {"accountId": "A-100", "paymentId": "P-7"}


@task
def get_account() -> str:
    return "A-200"


@task
def build_reserved() -> dict[str, Any]:
    return {"accountId": "A-1", "id": 5}


@dag(dag_id="zuora_op_xcom_whole", schedule=None, start_date=START)
def xcom_whole() -> None:
    RunZuoraWorkflowOperator(task_id="run", workflow_id=WF, parameters=build())


@dag(dag_id="zuora_op_xcom_values", schedule=None, start_date=START)
def xcom_values() -> None:
    (
        RunZuoraWorkflowOperator(
            task_id="run",
            workflow_id=WF,
            parameters={
                "accountId": get_account(),
                "paymentId": "{{ ti.xcom_pull(task_ids='build')['paymentId'] }}",
            },
        )
        << build()
    )


@dag(dag_id="zuora_op_jinja_string", schedule=None, start_date=START)
def jinja_string() -> None:
    build() >> RunZuoraWorkflowOperator(task_id="run", workflow_id=WF, parameters=PULL)


@dag(dag_id="zuora_op_jinja_native", schedule=None, start_date=START, render_template_as_native_obj=True)
def jinja_native() -> None:
    build() >> RunZuoraWorkflowOperator(task_id="run", workflow_id=WF, parameters=PULL)


@dag(dag_id="zuora_op_reserved_after_render", schedule=None, start_date=START)
def reserved_after_render() -> None:
    RunZuoraWorkflowOperator(
        task_id="run",
        workflow_id=WF,
        parameters=build_reserved(),
        retries=3,
        retry_delay=timedelta(seconds=0),
    )


def _wait_dag(dag_id: str, **kwargs: Any) -> None:
    @dag(dag_id=dag_id, schedule=None, start_date=START)
    def waiting() -> None:
        run = RunZuoraWorkflowOperator(
            task_id="run",
            workflow_id=WF,
            parameters={"accountId": "A-300"},
            wait_for_completion=True,
            poll_interval=0.2,
            **kwargs,
        )

        @task
        def report(state: dict[str, Any], instance_id: Any) -> str:
            return f"{instance_id}:{state['status']}:{state['tasks']['total']}"

        report(run.output, run.output["instance_id"])

    waiting()


_wait_dag("zuora_op_wait")
_wait_dag("zuora_op_wait_deferrable", deferrable=True)
_wait_dag("zuora_op_wait_timeout", timeout=1.0)
_wait_dag("zuora_op_wait_deferrable_timeout", timeout=1.0, deferrable=True)
xcom_whole()
xcom_values()
jinja_string()
jinja_native()
reserved_after_render()
