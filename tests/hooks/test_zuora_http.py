"""ZuoraHook's sync transport at its edges: refresh once per call, giving up, netrc, redirects, logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_zuora.exceptions import ZuoraApiError, ZuoraTransportError
from airflow_provider_zuora.hooks import _transport
from airflow_provider_zuora.hooks import zuora as zuora_module
from airflow_provider_zuora.hooks.zuora import ZuoraHook

BASE = "https://rest.apisandbox.zuora.com"
TOKEN_URL = f"{BASE}/oauth/token"
STATE_URL = f"{BASE}/workflows/workflow_runs/400"
INSTANCE = {"id": 400, "name": "WF-396-00000003", "status": "Processing"}
SECRET = "client-secret-value-42"
AUTH_ERROR = {"status_code": 401, "json": {"message": "Authentication error"}}
PASSING_401 = {"status_code": 401, "json": {"message": "Failed to get user info"}}


def token(n: int) -> dict[str, Any]:
    return {"json": {"access_token": f"access-token-{n}-xyz", "token_type": "bearer", "expires_in": 3599}}


@pytest.fixture(autouse=True)
def conn(monkeypatch: pytest.MonkeyPatch) -> None:
    _transport.TOKENS.clear()
    monkeypatch.setenv(
        "AIRFLOW_CONN_ZUORA_DEFAULT",
        json.dumps({"conn_type": "zuora", "host": BASE, "login": "client-id", "password": SECRET}),
    )
    monkeypatch.setattr("airflow_provider_zuora.hooks.zuora.time.sleep", lambda s: None)


def urls(requests_mock: Any) -> list[str]:
    return [r.url.split("?")[0].removeprefix(BASE) for r in requests_mock.request_history]


def test_a_401_refreshes_the_token_once_per_call_not_once_per_try(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, [token(1), token(2), token(3)])
    requests_mock.get(STATE_URL, [AUTH_ERROR, {"status_code": 503}, AUTH_ERROR, {"json": INSTANCE}])
    with pytest.raises(ZuoraApiError) as err:
        ZuoraHook(max_attempts=5).get_workflow_instance(400)
    assert err.value.status_code == 401
    paths = urls(requests_mock)
    assert paths == ["/oauth/token", STATE_URL[len(BASE) :], "/oauth/token", *[STATE_URL[len(BASE) :]] * 2]


def test_the_gateways_passing_401_is_retried_with_backoff(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, [token(1), token(2)])
    requests_mock.get(STATE_URL, [PASSING_401, PASSING_401, PASSING_401, {"json": INSTANCE}])
    assert ZuoraHook(max_attempts=5).get_workflow_instance(400) == INSTANCE
    assert urls(requests_mock).count("/oauth/token") == 2  # one refresh, then plain retries


def test_giving_up_raises_the_last_error_saying_how_many_tries(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, **token(1))
    requests_mock.get(STATE_URL, [{"status_code": 500}, {"status_code": 502}, {"status_code": 503}])
    with pytest.raises(ZuoraApiError) as err:
        ZuoraHook(max_attempts=3).get_workflow_instance(400)
    assert err.value.status_code == 503 and err.value.attempts == 3 and err.value.retryable
    assert "gave up after 3 attempts" in str(err.value)
    requests_mock.get(STATE_URL, exc=requests.ConnectTimeout("slow"))
    with pytest.raises(ZuoraTransportError, match=r"GET /workflows/workflow_runs/400 .*after 2 attempts"):
        ZuoraHook(max_attempts=2).get_workflow_instance(400)


def test_max_attempts_one_means_no_retry(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, **token(1))
    requests_mock.get(STATE_URL, status_code=503)
    with pytest.raises(ZuoraApiError) as err:
        ZuoraHook(max_attempts=1).get_workflow_instance(400)
    assert err.value.attempts == 1 and "gave up" not in str(err.value)
    assert urls(requests_mock).count(STATE_URL[len(BASE) :]) == 1


def test_a_netrc_entry_never_replaces_the_bearer_or_reaches_the_token_call(
    requests_mock: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine rest.apisandbox.zuora.com login someone password elsewhere\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    requests_mock.post(TOKEN_URL, **token(1))
    requests_mock.get(STATE_URL, json=INSTANCE)
    ZuoraHook().get_workflow_instance(400)
    token_req, api_req = requests_mock.request_history
    assert "Authorization" not in token_req.headers
    assert api_req.headers["Authorization"] == "Bearer access-token-1-xyz"


def test_redirects_are_not_followed(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, status_code=307, headers={"Location": "https://evil.example/token"})
    requests_mock.post("https://evil.example/token", **token(1))
    with pytest.raises(ZuoraApiError) as err:
        ZuoraHook().get_workflow_instance(400)
    assert err.value.status_code == 307
    assert all(r.hostname == "rest.apisandbox.zuora.com" for r in requests_mock.request_history)


def test_close_ends_the_session_and_a_later_call_opens_another(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, **token(1))
    requests_mock.get(STATE_URL, json=INSTANCE)
    hook = ZuoraHook()
    first = hook.session
    hook.close()
    assert hook.get_workflow_instance(400) == INSTANCE and hook.session is not first


def test_debug_logs_one_line_per_request_and_no_secret(
    requests_mock: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    masked: list[str] = []
    monkeypatch.setattr(zuora_module, "mask_secret", masked.append)
    caplog.set_level(logging.DEBUG)
    requests_mock.post(TOKEN_URL, [token(1), token(2)])
    requests_mock.get(
        STATE_URL,
        [
            {**AUTH_ERROR, "headers": {"Zuora-Request-Id": "rid-1"}},
            {"status_code": 503},
            {"json": INSTANCE, "headers": {"Zuora-Request-Id": "rid-3"}},
        ],
    )
    hook = ZuoraHook(max_attempts=3)
    assert hook.get_workflow_instance(400, track_id="trace-1") == INSTANCE
    wire = [r.getMessage() for r in caplog.records if r.name == zuora_module.__name__]
    assert wire == [
        "Zuora POST /oauth/token -> 200 (Zuora-Request-Id None)",
        "Zuora GET /workflows/workflow_runs/400 -> 401 (Zuora-Request-Id rid-1)",
        "Zuora POST /oauth/token -> 200 (Zuora-Request-Id None)",
        "Zuora GET /workflows/workflow_runs/400 -> 503 (Zuora-Request-Id None)",
        "Zuora GET /workflows/workflow_runs/400 -> 200 (Zuora-Request-Id rid-3)",
    ]
    assert masked == [SECRET, "access-token-1-xyz", "access-token-2-xyz"]
    out = capfd.readouterr()
    seen = "\n".join([caplog.text, out.out, out.err, repr(hook), repr(hook.config), repr(vars(hook))])
    for secret in masked:
        assert secret not in seen
