"""Injected faults: what a fault spec allows and answers, then over real HTTP at each stage.

The HTTP tests cover statuses, body shapes, delays, dropped connections and broken gzip, before,
during and after the backend.
"""

from __future__ import annotations

import gzip
import json
import zlib

import httpx
import pytest

from airflow_provider_zuora.testing.faults import Fault, request_matcher, truncated_gzip

integration = pytest.mark.integration
RUN = "/workflows/396/run"
PARAMS = {"accountId": "A"}


# ---- the spec, without HTTP ----
def test_fault_response_defaults_per_status():
    status, headers, body = Fault(status=503).response()
    assert status == 503 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"errors": [{"status": 503, "code": "error", "title": "Service Unavailable"}]}
    status, headers, body = Fault(status=429, body_shape="reasons", retry_after=30).response()
    assert headers["Retry-After"] == "30" and json.loads(body)["reasons"][0]["code"] == 70
    _, headers, body = Fault(status=500, body="plain text").response()
    assert body == b"plain text" and headers["Content-Type"].startswith("text/plain")


def test_request_matcher_globs_and_regexes():
    assert request_matcher("post", "/workflows/*/run")("POST", "/workflows/396/run")
    assert not request_matcher("POST", "/workflows/*/run")("GET", "/workflows/396/run")
    assert request_matcher("*", "*")("PUT", "/a/b/c")  # * also matches /
    assert request_matcher("*", r"re:/w/\d+")("GET", "/w/12")
    assert not request_matcher("*", r"re:/w/\d+")("GET", "/w/12/x")  # the whole path


def test_a_fault_is_json_ready_with_its_fields_in_order():
    fault = Fault(status=503, headers=None)
    assert list(fault.to_dict()) == [
        "method", "path", "status", "count", "body_shape", "message", "body", "delay", "drop", "when",
        "retry_after", "headers", "truncate_gzip", "id", "hits",
    ]  # fmt: skip
    assert json.loads(json.dumps(fault.to_dict()))["headers"] == {}
    with pytest.raises(TypeError):
        Fault(status=503, id=7)  # the backend numbers faults


def test_truncated_gzip_is_half_a_gzip_stream():
    headers, body = truncated_gzip(b"x" * 5000)
    assert headers == [(b"content-encoding", b"gzip")]
    with pytest.raises((EOFError, OSError, zlib.error)):
        gzip.decompress(body)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"status": 503, "when": "later"}, "when must be one of"),
        ({"status": 503, "body_shape": "xml"}, "body_shape must be one of"),
        ({"status": 99}, "HTTP status code"),
        ({"status": 503, "drop": True}, "not both"),
        ({}, "give a status, drop=True or a delay"),
        ({"status": 503, "count": 0}, "count must be"),
        ({"delay": -1}, "delay must be"),
        ({"status": 500, "path": "re:("}, "bad regular expression"),
    ],
)
def test_bad_fault_specs_are_refused(kwargs, fragment):
    with pytest.raises(ValueError) as err:
        Fault(**kwargs)
    assert fragment in str(err.value)


# ---- over HTTP ----
@integration
@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 418])
@pytest.mark.parametrize(
    ("shape", "check"),
    [
        ("errors", lambda body, status: body["errors"][0]["status"] == status and body["errors"][0]["title"]),
        ("reasons", lambda body, status: body["reasons"][0]["message"] and body["reasons"][0]["code"]),
        ("message", lambda body, status: isinstance(body["message"], str) and body["message"]),
    ],
)
def test_fault_answers_status_with_body_shape(api, backend, status, shape, check):
    backend.inject_fault(method="GET", path="/workflows", status=status, body_shape=shape)
    resp = api.get("/workflows")
    assert resp.status_code == status
    assert check(resp.json(), status)
    assert resp.headers["Zuora-Request-Id"]
    assert api.get("/workflows").status_code == 200  # count=1: the next request is normal


