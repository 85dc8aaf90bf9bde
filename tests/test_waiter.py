"""The waiter without I/O (waiter.py): what each poll's answer means for the wait, what to log."""

from __future__ import annotations

import pytest

from airflow_provider_zuora import waiter
from airflow_provider_zuora.exceptions import (
    ZuoraApiError,
    ZuoraAuthError,
    ZuoraConfigError,
    ZuoraTransportError,
)
from airflow_provider_zuora.waiter import DONE, GIVE_UP, KEEP_WAITING, TIMED_OUT, Waiter
from tests.helpers import state


def make(**kw: object) -> Waiter:
    return Waiter("400", fail_on_task_errors=True, **kw)  # type: ignore[arg-type]


def test_a_status_change_is_logged_once_and_a_done_instance_ends_the_wait() -> None:
    w = make()
    first, same, done = (
        w.polled(state("Processing")),
        w.polled(state("Processing")),
        w.polled(state("Finished")),
    )
    assert [d.action for d in (first, same, done)] == [KEEP_WAITING, KEEP_WAITING, DONE]
    assert first.logs == [
        ("info", "Zuora workflow instance 400 (WF-1-00000001) is Processing (tasks: 3 of 3 done, 0 failed)")
    ]
    assert same.logs == [] and len(done.logs) == 1 and w.last_status == "Finished"
    assert done.outcome is not None and done.outcome.done and done.state == state("Finished")


def test_task_errors_end_the_wait_as_a_failure_unless_told_otherwise() -> None:
    failed = make().polled(state("Finished", errors=1))
    assert failed.action == DONE and failed.outcome is not None and failed.outcome.verdict.value == "failed"
    lenient = Waiter("400", fail_on_task_errors=False).polled(state("Finished", errors=1))
    assert lenient.outcome is not None and lenient.outcome.verdict.value == "succeeded"


def test_transient_errors_log_the_first_then_one_in_ten_then_the_recovery() -> None:
    w = make()
    decisions = [w.failed(ZuoraApiError(503, "busy")) for _ in range(11)]
    assert all(d.action == KEEP_WAITING for d in decisions)
    logged = [i + 1 for i, d in enumerate(decisions) if d.logs]
    assert logged == [1, 11]
    assert decisions[0].logs[0][0] == "warning" and "Transient error 1 polling" in decisions[0].logs[0][1]
    back = w.polled(state("Processing"))
    assert back.logs[0] == ("info", "Polling instance 400 works again after 11 error(s)") and w.errors == 0


@pytest.mark.parametrize(
    "error",
    [ZuoraApiError(404, "gone"), ZuoraAuthError(401, "x"), ZuoraApiError(403, "no"), ZuoraConfigError("bad")],
)
def test_an_error_no_poll_can_get_past_gives_up_saying_why(error: Exception) -> None:
    d = make(conn_id="zc").failed(error)
    assert d.action == GIVE_UP and d.message == waiter.permanent_error_message(error, "400", conn_id="zc")


def test_the_deadline_times_the_wait_out_but_a_done_instance_wins() -> None:
    w = make(deadline=100.0)
    assert w.polled(state("Processing"), now=99.0).action == KEEP_WAITING
    assert w.failed(ZuoraTransportError("reset"), now=100.0).action == TIMED_OUT
    assert w.polled(state("Processing"), now=101.0).action == TIMED_OUT
    assert w.polled(state("Finished"), now=101.0).action == DONE
    assert make().polled(state("Processing"), now=1e12).action == KEEP_WAITING  # no deadline


@pytest.mark.parametrize(
    ("exc", "fragments"),
    [
        (
            ZuoraAuthError(401, "Zuora refused the OAuth client credentials of connection 'zc'"),
            ["Cannot wait for Zuora workflow instance 7. ", "refused the OAuth client credentials"],
        ),
        (ZuoraApiError(401, "Unauthorized"), ["access token of connection 'zc'", "(401)", "new one"]),
        (ZuoraApiError(403, "no"), ["denied access to workflow instance 7 (403)", "permission"]),
        (
            ZuoraApiError(404, "Cannot find"),
            ["instance 7 was not found (404)", "does not exist", "retention", "30 to 45 days", "Cannot find"],
        ),
        (
            ZuoraApiError(400, "odd", request_id="r-1"),
            ["Cannot wait for Zuora workflow", "Zuora-Request-Id=r-1"],
        ),
    ],
)
def test_permanent_error_message_explains(exc: Exception, fragments: list[str]) -> None:
    message = waiter.permanent_error_message(exc, "7", conn_id="zc")
    for fragment in fragments:
        assert fragment in message
