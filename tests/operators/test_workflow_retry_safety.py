"""Retry-safety under a real supervisor: SIGKILL the task process, let Airflow retry, count runs.

The DAG runs through ``dag.test(use_executor=True)``: the LocalExecutor's supervisor runs the
task in a process of its own against a real api-server (``tests/stack``), so a killed task is
noticed by Airflow and retried (retries=1) the way a crashed worker's would be. The emulator runs
in this process and counts the workflow runs it created.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import psutil
import pytest

from tests.stack.airflow_stack import AirflowStack, result_of

pytestmark = [pytest.mark.integration, pytest.mark.dag]
T = TypeVar("T")
DAG = ("zuora_retry_dag.py", "zuora_retry_dag")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStack]:
    s = AirflowStack(tmp_path_factory.mktemp("airflow-stack"))
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    from airflow_provider_zuora.testing import ZuoraEmulator

    with ZuoraEmulator() as emu:
        yield emu


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


def run_keys(emu: Any, workflow_id: int) -> list[str | None]:
    return [
        r.headers.get("idempotency-key")
        for r in emu.backend.requests("POST", f"/workflows/{workflow_id}/run")
    ]


def test_task_killed_after_the_run_call_reached_zuora_never_runs_twice(stack: AirflowStack, emu: Any) -> None:
    # Zuora creates the instance, then the answer is held: the worker dies before it records anything.
    emu.backend.inject_fault(method="POST", path="/workflows/396/run", when="after", delay=15)
    proc = stack.start_dag(*DAG, {"workflow_id": 396}, emu.airflow_env())
    wait_for(lambda: emu.backend.instance_count(396) == 1, 180, "the run call to reach the emulator")
    os.kill(wait_for(lambda: client_pid(emu.port), 10, "the task process"), signal.SIGKILL)

    result, out = result_of(proc)
    assert result["state"] == "success", out[-6000:]
    assert result["tis"]["run"] == {"state": "success", "try_number": 2}
    assert emu.backend.instance_count(396) == 1
    keys = run_keys(emu, 396)
    assert len(keys) == 2 and keys[0] == keys[1] and keys[0]  # the retry re-sent the key: Zuora replayed


def test_task_killed_while_waiting_reattaches_on_retry(stack: AirflowStack, emu: Any) -> None:
    # The first status poll hangs: by then the instance id is recorded; kill the worker there.
    emu.backend.inject_fault(method="GET", path="/workflows/workflow_runs/*", when="before", delay=15)
    proc = stack.start_dag(*DAG, {"workflow_id": 396}, emu.airflow_env())
    wait_for(lambda: emu.backend.requests("GET", "/workflows/workflow_runs/*"), 180, "the first poll")
    os.kill(wait_for(lambda: client_pid(emu.port), 10, "the task process"), signal.SIGKILL)

    result, out = result_of(proc)
    assert result["state"] == "success", out[-6000:]
    assert result["tis"]["run"] == {"state": "success", "try_number": 2}
    assert emu.backend.instance_count(396) == 1
    assert len(run_keys(emu, 396)) == 1  # the retry made no run call at all
    assert "Reattaching to Zuora workflow" in out


def test_retry_after_a_failed_instance_runs_exactly_once_more(stack: AirflowStack, emu: Any) -> None:
    proc = stack.start_dag(*DAG, {"workflow_id": 397}, emu.airflow_env())
    result, out = result_of(proc)
    assert result["state"] == "failed", out[-6000:]
    assert result["tis"]["run"] == {"state": "failed", "try_number": 2}
    assert emu.backend.instance_count(397) == 2
    keys = run_keys(emu, 397)
    assert len(keys) == 2 and keys[0] != keys[1]
