"""The trigger in a real ``airflow triggerer``, not run inline by ``dag.test()``.

Five deferred sensor task instances (``tests/stack/triggerer.py``) wait on the emulator: a run
that finishes, one that finishes with a failed task, an instance id Zuora does not know, one
still running when its ``end_time`` passes, and one a user marks failed while it waits. The
triggerer must rebuild each trigger from its encrypted DB row, look the connection up through its
supervisor, poll, and hand the resumed task the event: the task instance goes back to SCHEDULED
with ``next_kwargs`` carrying it. The marked one's trigger must stop its Zuora run (``on_kill``,
Airflow 3.3+); below 3.3 nothing calls it: the run goes on and nothing else breaks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from airflow_provider_zuora._compat import has_trigger_on_kill
from tests.stack.airflow_stack import wait_for
from tests.stack.triggerer import TRIGGER, TriggererStack

pytestmark = [pytest.mark.integration, pytest.mark.dag, pytest.mark.stack]
SECRET = "triggerer-stack-secret-5f1c"
STOPPED = {"Stopping", "Stopped"}


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from airflow_provider_zuora.testing import Phase, TaskSpec, Workflow, ZuoraEmulator

    workflows = [
        Workflow(id=1, name="Quick", tasks=[TaskSpec("Export")], queued_seconds=0.5, processing_seconds=1.0),
        Workflow(
            id=2,
            name="Breaks",
            tasks=[TaskSpec("Ok"), TaskSpec("Post", error="GL closed")],
            result="errors",
            processing_seconds=1.0,
        ),
        Workflow(id=3, name="Long", timeline=[Phase("Processing", 3600.0)]),
    ]
    with ZuoraEmulator(workflows=workflows, client_secret=SECRET) as emu:
        ids = [emu.backend.run_workflow(wf, {})["id"] for wf in (1, 2, 3, 3)]
        stack = TriggererStack(tmp_path_factory.mktemp("triggerer"), 5, emu.airflow_env())
        stack.prepare()
        deadline = time.monotonic() + 60
        kwargs = [{"instance_id": i, "poll_interval": 0.5} for i in (ids[0], ids[1], 999_999)]
        kwargs.append({"instance_id": ids[2], "poll_interval": 0.5, "end_time": time.time() + 15})
        kwargs.append({"instance_id": ids[3], "poll_interval": 0.5})
        stack.defer([(TRIGGER, k) for k in kwargs])
        tokens_before = emu.backend.tokens_issued
        triggerer = stack.start()
        try:
            tis = wait_for(deadline, lambda: done(stack.task_instances()[:4]))
            stack.mark(4, "failed")
            if has_trigger_on_kill():
                wait_for(
                    deadline, lambda: emu.backend.get_instance(ids[3])["status"] in {"Stopping", "Stopped"}
                )
            else:  # nothing calls on_kill: give the triggerer time to drop the trigger, then look
                time.sleep(8)
            alive = psutil.pid_exists(triggerer) and psutil.Process(triggerer).status() != "zombie"
            marked = stack.task_instances()[4]
        finally:
            stack.stop()
        yield {"tis": tis, "tokens": emu.backend.tokens_issued - tokens_before, "logs": stack.logs(),
               "ids": ids, "killed": emu.backend.get_instance(ids[3]), "alive": alive,
               "marked": marked}  # fmt: skip


def done(tis: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    return tis if all(ti["state"] == "scheduled" for ti in tis) else None


def event(outcome: dict[str, Any], map_index: int) -> dict[str, Any]:
    ti = outcome["tis"][map_index]
    assert ti["state"] == "scheduled", (
        f"task instance {map_index} is {ti['state']}:\n{outcome['logs'][-4000:]}"
    )
    assert ti["next_method"] == "execute_complete"
    return dict(ti["next_kwargs"]["event"])


def test_a_finished_run_resumes_the_task_with_its_final_state(outcome: dict[str, Any]) -> None:
    got = event(outcome, 0)
    assert got["status"] == "success"
    assert got["state"]["id"] == outcome["ids"][0] and got["state"]["status"] == "Finished"


def test_a_failed_task_comes_back_named_with_its_error(outcome: dict[str, Any]) -> None:
    got = event(outcome, 1)
    assert got["status"] == "failed" and got["failed_task_count"] == 1
    assert [(t["name"], t["error"]) for t in got["failed_tasks"]] == [("Post", "GL closed")]


def test_an_unknown_instance_is_a_permanent_error_at_once(outcome: dict[str, Any]) -> None:
    got = event(outcome, 2)
    assert got["status"] == "error" and "999999" in got["message"]


def test_a_run_past_end_time_times_out_with_its_last_state(outcome: dict[str, Any]) -> None:
    got = event(outcome, 3)
    assert got["status"] == "timeout" and got["state"]["status"] == "Processing"


def test_the_triggerer_shares_one_token_and_never_logs_the_secret(outcome: dict[str, Any]) -> None:
    assert outcome["tokens"] == 1
    assert "Zuora workflow instance" in outcome["logs"]  # the trigger logs reached the files read here
    assert SECRET not in outcome["logs"]


@pytest.mark.skipif(not has_trigger_on_kill(), reason="the triggerer calls on_kill() from Airflow 3.3")
def test_a_task_marked_failed_while_deferred_stops_its_zuora_run(outcome: dict[str, Any]) -> None:
    assert outcome["killed"]["status"] in {"Stopping", "Stopped"}, outcome["logs"][-4000:]
    assert "Stopped Zuora workflow instance" in outcome["logs"]


@pytest.mark.skipif(has_trigger_on_kill(), reason="below Airflow 3.3 only: no on_kill() from the triggerer")
def test_below_3_3_marking_a_deferred_task_failed_leaves_the_run_going_and_breaks_nothing(
    outcome: dict[str, Any],
) -> None:
    assert outcome["killed"]["status"] == "Processing"  # what the README's support table says
    assert outcome["marked"]["state"] == "failed" and outcome["alive"]
    assert "Traceback" not in outcome["logs"], outcome["logs"][-4000:]
