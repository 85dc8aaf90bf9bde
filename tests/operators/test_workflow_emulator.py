"""RunZuoraWorkflowOperator's run call against the emulator over real HTTP: the resent key's 409."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from airflow_provider_zuora.hooks._transport import TOKENS
from airflow_provider_zuora.hooks.zuora import ZuoraHook
from airflow_provider_zuora.operators._resume import STATE_KEY
from airflow_provider_zuora.operators.workflow import RunZuoraWorkflowOperator
from tests.helpers import FakeStore, make_context

pytestmark = pytest.mark.integration
RUN = "/workflows/396/run"
KEY = "airflow-try-1-key"


def test_a_retry_that_meets_its_first_run_call_still_in_progress_waits_for_the_replay(
    zuora_emulator: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    """Try 1 wrote its key and sent the run call; Zuora is still working on it when the worker dies
    and try 2 starts. Try 2 resends the key, gets 409 "in progress", waits, and gets try 1's run
    replayed: one instance, not two, and not a failed task."""
    TOKENS.clear()  # a token from an earlier test's emulator state would cost a 401 first
    backend = zuora_emulator.backend
    backend.inject_fault(method="POST", path=RUN, when="during", delay=2.0)  # holds the key in progress
    first: dict[str, Any] = {}

    def try_1() -> None:  # the first try's request, which its (dead) worker never read
        first.update(ZuoraHook().run_workflow(396, {"accountId": "A-1"}, idempotency_key=KEY))

    sender = threading.Thread(target=try_1)
    sender.start()
    try:
        deadline = time.monotonic() + 10
        while backend.inflight == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert backend.inflight == 1, "try 1's run call never reached the emulator"

        store = FakeStore({STATE_KEY: {"idempotency_key": KEY, "workflow_id": 396}})
        operator = RunZuoraWorkflowOperator(task_id="run", workflow_id=396, parameters={"accountId": "A-1"})
        state = operator.execute(make_context(store))
    finally:
        sender.join(timeout=10)

    assert state["id"] == first["id"]
    assert backend.instance_count(396) == 1
    answers = [r.status for r in backend.requests("POST", RUN) if r.headers.get("idempotency-key") == KEY]
    assert answers[0] == 200 and answers[-1] == 200 and 409 in answers  # try 1, then 409s, then the replay
    assert "an earlier run call under this key is still in progress" in capfd.readouterr().out
