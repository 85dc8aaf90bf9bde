"""Test-only DAGs: the Zuora sensor in poke, reschedule and deferrable modes (see tests/sensors/).

The instance to wait for comes from the run's conf (``instance_id``), the connection from
``AIRFLOW_CONN_ZUORA_DEFAULT`` (the emulator). ``timeout`` may be set in the conf too.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from airflow_provider_zuora.sensors.workflow import ZuoraWorkflowInstanceSensor

MODES = {"poke": {}, "reschedule": {"mode": "reschedule"}, "deferrable": {"deferrable": True}}


def _sensor_dag(mode: str, timeout: float):
    @dag(
        dag_id=f"zuora_sensor_{mode}" + ("_timeout" if timeout < 60 else ""),
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1),
        catchup=False,
        tags=["zuora-test"],
    )
    def sensor_dag():
        wait = ZuoraWorkflowInstanceSensor(
            task_id="wait",
            instance_id="{{ dag_run.conf['instance_id'] }}",
            poke_interval=0.2,
            timeout=timeout,
            **MODES[mode],
        )

        @task
        def report(state: dict) -> str:
            """Proves the final state reached XCom: downstream gets it as the sensor's return value."""
            return f"{state['id']}:{state['status']}"

        report(wait.output)

    return sensor_dag()


for _mode in MODES:
    _sensor_dag(_mode, timeout=120)
    _sensor_dag(_mode, timeout=1.5)
