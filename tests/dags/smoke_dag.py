from __future__ import annotations

import pendulum
from airflow.sdk import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False)
def smoke_dag():
    @task
    def hello() -> dict:
        return {"a": 1}

    hello()


smoke_dag()
