"""The async ZuoraHook (the a* methods) as a triggerer uses it: non-blocking set-up, one token, one
client pool, retries and refresh as driven, ids, cleanup."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import airflow.sdk.log as sdk_log
import httpcore
import httpx
import pytest

from airflow_provider_zuora._compat import BaseHook
from airflow_provider_zuora.exceptions import (
    ZuoraApiError,
    ZuoraAuthError,
    ZuoraConfigError,
    ZuoraTransportError,
)
from airflow_provider_zuora.hooks.zuora import CONNECT_TIMEOUT, ZuoraHook
from tests.hooks._mocked import INSTANCE, Handler, conn, hook, serve_async  # noqa: F401 - conn is an autouse fixture

SECRET = "client-secret-value"  # the conn fixture's


def zuora(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/oauth/token":
        return httpx.Response(200, json={"access_token": "async-token-1", "expires_in": 3599})
    return httpx.Response(200, json=INSTANCE)


async def test_setup_never_blocks_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a triggerer the sync lookup and masker talk to the supervisor through ``async_to_sync``,
    which refuses the event loop's own thread: the hook uses the async ones (3.3) or runs the sync
    ones in a worker thread (older Airflow). What Airflow's own ``aget_connection`` does inside is its own."""
    loop_thread = threading.get_ident()
    on_loop: list[str] = []
    masked: list[Any] = []
    real_get = BaseHook.get_connection

    def sync_mask(secret: Any, name: str | None = None) -> None:
        masked.append(secret)
        if threading.get_ident() == loop_thread and secret == "async-token-1":
            on_loop.append("mask_secret")

    async def amask(secret: Any, name: str | None = None) -> None:
        masked.append(secret)

    def get_connection(cls: Any, conn_id: str) -> Any:
        if threading.get_ident() == loop_thread:
            on_loop.append("get_connection")
        return real_get(conn_id)

    monkeypatch.setattr(sdk_log, "mask_secret", sync_mask)
    if hasattr(sdk_log, "amask_secret"):
        monkeypatch.setattr(sdk_log, "amask_secret", amask)
    monkeypatch.setattr(BaseHook, "get_connection", classmethod(get_connection))
    serve_async(monkeypatch, zuora)
    hook = ZuoraHook()
    assert await hook.aget_workflow_instance(400) == INSTANCE
    assert SECRET in masked and "async-token-1" in masked
    assert on_loop == []
    await hook.aclose()


async def test_the_token_call_is_a_form_and_api_calls_carry_the_bearer_headers_and_timeouts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = serve_async(monkeypatch, zuora)
    hook = ZuoraHook()
    await hook.aget_workflow_instance("400")
    token_req, get = seen
    assert "authorization" not in token_req.headers
    assert token_req.headers["content-type"] == "application/x-www-form-urlencoded"
    assert dict(httpx.QueryParams(token_req.content.decode())) == {
        "client_id": "client-id",
        "client_secret": SECRET,
        "grant_type": "client_credentials",
    }
    assert get.headers["authorization"] == "Bearer async-token-1"
    assert get.headers["accept-encoding"] == "gzip" and get.headers["zuora-entity-ids"] == "E-1"
    assert get.headers["user-agent"].startswith("airflow-provider-zuora/")
    for req in seen:
        timeout = req.extensions["timeout"]
        assert (timeout["connect"], timeout["read"]) == (CONNECT_TIMEOUT, 30)
    await hook.aclose()


async def test_a_thousand_triggers_with_wrong_credentials_make_one_token_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def refused(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.5)  # long enough for every hook to be waiting on this one fetch
        return httpx.Response(401, json={"message": "Authentication error"})

    seen = serve_async(monkeypatch, refused)
    hooks = [ZuoraHook() for _ in range(1000)]
    results = await asyncio.gather(*(h.aget_workflow_instance(400) for h in hooks), return_exceptions=True)
    assert len(seen) == 1
    assert all(isinstance(r, ZuoraAuthError) and "zuora_default" in str(r) for r in results)
    assert all(SECRET not in str(r) for r in results)
    await asyncio.gather(*(h.aclose() for h in hooks))


async def test_concurrent_hooks_share_one_token_and_one_client(monkeypatch: pytest.MonkeyPatch) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            await asyncio.sleep(0.01)  # the other hooks arrive while this fetch is in flight
        return zuora(request)

    seen = serve_async(monkeypatch, handler)
    hooks = [hook() for _ in range(200)]
    states = await asyncio.gather(*(h.aget_workflow_instance(400) for h in hooks))
    assert states == [INSTANCE] * 200
    assert [r.url.path for r in seen].count("/oauth/token") == 1
    assert {r.headers["authorization"] for r in seen if r.url.path != "/oauth/token"} == {
        "Bearer async-token-1"
    }
    assert len({id(h._aclient) for h in hooks}) == 1
    await ZuoraHook.aclose_shared_clients()


