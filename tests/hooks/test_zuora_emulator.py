"""ZuoraHook against the emulator over real HTTP on 127.0.0.1: tokens, retries, replay, gzip, paging."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_provider_zuora.exceptions import ZuoraApiError, ZuoraAuthError, ZuoraTransportError
from airflow_provider_zuora.hooks._transport import MAX_CONCURRENT_REQUESTS, TOKENS
from airflow_provider_zuora.hooks.zuora import ZuoraHook

pytestmark = pytest.mark.integration
RUN = "/workflows/396/run"


@pytest.fixture(scope="module")
def module_emulator() -> Iterator[Any]:
    from airflow_provider_zuora.testing import ZuoraEmulator

    with ZuoraEmulator() as emu:
        yield emu


@pytest.fixture
def emu(module_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    module_emulator.backend.wait_idle()
    module_emulator.backend.reset()
    TOKENS.clear()
    for name, value in module_emulator.airflow_env().items():
        monkeypatch.setenv(name, value)
    return module_emulator


def hook(**kwargs: Any) -> ZuoraHook:
    kwargs.setdefault("retry_max_wait", 0.01)
    return ZuoraHook(**kwargs)


def test_one_token_serves_many_calls_and_hook_instances(emu: Any) -> None:
    first = hook().run_workflow(396, {"accountId": "A1"})
    for _ in range(5):
        h = hook()
        h.get_workflow_instance(first["id"])
        h.get_workflow(396)
    assert emu.backend.tokens_issued == 1


def test_expired_token_is_refreshed_once_and_the_call_retried(emu: Any) -> None:
    h = hook()
    run = h.run_workflow(396, {"accountId": "A1"})
    emu.backend.expire_tokens()
    state = h.get_workflow_instance(run["id"])
    assert state["id"] == run["id"]
    assert emu.backend.tokens_issued == 2
    statuses = [r.status for r in emu.backend.requests("GET", f"/workflows/workflow_runs/{run['id']}")]
    assert statuses == [401, 200]


def test_bad_credentials_fail_without_retry_or_leak(emu: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = json.loads(emu.airflow_conn_json())
    conn["password"] = "wrong-secret-value"
    monkeypatch.setenv("AIRFLOW_CONN_ZUORA_DEFAULT", json.dumps(conn))
    with pytest.raises(ZuoraAuthError) as err:
        hook(max_attempts=4).get_workflow(396)
    assert "zuora_default" in str(err.value)
    assert "wrong-secret-value" not in str(err.value)
    assert len(emu.backend.requests("POST", "/oauth/token")) == 1


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_keyed_run_is_retried_through_faults_and_creates_one_instance(emu: Any, status: int) -> None:
    emu.backend.inject_fault(method="POST", path=RUN, status=status, count=2, retry_after=0)
    run = hook(max_attempts=3).run_workflow(396, {"accountId": "A1"}, idempotency_key="key-1")
    assert emu.backend.instance_count(396) == 1
    assert [r.status for r in emu.backend.requests("POST", RUN)] == [status, status, 200]
    assert run["originalWorkflowId"] == 396


def test_unkeyed_run_is_never_retried(emu: Any) -> None:
    emu.backend.inject_fault(method="POST", path=RUN, status=503, count=1)
    with pytest.raises(ZuoraApiError) as err:
        hook(max_attempts=5).run_workflow(396, {"accountId": "A1"})
    assert err.value.status_code == 503 and err.value.retryable
    assert len(emu.backend.requests("POST", RUN)) == 1
    assert emu.backend.instance_count(396) == 0


def test_lost_answer_is_replayed_under_the_same_key(emu: Any) -> None:
    # Zuora runs the workflow, then the connection drops before the answer arrives.
    emu.backend.inject_fault(method="POST", path=RUN, drop=True, when="after", count=1)
    run = hook(max_attempts=3).run_workflow(396, {"accountId": "A1"}, idempotency_key="key-2")
    assert emu.backend.instance_count(396) == 1
    again = hook().run_workflow(396, {"accountId": "A1"}, idempotency_key="key-2")
    assert again["id"] == run["id"]
    assert emu.backend.instance_count(396) == 1


def test_dropped_connections_exhaust_into_a_transport_error(emu: Any) -> None:
    emu.backend.inject_fault(method="GET", path="/workflows/396", drop=True, count=3)
    with pytest.raises(ZuoraTransportError):
        hook(max_attempts=3).get_workflow(396)
    assert len(emu.backend.requests("GET", "/workflows/396")) >= 3


def test_permanent_errors_are_not_retried(emu: Any) -> None:
    with pytest.raises(ZuoraApiError) as err:
        hook(max_attempts=5).run_workflow(399, {}, idempotency_key="key-3")  # callout disabled: 400
    assert err.value.status_code == 400 and not err.value.retryable
    assert "allout" in err.value.message
    assert err.value.request_id
    assert len(emu.backend.requests("POST", "/workflows/399/run")) == 1


def test_track_id_round_trip(emu: Any) -> None:
    with pytest.raises(ZuoraApiError) as err:
        hook().run_workflow(399, {}, track_id="dag.task.run.1")
    assert err.value.track_id == "dag.task.run.1"


def test_large_parameters_are_sent_gzip_compressed(emu: Any) -> None:
    params = {"accountId": "A1", "note": "x" * 5000}
    run = hook().run_workflow(396, params)
    (req,) = emu.backend.requests("POST", RUN)
    assert req.headers.get("content-encoding") == "gzip"
    assert emu.backend.get_instance(run["id"])["parameters"] == params


def test_large_answers_come_back_gzip_and_every_task_page_is_read(emu: Any) -> None:
    h = hook()
    run = h.run_workflow(402, {"batchId": "B1"})
    emu.backend.advance_clock(30)  # the run is over (well within the token's hour)
    tasks = h.get_workflow_instance_tasks(run["id"])
    assert len(tasks) == 300 and len({t["id"] for t in tasks}) == 300
    assert [t["status"] for t in tasks].count("Error") == 1
    pages = emu.backend.requests("GET", "/workflows/tasks")
    assert len(pages) == 3
    assert all(r.headers.get("accept-encoding") == "gzip" for r in pages)
    # What the hook's session got on the wire: a gzip body it decoded.
    raw = requests.get(
        f"{emu.base_url}/workflows/tasks",
        params={"workflow_id": run["id"], "instance": "true", "page": 1, "page_length": 100},
        headers={"Authorization": f"Bearer {TOKENS.peek(h.config.token_key)}", "Accept-Encoding": "gzip"},
        stream=True,
        timeout=10,
    )
    assert raw.headers["Content-Encoding"] == "gzip"
    assert len(json.loads(gzip.decompress(raw.raw.read()))["data"]) == 100


async def test_async_large_answers_come_back_gzip_and_every_task_page_is_read(emu: Any) -> None:
    """The triggers' client (httpcore lanes) decodes the emulator's gzip pages as requests does."""
    run = hook().run_workflow(402, {"batchId": "B1"})
    emu.backend.advance_clock(30)
    h = hook()
    try:
        tasks = await h.aget_workflow_instance_tasks(run["id"])
        state = await h.aget_workflow_instance(run["id"])
    finally:
        await h.aclose()
    assert len(tasks) == 300 and len({t["id"] for t in tasks}) == 300
    assert [t["status"] for t in tasks].count("Error") == 1
    assert state["status"] == "Finished" and state["tasks"]["error"] == 1
    pages = emu.backend.requests("GET", "/workflows/tasks")
    assert len(pages) == 3 and all(r.headers.get("accept-encoding") == "gzip" for r in pages)


def test_stop_goes_stopping_then_stopped(emu: Any) -> None:
    h = hook()
    run = h.run_workflow(404, {})
    assert h.stop_workflow_instance(run["id"]) == {"success": True}
    assert h.get_workflow_instance(run["id"])["status"] in {"Stopping", "Stopped"}
    emu.backend.advance_clock(60)
    assert h.get_workflow_instance(run["id"])["status"] == "Stopped"


def test_test_connection_reports_success_and_failure(emu: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ok, message = hook().test_connection()
    assert ok and emu.base_url in message
    conn = json.loads(emu.airflow_conn_json())
    conn["password"] = "nope-nope"
    monkeypatch.setenv("AIRFLOW_CONN_ZUORA_DEFAULT", json.dumps(conn))
    TOKENS.clear()
    ok, message = hook().test_connection()
    assert not ok and "nope-nope" not in message and "Client Secret" in message


def test_concurrent_async_polls_share_one_token_and_one_pool_within_zuoras_limit(emu: Any) -> None:
    run = hook().run_workflow(396, {"accountId": "A1"})
    TOKENS.clear()
    emu.backend.configure(concurrency_limit=MAX_CONCURRENT_REQUESTS)  # one more in flight: a 429
    path = f"/workflows/workflow_runs/{run['id']}"
    emu.backend.inject_fault("GET", path, delay=0.05, when="during", count=None)  # answers overlap

    async def main() -> list[dict[str, Any]]:
        hooks = [hook() for _ in range(200)]
        states = await asyncio.gather(*(h.aget_workflow_instance(run["id"]) for h in hooks))
        clients = {id(h._aclient) for h in hooks}
        assert len(clients) == 1
        await asyncio.gather(*(h.aclose() for h in hooks))
        return list(states)

    states = asyncio.run(main())
    assert {s["id"] for s in states} == {run["id"]}
    assert emu.backend.tokens_issued == 2  # the sync run's token, then one for all 200 async hooks
    polls = emu.backend.requests("GET", path)
    assert len(polls) == 200 and {r.status for r in polls} == {200}  # none refused, none retried
