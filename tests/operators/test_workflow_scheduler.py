"""Retries, clears and kills under a real scheduler, counted in Zuora runs.

``tests/stack/scheduler.py`` runs api-server, dag-processor, scheduler (LocalExecutor) and a
triggerer on loopback. DAG runs are triggered and cleared through the REST API, as the UI's
buttons do; each task runs in a supervised process of its own, so a killed worker is noticed by
Airflow and retried (retries=1) the way a crashed one's would be. The emulator runs in this
process and counts the workflow runs. The same tests run on every Airflow version: with a task
state store (3.3) and without (3.0 to 3.2). DAGs: ``tests/dags/zuora_retry_dag.py`` and
``tests/dags/zuora_clear_dags.py``.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import psutil
import pytest

from airflow_provider_zuora._compat import has_trigger_on_kill
from tests.stack.airflow_stack import client_pid
from tests.stack.scheduler import SchedulerStack
from tests.versions import AIRFLOW_3_0, HAS_TASK_STATE_STORE

pytestmark = [pytest.mark.integration, pytest.mark.dag, pytest.mark.stack]
T = TypeVar("T")
DAG_ID = "zuora_retry_dag"
NOT_DURABLE, DEFERRED, RUN_THEN_SENSE = (
    "zuora_not_durable_dag",
    "zuora_deferred_dag",
    "zuora_run_then_sense_dag",
)
LONG = 3961  # workflow 396, but processing for 20 s: long enough to clear or kill it mid-run


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    from airflow_provider_zuora.testing import ZuoraEmulator

    with ZuoraEmulator() as emu:
        yield emu


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, emulator: Any) -> Iterator[SchedulerStack]:
    s = SchedulerStack(tmp_path_factory.mktemp("scheduler-stack"), emulator.airflow_env(), triggerer=True)
    s.start()
    try:
        for dag_id in (DAG_ID, NOT_DURABLE, DEFERRED, RUN_THEN_SENSE):
            s.wait_parsed(dag_id)
        yield s
    finally:
        s.stop()


@pytest.fixture
def emu(emulator: Any) -> Any:
    emulator.backend.wait_idle()
    emulator.backend.reset()
    backend = emulator.backend
    backend.add_workflow(dataclasses.replace(backend.get_workflow(396), id=LONG, processing_seconds=20))
    return emulator


def wait_for(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def kill_worker(task_pid: int) -> None:
    """What a worker's machine dying does: the task process and its supervisor go at once, and the
    scheduler finds the task by its missing heartbeat. (Killing the task process alone is not the
    same on every version: Airflow 3.0's supervisor then marks the task failed, never retried.)"""
    supervisor = psutil.Process(task_pid).parent()
    os.kill(task_pid, signal.SIGKILL)
    if supervisor is not None:
        os.kill(supervisor.pid, signal.SIGKILL)


def kill_after_the_run_call(stack: SchedulerStack, emu: Any, dag_id: str) -> str:
    """Run ``dag_id`` on workflow 396; Zuora creates the run, then holds its answer while the
    worker dies before reading it. The DAG run's id."""
    emu.backend.inject_fault(method="POST", path="/workflows/396/run", when="after", delay=15)
    run_id = stack.trigger(dag_id, {"workflow_id": 396})
    wait_for(lambda: emu.backend.instance_count(396) == 1, 180, "the run call to reach the emulator")
    kill_worker(wait_for(lambda: client_pid(emu.port), 10, "the task process"))
    return run_id


def run_keys(emu: Any, workflow_id: int) -> list[str | None]:
    return [
        r.headers.get("idempotency-key")
        for r in emu.backend.requests("POST", f"/workflows/{workflow_id}/run")
    ]


def test_task_killed_before_the_run_call_left_the_worker_runs_once(stack: SchedulerStack, emu: Any) -> None:
    # The token request hangs, so the run call has not been sent yet; the worker dies there.
    emu.backend.inject_fault(method="POST", path="/oauth/token", when="before", delay=15)
    run_id = stack.trigger(DAG_ID, {"workflow_id": 396})
    task_pid = wait_for(lambda: client_pid(emu.port), 180, "the task process")
    assert not emu.backend.requests("POST", "/workflows/396/run")
    kill_worker(task_pid)
    assert emu.backend.instance_count(396) == 0

    assert stack.wait_run(DAG_ID, run_id) == "success", stack.task_log(DAG_ID, run_id, "run")[-6000:]
    assert stack.tis(DAG_ID, run_id)["run"] == {"state": "success", "try_number": 2}
    assert emu.backend.instance_count(396) == 1


def test_task_killed_after_the_run_call_reached_zuora_never_runs_twice(
    stack: SchedulerStack, emu: Any
) -> None:
    run_id = kill_after_the_run_call(stack, emu, DAG_ID)

    assert stack.wait_run(DAG_ID, run_id) == "success", stack.task_log(DAG_ID, run_id, "run")[-6000:]
    assert stack.tis(DAG_ID, run_id)["run"] == {"state": "success", "try_number": 2}
    assert emu.backend.instance_count(396) == 1
    keys = run_keys(emu, 396)
    assert len(keys) == 2 and keys[0] == keys[1] and keys[0]  # the retry re-sent the key: Zuora replayed


def test_task_killed_while_waiting_reattaches_on_retry(stack: SchedulerStack, emu: Any) -> None:
    # The first status poll hangs: the run call's answer was read by then; kill the worker there.
    emu.backend.inject_fault(method="GET", path="/workflows/workflow_runs/*", when="before", delay=15)
    run_id = stack.trigger(DAG_ID, {"workflow_id": 396})
    wait_for(lambda: emu.backend.requests("GET", "/workflows/workflow_runs/*"), 180, "the first poll")
    kill_worker(wait_for(lambda: client_pid(emu.port), 10, "the task process"))

    assert stack.wait_run(DAG_ID, run_id) == "success"
    assert stack.tis(DAG_ID, run_id)["run"] == {"state": "success", "try_number": 2}
    assert emu.backend.instance_count(396) == 1
    assert "Reattaching to Zuora workflow" in stack.task_log(DAG_ID, run_id, "run")


def test_retry_after_a_failed_instance_runs_exactly_once_more(stack: SchedulerStack, emu: Any) -> None:
    run_id = stack.trigger(DAG_ID, {"workflow_id": 397})
    assert stack.wait_run(DAG_ID, run_id) == "failed"
    assert stack.tis(DAG_ID, run_id)["run"] == {"state": "failed", "try_number": 2}
    assert emu.backend.instance_count(397) == 2
    keys = run_keys(emu, 397)
    # Try 2 ran under a new key. Without a task state store (3.0 to 3.2) it first resent try 1's
    # key, so Zuora replayed the failed run and told it to move on: one more POST, no more runs.
    assert len(set(keys)) == 2 and keys[0] != keys[-1]
    assert len(keys) == (2 if HAS_TASK_STATE_STORE else 3)


def statuses(emu: Any, workflow_id: int) -> list[str]:
    return [i["status"] for i in emu.backend.instances if i["originalWorkflowId"] == workflow_id]


# ---------------------------------------------------------------- clears
def test_a_clear_after_success_starts_a_second_run_under_a_new_key(stack: SchedulerStack, emu: Any) -> None:
    run_id = stack.trigger(DAG_ID, {"workflow_id": 396})
    assert stack.wait_run(DAG_ID, run_id) == "success"
    first = emu.backend.instances[0]["id"]
    stack.clear(DAG_ID, run_id, ["run"])  # the UI's Clear on the task

    assert stack.wait_run(DAG_ID, run_id) == "success"
    assert stack.tis(DAG_ID, run_id)["run"] == {"state": "success", "try_number": 2}
    assert emu.backend.instance_count(396) == 2
    keys = run_keys(emu, 396)
    assert len(keys) == 2 and keys[0] != keys[1]  # no replay of the first run: a new key
    log = stack.task_log(DAG_ID, run_id, "run")
    if HAS_TASK_STATE_STORE:
        assert f"Cleared since instance {first} ran: starting a new run" in log
    else:
        assert "Try 2 is the first of a clear: starting a new run" in log


def test_clearing_the_run_while_the_workflow_runs_stops_it_and_runs_afresh(
    stack: SchedulerStack, emu: Any
) -> None:
    run_id = stack.trigger(DAG_ID, {"workflow_id": LONG})
    wait_for(lambda: statuses(emu, LONG) == ["Processing"], 180, "the workflow to be processing")
    stack.clear(DAG_ID, run_id)  # the whole DAG run, while its task waits in the worker

    # Airflow kills the running task; its on_kill stops the run in Zuora.
    wait_for(lambda: statuses(emu, LONG)[:1] == ["Stopped"], 60, "the first run to be stopped")
    log = stack.task_log(DAG_ID, run_id, "run", attempt=1)
    assert "Stopped Zuora workflow instance" in log and "the Airflow task was killed" in log
    if AIRFLOW_3_0:
        # Airflow 3.0 then leaves the task RESTARTING and never starts its next try (it fails it
        # when the worker's heartbeat times out): no second run, and the README says to clear again.
        time.sleep(10)
        assert statuses(emu, LONG) == ["Stopped"]
        assert stack.tis(DAG_ID, run_id)["run"]["state"] == "restarting"
        return
    assert stack.wait_run(DAG_ID, run_id) == "success"
    assert statuses(emu, LONG) == ["Stopped", "Finished"]  # the next try ran afresh


def polls(emu: Any, instance_id: int) -> int:
    return len(emu.backend.requests("GET", f"/workflows/workflow_runs/{instance_id}"))


@pytest.mark.parametrize("moment", ["while its trigger polls", "before the triggerer took it"])
def test_a_deferred_task_cleared_gets_a_fresh_run_and_the_old_one_is_stopped_from_3_3(
    stack: SchedulerStack, emu: Any, moment: str
) -> None:
    run_id = stack.trigger(DEFERRED, {"workflow_id": LONG})
    wait_for(lambda: stack.tis(DEFERRED, run_id)["run"]["state"] == "deferred", 180, "the task to defer")
    first = emu.backend.instances[0]["id"]
    if moment == "while its trigger polls":  # the operator's own check, then the trigger's polls
        wait_for(lambda: polls(emu, first) >= 3, 60, "the trigger to poll")
    stack.clear(DEFERRED, run_id, ["run"])

    assert stack.wait_run(DEFERRED, run_id) == "success"
    assert emu.backend.instance_count(LONG) == 2
    old, new = statuses(emu, LONG)
    assert new == "Finished"
    log = stack.task_log(DEFERRED, run_id, "run")
    if has_trigger_on_kill():
        # 3.3+: the triggerer calls on_kill() if it was running the trigger; else the clear's first
        # try finds the old run still going and stops it before starting the new one.
        assert old == "Stopped"
    else:  # below 3.3 nothing stops it (it goes on, and may have finished by now)
        assert old in {"Processing", "Finished"}
        if moment == "while its trigger polls":
            assert f"Stopped waiting on Zuora workflow instance {first}" in log


def test_a_sensor_downstream_of_a_cleared_operator_waits_on_the_new_run(
    stack: SchedulerStack, emu: Any
) -> None:
    run_id = stack.trigger(RUN_THEN_SENSE, {"workflow_id": 396})
    assert stack.wait_run(RUN_THEN_SENSE, run_id) == "success"
    stack.clear(RUN_THEN_SENSE, run_id, ["run"], include_downstream=True)

    assert stack.wait_run(RUN_THEN_SENSE, run_id) == "success"
    old, new = (i["id"] for i in emu.backend.instances)
    assert stack.tis(RUN_THEN_SENSE, run_id)["wait"]["try_number"] == 2
    sensed = stack.task_log(RUN_THEN_SENSE, run_id, "wait", attempt=2)
    assert f"Zuora workflow instance {new} " in sensed and f"instance {old} " not in sensed


# ---------------------------------------------------------------- durable=False
def test_durable_false_after_a_worker_crash_runs_again_and_says_so_up_front(
    stack: SchedulerStack, emu: Any
) -> None:
    run_id = kill_after_the_run_call(stack, emu, NOT_DURABLE)

    assert stack.wait_run(NOT_DURABLE, run_id) == "success"
    assert emu.backend.instance_count(396) == 2
    assert "durable=False: try 1 starts its own Zuora run" in stack.task_log(
        NOT_DURABLE, run_id, "run", attempt=1
    )