async def test_a_401_refreshes_the_token_once_and_is_not_looped(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = iter(["t1", "t2", "t3"])
    answers = iter([httpx.Response(401, json={"message": "Authentication error"})] * 2)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": next(tokens), "expires_in": 3599})
        return next(answers, httpx.Response(200, json=INSTANCE))

    seen = serve_async(monkeypatch, handler)
    hook = ZuoraHook(max_attempts=3, retry_max_wait=0)
    with pytest.raises(ZuoraApiError) as err:  # 401, new token, 401 again: not looped
        await hook.aget_workflow_instance(400)
    assert err.value.status_code == 401
    assert [r.url.path for r in seen].count("/oauth/token") == 2
    assert [r.headers.get("authorization") for r in seen if r.url.path != "/oauth/token"] == [
        "Bearer t1",
        "Bearer t2",
    ]
    await hook.aclose()


def test_a_hook_can_be_used_from_two_event_loops(monkeypatch: pytest.MonkeyPatch) -> None:
    serve_async(monkeypatch, zuora)
    hook = ZuoraHook()
    clients = []

    async def once() -> None:
        assert await hook.aget_workflow_instance(400) == INSTANCE
        clients.append(hook._aclient)

    asyncio.run(once())
    asyncio.run(once())  # the first loop's client cannot serve the second loop: a new one
    assert clients[0] is not clients[1]


async def test_shared_clients_can_be_closed_for_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    serve_async(monkeypatch, zuora)
    hooks = [ZuoraHook(), ZuoraHook()]
    for h in hooks:
        await h.aget_workflow_instance(400)
    client = hooks[0]._aclient
    assert client is not None and client is hooks[1]._aclient
    assert await ZuoraHook.aclose_shared_clients() == 1
    assert client.is_closed
    assert await hooks[0].aget_workflow_instance(400) == INSTANCE  # reopens on demand
    assert hooks[0]._aclient is not client
    await ZuoraHook.aclose_shared_clients()


async def test_a_trigger_cancelled_mid_token_fetch_leaves_the_others_working(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    arrived, gate = asyncio.Event(), asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            arrived.set()
            await gate.wait()
        return zuora(request)

    seen = serve_async(monkeypatch, handler)
    first = asyncio.ensure_future(ZuoraHook().aget_workflow_instance(400))
    await arrived.wait()  # the first hook's token request is in flight
    second = asyncio.ensure_future(ZuoraHook().aget_workflow_instance(400))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    assert await second == INSTANCE
    assert first.cancelled()
    assert [r.url.path for r in seen].count("/oauth/token") == 1
    await ZuoraHook.aclose_shared_clients()


# ---------------------------------------------------------------- the async twins, call by call
@pytest.fixture
async def closing() -> Any:
    """Close every shared client of the test's loop afterwards."""
    yield
    await ZuoraHook.aclose_shared_clients()


def token_then(answers: list[httpx.Response]) -> Handler:
    """Zuora issuing ``async-token-<n>`` and answering API calls from ``answers`` in order."""
    issued = iter(range(1, 100))
    queue = iter(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(
                200, json={"access_token": f"async-token-{next(issued)}", "expires_in": 3599}
            )
        return next(queue)

    return handler


def api_calls(seen: list[httpx.Request]) -> list[httpx.Request]:
    return [r for r in seen if r.url.path != "/oauth/token"]


async def test_async_tasks_follow_every_page(monkeypatch: pytest.MonkeyPatch, closing: None) -> None:
    pages = [
        {"data": [{"id": i} for i in range(100)], "pagination": {"next_page": "p2", "page": 1}},
        {"data": [{"id": i} for i in range(100, 200)], "pagination": {"next_page": "p3", "page": 2}},
        {"data": [{"id": i} for i in range(200, 250)], "pagination": {"next_page": None, "page": 3}},
    ]
    seen = serve_async(monkeypatch, token_then([httpx.Response(200, json=p) for p in pages]))
    tasks = await ZuoraHook().aget_workflow_instance_tasks(400)
    assert [t["id"] for t in tasks] == list(range(250))
    queries = [dict(r.url.params) for r in api_calls(seen)]
    assert queries == [
        {"workflow_id": "400", "instance": "true", "page": str(n), "page_length": "100"} for n in (1, 2, 3)
    ]
    assert {r.url.path for r in api_calls(seen)} == {"/workflows/tasks"}


async def test_async_stop_is_a_put_without_an_idempotency_key(
    monkeypatch: pytest.MonkeyPatch, closing: None
) -> None:
    seen = serve_async(monkeypatch, token_then([httpx.Response(200, json={"success": True})]))
    assert await ZuoraHook().astop_workflow_instance("400") == {"success": True}
    (stop,) = api_calls(seen)
    assert (stop.method, stop.url.path) == ("PUT", "/workflows/workflow_runs/400/stop")
    assert "idempotency-key" not in stop.headers and stop.headers["authorization"] == "Bearer async-token-1"


async def test_async_401_refreshes_once_then_succeeds(monkeypatch: pytest.MonkeyPatch, closing: None) -> None:
    answers = [
        httpx.Response(401, json={"message": "Authentication error"}),
        httpx.Response(200, json=INSTANCE),
    ]
    seen = serve_async(monkeypatch, token_then(answers))
    assert await ZuoraHook(retry_max_wait=0).aget_workflow_instance(400) == INSTANCE
    assert [r.url.path for r in seen].count("/oauth/token") == 2
    assert [r.headers["authorization"] for r in api_calls(seen)] == [
        "Bearer async-token-1",
        "Bearer async-token-2",
    ]


@pytest.mark.parametrize("status", [429, 503])  # which statuses are transient: tests/test_calls.py
async def test_async_transient_statuses_are_tried_max_attempts_times(
    monkeypatch: pytest.MonkeyPatch, closing: None, status: int
) -> None:
    seen = serve_async(monkeypatch, token_then([httpx.Response(status, json={"message": "busy"})] * 10))
    with pytest.raises(ZuoraApiError) as err:
        await ZuoraHook(max_attempts=3, retry_max_wait=0).aget_workflow_instance(400)
    assert (err.value.status_code, err.value.attempts, err.value.message) == (status, 3, "busy")
    assert len(api_calls(seen)) == 3


@pytest.mark.parametrize("status", [404, 409])  # which statuses are permanent: tests/test_calls.py
async def test_async_permanent_errors_are_not_retried_and_carry_message_and_ids(
    monkeypatch: pytest.MonkeyPatch, closing: None, status: int
) -> None:
    answer = httpx.Response(status, json={"errors": [{"title": "no"}]}, headers={"Zuora-Request-Id": "r-1"})
    seen = serve_async(monkeypatch, token_then([answer] * 5))
    with pytest.raises(ZuoraApiError) as err:
        await ZuoraHook(max_attempts=5, retry_max_wait=0).aget_workflow_instance(400)
    assert (err.value.status_code, err.value.message, err.value.request_id) == (status, "no", "r-1")
    assert len(api_calls(seen)) == 1


@pytest.mark.parametrize("exc", [httpcore.ConnectError("refused"), httpcore.ReadTimeout("slow")])
async def test_async_network_failures_are_retried_then_raised(
    monkeypatch: pytest.MonkeyPatch, closing: None, exc: Exception
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "async-token-1", "expires_in": 3599})
        raise exc

    seen = serve_async(monkeypatch, handler)
    with pytest.raises(ZuoraTransportError) as err:
        await ZuoraHook(max_attempts=3, retry_max_wait=0).aget_workflow_instance(400)
    assert err.value.attempts == 3 and type(err.value.__cause__) is type(exc)
    assert len(api_calls(seen)) == 3


@pytest.mark.parametrize("bad", [None, "", "None"])
async def test_async_bad_ids_are_refused_before_any_request(
    monkeypatch: pytest.MonkeyPatch, closing: None, bad: Any
) -> None:
    seen = serve_async(monkeypatch, zuora)
    hook = ZuoraHook()
    for call in (
        hook.aget_workflow_instance,
        hook.astop_workflow_instance,
        hook.aget_workflow_instance_tasks,
    ):
        with pytest.raises(ZuoraConfigError, match="instance_id"):
            await call(bad)
    assert seen == []


async def test_async_ids_in_answers_come_back_as_sent(monkeypatch: pytest.MonkeyPatch, closing: None) -> None:
    answer = {**INSTANCE, "id": "400", "originalWorkflowId": 396}
    serve_async(monkeypatch, token_then([httpx.Response(200, json=answer)]))
    got = await ZuoraHook().aget_workflow_instance(400)
    assert got == answer and got["id"] == "400" and got["originalWorkflowId"] == 396


async def test_async_release_closes_the_client_only_with_its_last_user(
    monkeypatch: pytest.MonkeyPatch, closing: None
) -> None:
    serve_async(monkeypatch, zuora)
    first, second = ZuoraHook(), ZuoraHook()
    await first.aget_workflow_instance(400)
    await second.aget_workflow_instance(400)
    client = first._aclient
    assert client is not None and client is second._aclient
    await first.aclose()
    await first.aclose()  # twice is harmless: it does not take the other hook's share
    assert not client.is_closed
    assert await second.aget_workflow_instance(400) == INSTANCE
    await second.aclose()
    assert client.is_closed
