"""Zuora's error body shapes, and each named error's status, body and headers, without HTTP."""

from __future__ import annotations

import json

import pytest

from airflow_provider_zuora.testing import errors, faults
from airflow_provider_zuora.testing.backend import RESERVED_KEYS
from airflow_provider_zuora.testing.errors import (
    EmulatorError,
    errors_body,
    rate_limited_body,
    reasons_body,
)
from airflow_provider_zuora.testing.workflows import Parameter


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


def _errors(status: int, title: str, code: str = "invalid", inner: int | None = None) -> dict:
    return {"errors": [{"status": inner or status, "code": code, "title": title}]}


def _reasons(code: int, message: str) -> dict:
    return {"success": False, "processId": "<id>", "reasons": [{"code": code, "message": message}]}


RATE_MESSAGE = "API Rate limit exceeded for the minute, retry after 30 seconds"
NAMED = [
    (errors.WorkflowNotFound(999), 404, _errors(404, "Workflow 999 not found", "not_found")),
    (
        errors.WorkflowIsARun("WF-396-00000001", 1000),
        409,
        _errors(409, "Workflow WF-396-00000001 with Id 1000 is an instance/run.", "conflict", inner=406),
    ),
    (
        errors.WorkflowInactive(401, "Retired invoice sync"),
        400,
        _errors(400, "Workflow 401 (Retired invoice sync) is inactive and cannot be run."),
    ),
    (errors.CalloutDisabled(), 400, _errors(400, "Callout mode is not turned on in this workflow.")),
    (
        errors.BodyNotAnObject(["accountId"]),
        400,
        _errors(400, "The request body must be a JSON object of input parameters, got list."),
    ),
    (
        errors.InvalidJsonBody("Expecting value: line 1 column 2 (char 1)"),
        400,
        _errors(400, "The request body is not valid JSON: Expecting value: line 1 column 2 (char 1)"),
    ),
    (
        errors.ReservedKeys(["id", "format"], RESERVED_KEYS),
        400,
        _errors(
            400,
            "Parameter(s) 'id', 'format' use reserved words and cannot be used in the request body "
            "(reserved: controller, action, id, user_email, user_token, format).",
        ),
    ),
    (
        errors.MissingParameters([Parameter("accountId", required=True)], {"paymentId": "P"}),
        406,
        {
            **_errors(
                406,
                "Required field for Workflow-accountId does not have a set value. "
                "Ensure parameter 'accountId' is present.",
            ),
            "parameters": {"paymentId": "P"},
        },
    ),
    (errors.RunNotFound(5), 404, _errors(404, "Cannot find a workflow run with id 5.", "not_found")),
    (errors.RunNotFound(), 404, _errors(404, "Cannot find a workflow run with id provided.", "not_found")),
    (
        errors.WorkflowIdRequired(),
        400,
        _errors(400, "workflow_id is required (this emulator lists tasks of one workflow or run)."),
    ),
    (errors.InvalidQueryParameter("page must be an integer >= 1, got 0"), 400,
     _errors(400, "page must be an integer >= 1, got 0")),
    (
        errors.NotFormEncoded("application/json"),
        400,
        {"message": "Content-Type must be application/x-www-form-urlencoded, got 'application/json'"},
    ),
    (
        errors.UnsupportedGrantType(),
        400,
        {"message": "grant_type must be client_credentials", "error": "unsupported_grant_type"},
    ),
    (errors.AuthenticationFailed(), 401, {"message": "Authentication error"}),
    (errors.InvalidGzipBody(), 400, _errors(400, "Request body is not valid gzip data")),
    (errors.InvalidTrackId("too long"), 400, _reasons(90000011, "too long")),
    (
        errors.ConcurrencyLimitExceeded(120),
        429,
        _reasons(70, "Concurrent request limit exceeded, retry after 120 seconds"),
    ),
    (
        errors.RateLimitExceeded(30),
        429,
        {"reasons": [{"code": 70, "message": RATE_MESSAGE}]},
    ),
    (
        errors.InvalidIdempotencyKey(256, 255),
        400,
        _errors(400, "Idempotency-Key must be 1 to 255 characters, got 256"),
    ),
    (
        errors.IdempotencyKeyInProgress(),
        409,
        _reasons(53000040, "A request with the same Idempotency-Key is still in progress; retry later."),
    ),
    (
        errors.IdempotencyKeyReused(),
        422,
        _reasons(53000050, "The Idempotency-Key was already used for a request with another URL or method."),
    ),
    (errors.ControlRequestInvalid("clock: expected a JSON object"), 400,
     {"message": "clock: expected a JSON object"}),
    (errors.ControlRunNotFound(5), 404, {"message": "no instance 5"}),
]  # fmt: skip


@pytest.mark.parametrize(("error", "status", "body"), NAMED, ids=lambda v: type(v).__name__)
def test_each_named_error_answers_its_status_and_body(error, status, body):
    assert isinstance(error, EmulatorError)
    got = error.body()
    if "processId" in got:
        assert len(got["processId"]) == 16
        got["processId"] = "<id>"
    assert (error.status, got) == (status, body)


@pytest.mark.parametrize(
    ("error", "headers"),
    [(errors.ConcurrencyLimitExceeded(120), {"Retry-After": "120"}),
     (errors.RateLimitExceeded(7), {"Retry-After": "7"}),
     (errors.AuthenticationFailed(), {})],
)  # fmt: skip
def test_named_errors_carry_their_headers(error, headers):
    assert error.headers == headers


def test_every_named_error_is_in_the_table():
    named = {cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, EmulatorError)}
    assert named - {EmulatorError} == {type(error) for error, _, _ in NAMED}


def test_emulator_error_is_still_importable_from_faults():
    assert faults.EmulatorError is EmulatorError
