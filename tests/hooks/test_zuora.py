"""The sync ZuoraHook over mocked HTTP (requests_mock): base URL, OAuth, headers, retries as the hook
drives them, errors, methods, parameters, ids, secrets. The retry policy itself: tests/test_calls.py."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import math
import pickle
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock
from urllib.parse import parse_qs

import pytest
import requests
from requests_mock import ANY

from airflow_provider_zuora import __version__, api, calls
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

SECRET = "client-secret-value"  # the conn fixture's
AUTH_ERROR = {"status_code": 401, "json": {"message": "Authentication error"}}
PASSING_401 = {"status_code": 401, "json": {"message": "Failed to get user info"}}
TASKS_URL = f"{BASE}/workflows/tasks"
STATE_PATH = STATE_URL.removeprefix(BASE)


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str = "zuora_default", **fields: Any) -> None:
    """A connection as ``AIRFLOW_CONN_<ID>`` JSON; client id and secret filled in unless given."""
    doc = {"conn_type": "zuora", "login": "client-id", "password": SECRET, **fields}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(doc))


def calls_to(requests_mock: Any, url: str) -> list[Any]:
    return [r for r in requests_mock.request_history if r.url.split("?")[0] == url]


def paths(requests_mock: Any) -> list[str]:
    return [r.url.split("?")[0].removeprefix(BASE) for r in requests_mock.request_history]


def serve_token_and_state(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.get(STATE_URL, json=INSTANCE)


def test_hook_identity() -> None:
    assert ZuoraHook.conn_type == "zuora"
    assert ZuoraHook.default_conn_name == "zuora_default"
    assert ZuoraHook.conn_name_attr == "zuora_conn_id"
    assert ZuoraHook.hook_name == "Zuora"
    assert ZuoraHook().zuora_conn_id == "zuora_default"


# ---------------------------------------------------------------- base URL and connection extras
@pytest.mark.parametrize(
    ("fields", "base"),
    [
        ({"host": "https://rest.zuora.com/"}, "https://rest.zuora.com"),
        ({"extra": {"environment": "EU API Sandbox"}}, "https://rest.sandbox.eu.zuora.com"),
    ],
)
def test_requests_go_to_the_base_url(
    requests_mock: Any, monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any], base: str
) -> None:
    """How the base URL is read from the connection: tests/hooks/test_config.py."""
    set_conn(monkeypatch, **fields)
    requests_mock.post(f"{base}/oauth/token", **token_answer())
    requests_mock.get(f"{base}/workflows/workflow_runs/400", json=INSTANCE)
    assert hook().get_workflow_instance(400) == INSTANCE
    assert [r.url for r in requests_mock.request_history] == [
        f"{base}/oauth/token",
        f"{base}/workflows/workflow_runs/400",
    ]


def test_a_bad_connection_is_refused_before_any_request(
    requests_mock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Which connections are bad, and what the error says: tests/hooks/test_config.py."""
    set_conn(monkeypatch, "zuora_broken", host="http://rest.zuora.com")
    with pytest.raises(ZuoraConfigError, match="'zuora_broken'"):
        ZuoraHook("zuora_broken").get_workflow_instance(400)
    assert requests_mock.call_count == 0


