"""The call policy without I/O (calls.py): what each error means, and the step after it."""

from __future__ import annotations

import pytest

from airflow_provider_zuora import api, calls
from airflow_provider_zuora.calls import FAIL, REFRESH, RETRY, WAIT_FOR_KEY, Call
from airflow_provider_zuora.exceptions import ZuoraApiError, ZuoraAuthError, ZuoraTransportError

H = {"Accept": "application/json"}
GET = api.get_instance_request(1, H)
RUN = api.run_workflow_request(1, {}, headers=H)
KEYED = api.run_workflow_request(1, {}, idempotency_key="k", headers=H)


def policy(request: api.ApiRequest, *, attempts: int = 5, now: float = 0.0, **kw: object) -> Call:
    return Call(request, max_attempts=attempts, max_wait=0, now=now, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------- what an error means
@pytest.mark.parametrize(
    ("error", "kind"),
    [
        *[(ZuoraApiError(s, "x"), calls.TRANSIENT) for s in (429, 500, 502, 503, 504)],
        (ZuoraTransportError("reset"), calls.TRANSIENT),
        (ZuoraApiError(401, "Authentication error"), calls.EXPIRED),
        (ZuoraApiError(401, "Failed to get user info"), calls.EXPIRED),  # refreshed first, then retried
        (ZuoraApiError(409, "key in progress"), calls.KEY_IN_PROGRESS),
        (ZuoraApiError(409, "Workflow WF-1 with Id 399 is an instance/run."), calls.PERMANENT),
        *[(ZuoraApiError(s, "x"), calls.PERMANENT) for s in (400, 403, 404, 406, 418, 422)],
        (ZuoraAuthError(401, "refused"), calls.PERMANENT),
        (ZuoraAuthError(503, "x"), calls.PERMANENT),
        (ValueError("a bug"), calls.PERMANENT),
        (ConnectionError("raw, not ours"), calls.PERMANENT),
    ],
)
def test_classify(error: BaseException, kind: str) -> None:
    assert calls.classify(error) == kind


def test_a_poll_is_worth_another_try_exactly_when_the_hook_would_retry_it() -> None:
    for error in (
        ZuoraApiError(503, "x"),
        ZuoraTransportError("x"),
        ZuoraApiError(401, "Failed to get user info"),
    ):
        assert calls.is_transient(error)
        assert policy(GET).after(error, now=0).action in (RETRY, REFRESH)
    for error in (ZuoraApiError(401, "nope"), ZuoraApiError(404, "x"), ZuoraApiError(409, "x"), ValueError()):
        assert not calls.is_transient(error)


# ---------------------------------------------------------------- the step after an error
@pytest.mark.parametrize(
    ("error", "get", "run", "keyed"),
    [
        (ZuoraApiError(503, "x"), RETRY, FAIL, RETRY),
        (ZuoraTransportError("x"), RETRY, FAIL, RETRY),
        (ZuoraApiError(404, "x"), FAIL, FAIL, FAIL),
        (ZuoraApiError(409, "x"), FAIL, FAIL, WAIT_FOR_KEY),  # only a key can be in progress
        (ZuoraApiError(401, "Authentication error"), REFRESH, REFRESH, REFRESH),  # refused before Zuora
        (ZuoraAuthError(401, "x"), FAIL, FAIL, FAIL),
    ],
)
def test_the_first_step_depends_on_the_error_and_the_request(
    error: BaseException, get: str, run: str, keyed: str
) -> None:
    steps = [policy(r).after(error, now=0).action for r in (GET, RUN, KEYED)]
    assert steps == [get, run, keyed]


def test_an_unkeyed_run_call_is_never_sent_twice_for_a_transient_error() -> None:
    step = policy(RUN).after(ZuoraApiError(503, "busy"), now=0)
    assert step.action == FAIL and step.error is not None and getattr(step.error, "attempts", 0) is None


def test_tries_run_out_after_max_attempts_with_the_last_error_saying_so() -> None:
    call, error = policy(GET, attempts=3), ZuoraApiError(503, "busy")
    steps = [call.after(error, now=0) for _ in range(3)]
    assert [s.action for s in steps] == [RETRY, RETRY, FAIL]
    assert steps[-1].error is error and error.attempts == 3 and "gave up after 3 attempts" in str(error)
    assert "try 2 of 3" in steps[0].message and "try 3 of 3" in steps[1].message and "503" in steps[0].message


def test_one_attempt_means_no_retry() -> None:
    step = policy(GET, attempts=1).after(ZuoraTransportError("x"), now=0)
    assert step.action == FAIL and getattr(step.error, "attempts", None) == 1


def test_the_token_is_refreshed_once_then_a_401_is_final_unless_the_gateway_passes() -> None:
    call = policy(GET)
    assert call.after(ZuoraApiError(401, "Authentication error"), now=0).action == REFRESH
    assert call.after(ZuoraApiError(401, "Authentication error"), now=0).action == FAIL
    passing = policy(GET)
    assert passing.after(ZuoraApiError(401, "Failed to get user info"), now=0).action == REFRESH
    assert passing.after(ZuoraApiError(401, "Failed to get user info"), now=0).action == RETRY


def test_the_token_call_has_no_token_to_refresh() -> None:
    token = api.ApiRequest("POST", "/oauth/token", retryable=True)
    call = policy(token, can_refresh=False)
    assert call.after(ZuoraApiError(401, "Failed to get user info"), now=0).action == RETRY
    assert call.after(ZuoraApiError(401, "Authentication error"), now=0).action == FAIL


def test_a_key_in_progress_is_waited_for_1_2_4_8_then_10_s_for_two_minutes() -> None:
    call, clock, waits = policy(KEYED, now=1000.0), 1000.0, []
    while True:
        step = call.after(ZuoraApiError(409, "key in progress"), now=clock)
        if step.action == FAIL:
            break
        assert step.action == WAIT_FOR_KEY and "still in progress (key in progress)" in step.message
        waits.append(step.seconds)
        clock += step.seconds
    assert waits[:5] == [1, 2, 4, 8, 10] and set(waits[4:]) == {10}
    assert 110 <= sum(waits) <= calls.KEY_IN_PROGRESS_BUDGET
    assert isinstance(step.error, ZuoraApiError) and step.error.status_code == 409


def test_key_waits_do_not_use_up_the_tries_for_transient_errors() -> None:
    call = policy(KEYED, attempts=2)
    for _ in range(3):
        assert call.after(ZuoraApiError(409, "in progress"), now=0).action == WAIT_FOR_KEY
    assert call.after(ZuoraApiError(503, "x"), now=0).action == RETRY


# ---------------------------------------------------------------- backoff
def test_backoff_is_jittered_exponential_and_retry_after_wins_capped() -> None:
    for attempt in range(1, 8):
        delays = [calls.backoff_seconds(attempt, None, base=1, cap=20) for _ in range(50)]
        assert all(0 <= d <= min(20, 2 ** (attempt - 1)) for d in delays)
        assert len(set(delays)) > 1  # jitter
    assert calls.backoff_seconds(1, ZuoraApiError(429, "x", retry_after=5), base=1, cap=60) == 5
    assert calls.backoff_seconds(1, ZuoraApiError(429, "x", retry_after=600), base=1, cap=60) == 60


def test_backoff_doubles_from_the_base_up_to_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calls.random, "uniform", lambda low, high: high)  # the top of each jitter range
    assert [calls.backoff_seconds(n, None, base=1, cap=20) for n in range(0, 8)] == [
        1,
        1,
        2,
        4,
        8,
        16,
        20,
        20,
    ]
    assert calls.backoff_seconds(3, ZuoraApiError(503, "x"), base=0.5, cap=60) == 2
    monkeypatch.setattr(calls.random, "uniform", lambda low, high: low)
    assert calls.backoff_seconds(5, None, base=1, cap=20) == 0  # full jitter: from zero


def test_backoff_edges() -> None:
    assert calls.backoff_seconds(4, ZuoraApiError(429, "x", retry_after=0), base=1, cap=60) == 0
    assert calls.backoff_seconds(4, ZuoraTransportError("x"), base=1, cap=0) == 0
    assert calls.backoff_seconds(2, ZuoraApiError(429, "x", retry_after=7), base=1, cap=0) == 0


def test_a_retry_waits_as_backoff_seconds_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calls.random, "uniform", lambda low, high: high)
    call = Call(GET, max_attempts=5, max_wait=3, now=0, base_wait=1)
    waits = [call.after(ZuoraApiError(503, "x"), now=0).seconds for _ in range(4)]
    assert waits == [1, 2, 3, 3]  # 1 s doubling, capped at max_wait


def test_exhausted_marks_the_last_error_with_the_tries() -> None:
    err = ZuoraApiError(503, "busy")
    assert calls.exhausted(err, 3) is err and err.attempts == 3
    transport = ZuoraTransportError("reset")
    assert calls.exhausted(transport, 2) is transport and "gave up after 2 attempts" in str(transport)
    other = ValueError("bug")
    assert calls.exhausted(other, 2) is other
