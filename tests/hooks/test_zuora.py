"""ZuoraHook over mocked HTTP: OAuth, token cache, headers, retries, paging, async twins."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import requests

from airflow_provider_zuora.exceptions import (
    ZuoraApiError,
    ZuoraAuthError,
    ZuoraConfigError,
    ZuoraTransportError,
)
from airflow_provider_zuora.hooks.zuora import CONNECT_TIMEOUT, ZuoraHook
from tests.hooks._mocked import (
    BASE,
    INSTANCE,
    RUN_URL,
    STATE_URL,
    TOKEN_URL,
    conn,  # noqa: F401 - an autouse fixture
    hook,
    serve_async,
    token_answer,
)


# ---------------------------------------------------------------- OAuth
def test_token_call_is_form_encoded_without_authorization_and_api_calls_carry_the_bearer(
    requests_mock: Any,
) -> None:
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.get(STATE_URL, json=INSTANCE)
    assert hook().get_workflow_instance(400) == INSTANCE
    token_req, api_req = requests_mock.request_history
    assert token_req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Authorization" not in token_req.headers
    assert parse_qs(token_req.text) == {
        "client_id": ["client-id"],
        "client_secret": ["client-secret-value"],
        "grant_type": ["client_credentials"],
    }
    assert api_req.headers["Authorization"] == "Bearer tok-1"


def test_another_client_id_gets_its_own_token(requests_mock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    requests_mock.post(TOKEN_URL, [token_answer(1), token_answer(2)])
    requests_mock.get(STATE_URL, json=INSTANCE)
    monkeypatch.setenv(
        "AIRFLOW_CONN_OTHER",
        json.dumps({"conn_type": "zuora", "host": BASE, "login": "other-id", "password": "other-secret"}),
    )
    hook().get_workflow_instance(400)
    ZuoraHook("other").get_workflow_instance(400)
    auths = [r.headers["Authorization"] for r in requests_mock.request_history if r.url == STATE_URL]
    assert auths == ["Bearer tok-1", "Bearer tok-2"]


def test_token_is_refreshed_shortly_before_it_expires(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, [token_answer(1, expires_in=0), token_answer(2)])
    requests_mock.get(STATE_URL, json=INSTANCE)
    h = hook()
    h.get_workflow_instance(400)
    h.get_workflow_instance(400)
    auths = [r.headers["Authorization"] for r in requests_mock.request_history if r.url == STATE_URL]
    assert auths == ["Bearer tok-1", "Bearer tok-2"]


def test_401_refreshes_once_and_retries_once(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, [token_answer(1), token_answer(2)])
    requests_mock.get(
        STATE_URL, [{"status_code": 401, "json": {"message": "Authentication error"}}, {"json": INSTANCE}]
    )
    assert hook().get_workflow_instance(400) == INSTANCE
    assert [r.url for r in requests_mock.request_history] == [TOKEN_URL, STATE_URL, TOKEN_URL, STATE_URL]


def test_a_second_401_is_raised_not_looped(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, [token_answer(1), token_answer(2)])
    requests_mock.get(STATE_URL, status_code=401, json={"message": "Authentication error"})
    with pytest.raises(ZuoraApiError) as err:
        hook(max_attempts=5).get_workflow_instance(400)
    assert err.value.status_code == 401
    assert requests_mock.call_count == 4


def test_bad_credentials_are_a_clear_unretried_error_naming_the_connection(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, status_code=401, json={"message": "Authentication error"})
    with pytest.raises(ZuoraAuthError) as err:
        hook(max_attempts=5).get_workflow_instance(400)
    assert requests_mock.call_count == 1
    assert "zuora_default" in str(err.value) and "Client Secret" in str(err.value)
    assert "client-secret-value" not in str(err.value)
    assert not err.value.retryable


def test_a_passing_401_from_the_token_endpoint_is_retried(requests_mock: Any) -> None:
    requests_mock.post(
        TOKEN_URL, [{"status_code": 401, "json": {"message": "Failed to get user info"}}, token_answer()]
    )
    requests_mock.get(STATE_URL, json=INSTANCE)
    assert hook(retry_max_wait=0).get_workflow_instance(400) == INSTANCE
    assert [r.url for r in requests_mock.request_history] == [TOKEN_URL, TOKEN_URL, STATE_URL]


# ---------------------------------------------------------------- session, timeouts, headers
def test_one_session_reused_and_timeouts_on_every_request(requests_mock: Any, mocker: Any) -> None:
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.get(STATE_URL, json=INSTANCE)
    spy = mocker.spy(requests.Session, "request")
    h = hook()
    h.get_workflow_instance(400)
    h.get_workflow_instance("400")
    assert len({id(c.args[0]) for c in spy.call_args_list}) == 1
    assert [c.kwargs["timeout"] for c in spy.call_args_list] == [(CONNECT_TIMEOUT, 30.0)] * 3


def test_headers_from_extras_and_per_call_overrides(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.post(RUN_URL, json=INSTANCE)
    requests_mock.get(STATE_URL, json=INSTANCE)
    h = hook()
    h.get_workflow_instance(400)
    h.run_workflow(396, {"a": 1}, entity_ids="E-9", org_ids="O-9", track_id="t.1", idempotency_key="k1")
    get, run = requests_mock.request_history[1:]
    assert (get.headers["Zuora-Entity-Ids"], get.headers["Zuora-Org-Ids"]) == ("E-1", "O-1,O-2")
    assert (run.headers["Zuora-Entity-Ids"], run.headers["Zuora-Org-Ids"]) == ("E-9", "O-9")
    assert run.headers["Zuora-Track-Id"] == "t.1" and run.headers["Idempotency-Key"] == "k1"
    assert "Idempotency-Key" not in get.headers
    for req in (get, run):
        assert req.headers["Accept-Encoding"] == "gzip"
        assert req.headers["User-Agent"].startswith("airflow-provider-zuora/")
    assert run.json() == {"a": 1}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"track_id": "x" * 65},
        {"track_id": "a:b"},
        {"idempotency_key": "k" * 256},
        {"parameters": {"id": 1}},
        {"parameters": {"amount": object()}},
    ],
)
def test_bad_input_is_refused_before_any_request(requests_mock: Any, kwargs: dict[str, Any]) -> None:
    params = kwargs.pop("parameters", {"a": 1})
    with pytest.raises(ZuoraConfigError):
        hook().run_workflow(396, params, **kwargs)
    assert requests_mock.call_count == 0


# ---------------------------------------------------------------- retries
@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried_up_to_max_attempts(requests_mock: Any, status: int) -> None:
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.get(STATE_URL, status_code=status, json={"reasons": [{"code": 1, "message": "busy"}]})
    with pytest.raises(ZuoraApiError) as err:
        hook(max_attempts=3).get_workflow_instance(400)
    assert err.value.status_code == status and "busy" in err.value.message
    assert sum(r.url == STATE_URL for r in requests_mock.request_history) == 3


def test_max_attempts_from_the_connection_extra(requests_mock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_ZUORA_DEFAULT",
        json.dumps(
            {"conn_type": "zuora", "host": BASE, "login": "i", "password": "s", "extra": {"max_attempts": 2}}
        ),
    )
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.get(STATE_URL, status_code=503)
    with pytest.raises(ZuoraApiError):
        hook().get_workflow_instance(400)
    assert sum(r.url == STATE_URL for r in requests_mock.request_history) == 2


def test_connection_errors_and_timeouts_are_retried(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.get(
        STATE_URL,
        [{"exc": requests.ConnectionError("refused")}, {"exc": requests.Timeout("slow")}, {"json": INSTANCE}],
    )
    assert hook(max_attempts=3).get_workflow_instance(400) == INSTANCE
    requests_mock.get(STATE_URL, exc=requests.ConnectionError("down"))
    with pytest.raises(ZuoraTransportError):
        hook(max_attempts=2).get_workflow_instance(400)


@pytest.mark.parametrize("status", [400, 403, 404, 406, 422])  # a keyed 409: tests/hooks/test_zuora_points.py
def test_other_4xx_are_never_retried(requests_mock: Any, status: int) -> None:
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.post(RUN_URL, status_code=status, json={"errors": [{"title": "no"}]})
    with pytest.raises(ZuoraApiError) as err:
        hook(max_attempts=5).run_workflow(396, {}, idempotency_key="k")
    assert err.value.status_code == status and not err.value.retryable
    assert sum(r.url == RUN_URL for r in requests_mock.request_history) == 1


def test_a_run_without_key_is_never_retried_with_a_key_always_the_same_key(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.post(RUN_URL, [{"status_code": 503}, {"status_code": 503}, {"json": INSTANCE}])
    with pytest.raises(ZuoraApiError):
        hook(max_attempts=5).run_workflow(396, {"a": 1})
    assert sum(r.url == RUN_URL for r in requests_mock.request_history) == 1
    assert hook(max_attempts=5).run_workflow(396, {"a": 1}, idempotency_key="same") == INSTANCE
    keys = [r.headers.get("Idempotency-Key") for r in requests_mock.request_history if r.url == RUN_URL]
    assert keys == [None, "same", "same"]


def test_retry_after_is_honoured_and_capped(requests_mock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("airflow_provider_zuora.hooks.zuora.time.sleep", slept.append)
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.get(
        STATE_URL,
        [
            {"status_code": 429, "headers": {"Retry-After": "3"}},
            {"status_code": 429, "headers": {"Retry-After": "600"}},
            {"json": INSTANCE},
        ],
    )
    assert hook(max_attempts=3, retry_max_wait=10).get_workflow_instance(400) == INSTANCE
    assert slept == [3, 10]


# ---------------------------------------------------------------- methods
def test_tasks_follow_every_page(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, **token_answer())
    pages = [
        {"json": {"data": [{"id": i} for i in range(100)], "pagination": {"next_page": "p2", "page": 1}}},
        {
            "json": {
                "data": [{"id": i} for i in range(100, 200)],
                "pagination": {"next_page": "p3", "page": 2},
            }
        },
        {
            "json": {
                "data": [{"id": i} for i in range(200, 250)],
                "pagination": {"next_page": None, "page": 3},
            }
        },
    ]
    requests_mock.get(f"{BASE}/workflows/tasks", pages)
    tasks = hook().get_workflow_instance_tasks("400")
    assert [t["id"] for t in tasks] == list(range(250))
    queries = [r.qs for r in requests_mock.request_history if "tasks" in r.url]
    assert [q["page"] for q in queries] == [["1"], ["2"], ["3"]]
    assert all(
        q["workflow_id"] == ["400"] and q["instance"] == ["true"] and q["page_length"] == ["100"]
        for q in queries
    )


def test_other_methods(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.put(f"{STATE_URL}/stop", json={"success": True})
    requests_mock.get(f"{BASE}/workflows/396", json={"id": 396, "name": "Sync", "status": "Active"})
    requests_mock.get(f"{BASE}/workflows", json={"data": [], "pagination": {}})
    h = hook()
    assert h.stop_workflow_instance(400) == {"success": True}
    assert h.get_workflow("396")["status"] == "Active"
    assert h.test_connection() == (True, f"Connected to Zuora at {BASE}: token issued, workflows readable")


def test_test_connection_failure_says_why_without_the_secret(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, status_code=401, json={"message": "Authentication error"})
    ok, message = hook().test_connection()
    assert not ok and "Client Secret" in message and "client-secret-value" not in message


# ---------------------------------------------------------------- async twins
async def test_async_methods_share_one_token_and_one_client(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/oauth/token":
            await asyncio.sleep(0.01)
            assert "authorization" not in request.headers
            return httpx.Response(200, json={"access_token": "atok", "expires_in": 3599})
        assert request.headers["authorization"] == "Bearer atok"
        if request.url.path.endswith("/stop"):
            return httpx.Response(200, json={"success": True})
        if request.url.path == "/workflows/tasks":
            page = int(request.url.params["page"])
            nxt = "more" if page < 2 else None
            return httpx.Response(200, json={"data": [{"page": page}], "pagination": {"next_page": nxt}})
        return httpx.Response(200, json=INSTANCE)

    serve_async(monkeypatch, handler)
    hooks = [hook() for _ in range(200)]
    states = await asyncio.gather(*(h.aget_workflow_instance(400) for h in hooks))
    assert all(s == INSTANCE for s in states)
    assert sum(r.url.path == "/oauth/token" for r in seen) == 1
    assert len({id(h._aclient) for h in hooks}) == 1
    assert await hooks[0].astop_workflow_instance(400) == {"success": True}
    assert await hooks[0].aget_workflow_instance_tasks(400) == [{"page": 1}, {"page": 2}]
    client = hooks[0]._aclient
    assert client is not None
    for h in hooks[:-1]:
        await h.aclose()
    assert not client.is_closed  # still used by the last hook
    await hooks[-1].aclose()
    assert client.is_closed


async def test_async_retries_and_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(
        [httpx.Response(503), httpx.Response(401, json={"message": "x"}), httpx.Response(200, json=INSTANCE)]
    )
    tokens = iter(["t1", "t2"])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": next(tokens), "expires_in": 3599})
        return next(answers)

    serve_async(monkeypatch, handler)

    async def no_sleep(_: float) -> None:
        return None

    monkeypatch.setattr(asyncio, "sleep", no_sleep)
    h = hook(max_attempts=3)
    assert await h.aget_workflow_instance(400) == INSTANCE
    await h.aclose()


async def test_async_bad_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    serve_async(monkeypatch, lambda r: httpx.Response(401, json={"message": "Authentication error"}))
    with pytest.raises(ZuoraAuthError, match="zuora_default"):
        await hook().aget_workflow_instance(400)


def test_a_token_endpoint_outage_costs_max_attempts_token_calls_not_their_square(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, status_code=503)
    with pytest.raises(ZuoraApiError) as err:
        hook(max_attempts=3).get_workflow_instance(400)
    assert err.value.status_code == 503
    assert requests_mock.call_count == 3
