"""A run's state as a pure function of time: statuses, task progress, counts that always agree."""

from __future__ import annotations

import re

import pytest

from airflow_provider_zuora.testing.clock import zuora_time
from airflow_provider_zuora.testing.runs import Run, iso_time
from airflow_provider_zuora.testing.workflows import TaskSpec, Workflow, sample_workflows

T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC
SAMPLES = {wf.id: wf for wf in sample_workflows()}
ZUORA_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")
ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def make_run(wf: Workflow) -> Run:
    return Run(
        id=1000, name=f"WF-{wf.id}-00000001", workflow=wf, created=T0, parameters={}, task_id_base=50_000,
        definition_task_base=40_000,
    )  # fmt: skip


def sweep(run: Run, until: float, step: float = 0.05):
    t = 0.0
    while t <= until:
        yield t, run.state(T0 + t), run.tasks_at(T0 + t)
        t += step


@pytest.mark.parametrize("workflow_id", sorted(i for i, wf in SAMPLES.items() if wf.status == "Active"))
def test_counts_agree_with_task_list_and_never_go_back(workflow_id):
    wf = SAMPLES[workflow_id]
    run = make_run(wf)
    horizon = min(sum(p.seconds for p in wf.phases()), 30) + wf.stopping_seconds + 1
    finished_before = 0
    for _, state, tasks in sweep(run, horizon):
        counts = state["tasks"]
        assert counts["total"] == len(tasks) == len(wf.tasks)
        for key in ("queued", "processing", "pending", "stopped", "success", "error"):
            assert counts[key] == sum(t["status"].lower() == key for t in tasks), (state["status"], key)
        assert sum(counts[k] for k in counts if k != "total") == counts["total"]
        assert counts["processing"] + counts["pending"] <= 1  # tasks run one after another
        finished = counts["success"] + counts["error"]
        assert finished >= finished_before
        finished_before = finished


def test_quick_workflow_goes_queued_processing_finished():
    run = make_run(SAMPLES[396])
    assert run.summary(T0)["status"] == "Queued"
    assert run.state(T0 + 0.1)["status"] == "Queued"
    mid = run.state(T0 + 1.0)
    assert mid["status"] == "Processing" and mid["finishedAt"] is None
    assert mid["tasks"]["processing"] == 1
    done = run.state(T0 + 2.5)
    assert done["status"] == "Finished"
    assert done["tasks"] == {
        "total": 3, "queued": 0, "processing": 0, "pending": 0, "stopped": 0, "success": 3, "error": 0,
    }  # fmt: skip
    assert done["finishedAt"] == zuora_time(T0 + 2.0)
    assert done["runTime"] == pytest.approx(2.0)
    assert done["type"] == "Workflow::Instance" and done["originalWorkflowId"] == 396


def test_statuses_follow_the_timeline_in_order():
    run = make_run(SAMPLES[398])
    seen: list[str] = []
    for _, state, _ in sweep(run, 5):
        if not seen or seen[-1] != state["status"]:
            seen.append(state["status"])
    assert seen == ["Queued", "Processing", "Pending", "Processing", "Finished"]


def test_pending_phase_shows_the_waiting_task_as_pending():
    run = make_run(SAMPLES[398])
    at = T0 + 0.3 + 0.5 + 1.0
    state, tasks = run.state(at), run.tasks_at(at)
    assert state["status"] == "Pending"
    assert state["tasks"]["pending"] == 1
    pending = [t for t in tasks if t["status"] == "Pending"]
    assert [t["name"] for t in pending] == ["Manager approval"]
    assert pending[0]["start_time"] is not None and pending[0]["end_time"] is None


def test_failed_tasks_carry_error_details_and_others_do_not():
    run = make_run(SAMPLES[397])
    state, tasks = run.state(T0 + 5), run.tasks_at(T0 + 5)
    assert state["status"] == "Finished"
    assert state["tasks"]["error"] == 2 and state["tasks"]["success"] == 2
    for task in tasks:
        if task["status"] == "Error":
            assert task["error"] and task["error_class"] and task["error_details"]
        else:
            assert task["error"] is task["error_class"] is task["error_details"] is None
    card = next(t for t in tasks if t["status"] == "Error")
    assert card["error_details"]["code"] == "card_declined"