@integration
def test_raw_and_empty_and_verbatim_bodies(api, backend):
    backend.inject_fault(path="/workflows", status=502, body_shape="raw")
    raw = api.get("/workflows")
    assert raw.status_code == 502 and raw.headers["Content-Type"].startswith("text/html")
    assert "502 Bad Gateway" in raw.text
    backend.inject_fault(path="/workflows", status=503, body_shape="empty")
    assert api.get("/workflows").content == b""
    backend.inject_fault(path="/workflows", status=500, body={"custom": [1, 2]}, headers={"X-Extra": "yes"})
    custom = api.get("/workflows")
    assert custom.json() == {"custom": [1, 2]} and custom.headers["X-Extra"] == "yes"


@integration
def test_429_fault_with_retry_after(api, backend):
    backend.inject_fault(method="POST", path=RUN, status=429, body_shape="reasons", retry_after=7)
    resp = api.run(396, PARAMS)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"
    assert resp.json()["reasons"][0] == {
        "code": 70,
        "message": "API Rate limit exceeded for the minute, retry after 7 seconds",
    }


@integration
def test_fault_on_the_token_endpoint(api, backend):
    backend.inject_fault(
        method="POST",
        path="/oauth/token",
        status=401,
        body_shape="message",
        message="Failed to get user info",
    )
    resp = api.token_response()
    assert resp.status_code == 401 and resp.json() == {"message": "Failed to get user info"}
    assert backend.tokens_issued == 0
    assert api.token_response().status_code == 200


@integration
def test_count_and_matching(api, backend):
    backend.inject_fault(method="POST", path="/workflows/*/run", status=503, count=2)
    assert api.get("/workflows/396").status_code == 200  # other method/path: untouched
    assert [api.run(396, PARAMS).status_code for _ in range(3)] == [503, 503, 200]
    assert backend.run_count(396) == 1
    backend.inject_fault(path="re:/workflows/workflow_runs/\\d+", status=500, count=None)
    run_id = backend.runs[0]["id"]
    assert [api.get(f"/workflows/workflow_runs/{run_id}").status_code for _ in range(3)] == [500, 500, 500]
    backend.clear_faults()
    assert api.get(f"/workflows/workflow_runs/{run_id}").status_code == 200


@integration
def test_before_fault_creates_nothing_and_records_nothing(api, backend):
    backend.inject_fault(method="POST", path=RUN, status=503)
    resp = api.run(396, PARAMS, headers={"Idempotency-Key": "k-before"})
    assert resp.status_code == 503
    assert backend.run_count(396) == 0
    assert backend.idempotency_state("k-before") is None
    entry = backend.request_log[-1]
    assert (entry.status, entry.outcome) == (503, "fault")


@integration
def test_before_fault_answers_even_without_a_token(api, backend):
    backend.inject_fault(path="/workflows", status=504)
    assert api.http.get("/workflows").status_code == 504


@integration
def test_during_fault_with_status_releases_the_key(api, backend):
    backend.inject_fault(method="POST", path=RUN, status=500, when="during")
    headers = {"Idempotency-Key": "k-during"}
    assert api.run(396, PARAMS, headers=headers).status_code == 500
    assert backend.run_count(396) == 0
    assert backend.idempotency_state("k-during") is None
    assert api.run(396, PARAMS, headers=headers).status_code == 200
    assert backend.run_count(396) == 1


@integration
def test_after_fault_creates_the_instance_and_a_retry_gets_it(api, backend):
    backend.inject_fault(method="POST", path=RUN, status=502, when="after")
    headers = {"Idempotency-Key": "k-after"}
    lost = api.run(396, PARAMS, headers=headers)
    assert lost.status_code == 502
    assert backend.run_count(396) == 1
    assert backend.idempotency_state("k-after") == "stored"
    retry = api.run(396, PARAMS, headers=headers)
    assert retry.status_code == 200 and retry.json()["id"] == backend.runs[0]["id"]
    assert backend.run_count(396) == 1


