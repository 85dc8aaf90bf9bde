"""The operator in production's topology: PostgreSQL, CeleryExecutor on Redis, 2 workers, 2 triggerers.

``tests/stack/production.py`` runs every Airflow component on loopback against the machine's
PostgreSQL and Redis. The emulator runs in this process with its clock frozen while a test kills a
component, so no Zuora run can end before Airflow has recovered: what is asserted is what Airflow
and the provider did, never a race. DAGs: ``tests/dags/zuora_celery_dags.py``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.stack.airflow_stack import client_pids, wait_for
from tests.stack.production import ProductionStack, require_services

pytestmark = [pytest.mark.integration, pytest.mark.stack, pytest.mark.production]
MAPPED_DAG, WORKER_DAG, LOAD_DAG = "zuora_mapped_deferred_dag", "zuora_worker_wait_dag", "zuora_load_dag"
MAPPED, LOAD = 50, 200
# Workflow 396 (Finished after about 2 s) under ids of their own, so each test counts its own runs.
WORKER_WORKFLOW, LOAD_WORKFLOW = 3962, 3963
POLL = "/workflows/workflow_runs/*"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    from airflow_provider_zuora.testing import ZuoraEmulator

    with ZuoraEmulator() as emu:
        backend = emu.backend
        for workflow_id in (WORKER_WORKFLOW, LOAD_WORKFLOW):
            backend.add_workflow(dataclasses.replace(backend.get_workflow(396), id=workflow_id))
        yield emu


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, emulator: Any) -> Iterator[ProductionStack]:
    require_services("the production topology")
    started = time.monotonic()
    s = ProductionStack(tmp_path_factory.mktemp("production-stack"), emulator.airflow_env())
    try:
        s.start()
        for dag_id in (MAPPED_DAG, WORKER_DAG, LOAD_DAG):
            s.wait_parsed(dag_id)
        print(f"\nproduction stack up in {time.monotonic() - started:.0f} s")  # noqa: T201 (-s: for the README)
        yield s
    finally:
        s.stop()


def polled_instances(emu: Any, after_seq: int) -> set[str]:
    """Ids of the instances whose status was asked for after request ``after_seq``."""
    return {r.path.rsplit("/", 1)[-1] for r in emu.backend.requests("GET", POLL) if r.seq > after_seq}


def test_fifty_deferred_waits_survive_a_killed_triggerer(stack: ProductionStack, emulator: Any) -> None:
    backend = emulator.backend
    backend.freeze_clock()  # every run stays Processing until the clock moves
    started = time.monotonic()
    run_id = stack.trigger(MAPPED_DAG, {"workflow_id": 396})

    def all_deferred() -> dict[str | None, int] | None:
        held = stack.triggers_by_triggerer()
        return held if sum(n for k, n in held.items() if k) == MAPPED else None

    held = wait_for(time.monotonic() + 400, all_deferred, every=1)
    assert held, f"not every task deferred: {stack.triggers_by_triggerer()}\n{stack.log('scheduler')[-3000:]}"
    deferred_after = time.monotonic() - started
    assert set(held) == {"triggerer-1", "triggerer-2"}, held  # the waits are spread over both
    assert backend.instance_count(396) == MAPPED
    # Every trigger has polled once: each triggerer holds a token by now.
    ids = {str(i["id"]) for i in backend.instances if i["originalWorkflowId"] == 396}
    assert wait_for(time.monotonic() + 60, lambda: polled_instances(emulator, 0) >= ids, every=1)

    victim = max(("triggerer-1", "triggerer-2"), key=lambda name: held[name])
    survivor = "triggerer-2" if victim == "triggerer-1" else "triggerer-1"
    tokens, seq = backend.tokens_issued, max(r.seq for r in backend.request_log)
    stack.kill(victim)

    adopted = wait_for(
        time.monotonic() + 90, lambda: stack.triggers_by_triggerer() == {survivor: MAPPED}, every=1
    )
    assert adopted, (
        f"{survivor} did not adopt: {stack.triggers_by_triggerer()}\n{stack.log(survivor)[-3000:]}"
    )
    # The survivor polls every wait, the adopted ones included, with at most one new token.
    assert wait_for(time.monotonic() + 60, lambda: polled_instances(emulator, seq) >= ids, every=1)
    assert backend.tokens_issued - tokens <= 1

    backend.advance_clock(3600)  # every run ends in success
    backend.unfreeze_clock()
    assert stack.wait_run(MAPPED_DAG, run_id, timeout=600) == "success"
    total = time.monotonic() - started
    tis = stack.task_instances(MAPPED_DAG, run_id)
    assert len(tis) == MAPPED
    assert {(t["state"], t["try_number"]) for t in tis} == {("success", 1)}  # nothing retried
    assert backend.instance_count(396) == MAPPED  # and nothing ran twice
    print(f"\n{MAPPED} mapped tasks deferred in {deferred_after:.0f} s {held}; DAG run done in {total:.0f} s")  # noqa: T201


def test_a_killed_worker_s_task_retries_on_the_other_worker_and_reattaches(
    stack: ProductionStack, emulator: Any
) -> None:
    backend = emulator.backend
    backend.freeze_clock()
    run_id = stack.trigger(WORKER_DAG, {"workflow_id": WORKER_WORKFLOW})
    assert wait_for(time.monotonic() + 180, lambda: backend.instance_count(WORKER_WORKFLOW) == 1, every=0.5)
    (instance,) = [str(i["id"]) for i in backend.instances if i["originalWorkflowId"] == WORKER_WORKFLOW]
    assert wait_for(time.monotonic() + 30, lambda: polled_instances(emulator, 0) >= {instance}, every=0.5)

    def polling_worker() -> str | None:
        """The worker whose process tree holds a process polling the emulator: the task's."""
        names = (stack.component_of(pid) for pid in client_pids(emulator.port))
        return next((n for n in names if n and n.startswith("worker-")), None)

    victim = wait_for(time.monotonic() + 30, polling_worker, every=0.2)
    assert victim, "no worker is running the task"
    survivor = "worker-2" if victim == "worker-1" else "worker-1"
    stack.kill(victim)

    # The scheduler finds the task by its missing heartbeat and queues try 2 for the other worker.
    assert wait_for(time.monotonic() + 180, lambda: polling_worker() == survivor, every=1), stack.tis(
        WORKER_DAG, run_id
    )
    assert stack.tis(WORKER_DAG, run_id)["run"]["try_number"] == 2
    reattached = wait_for(
        time.monotonic() + 30, lambda: "Reattaching" in stack.task_log(WORKER_DAG, run_id, "run", attempt=2)
    )
    assert reattached, stack.task_log(WORKER_DAG, run_id, "run")[-4000:]
    backend.advance_clock(3600)
    backend.unfreeze_clock()
    assert stack.wait_run(WORKER_DAG, run_id) == "success", stack.task_log(WORKER_DAG, run_id, "run")[-4000:]
    assert stack.tis(WORKER_DAG, run_id)["run"] == {"state": "success", "try_number": 2}
    assert backend.instance_count(WORKER_WORKFLOW) == 1


