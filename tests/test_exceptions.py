"""The provider's errors: Airflow exceptions that carry what a person on call needs."""

from __future__ import annotations

import copy
import pickle

import pytest

from airflow_provider_zuora._compat import AirflowException
from airflow_provider_zuora.exceptions import (
    ZuoraApiError,
    ZuoraAuthError,
    ZuoraConfigError,
    ZuoraError,
    ZuoraTransportError,
    ZuoraWorkflowFailed,
)


def test_all_are_airflow_exceptions_and_config_errors_are_value_errors() -> None:
    for cls in (ZuoraApiError, ZuoraAuthError, ZuoraConfigError, ZuoraTransportError, ZuoraWorkflowFailed):
        assert issubclass(cls, AirflowException)
    assert issubclass(ZuoraConfigError, ValueError)


@pytest.mark.parametrize(
    ("status", "retryable"), [(429, True), (500, True), (503, True), (400, False), (404, False)]
)
def test_retryable(status: int, retryable: bool) -> None:
    assert ZuoraApiError(status, "m").retryable is retryable


def test_auth_errors_are_never_retryable_and_transport_errors_are() -> None:
    assert not ZuoraAuthError(401, "bad").retryable
    assert ZuoraTransportError("down").retryable


def test_text_names_status_message_and_ids() -> None:
    err = ZuoraApiError(409, "Workflow WF-1 is an instance", request_id="rid-1", track_id="t-1")
    assert (
        str(err)
        == "Zuora API error 409: Workflow WF-1 is an instance | Zuora-Request-Id=rid-1 | Zuora-Track-Id=t-1"
    )


@pytest.mark.parametrize("clone", [lambda e: pickle.loads(pickle.dumps(e)), copy.deepcopy])
def test_errors_survive_pickling(clone: object) -> None:
    err = ZuoraAuthError(401, "bad", request_id="r", track_id="t", retry_after=2.0, body={"message": "bad"})
    back = clone(err)  # type: ignore[operator]
    assert type(back) is ZuoraAuthError
    assert (back.status_code, back.message, back.request_id, back.track_id, back.retry_after, back.body) == (
        401,
        "bad",
        "r",
        "t",
        2.0,
        {"message": "bad"},
    )


def test_workflow_failed_keeps_the_state() -> None:
    err = ZuoraWorkflowFailed("failed", state={"id": 1, "status": "Stopped"})
    assert err.state == {"id": 1, "status": "Stopped"} and str(err) == "failed"


def test_the_gateways_passing_401_is_retryable_other_401s_are_not() -> None:
    assert ZuoraApiError(401, "Failed to get user info").retryable
    assert not ZuoraApiError(401, "Authentication error").retryable
    assert not ZuoraAuthError(401, "Failed to get user info").retryable  # bad credentials: never


def test_giving_up_is_said_once_retries_were_made() -> None:
    err = ZuoraApiError(503, "busy", request_id="r", attempts=5)
    assert str(err) == "Zuora API error 503: busy (gave up after 5 attempts) | Zuora-Request-Id=r"
    assert str(ZuoraApiError(503, "busy", attempts=1)) == "Zuora API error 503: busy"
    assert str(ZuoraTransportError("no answer", attempts=3)) == "no answer (gave up after 3 attempts)"


@pytest.mark.parametrize("clone", [lambda e: pickle.loads(pickle.dumps(e)), copy.deepcopy])
def test_attempts_and_transport_errors_survive_pickling(clone: object) -> None:
    api_err = clone(ZuoraApiError(429, "slow down", attempts=4))  # type: ignore[operator]
    assert (api_err.attempts, str(api_err)) == (
        4,
        "Zuora API error 429: slow down (gave up after 4 attempts)",
    )
    transport = clone(ZuoraTransportError("reset", attempts=2))  # type: ignore[operator]
    assert type(transport) is ZuoraTransportError
    assert (transport.message, transport.attempts, transport.retryable) == ("reset", 2, True)


# ---------------------------------------------------------------- the full retry table and round trips
@pytest.mark.parametrize(
    ("status", "message", "retryable"),
    [
        (429, "API Rate limit exceeded", True),
        (500, "", True),
        (502, "", True),
        (503, "", True),
        (504, "", True),
        (401, "Failed to get user info", True),
        (401, "Authentication error", False),
        (400, "", False),
        (403, "", False),
        (404, "", False),
        (406, "", False),
        (409, "", False),
        (422, "", False),
        (200, "not JSON", False),
    ],
)
def test_retryable_table(status: int, message: str, retryable: bool) -> None:
    assert ZuoraApiError(status, message).retryable is retryable
    assert ZuoraAuthError(status, message).retryable is False  # bad credentials: never, whatever the status


def test_text_without_ids_or_with_only_the_track_id() -> None:
    assert str(ZuoraApiError(404, "gone")) == "Zuora API error 404: gone"
    assert str(ZuoraApiError(404, "gone", track_id="t")) == "Zuora API error 404: gone | Zuora-Track-Id=t"
    err = ZuoraApiError(404, "gone", request_id="r")
    assert err.args == (str(err),)  # what Airflow prints is the full text


def test_every_error_is_a_zuora_error() -> None:
    for err in (
        ZuoraApiError(500, "x"),
        ZuoraAuthError(401, "x"),
        ZuoraConfigError("x"),
        ZuoraTransportError("x"),
        ZuoraWorkflowFailed("x"),
    ):
        with pytest.raises(ZuoraError):
            raise err


@pytest.mark.parametrize("clone", [lambda e: pickle.loads(pickle.dumps(e)), copy.copy, copy.deepcopy])
@pytest.mark.parametrize(
    "err",
    [
        ZuoraApiError(
            503,
            "busy",
            request_id="r-1",
            track_id="t-1",
            retry_after=1.5,
            body={"reasons": [{"code": 1, "message": "busy"}]},
            attempts=3,
        ),
        ZuoraAuthError(401, "refused", request_id="r-2"),
        ZuoraTransportError("Zuora GET /x got no answer: ConnectError", attempts=5),
    ],
)
def test_round_trips_keep_type_fields_and_text(clone: object, err: Exception) -> None:
    back = clone(err)  # type: ignore[operator]
    assert type(back) is type(err) and str(back) == str(err)
    fields = ("status_code", "message", "request_id", "track_id", "retry_after", "body", "attempts")
    assert {f: getattr(back, f, None) for f in fields} == {f: getattr(err, f, None) for f in fields}
    assert back.retryable is err.retryable  # type: ignore[attr-defined]


@pytest.mark.parametrize("clone", [lambda e: pickle.loads(pickle.dumps(e)), copy.deepcopy])
def test_config_and_workflow_errors_round_trip(clone: object) -> None:
    config = clone(ZuoraConfigError("Connection 'x': bad"))  # type: ignore[operator]
    assert type(config) is ZuoraConfigError and str(config) == "Connection 'x': bad"
    failed = clone(ZuoraWorkflowFailed("failed", state={"id": 1, "tasks": {"error": 2}}))  # type: ignore[operator]
    assert type(failed) is ZuoraWorkflowFailed
    assert (str(failed), failed.state) == ("failed", {"id": 1, "tasks": {"error": 2}})


def test_workflow_failed_copies_the_state_it_is_given() -> None:
    state = {"id": 1}
    err = ZuoraWorkflowFailed("failed", state=state)
    state["id"] = 2
    assert err.state == {"id": 1} and ZuoraWorkflowFailed("x").state == {}