@integration
def test_dropped_connection_before_creates_nothing(api, backend):
    backend.inject_fault(method="POST", path=RUN, drop=True)
    with pytest.raises(httpx.TransportError):
        api.run(396, PARAMS)
    assert backend.run_count(396) == 0
    assert backend.request_log[-1].outcome == "dropped"
    assert api.run(396, PARAMS).status_code == 200  # the server is fine afterwards


@integration
def test_dropped_connection_after_loses_the_response_but_not_the_instance(api, backend):
    backend.inject_fault(method="POST", path=RUN, drop=True, when="after")
    headers = {"Idempotency-Key": "k-drop"}
    with pytest.raises(httpx.TransportError):
        api.run(396, PARAMS, headers=headers)
    assert backend.run_count(396) == 1
    retry = api.run(396, PARAMS, headers=headers)
    assert retry.status_code == 200 and retry.headers["Idempotent-Replayed"] == "true"
    assert backend.run_count(396) == 1


@integration
def test_replays_count_as_responses_for_after_faults(api, backend):
    backend.inject_fault(method="POST", path=RUN, drop=True, when="after", count=2)
    headers = {"Idempotency-Key": "k-drop-twice"}
    for _ in range(2):
        with pytest.raises(httpx.TransportError):
            api.run(396, PARAMS, headers=headers)
    assert api.run(396, PARAMS, headers=headers).status_code == 200
    assert backend.run_count(396) == 1


@integration
def test_requests_turned_away_by_the_gateway_do_not_use_up_later_stage_faults(api, backend):
    backend.inject_fault(method="POST", path=RUN, status=502, when="after")
    backend.inject_fault(method="POST", path=RUN, status=500, when="during")
    assert api.http.post(RUN, json=PARAMS).status_code == 401  # no token: rejected before both stages
    assert len(backend.faults) == 2
    assert api.run(396, PARAMS).status_code == 500  # the during fault: nothing created
    assert backend.run_count(396) == 0
    assert api.run(396, PARAMS).status_code == 502  # the after fault: created, answer replaced
    assert backend.run_count(396) == 1 and backend.faults == []


@integration
def test_delay_after_outlasts_a_client_timeout_yet_the_instance_exists(api, backend):
    backend.inject_fault(method="POST", path=RUN, delay=1.0, when="after")
    headers = api.auth({"Idempotency-Key": "k-slow"})
    with (
        httpx.Client(base_url=api.emulator.base_url, timeout=0.2) as impatient,
        pytest.raises(httpx.ReadTimeout),
    ):
        impatient.post(RUN, json=PARAMS, headers=headers)
    assert backend.run_count(396) == 1
    retry = api.run(396, PARAMS, headers={"Idempotency-Key": "k-slow"})
    assert retry.status_code == 200 and retry.json()["id"] == backend.runs[0]["id"]


@integration
def test_delay_before_then_normal_answer(api, backend):
    backend.inject_fault(method="GET", path="/workflows", delay=0.3)
    with (
        httpx.Client(base_url=api.emulator.base_url, timeout=0.05) as impatient,
        pytest.raises(httpx.ReadTimeout),
    ):
        impatient.get("/workflows", headers=api.auth())
    backend.inject_fault(method="GET", path="/workflows", delay=0.1)
    assert api.get("/workflows").status_code == 200


@integration
def test_truncated_gzip_sends_a_broken_stream_with_a_matching_length(api, backend):
    fault = backend.inject_fault(method="GET", path="/workflows/396", truncate_gzip=True)
    with api.http.stream("GET", "/workflows/396", headers=api.auth()) as resp:
        raw = b"".join(resp.iter_raw())
    assert resp.status_code == 200 and resp.headers["Content-Encoding"] == "gzip"
    assert int(resp.headers["Content-Length"]) == len(raw)
    with pytest.raises((EOFError, OSError, zlib.error)):
        gzip.decompress(raw)
    entry = backend.request_log[-1]
    assert (entry.outcome, entry.fault_id) == ("fault", fault.id)
