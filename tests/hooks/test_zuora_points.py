"""ZuoraHook over mocked HTTP, issue 2 point by point (sync): base URL, OAuth, headers, retries, errors,
methods, parameters, ids, secrets."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import math
import pickle
import threading
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
import requests
from requests_mock import ANY

from airflow_provider_zuora import __version__, api, calls
from airflow_provider_zuora.environments import ENVIRONMENTS
from airflow_provider_zuora.exceptions import (
    ZuoraApiError,
    ZuoraAuthError,
    ZuoraConfigError,
    ZuoraTransportError,
)
from airflow_provider_zuora.hooks import _transport
from airflow_provider_zuora.hooks import zuora as zuora_module
from airflow_provider_zuora.hooks.zuora import CONNECT_TIMEOUT, ZuoraHook
from tests.hooks._mocked import BASE, INSTANCE, RUN_URL, STATE_URL, TOKEN_URL, conn, hook, token_answer  # noqa: F401 - conn is an autouse fixture

# ================================================================ issue 2, point by point (sync)
SECRET = "client-secret-value"  # the conn fixture's
AUTH_ERROR = {"status_code": 401, "json": {"message": "Authentication error"}}
TASKS_URL = f"{BASE}/workflows/tasks"


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str = "zuora_default", **fields: Any) -> None:
    """A connection as ``AIRFLOW_CONN_<ID>`` JSON; client id and secret filled in unless given."""
    doc = {"conn_type": "zuora", "login": "client-id", "password": SECRET, **fields}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(doc))


def calls_to(requests_mock: Any, url: str) -> list[Any]:
    return [r for r in requests_mock.request_history if r.url.split("?")[0] == url]


def serve_token_and_state(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.get(STATE_URL, json=INSTANCE)


# ---------------------------------------------------------------- 1. base URL
@pytest.mark.parametrize(
    ("fields", "base"),
    [
        ({"host": "https://rest.zuora.com/"}, "https://rest.zuora.com"),
        ({"host": "http://127.0.0.1", "port": 8080}, "http://127.0.0.1:8080"),
        ({"host": "http://localhost:8080"}, "http://localhost:8080"),
        ({"host": "http://[::1]:8080"}, "http://[::1]:8080"),
        ({"host": "https://copy.example.com:9443", "port": 8443}, "https://copy.example.com:9443"),
        ({"extra": {"environment": "EU API Sandbox"}}, "https://rest.sandbox.eu.zuora.com"),
        ({"extra": {"environment": "eu-api-sandbox"}}, "https://rest.sandbox.eu.zuora.com"),
        ({"extra": {"extra__zuora__environment": "APAC Production"}}, "https://rest.ap.zuora.com"),
    ],
)
def test_requests_go_to_the_base_url(
    requests_mock: Any, monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any], base: str
) -> None:
    set_conn(monkeypatch, **fields)
    requests_mock.post(f"{base}/oauth/token", **token_answer())
    requests_mock.get(f"{base}/workflows/workflow_runs/400", json=INSTANCE)
    assert hook().get_workflow_instance(400) == INSTANCE
    assert [r.url for r in requests_mock.request_history] == [
        f"{base}/oauth/token",
        f"{base}/workflows/workflow_runs/400",
    ]


@pytest.mark.parametrize(
    ("fields", "fragments"),
    [
        ({"host": "rest.zuora.com"}, ["needs a scheme", "https://rest.zuora.com"]),
        ({"host": "http://rest.zuora.com"}, ["http://", "cleartext", "use https://"]),
        ({"host": "http://192.168.1.10:8080"}, ["cleartext", "loopback"]),
        ({"extra": {"environment": "Mars"}}, ["unknown environment 'Mars'", *ENVIRONMENTS]),
        ({}, ["neither a REST endpoint (host) nor an environment"]),
        ({"host": BASE, "login": ""}, ["Client ID (login)"]),
        ({"host": BASE, "password": None}, ["Client Secret"]),
    ],
)
def test_connection_errors_name_the_connection_before_any_request(
    requests_mock: Any, monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any], fragments: list[str]
) -> None:
    set_conn(monkeypatch, "zuora_broken", **fields)
    with pytest.raises(ZuoraConfigError) as err:
        ZuoraHook("zuora_broken").get_workflow_instance(400)
    text = str(err.value)
    assert "'zuora_broken'" in text
    assert [f for f in fragments if f not in text] == []
    assert SECRET not in text and requests_mock.call_count == 0


def test_prefixed_extras_reach_the_wire(
    requests_mock: Any, monkeypatch: pytest.MonkeyPatch, mocker: Any
) -> None:
    set_conn(
        monkeypatch,
        host=BASE,
        extra={
            "extra__zuora__entity_ids": "E-7",
            "extra__zuora__org_ids": "O-7,O-8",
            "extra__zuora__timeout": "9",
            "extra__zuora__max_attempts": "2",
        },
    )
    spy = mocker.spy(requests.Session, "request")
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.get(STATE_URL, status_code=503)
    with pytest.raises(ZuoraApiError):
        ZuoraHook(retry_max_wait=0).get_workflow_instance(400)
    states = calls_to(requests_mock, STATE_URL)
    assert len(states) == 2
    assert {(r.headers["Zuora-Entity-Ids"], r.headers["Zuora-Org-Ids"]) for r in states} == {
        ("E-7", "O-7,O-8")
    }
    assert {c.kwargs["timeout"] for c in spy.call_args_list} == {(CONNECT_TIMEOUT, 9.0)}


# ---------------------------------------------------------------- 2-4. OAuth and the token cache
def test_a_token_is_shared_by_every_hook_until_a_minute_before_it_expires(
    requests_mock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(_transport, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    requests_mock.post(TOKEN_URL, [token_answer(1), token_answer(2)])
    requests_mock.get(STATE_URL, json=INSTANCE)
    for _ in range(5):
        ZuoraHook().get_workflow_instance(400)
    clock[0] += 3599 - 60 - 1  # one second before the refresh point
    ZuoraHook().get_workflow_instance(400)
    clock[0] += 2  # less than a minute left: a new token
    ZuoraHook().get_workflow_instance(400)
    auths = [r.headers["Authorization"] for r in calls_to(requests_mock, STATE_URL)]
    assert auths == ["Bearer tok-1"] * 6 + ["Bearer tok-2"]
    assert len(calls_to(requests_mock, TOKEN_URL)) == 2


def test_twenty_threads_racing_for_the_first_token_make_one_token_request(requests_mock: Any) -> None:
    start = threading.Barrier(20)

    def slow_token(request: Any, context: Any) -> dict[str, Any]:
        threading.Event().wait(0.2)  # the other threads arrive while this fetch is in flight
        return token_answer()["json"]

    requests_mock.post(TOKEN_URL, json=slow_token)
    requests_mock.get(STATE_URL, json=INSTANCE)
    results: list[Any] = []

    def work() -> None:
        h = ZuoraHook()
        assert h.config.client_id  # the connection is read before the race starts
        start.wait(5)
        results.append(h.get_workflow_instance(400))

    threads = [threading.Thread(target=work) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [INSTANCE] * 20
    assert len(calls_to(requests_mock, TOKEN_URL)) == 1
    assert len(calls_to(requests_mock, STATE_URL)) == 20


def test_the_call_after_a_401_carries_the_new_token(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, [token_answer(1), token_answer(2)])
    requests_mock.post(RUN_URL, [AUTH_ERROR, {"json": INSTANCE}])
    assert hook(retry_max_wait=0).run_workflow(396, {"a": 1}) == INSTANCE  # the gateway refused it: resent
    runs = calls_to(requests_mock, RUN_URL)
    assert [r.headers["Authorization"] for r in runs] == ["Bearer tok-1", "Bearer tok-2"]
    assert [r.json() for r in runs] == [{"a": 1}, {"a": 1}]
    assert len(calls_to(requests_mock, TOKEN_URL)) == 2


# ---------------------------------------------------------------- 6. headers
def test_every_request_names_the_provider_and_its_version(requests_mock: Any) -> None:
    serve_token_and_state(requests_mock)
    hook().get_workflow_instance(400)
    assert len(requests_mock.request_history) == 2
    for r in requests_mock.request_history:
        assert r.headers["User-Agent"] == f"airflow-provider-zuora/{__version__}"
        assert r.headers["Accept-Encoding"] == "gzip"


def test_track_ids_are_sent_and_an_empty_override_drops_a_connection_header(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.get(STATE_URL, json=INSTANCE)
    requests_mock.post(RUN_URL, json=INSTANCE)
    requests_mock.put(f"{STATE_URL}/stop", json={"success": True})
    h = hook()
    h.get_workflow_instance(400, track_id="dag.task.1")
    h.run_workflow(396, {}, track_id="dag.task.2", entity_ids="", org_ids="")
    h.stop_workflow_instance(400)
    get, run, stop = requests_mock.request_history[1:]
    assert get.headers["Zuora-Track-Id"] == "dag.task.1" and run.headers["Zuora-Track-Id"] == "dag.task.2"
    assert "Zuora-Track-Id" not in stop.headers
    assert "Zuora-Entity-Ids" not in run.headers and "Zuora-Org-Ids" not in run.headers
    assert (stop.headers["Zuora-Entity-Ids"], stop.headers["Zuora-Org-Ids"]) == ("E-1", "O-1,O-2")


@pytest.mark.parametrize("track_id", ["t" * 65, "a:b", "a;b", 'a"b', "a'b", "café", "trace\u2013id"])
@pytest.mark.parametrize("call", ["run_workflow", "get_workflow_instance"])
def test_bad_track_ids_are_refused_before_any_request(requests_mock: Any, track_id: str, call: str) -> None:
    h = hook()
    with pytest.raises(ZuoraConfigError, match="track_id"):
        if call == "run_workflow":
            h.run_workflow(396, {"a": 1}, track_id=track_id, idempotency_key="k")
        else:
            h.get_workflow_instance(400, track_id=track_id)
    assert requests_mock.call_count == 0


@pytest.mark.parametrize("kwargs", [{"idempotency_key": " run-1"}, {"track_id": " trace-1"}])
def test_header_values_requests_cannot_send_are_refused_client_side(
    requests_mock: Any, kwargs: dict[str, str]
) -> None:
    serve_token_and_state(requests_mock)
    requests_mock.post(RUN_URL, json=INSTANCE)
    with pytest.raises(ZuoraConfigError, match=next(iter(kwargs))):
        hook(max_attempts=3, retry_max_wait=0).run_workflow(396, {}, **kwargs)
    assert requests_mock.call_count == 0


def test_the_idempotency_key_goes_only_on_the_run_post(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.post(RUN_URL, json=INSTANCE)
    requests_mock.get(STATE_URL, json=INSTANCE)
    requests_mock.put(f"{STATE_URL}/stop", json={"success": True})
    requests_mock.get(TASKS_URL, json={"data": [], "pagination": {"next_page": None}})
    requests_mock.get(f"{BASE}/workflows/396", json={"id": 396})
    h = hook()
    h.run_workflow(396, {}, idempotency_key="k" * 255)
    h.get_workflow_instance(400)
    h.stop_workflow_instance(400)
    h.get_workflow_instance_tasks(400)
    h.get_workflow(396)
    sent = [(r.method, r.path, r.headers.get("Idempotency-Key")) for r in requests_mock.request_history[1:]]
    assert sent == [
        ("POST", "/workflows/396/run", "k" * 255),
        ("GET", "/workflows/workflow_runs/400", None),
        ("PUT", "/workflows/workflow_runs/400/stop", None),
        ("GET", "/workflows/tasks", None),
        ("GET", "/workflows/396", None),
    ]


# ---------------------------------------------------------------- 7. retries
@pytest.mark.parametrize(
    "exc",
    [requests.ConnectionError("refused"), requests.ConnectTimeout("connect"), requests.ReadTimeout("read")],
)
def test_network_failures_are_tried_max_attempts_times_then_raised(
    requests_mock: Any, exc: Exception
) -> None:
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.get(STATE_URL, exc=exc)
    with pytest.raises(ZuoraTransportError) as err:
        hook(max_attempts=4, retry_max_wait=0).get_workflow_instance(400)
    assert err.value.attempts == 4 and err.value.retryable
    assert type(err.value.__cause__) is type(exc)
    assert len(calls_to(requests_mock, STATE_URL)) == 4


def test_an_unkeyed_run_is_sent_once_even_when_the_connection_drops(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.post(RUN_URL, exc=requests.ConnectionError("reset"))
    with pytest.raises(ZuoraTransportError):
        hook(max_attempts=5, retry_max_wait=0).run_workflow(396, {"a": 1})
    assert len(calls_to(requests_mock, RUN_URL)) == 1


def test_a_keyed_run_is_resent_with_the_same_key_and_body(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.post(
        RUN_URL,
        [
            {"exc": requests.ReadTimeout("slow")},
            {"status_code": 502},
            {"status_code": 429},
            {"json": INSTANCE},
        ],
    )
    assert (
        hook(max_attempts=4, retry_max_wait=0).run_workflow(396, {"a": 1}, idempotency_key="run-1")
        == INSTANCE
    )
    runs = calls_to(requests_mock, RUN_URL)
    assert [r.headers["Idempotency-Key"] for r in runs] == ["run-1"] * 4
    assert {r.body for r in runs} == {b'{"a":1}'}


def test_a_keyed_run_call_still_in_progress_at_zuora_is_resent_until_replayed(
    requests_mock: Any, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    slept: list[float] = []
    monkeypatch.setattr("airflow_provider_zuora.hooks.zuora.time.sleep", slept.append)
    requests_mock.post(TOKEN_URL, **token_answer())
    busy = {"status_code": 409, "json": {"reasons": [{"code": 53000040, "message": "still in progress"}]}}
    requests_mock.post(RUN_URL, [busy, busy, {"json": INSTANCE}])
    got = hook(max_attempts=2, retry_max_wait=0).run_workflow(396, {"a": 1}, idempotency_key="k1")
    assert got == INSTANCE and slept == [1, 2]  # not the transient backoff, and not its tries
    assert [r.headers["Idempotency-Key"] for r in calls_to(requests_mock, RUN_URL)] == ["k1"] * 3
    assert capfd.readouterr().out.count("an earlier run call under this key is still in progress") == 2


def test_a_key_in_progress_for_longer_than_two_minutes_is_raised(
    requests_mock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(zuora_module.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(zuora_module.time, "sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.post(RUN_URL, status_code=409, json={"message": "in progress"})
    with pytest.raises(ZuoraApiError, match="409"):
        hook().run_workflow(396, {"a": 1}, idempotency_key="k1")
    assert 110 <= clock[0] - 1000 <= calls.KEY_IN_PROGRESS_BUDGET
    assert len(calls_to(requests_mock, RUN_URL)) == 15  # waits of 1, 2, 4, 8 s, then 10 x 10 s


def test_an_unkeyed_run_call_answered_409_is_raised_at_once(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.post(RUN_URL, status_code=409, json={"message": "in progress"})
    with pytest.raises(ZuoraApiError, match="409"):
        hook().run_workflow(396, {"a": 1})
    assert len(calls_to(requests_mock, RUN_URL)) == 1


def test_the_hook_waits_as_backoff_seconds_says(requests_mock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("airflow_provider_zuora.hooks.zuora.time.sleep", slept.append)
    monkeypatch.setattr(calls.random, "uniform", lambda low, high: high)  # the top of each jitter range
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.get(STATE_URL, status_code=503)
    with pytest.raises(ZuoraApiError):
        hook(max_attempts=5, retry_max_wait=3).get_workflow_instance(400)
    assert slept == [1, 2, 3, 3]  # 1 s doubling, capped at retry_max_wait


@pytest.mark.parametrize(
    ("retry_after", "waits"),
    [("2", [2]), ("Fri, 01 Jan 2100 00:00:00 GMT", [7]), ("Sun, 06 Nov 1994 08:49:37 GMT", [0])],
)
def test_retry_after_dates_are_honoured_and_capped(
    requests_mock: Any, monkeypatch: pytest.MonkeyPatch, retry_after: str, waits: list[float]
) -> None:
    slept: list[float] = []
    monkeypatch.setattr("airflow_provider_zuora.hooks.zuora.time.sleep", slept.append)
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.get(
        STATE_URL, [{"status_code": 503, "headers": {"Retry-After": retry_after}}, {"json": INSTANCE}]
    )
    assert hook(max_attempts=2, retry_max_wait=7).get_workflow_instance(400) == INSTANCE
    assert slept == waits


def test_a_429_with_an_asctime_retry_after_is_retried(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.get(
        STATE_URL,
        [{"status_code": 429, "headers": {"Retry-After": "Sun Nov  6 08:49:37 1994"}}, {"json": INSTANCE}],
    )
    assert hook(max_attempts=2, retry_max_wait=0).get_workflow_instance(400) == INSTANCE


# ---------------------------------------------------------------- 8. errors
@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (
            400,
            {"errors": [{"status": 400, "code": "invalid", "title": "Callout mode is not turned on."}]},
            "Callout mode is not turned on.",
        ),
        (403, {"code": 50000040, "message": "No permission"}, "No permission"),
        (
            404,
            {"success": False, "reasons": [{"code": 50000040, "message": "Cannot find a workflow run."}]},
            "Cannot find a workflow run. (code 50000040)",
        ),
        (406, "<html>Not Acceptable</html>", "<html>Not Acceptable</html>"),
        (409, "", "(empty body)"),
    ],
)
def test_errors_carry_status_message_and_ids_and_survive_pickling(
    requests_mock: Any, status: int, body: Any, message: str
) -> None:
    requests_mock.post(TOKEN_URL, **token_answer())
    answer = {"json": body} if isinstance(body, dict) else {"text": body}
    ids = {"Zuora-Request-Id": "rid-9", "Zuora-Track-Id": "trace-9"}
    requests_mock.get(STATE_URL, status_code=status, headers=ids, **answer)
    with pytest.raises(ZuoraApiError) as err:
        hook(max_attempts=5, retry_max_wait=0).get_workflow_instance(400, track_id="trace-9")
    got = err.value
    assert (got.status_code, got.message, got.request_id, got.track_id) == (
        status,
        message,
        "rid-9",
        "trace-9",
    )
    assert not got.retryable and len(calls_to(requests_mock, STATE_URL)) == 1
    back = pickle.loads(pickle.dumps(got))
    assert (type(back), str(back), back.request_id, back.body) == (type(got), str(got), "rid-9", got.body)


# ---------------------------------------------------------------- 9. methods
def test_run_sends_exactly_the_parameters_as_json(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.post(RUN_URL, json=INSTANCE)
    tz = dt.timezone(dt.timedelta(hours=-5))
    hook().run_workflow(
        396,
        {
            "accountId": "A-1",
            "day": dt.date(2026, 11, 28),
            "at": dt.datetime(2026, 11, 28, 9, 0, tzinfo=tz),
            "amount": Decimal("125.50"),
            "ids": ("a", 2),
            "nested": {"rows": [{"on": dt.date(2026, 1, 2), "n": None}]},
            "rate": 1.5,
            "ok": False,
        },
    )
    hook().run_workflow("396")
    first, second = calls_to(requests_mock, RUN_URL)
    assert first.headers["Content-Type"] == "application/json"
    assert json.loads(first.body) == {
        "accountId": "A-1",
        "day": "2026-11-28",
        "at": "2026-11-28T09:00:00-05:00",
        "amount": "125.50",
        "ids": ["a", 2],
        "nested": {"rows": [{"on": "2026-01-02", "n": None}]},
        "rate": 1.5,
        "ok": False,
    }
    assert json.loads(second.body) == {}


def test_large_run_bodies_are_sent_gzip_compressed(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.post(RUN_URL, json=INSTANCE)
    params = {"notes": "x" * 5000}
    hook().run_workflow(396, params)
    (run,) = calls_to(requests_mock, RUN_URL)
    assert run.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(run.body)) == params


@pytest.mark.parametrize("answer", [INSTANCE, {**INSTANCE, "id": "400", "originalWorkflowId": 396}])
def test_answers_come_back_as_zuora_sent_them(requests_mock: Any, answer: dict[str, Any]) -> None:
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.post(RUN_URL, json=answer)
    requests_mock.get(STATE_URL, json=answer)
    h = hook()
    started = h.run_workflow("396", {})
    assert started == answer and type(started["id"]) is type(answer["id"])
    assert h.get_workflow_instance(started["id"]) == answer
    assert h.get_workflow_instance(int(started["id"])) == answer


def test_task_paging_stops_at_the_page_limit(
    requests_mock: Any, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(api, "MAX_TASK_PAGES", 3)
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.get(TASKS_URL, json={"data": [{"id": 1}], "pagination": {"next_page": "more"}})
    assert hook().get_workflow_instance_tasks(400) == [{"id": 1}] * 3
    assert len(calls_to(requests_mock, TASKS_URL)) == 3
    assert "Stopped listing the tasks of 400 after 3 pages" in capfd.readouterr().out


def test_a_run_without_tasks_is_one_request(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.get(TASKS_URL, json={"data": [], "pagination": {"next_page": None, "page": 1}})
    assert hook().get_workflow_instance_tasks(400) == []
    assert len(calls_to(requests_mock, TASKS_URL)) == 1


def test_test_connection_reads_one_cheap_page(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.get(f"{BASE}/workflows", json={"data": []})
    ok, _ = hook().test_connection()
    (listing,) = calls_to(requests_mock, f"{BASE}/workflows")
    assert ok and listing.qs == {"page": ["1"], "page_length": ["1"]}  # Zuora allows at most 50


def test_test_connection_reports_a_broken_connection_or_an_outage(
    requests_mock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_conn(monkeypatch, "zuora_nohost")
    assert ZuoraHook("zuora_nohost").test_connection() == (
        False,
        "Connection 'zuora_nohost' has neither a REST endpoint (host) nor an environment extra: set one",
    )
    assert requests_mock.call_count == 0
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.get(f"{BASE}/workflows", status_code=503, json={"message": "down"})
    ok, message = hook(max_attempts=2, retry_max_wait=0).test_connection()
    assert not ok and "503" in message and "down" in message and SECRET not in message


# ---------------------------------------------------------------- 10. parameters refused before sending
@pytest.mark.parametrize(
    ("parameters", "named"),
    [
        *[({key: 1}, f"{key!r} is reserved") for key in sorted(api.RESERVED_PARAMETER_KEYS)],
        ({1: "x"}, "key 1 must be a string"),
        ({None: "x"}, "key None must be a string"),
        ({("a",): "x"}, "key ('a',) must be a string"),
        ({"obj": object()}, "'obj'"),
        ({"tags": {"a"}}, "'tags'"),
        ({"raw": b"x"}, "'raw'"),
        ({"amount": math.nan}, "'amount'"),
        ({"amount": math.inf}, "'amount'"),
        ({"amount": -math.inf}, "'amount'"),
        ({"deep": {"rows": [{"at": object()}]}}, "'deep'['rows'][0]['at']"),
        ({"deep": {"rows": [{1: "x"}]}}, "'deep'['rows'][0]"),
    ],
)
def test_run_refuses_bad_parameters_naming_the_key_before_any_request(
    requests_mock: Any, parameters: dict[Any, Any], named: str
) -> None:
    with pytest.raises(ZuoraConfigError) as err:
        hook().run_workflow(396, parameters, idempotency_key="k")
    assert named in str(err.value)
    assert requests_mock.call_count == 0


# ---------------------------------------------------------------- 11. ids
ID_CALLS = {
    "run_workflow": ("workflow_id", lambda h, v: h.run_workflow(v, {})),
    "get_workflow": ("workflow_id", lambda h, v: h.get_workflow(v)),
    "get_workflow_instance": ("instance_id", lambda h, v: h.get_workflow_instance(v)),
    "stop_workflow_instance": ("instance_id", lambda h, v: h.stop_workflow_instance(v)),
    "get_workflow_instance_tasks": ("instance_id", lambda h, v: h.get_workflow_instance_tasks(v)),
}


@pytest.mark.parametrize("bad", [None, "", "None", "null", "  "])
@pytest.mark.parametrize("method", sorted(ID_CALLS))
def test_missing_ids_are_refused_naming_the_field_before_any_request(
    requests_mock: Any, method: str, bad: Any
) -> None:
    field, call = ID_CALLS[method]
    with pytest.raises(ZuoraConfigError, match=field):
        call(hook(), bad)
    assert requests_mock.call_count == 0


def test_a_dot_dot_id_never_reaches_another_endpoint(requests_mock: Any) -> None:
    requests_mock.register_uri(ANY, ANY, json={"success": True})
    requests_mock.post(TOKEN_URL, **token_answer())
    with pytest.raises(ZuoraConfigError, match="instance_id"):
        hook().stop_workflow_instance("..")
    assert requests_mock.call_count == 0


# ---------------------------------------------------------------- 12. secrets
def test_the_secret_and_each_token_go_to_airflows_masker(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, [token_answer(1), token_answer(2)])
    requests_mock.get(STATE_URL, [AUTH_ERROR, {"json": INSTANCE}])
    with mock.patch("airflow.sdk.log.mask_secret") as mask_secret:
        hook().get_workflow_instance(400)
    registered = [c.args[0] for c in mask_secret.call_args_list]  # Airflow masks the extra dict too
    assert [v for v in registered if v in (SECRET, "tok-1", "tok-2")] == [SECRET, "tok-1", "tok-2"]


def test_a_full_flow_at_debug_level_leaks_no_secret(
    requests_mock: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    masked: list[str] = []
    monkeypatch.setattr(zuora_module, "mask_secret", masked.append)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger=zuora_module.__name__)
    tokens = ["access-token-one-0123456789", "access-token-two-9876543210"]
    requests_mock.post(TOKEN_URL, [{"json": {"access_token": t, "expires_in": 3599}} for t in tokens])
    requests_mock.post(RUN_URL, json=INSTANCE)
    requests_mock.get(
        STATE_URL, [AUTH_ERROR, {"status_code": 503, "json": {"message": "busy"}}, {"json": INSTANCE}]
    )
    requests_mock.get(f"{BASE}/workflows/396", status_code=503, json={"message": "down"})
    bad_base, bad_secret = "https://rest.sandbox.eu.zuora.com", "wrong-client-secret-4242"
    set_conn(monkeypatch, "zuora_bad", host=bad_base, password=bad_secret)
    requests_mock.post(f"{bad_base}/oauth/token", **AUTH_ERROR)

    h = hook(max_attempts=3, retry_max_wait=0)
    assert h.run_workflow(396, {"accountId": "A-1"}) == INSTANCE  # token 1, run
    assert h.get_workflow_instance(400) == INSTANCE  # 401, token 2, a 503 retried, 200
    with pytest.raises(ZuoraApiError) as exhausted:  # retries run out
        h.get_workflow(396)
    with pytest.raises(ZuoraAuthError) as refused:  # bad credentials
        ZuoraHook("zuora_bad", retry_max_wait=0).get_workflow_instance(400)
    ok, message = ZuoraHook("zuora_bad").test_connection()

    assert not ok and set(masked) == {SECRET, bad_secret, *tokens}
    out = capfd.readouterr()
    texts = [caplog.text, out.out, out.err, message, repr(h), repr(h.config), repr(vars(h))]
    for err in (exhausted.value, refused.value):
        texts += [str(err), repr(err), repr(err.args), repr(vars(err))]
    seen = "\n".join(texts)
    assert "Zuora GET /workflows/workflow_runs/400 -> 401" in caplog.text  # the DEBUG lines were captured
    assert "try 2 of 3" in seen  # and so were the retry warnings
    for secret in (SECRET, bad_secret, *tokens):
        assert secret not in seen