def test_prefixed_extras_set_the_headers_timeout_and_tries(
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


# ---------------------------------------------------------------- OAuth and the token cache
def test_token_call_is_form_encoded_without_authorization_and_api_calls_carry_the_bearer(
    requests_mock: Any,
) -> None:
    serve_token_and_state(requests_mock)
    assert hook().get_workflow_instance(400) == INSTANCE
    token_req, api_req = requests_mock.request_history
    assert token_req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Authorization" not in token_req.headers
    assert parse_qs(token_req.text) == {
        "client_id": ["client-id"],
        "client_secret": [SECRET],
        "grant_type": ["client_credentials"],
    }
    assert api_req.headers["Authorization"] == "Bearer tok-1"


def test_a_netrc_entry_never_replaces_the_bearer_or_reaches_the_token_call(
    requests_mock: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine rest.apisandbox.zuora.com login someone password elsewhere\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    serve_token_and_state(requests_mock)
    ZuoraHook().get_workflow_instance(400)
    token_req, api_req = requests_mock.request_history
    assert "Authorization" not in token_req.headers
    assert api_req.headers["Authorization"] == "Bearer tok-1"


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


def test_another_client_id_gets_its_own_token(requests_mock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    requests_mock.post(TOKEN_URL, [token_answer(1), token_answer(2)])
    requests_mock.get(STATE_URL, json=INSTANCE)
    set_conn(monkeypatch, "other", host=BASE, login="other-id", password="other-secret")
    hook().get_workflow_instance(400)
    ZuoraHook("other").get_workflow_instance(400)
    auths = [r.headers["Authorization"] for r in calls_to(requests_mock, STATE_URL)]
    assert auths == ["Bearer tok-1", "Bearer tok-2"]


def test_the_call_after_a_401_carries_the_new_token(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, [token_answer(1), token_answer(2)])
    requests_mock.post(RUN_URL, [AUTH_ERROR, {"json": INSTANCE}])
    assert hook(retry_max_wait=0).run_workflow(396, {"a": 1}) == INSTANCE  # the gateway refused it: resent
    runs = calls_to(requests_mock, RUN_URL)
    assert [r.headers["Authorization"] for r in runs] == ["Bearer tok-1", "Bearer tok-2"]
    assert [r.json() for r in runs] == [{"a": 1}, {"a": 1}]
    assert len(calls_to(requests_mock, TOKEN_URL)) == 2


def test_a_401_refreshes_the_token_once_per_call_not_once_per_try(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, [token_answer(1), token_answer(2), token_answer(3)])
    requests_mock.get(STATE_URL, [AUTH_ERROR, {"status_code": 503}, AUTH_ERROR, {"json": INSTANCE}])
    with pytest.raises(ZuoraApiError) as err:  # the second 401 is raised, not looped
        ZuoraHook(max_attempts=5).get_workflow_instance(400)
    assert err.value.status_code == 401
    assert paths(requests_mock) == ["/oauth/token", STATE_PATH, "/oauth/token", STATE_PATH, STATE_PATH]


def test_the_gateways_passing_401_refreshes_once_then_is_retried(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, [token_answer(1), token_answer(2)])
    requests_mock.get(STATE_URL, [PASSING_401, PASSING_401, PASSING_401, {"json": INSTANCE}])
    assert ZuoraHook(max_attempts=5).get_workflow_instance(400) == INSTANCE
    assert paths(requests_mock).count("/oauth/token") == 2  # one refresh, then plain retries


def test_a_passing_401_from_the_token_endpoint_is_retried(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, [PASSING_401, token_answer()])
    requests_mock.get(STATE_URL, json=INSTANCE)
    assert hook(retry_max_wait=0).get_workflow_instance(400) == INSTANCE
    assert [r.url for r in requests_mock.request_history] == [TOKEN_URL, TOKEN_URL, STATE_URL]


def test_bad_credentials_are_a_clear_unretried_error_naming_the_connection(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, **AUTH_ERROR)
    with pytest.raises(ZuoraAuthError) as err:
        hook(max_attempts=5).get_workflow_instance(400)
    assert requests_mock.call_count == 1
    assert "zuora_default" in str(err.value) and "Client Secret" in str(err.value)
    assert SECRET not in str(err.value)
    assert not err.value.retryable


def test_a_token_endpoint_outage_costs_max_attempts_token_calls_not_their_square(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, status_code=503)
    with pytest.raises(ZuoraApiError) as err:
        hook(max_attempts=3).get_workflow_instance(400)
    assert err.value.status_code == 503
    assert requests_mock.call_count == 3


def test_redirects_are_not_followed(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, status_code=307, headers={"Location": "https://evil.example/token"})
    requests_mock.post("https://evil.example/token", **token_answer())
    with pytest.raises(ZuoraApiError) as err:
        ZuoraHook().get_workflow_instance(400)
    assert err.value.status_code == 307
    assert all(r.hostname == "rest.apisandbox.zuora.com" for r in requests_mock.request_history)


# ---------------------------------------------------------------- session, timeouts, headers
def test_one_session_reused_and_timeouts_on_every_request(requests_mock: Any, mocker: Any) -> None:
    serve_token_and_state(requests_mock)
    spy = mocker.spy(requests.Session, "request")
    h = hook()
    h.get_workflow_instance(400)
    h.get_workflow_instance("400")
    assert len({id(c.args[0]) for c in spy.call_args_list}) == 1
    assert [c.kwargs["timeout"] for c in spy.call_args_list] == [(CONNECT_TIMEOUT, 30.0)] * 3


def test_close_ends_the_session_and_a_later_call_opens_another(requests_mock: Any) -> None:
    serve_token_and_state(requests_mock)
    h = ZuoraHook()
    first = h.session
    h.close()
    assert h.get_workflow_instance(400) == INSTANCE and h.session is not first


def test_every_request_names_the_provider_and_its_version(requests_mock: Any) -> None:
    serve_token_and_state(requests_mock)
    hook().get_workflow_instance(400)
    assert len(requests_mock.request_history) == 2
    for r in requests_mock.request_history:
        assert r.headers["User-Agent"] == f"airflow-provider-zuora/{__version__}"
        assert r.headers["Accept-Encoding"] == "gzip"


def test_entity_and_org_ids_come_from_the_extras_unless_the_call_overrides_them(requests_mock: Any) -> None:
    serve_token_and_state(requests_mock)
    requests_mock.post(RUN_URL, json=INSTANCE)
    h = hook()
    h.get_workflow_instance(400)
    h.run_workflow(396, {"a": 1}, entity_ids="E-9", org_ids="O-9")
    get, run = requests_mock.request_history[1:]
    assert (get.headers["Zuora-Entity-Ids"], get.headers["Zuora-Org-Ids"]) == ("E-1", "O-1,O-2")
    assert (run.headers["Zuora-Entity-Ids"], run.headers["Zuora-Org-Ids"]) == ("E-9", "O-9")


def test_track_ids_are_sent_and_an_empty_override_drops_a_connection_header(requests_mock: Any) -> None:
    serve_token_and_state(requests_mock)
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


@pytest.mark.parametrize(
    "kwargs", [{"idempotency_key": " run-1"}, {"idempotency_key": "k" * 256}, {"track_id": " trace-1"}]
)
def test_header_values_that_cannot_be_sent_are_refused_client_side(
    requests_mock: Any, kwargs: dict[str, str]
) -> None:
    """A leading space requests would refuse to send; a key over 255 characters Zuora would refuse."""
    serve_token_and_state(requests_mock)
    requests_mock.post(RUN_URL, json=INSTANCE)
    with pytest.raises(ZuoraConfigError, match=next(iter(kwargs))):
        hook(max_attempts=3, retry_max_wait=0).run_workflow(396, {}, **kwargs)
    assert requests_mock.call_count == 0


def test_the_idempotency_key_goes_only_on_the_run_post(requests_mock: Any) -> None:
    serve_token_and_state(requests_mock)
    requests_mock.post(RUN_URL, json=INSTANCE)
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


# ---------------------------------------------------------------- retries, as the hook drives them
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


def test_giving_up_raises_the_last_error_saying_how_many_tries(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.get(STATE_URL, [{"status_code": 500}, {"status_code": 502}, {"status_code": 503}])
    with pytest.raises(ZuoraApiError) as err:
        ZuoraHook(max_attempts=3).get_workflow_instance(400)
    assert err.value.status_code == 503 and err.value.attempts == 3 and err.value.retryable
    assert "gave up after 3 attempts" in str(err.value)
    requests_mock.get(STATE_URL, exc=requests.ConnectTimeout("slow"))
    with pytest.raises(ZuoraTransportError, match=r"GET /workflows/workflow_runs/400 .*after 2 attempts"):
        ZuoraHook(max_attempts=2).get_workflow_instance(400)


def test_max_attempts_one_means_no_retry(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.get(STATE_URL, status_code=503)
    with pytest.raises(ZuoraApiError) as err:
        ZuoraHook(max_attempts=1).get_workflow_instance(400)
    assert err.value.attempts == 1 and "gave up" not in str(err.value)
    assert len(calls_to(requests_mock, STATE_URL)) == 1


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


def test_the_hook_waits_as_backoff_seconds_says(requests_mock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("airflow_provider_zuora.hooks.zuora.time.sleep", slept.append)
    monkeypatch.setattr(calls.random, "uniform", lambda low, high: high)  # the top of each jitter range
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.get(STATE_URL, status_code=503)
    with pytest.raises(ZuoraApiError):
        hook(max_attempts=5, retry_max_wait=3).get_workflow_instance(400)
    assert slept == [1, 2, 3, 3]  # 1 s doubling, capped at retry_max_wait


def test_the_hook_waits_as_retry_after_says_capped_at_retry_max_wait(
    requests_mock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading the header (seconds, dates): tests/test_api.py; the cap: tests/test_calls.py."""
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


# ---------------------------------------------------------------- errors
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
def test_errors_carry_status_message_and_ids_are_not_retried_and_survive_pickling(
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


# ---------------------------------------------------------------- methods
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


def test_stop_and_get_workflow(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, **token_answer())
    requests_mock.put(f"{STATE_URL}/stop", json={"success": True})
    requests_mock.get(f"{BASE}/workflows/396", json={"id": 396, "name": "Sync", "status": "Active"})
    h = hook()
    assert h.stop_workflow_instance(400) == {"success": True}
    assert h.get_workflow("396")["status"] == "Active"


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
    requests_mock.get(TASKS_URL, pages)
    tasks = hook().get_workflow_instance_tasks("400")
    assert [t["id"] for t in tasks] == list(range(250))
    queries = [r.qs for r in calls_to(requests_mock, TASKS_URL)]
    assert [q["page"] for q in queries] == [["1"], ["2"], ["3"]]
    assert all(
        q["workflow_id"] == ["400"] and q["instance"] == ["true"] and q["page_length"] == ["100"]
        for q in queries
    )


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
    requests_mock.get(f"{BASE}/workflows", json={"data": [], "pagination": {}})
    assert hook().test_connection() == (
        True,
        f"Connected to Zuora at {BASE}: token issued, workflows readable",
    )
    (listing,) = calls_to(requests_mock, f"{BASE}/workflows")
    assert listing.qs == {"page": ["1"], "page_length": ["1"]}  # Zuora allows at most 50


def test_test_connection_reports_a_broken_connection_bad_credentials_or_an_outage(
    requests_mock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_conn(monkeypatch, "zuora_nohost")
    assert ZuoraHook("zuora_nohost").test_connection() == (
        False,
        "Connection 'zuora_nohost' has neither a REST endpoint (host) nor an environment extra: set one",
    )
    assert requests_mock.call_count == 0
    requests_mock.post(TOKEN_URL, [AUTH_ERROR, token_answer()])
    ok, message = hook().test_connection()
    assert not ok and "Client Secret" in message and SECRET not in message
    requests_mock.get(f"{BASE}/workflows", status_code=503, json={"message": "down"})
    ok, message = hook(max_attempts=2, retry_max_wait=0).test_connection()
    assert not ok and "503" in message and "down" in message and SECRET not in message


# ---------------------------------------------------------------- parameters refused before sending
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


# ---------------------------------------------------------------- ids
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


# ---------------------------------------------------------------- logs and secrets
def test_debug_logs_one_line_per_request_with_its_request_id(
    requests_mock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    requests_mock.post(TOKEN_URL, [token_answer(1), token_answer(2)])
    requests_mock.get(
        STATE_URL,
        [
            {**AUTH_ERROR, "headers": {"Zuora-Request-Id": "rid-1"}},
            {"status_code": 503},
            {"json": INSTANCE, "headers": {"Zuora-Request-Id": "rid-3"}},
        ],
    )
    assert ZuoraHook(max_attempts=3).get_workflow_instance(400, track_id="trace-1") == INSTANCE
    wire = [r.getMessage() for r in caplog.records if r.name == zuora_module.__name__]
    assert wire == [
        "Zuora POST /oauth/token -> 200 (Zuora-Request-Id None)",
        "Zuora GET /workflows/workflow_runs/400 -> 401 (Zuora-Request-Id rid-1)",
        "Zuora POST /oauth/token -> 200 (Zuora-Request-Id None)",
        "Zuora GET /workflows/workflow_runs/400 -> 503 (Zuora-Request-Id None)",
        "Zuora GET /workflows/workflow_runs/400 -> 200 (Zuora-Request-Id rid-3)",
    ]


def test_the_secret_and_each_token_go_to_airflows_masker(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, [token_answer(1), token_answer(2)])
    requests_mock.get(STATE_URL, [AUTH_ERROR, {"json": INSTANCE}])
    with mock.patch("airflow.sdk.log.mask_secret") as mask_secret:
        hook().get_workflow_instance(400)
    registered = [c.args[0] for c in mask_secret.call_args_list]  # Airflow masks the extra dict too
    assert [v for v in registered if v in (SECRET, "tok-1", "tok-2")] == [SECRET, "tok-1", "tok-2"]


def test_no_secret_reaches_a_log_an_error_or_a_repr_at_debug_level(
    requests_mock: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The same over real HTTP to the emulator: tests/hooks/test_zuora_secrets.py."""
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
