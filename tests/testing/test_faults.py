"""Error bodies, fault answers and redaction, without HTTP."""

from __future__ import annotations

import json

import pytest

from airflow_provider_zuora.testing.faults import (
    EmulatorError,
    Fault,
    errors_body,
    rate_limited_body,
    reasons_body,
    redact_fields,
    redact_headers,
)


def test_errors_body_with_inner_status_and_several_titles():
    assert errors_body(409, ["a", "b"], inner=406) == {
        "errors": [
            {"status": 406, "code": "conflict", "title": "a"},
            {"status": 406, "code": "conflict", "title": "b"},
        ]
    }


def test_reasons_and_rate_limited_bodies():
    body = reasons_body("nope", code=123)
    assert (
        body["success"] is False
        and body["processId"]
        and body["reasons"] == [{"code": 123, "message": "nope"}]
    )
    assert rate_limited_body(600) == {
        "reasons": [
            {"code": 70, "message": "API Rate limit exceeded for the minute, retry after 600 seconds"}
        ]
    }


@pytest.mark.parametrize(
    ("shape", "expected_keys"),
    [("errors", {"errors"}), ("reasons", {"success", "processId", "reasons"}), ("message", {"message"})],
)
def test_emulator_error_shapes(shape, expected_keys):
    err = EmulatorError(400, "bad thing", shape=shape, extra={"parameters": {}})
    assert set(err.body()) == expected_keys | {"parameters"}
    assert "bad thing" in json.dumps(err.body())


def test_fault_response_defaults_per_status():
    status, headers, body = Fault(status=503).response()
    assert status == 503 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"errors": [{"status": 503, "code": "error", "title": "Service Unavailable"}]}
    status, headers, body = Fault(status=429, body_shape="reasons", retry_after=30).response()
    assert headers["Retry-After"] == "30" and json.loads(body)["reasons"][0]["code"] == 70
    _, headers, body = Fault(status=500, body="plain text").response()
    assert body == b"plain text" and headers["Content-Type"].startswith("text/plain")


def test_redaction_keeps_the_scheme_but_not_the_secret():
    headers = redact_headers(
        {"authorization": "Bearer abc.def", "proxy-authorization": "opaque", "x-other": "v"}
    )
    assert headers == {"authorization": "Bearer ***", "proxy-authorization": "***", "x-other": "v"}
    assert redact_fields({"client_secret": "s", "Password": "p", "client_id": "c"}) == {
        "client_secret": "***",
        "Password": "***",
        "client_id": "c",
    }
    assert redact_fields(["client_secret"]) == ["client_secret"]