def test_task_fields_ids_and_times():
    run = make_run(SAMPLES[396])
    tasks = run.tasks_at(T0 + 5)
    assert [t["id"] for t in tasks] == [50_000, 50_001, 50_002]
    assert [t["original_task_id"] for t in tasks] == [40_000, 40_001, 40_002]
    assert {t["workflow_id"] for t in tasks} == {1000}
    for task in tasks:
        assert ISO_TIME.match(task["start_time"]) and ISO_TIME.match(task["end_time"])
        assert task["start_time"] <= task["end_time"]
    assert [t["end_time"] for t in tasks[:-1]] == [t["start_time"] for t in tasks[1:]]
    assert all(t["start_time"] is None for t in run.tasks_at(T0 + 0.1))


def test_scripted_stop_goes_stopping_then_stopped_with_unfinished_tasks_stopped():
    wf = SAMPLES[403]
    run = make_run(wf)
    end = sum(p.seconds for p in wf.phases())
    assert run.state(T0 + end - 0.1)["status"] == "Processing"
    assert run.state(T0 + end + 0.1)["status"] == "Stopping"
    final = run.state(T0 + end + wf.stopping_seconds + 0.1)
    assert final["status"] == "Stopped"
    assert final["tasks"]["success"] == wf.stopped_after == 2
    assert final["tasks"]["stopped"] == 2
    assert final["finishedAt"] is not None
    stopped = [t for t in run.tasks_at(T0 + end + 1) if t["status"] == "Stopped"]
    assert all(t["end_time"] for t in stopped)


def test_manual_stop_freezes_progress_and_is_idempotent():
    run = make_run(SAMPLES[404])
    assert run.request_stop(T0 + 100) is True
    assert run.state(T0 + 100.2)["status"] == "Stopping"
    assert run.tasks_at(T0 + 100.2)[0]["status"] == "Processing"  # the current task until Stopped
    assert run.request_stop(T0 + 100.3) is False
    later = run.state(T0 + 10_000)
    assert later["status"] == "Stopped"
    assert later["tasks"]["stopped"] == 3 and later["tasks"]["success"] == 0


def test_stop_after_finish_changes_nothing():
    run = make_run(SAMPLES[396])
    assert run.request_stop(T0 + 10) is False
    assert run.state(T0 + 20)["status"] == "Finished"


def test_stop_while_queued_stops_every_task():
    run = make_run(SAMPLES[396])
    run.request_stop(T0 + 0.1)
    final = run.state(T0 + 5)
    assert final["status"] == "Stopped"
    assert final["tasks"]["stopped"] == 3
    assert all(t["start_time"] is None for t in run.tasks_at(T0 + 5))


def test_zero_length_timeline_is_finished_at_once():
    run = make_run(
        Workflow(id=7, queued_seconds=0, processing_seconds=0, tasks=[TaskSpec("a"), TaskSpec("b")])
    )
    assert run.summary(T0)["status"] == "Finished"
    assert run.state(T0)["tasks"]["success"] == 2


def test_unknown_timeline_status_is_reported_verbatim_and_tasks_wait():
    wf = Workflow(id=8, timeline=[["Waiting", 5], ["Processing", 1]], tasks=[TaskSpec("a")])
    run = make_run(wf)
    assert run.state(T0 + 1)["status"] == "Waiting"
    assert run.tasks_at(T0 + 1)[0]["status"] == "Queued"


def test_timestamps_use_zuora_format():
    summary = make_run(SAMPLES[396]).summary(T0)
    assert ZUORA_TIME.match(summary["createdAt"]) and ZUORA_TIME.match(summary["updatedAt"])
    assert iso_time(T0 + 0.25) == "2027-01-15T08:00:00.250Z"


def test_updated_at_moves_with_status_changes():
    run = make_run(SAMPLES[396])
    assert run.state(T0 + 0.1)["updatedAt"] == zuora_time(T0)
    assert run.state(T0 + 1.5)["updatedAt"] == zuora_time(T0 + 0.3)
    assert run.state(T0 + 9)["updatedAt"] == zuora_time(T0 + 2.0)