def test_two_hundred_mapped_runs_under_rate_limiting_all_succeed_once(
    stack: ProductionStack, emulator: Any
) -> None:
    backend = emulator.backend
    # 20 API requests per 5 s, below the 6 a second 8 busy worker slots ask for: 429s, Retry-After <= 5 s.
    backend.configure(rate_limit=20, rate_window=5)
    seq, started = max((r.seq for r in backend.request_log), default=0), time.monotonic()
    try:
        run_id = stack.trigger(LOAD_DAG, {"workflow_id": LOAD_WORKFLOW})
        state = stack.wait_run(LOAD_DAG, run_id, timeout=900)
    finally:
        backend.configure(rate_limit=None, rate_window=60)
    seconds = time.monotonic() - started
    tis = stack.task_instances(LOAD_DAG, run_id)
    assert state == "success" and len(tis) == LOAD
    assert {t["state"] for t in tis} == {"success"}
    assert backend.instance_count(LOAD_WORKFLOW) == LOAD  # exactly one run per task
    seen = [r for r in backend.request_log if r.seq > seq and r.path != "/oauth/token"]
    limited = [r for r in seen if r.status == 429]
    assert limited, "the rate limit never bit: the test proved nothing"
    retried_tasks = sum(t["try_number"] > 1 for t in tis)
    print(  # noqa: T201 (-s: the figures for the README)
        f"\n{LOAD} tasks in {seconds:.0f} s: {len(seen)} API requests, {len(limited)} answered 429 "
        f"(each retried by the hook after its Retry-After), {retried_tasks} task retries"
    )


def test_no_component_log_holds_the_secret_or_a_token(stack: ProductionStack, emulator: Any) -> None:
    secrets = [emulator.backend.config.client_secret, *emulator.backend._tokens]
    assert len(secrets) > 2  # the secret and the tokens issued to the components above
    logs = [p for p in Path(stack.home).rglob("*") if p.is_file()]
    assert any("triggerer" in p.name for p in logs) and any("worker" in p.name for p in logs)
    leaks = [
        (str(p.relative_to(stack.home)), s[:4] + "...")
        for p in logs
        for s in secrets
        if s in p.read_text(errors="replace")
    ]
    assert not leaks, leaks
