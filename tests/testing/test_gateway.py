"""The gateway over real HTTP: what every API request gets (headers, gzip, limits, idempotency, the log).

The stages one by one are in test_stages.py; here they run together in front of the real routes.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import uuid

import httpx
import pytest

pytestmark = pytest.mark.integration


# ---- answers ----
def test_gateway_answers_and_route_answers_keep_their_own_json_spacing(api):
    assert api.http.get("/workflows").content == b'{"message": "Authentication error"}'  # the gateway's
    bad = api.token_response(client_secret="nope")  # the token route's
    assert bad.status_code == 401 and bad.content == b'{"message":"Authentication error"}'


def test_control_routes_bypass_the_gateway(api, backend):
    resp = api.http.get("/_emulator/state?log=false")
    assert resp.status_code == 200 and "Zuora-Request-Id" not in resp.headers
    assert backend.request_log == [] and backend.inflight == 0


# ---- headers ----
def test_every_response_has_a_unique_request_id(api):
    responses = [
        api.get("/workflows"),
        api.http.get("/workflows"),  # 401
        api.get("/workflows/999999"),  # 404
        api.token_response(),
    ]
    ids = [r.headers.get("Zuora-Request-Id") for r in responses]
    assert all(ids) and len(set(ids)) == len(ids)
    assert all(uuid.UUID(i) for i in ids)


def test_track_id_is_echoed(api):
    resp = api.get("/workflows", headers={"Zuora-Track-Id": "dag.task.run-1.2"})
    assert resp.status_code == 200 and resp.headers["Zuora-Track-Id"] == "dag.task.run-1.2"
    assert "Zuora-Track-Id" not in api.get("/workflows").headers


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("x" * 65, "at most 64"),
        ("run:1", "must not contain :"),
        ("a;b", "must not contain ;"),
        ('a"b', 'must not contain "'),
        ("it's", "must not contain '"),
        (b"caf\xc3\xa9", "US-ASCII"),
    ],
)
def test_invalid_track_id_is_400_naming_the_rule(api, backend, value, fragment):
    resp = api.run(396, {"accountId": "A"}, headers={"Zuora-Track-Id": value})
    assert resp.status_code == 400
    assert fragment in resp.json()["reasons"][0]["message"]
    assert backend.run_count(396) == 0


def test_track_id_of_64_ascii_characters_is_fine(api):
    value = "a" * 60 + ".-_/"
    assert api.get("/workflows", headers={"Zuora-Track-Id": value}).headers["Zuora-Track-Id"] == value


def test_large_responses_are_gzipped_only_when_asked(api):
    run_id = api.run(402).json()["id"]
    params = {"workflow_id": run_id, "instance": "true", "page_length": 100}
    zipped = api.get("/workflows/tasks", params=params, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert len(zipped.json()["data"]) == 100  # httpx decoded it
    plain = api.get("/workflows/tasks", params=params, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert int(plain.headers["Content-Length"]) > int(zipped.headers["Content-Length"])
    refused = api.get("/workflows/tasks", params=params, headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in refused.headers


def test_responses_of_1000_bytes_or_less_are_not_gzipped(api):
    resp = api.get(f"/workflows/workflow_runs/{api.run(396, {'accountId': 'A'}).json()['id']}",
                   headers={"Accept-Encoding": "gzip"})  # fmt: skip
    assert len(resp.content) <= 1000
    assert "Content-Encoding" not in resp.headers


def test_gzip_request_bodies_are_accepted(api, backend):
    body = gzip.compress(json.dumps({"accountId": "A-gz"}).encode())
    resp = api.request(
        "POST",
        "/workflows/396/run",
        content=body,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert resp.status_code == 200
    assert backend.get_run(resp.json()["id"])["parameters"] == {"accountId": "A-gz"}


def test_corrupt_gzip_request_body_is_400(api, backend):
    resp = api.request(
        "POST",
        "/workflows/396/run",
        content=b"not gzip",
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert resp.status_code == 400 and "gzip" in resp.json()["errors"][0]["title"]
    assert backend.run_count(396) == 0


def test_rate_limit_headers_on_api_calls(api):
    first = api.get("/workflows")
    second = api.get("/workflows")
    assert int(second.headers["RateLimit-Remaining"]) == int(first.headers["RateLimit-Remaining"]) - 1
    assert int(first.headers["RateLimit-Limit"]) > 0 and 1 <= int(first.headers["RateLimit-Reset"]) <= 60


# ---- rate and concurrency limits ----
def test_rate_limit_answers_429_with_retry_after_and_reasons(api, backend):
    backend.configure(rate_limit=3)
    backend.freeze_clock()
    api.token  # noqa: B018 - fetch the token first (token calls have their own limit)
    statuses = [api.get("/workflows").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    resp = api.get("/workflows")
    assert resp.status_code == 429
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    reason = resp.json()["reasons"][0]
    assert reason["code"] == 70 and reason["message"].startswith("API Rate limit exceeded")
    assert resp.headers["RateLimit-Remaining"] == "0" and resp.headers["RateLimit-Limit"] == "3"
    backend.advance_clock(60)
    assert api.get("/workflows").status_code == 200


def test_token_rate_limit_is_separate(api, backend):
    backend.configure(token_rate_limit=1)
    backend.freeze_clock()
    first = api.token_response()
    assert first.status_code == 200
    refused = api.token_response()
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    api._token = first.json()["access_token"]
    assert api.get("/workflows").status_code == 200  # API calls are not counted against token calls


def test_concurrency_limit_answers_429_with_retry_after_120(api, backend):
    backend.configure(concurrency_limit=1)
    backend.inject_fault(method="GET", path="/workflows/396", delay=0.5, when="during")
    token = api.token
    slow: dict[str, int] = {}

    def slow_call() -> None:
        with httpx.Client(base_url=api.emulator.base_url, timeout=10) as c:
            slow["status"] = c.get("/workflows/396", headers={"Authorization": f"Bearer {token}"}).status_code

    thread = threading.Thread(target=slow_call)
    thread.start()
    try:
        _wait_for(lambda: backend.inflight == 1)
        resp = api.get("/workflows/397")
        assert resp.status_code == 429 and resp.headers["Retry-After"] == "120"
    finally:
        thread.join()
    assert slow["status"] == 200
    assert api.get("/workflows/397").status_code == 200


# ---- idempotency ----
def test_same_key_replays_the_first_response_and_never_makes_two_instances(api, backend):
    headers = {"Idempotency-Key": "k-replay"}
    first = api.run(396, {"accountId": "A"}, headers=headers)
    again = api.run(396, {"accountId": "A"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Zuora-Request-Id"] != first.headers["Zuora-Request-Id"]
    assert backend.run_count(396) == 1
    other = api.run(396, {"accountId": "A"}, headers={"Idempotency-Key": "k-other"})
    assert other.json()["id"] != first.json()["id"] and backend.run_count(396) == 2


def test_error_responses_are_replayed_too(api, backend):
    headers = {"Idempotency-Key": "k-406"}
    assert api.run(396, {}, headers=headers).status_code == 406
    assert api.run(396, {"accountId": "now present"}, headers=headers).status_code == 406
    assert backend.run_count(396) == 0


def test_key_is_kept_24_hours_of_emulated_time(api, backend):
    headers = {"Idempotency-Key": "k-24h"}
    first = api.run(396, {"accountId": "A"}, headers=headers).json()
    backend.advance_clock(23 * 3600)
    api._token = None
    assert api.run(396, {"accountId": "A"}, headers=headers).json()["id"] == first["id"]
    backend.advance_clock(3600)
    api._token = None
    assert api.run(396, {"accountId": "A"}, headers=headers).json()["id"] != first["id"]
    assert backend.run_count(396) == 2


def test_key_reused_on_another_path_or_method_is_422(api, backend):
    headers = {"Idempotency-Key": "k-422"}
    assert api.run(396, {"accountId": "A"}, headers=headers).status_code == 200
    resp = api.run(397, {}, headers=headers)
    assert resp.status_code == 422 and resp.json()["reasons"][0]["message"]
    assert api.request("PATCH", "/workflows/396/run", json={}, headers=headers).status_code == 422
    assert backend.run_count(397) == 0


def test_key_in_progress_is_409_then_replayed(api, backend):
    backend.inject_fault(method="POST", path="/workflows/396/run", delay=0.6, when="during")
    headers = api.auth({"Idempotency-Key": "k-busy"})
    first: dict[str, httpx.Response] = {}

    def first_call() -> None:
        with httpx.Client(base_url=api.emulator.base_url, timeout=10) as c:
            first["resp"] = c.post("/workflows/396/run", json={"accountId": "A"}, headers=headers)

    thread = threading.Thread(target=first_call)
    thread.start()
    try:
        _wait_for(lambda: backend.idempotency_state("k-busy") == "in_progress")
        busy = api.run(396, {"accountId": "A"}, headers={"Idempotency-Key": "k-busy"})
        assert busy.status_code == 409
        assert "in progress" in busy.json()["reasons"][0]["message"]
        assert "errors" not in busy.json()  # told apart from the "is an instance" 409 by its body
    finally:
        thread.join()
    assert first["resp"].status_code == 200
    replay = api.run(396, {"accountId": "A"}, headers={"Idempotency-Key": "k-busy"})
    assert replay.json()["id"] == first["resp"].json()["id"]
    assert backend.run_count(396) == 1


def test_concurrent_requests_with_one_key_make_one_instance(api, backend):
    token = api.token
    backend.inject_fault(method="POST", path="/workflows/396/run", delay=0.2, when="during")
    statuses: list[int] = []

    def call() -> None:
        with httpx.Client(base_url=api.emulator.base_url, timeout=10) as c:
            resp = c.post(
                "/workflows/396/run",
                json={"accountId": "A"},
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k-race"},
            )
            statuses.append(resp.status_code)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert backend.run_count(396) == 1
    assert set(statuses) <= {200, 409} and 200 in statuses


def test_idempotency_key_is_ignored_on_get_and_put(api, backend):
    run_id = api.run(404).json()["id"]
    for _ in range(2):
        resp = api.get(f"/workflows/workflow_runs/{run_id}", headers={"Idempotency-Key": "k-get"})
        assert resp.status_code == 200 and "Idempotent-Replayed" not in resp.headers
    assert backend.idempotency_state("k-get") is None


def test_idempotency_key_longer_than_255_is_400(api, backend):
    resp = api.run(396, {"accountId": "A"}, headers={"Idempotency-Key": "k" * 256})
    assert resp.status_code == 400 and "255" in resp.json()["errors"][0]["title"]
    assert backend.run_count(396) == 0
    assert api.run(396, {"accountId": "A"}, headers={"Idempotency-Key": "k" * 255}).status_code == 200


# ---- request log ----
def test_request_log_records_requests_with_secrets_redacted(api, backend):
    token = api.token
    api.request("POST", "/workflows/396/run?x=1", json={"accountId": "A"}, headers={"Zuora-Track-Id": "t-1"})
    log = backend.request_log
    token_call, run_call = log[-2], log[-1]
    assert (token_call.method, token_call.path, token_call.status) == ("POST", "/oauth/token", 200)
    assert token_call.body["client_secret"] == "***"
    assert token_call.body["client_id"] == "00000000-0000-4000-8000-000000000001"
    assert "authorization" not in token_call.headers
    assert (run_call.method, run_call.path, run_call.query, run_call.status) == (
        "POST",
        "/workflows/396/run",
        "x=1",
        200,
    )
    assert run_call.headers["authorization"] == "Bearer ***"
    assert run_call.headers["zuora-track-id"] == "t-1"
    assert run_call.body == {"accountId": "A"}
    everything = json.dumps([r.to_dict() for r in log]) + json.dumps(backend.state())
    assert token not in everything and "emulator-client-secret" not in everything


def test_request_log_filters_and_skips_control_routes(api, backend, emu):
    api.get("/workflows")
    api.get("/workflows/396")
    emu.client().state()
    assert [r.path for r in backend.requests(method="GET")] == ["/workflows", "/workflows/396"]
    assert [r.path for r in backend.requests(path="/workflows/*")] == ["/workflows/396"]
    assert not [r for r in backend.request_log if r.path.startswith("/_emulator")]


def _wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


@pytest.mark.parametrize(
    ("value", "accepted"),
    [("gzip", True), ("gzip, deflate", True), ("br;q=1, gzip;q=0.5", True), ("*", True), ("gzip;q=0", False),
     ("identity", False), ("", False)],
)  # fmt: skip
def test_accept_encoding_parsing(value, accepted):
    from airflow_provider_zuora.testing.gateway import accepts_gzip

    assert accepts_gzip(value) is accepted
