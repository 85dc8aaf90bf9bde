"""The example DAG under a real Airflow: api-server, dag-processor, scheduler, triggerer.

No ``dag.test()`` here: the dag-processor parses ``example_dags/``, the scheduler runs the tasks
through the LocalExecutor (each in a supervised process of its own), and the deferrable sensor's
wait runs in ``airflow triggerer``, which hands the event back to a resumed worker. The emulator
runs in this process; everything else talks to it over loopback.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import REPO
from tests.stack.airflow_stack import AirflowStack, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.dag, pytest.mark.stack]
DAG_ID = "example_zuora_workflow"
LONG = 3960


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from airflow_provider_zuora.testing import ZuoraEmulator

    with ZuoraEmulator() as emu:
        # the sample workflow, but running 20 s: long enough that the sensor finds it running and defers
        emu.backend.add_workflow(
            dataclasses.replace(emu.backend.get_workflow(396), id=LONG, processing_seconds=20)
        )
        env = {**emu.airflow_env(), "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags")}
        stack = AirflowStack(tmp_path_factory.mktemp("real-airflow"), env)
        stack.start()
        try:
            stack.start_component("dag-processor")
            for component in ("scheduler", "triggerer"):  # no log server: it would listen beyond loopback
                stack.start_component(component, "--skip-serve-logs")
            deadline = time.monotonic() + 300

            def parsed() -> bool:
                return DAG_ID in {d["dag_id"] for d in stack.cli_json("dags", "list")}

            assert wait_for(deadline, parsed, every=2), stack.log("dag-processor")[-3000:]
            stack.cli("dags", "unpause", DAG_ID)
            stack.cli("dags", "trigger", DAG_ID, "--conf", json.dumps({"workflow_id": LONG}))

            def finished() -> dict[str, Any] | None:
                runs = stack.cli_json("dags", "list-runs", DAG_ID)
                return next((r for r in runs if r["state"] in {"success", "failed"}), None)

            run = wait_for(deadline, finished, every=2)
            assert run, stack.log("scheduler")[-3000:]
            tis = stack.cli_json("tasks", "states-for-dag-run", DAG_ID, run["run_id"])
            states = {t["task_id"]: t["state"] for t in tis}
            trigger_logs = sorted(stack.home.glob("logs/**/task_id=wait_for_workflow/*.trigger.*.log"))
            triggered = "\n".join(p.read_text() for p in trigger_logs)
            every_log = "\n".join(p.read_text(errors="replace") for p in stack.home.rglob("*.log"))
            yield {"run": run, "tis": states, "trigger_log": triggered, "emulator": emu.backend,
                   "every_log": every_log}  # fmt: skip
        finally:
            stack.stop()


def test_the_example_dag_succeeds_with_every_task(outcome: dict[str, Any]) -> None:
    assert outcome["run"]["state"] == "success", outcome["tis"]
    assert outcome["tis"] == dict.fromkeys(
        ["build_parameters", "run_workflow", "wait_for_workflow", "report"], "success"
    )


def test_the_workflow_ran_once_and_finished(outcome: dict[str, Any]) -> None:
    (instance,) = outcome["emulator"].instances
    assert outcome["emulator"].instance_count(LONG) == 1 and instance["status"] == "Finished"


def test_the_sensor_waited_in_the_triggerer(outcome: dict[str, Any]) -> None:
    """The trigger's own lines are in the log Airflow keeps for the deferred task's trigger."""
    log = outcome["trigger_log"]
    (instance,) = outcome["emulator"].instances
    assert f"Zuora workflow instance {instance['id']}" in log and "is Processing" in log, log[-3000:]
    assert "finished (tasks: 3 of 3 done, 0 failed)" in log and "Trigger fired event" in log


def test_no_log_holds_the_client_secret(outcome: dict[str, Any]) -> None:
    secret = outcome["emulator"].config.client_secret
    assert "Zuora workflow instance" in outcome["every_log"]  # the task and trigger logs were read
    assert secret not in outcome["every_log"]
