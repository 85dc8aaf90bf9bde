"""Retry-safety under a real scheduler: SIGKILL the task process, let Airflow retry, count runs.

``tests/stack/scheduler.py`` runs api-server, dag-processor and scheduler (LocalExecutor) on
loopback; the DAG run is triggered through the REST API and each task runs in a supervised
process of its own, so a killed task is noticed by Airflow and retried (retries=1) the way a
crashed worker's would be. The emulator runs in this process and counts the workflow runs. The
same tests run on every Airflow version: with a task state store (3.3) and without (3.0 to 3.2).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import psutil
import pytest

from tests.stack.scheduler import SchedulerStack
from tests.versions import HAS_TASK_STATE_STORE

pytestmark = [pytest.mark.integration, pytest.mark.dag, pytest.mark.stack]
T = TypeVar("T")
DAG_ID = "zuora_retry_dag"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    from airflow_provider_zuora.testing import ZuoraEmulator

    with ZuoraEmulator() as emu:
        yield emu


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, emulator: Any) -> Iterator[SchedulerStack]:
    s = SchedulerStack(tmp_path_factory.mktemp("scheduler-stack"), emulator.airflow_env())
    s.start()
    try:
        s.wait_parsed(DAG_ID)
        yield s
    finally:
        s.stop()


@pytest.fixture
def emu(emulator: Any) -> Any:
    emulator.backend.wait_idle()
    emulator.backend.reset()
    return emulator


def wait_for(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def client_pid(port: int) -> int | None:
    """The process (not this one) holding an open connection to the emulator: the task process."""
    for conn in psutil.net_connections(kind="tcp"):
        ours = conn.pid == os.getpid()
        if conn.raddr and conn.raddr.port == port and conn.pid and not ours and conn.status == "ESTABLISHED":
            return int(conn.pid)
    return None


def kill_worker(task_pid: int) -> None:
    """What a worker's machine dying does: the task process and its supervisor go at once, and the
    scheduler finds the task by its missing heartbeat. (Killing the task process alone is not the
    same on every version: Airflow 3.0's supervisor then marks the task failed, never retried.)"""
    supervisor = psutil.Process(task_pid).parent()
    os.kill(task_pid, signal.SIGKILL)
    if supervisor is not None:
        os.kill(supervisor.pid, signal.SIGKILL)


def run_keys(emu: Any, workflow_id: int) -> list[str | None]:
    return [
        r.headers.get("idempotency-key")
        for r in emu.backend.requests("POST", f"/workflows/{workflow_id}/run")
    ]


def test_task_killed_after_the_run_call_reached_zuora_never_runs_twice(
    stack: SchedulerStack, emu: Any
) -> None:
    # Zuora creates the instance, then the answer is held: the worker dies before it reads it.
    emu.backend.inject_fault(method="POST", path="/workflows/396/run", when="after", delay=15)
    run_id = stack.trigger(DAG_ID, {"workflow_id": 396})
    wait_for(lambda: emu.backend.instance_count(396) == 1, 180, "the run call to reach the emulator")
    kill_worker(wait_for(lambda: client_pid(emu.port), 10, "the task process"))

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
