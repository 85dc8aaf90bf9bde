"""The provider's errors: Airflow exceptions that carry what a person on call needs."""

from __future__ import annotations

import copy
import pickle

import pytest
from airflow.sdk.exceptions import AirflowException

from airflow_provider_zuora.exceptions import (
    ZuoraApiError,
    ZuoraAuthError,
    ZuoraConfigError,
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
