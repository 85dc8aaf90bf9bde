"""The workflow spec: validation with errors that name the field, JSON loading, the sample set."""

from __future__ import annotations

import json

import pytest

from airflow_provider_zuora.testing.workflows import (
    Parameter,
    Phase,
    TaskSpec,
    Workflow,
    load_workflows,
    sample_workflows,
    workflows_from_json,
)


def test_defaults_give_queued_then_processing():
    wf = Workflow(id="12", tasks=[TaskSpec("a")])
    assert wf.id == 12
    assert wf.name == "Workflow 12"
    assert [(p.status, p.seconds) for p in wf.phases()] == [("Queued", 0.3), ("Processing", 1.5)]


def test_pending_seconds_split_processing_around_pending():
    wf = Workflow(id=1, processing_seconds=2, pending_seconds=5)
    assert [(p.status, p.seconds) for p in wf.phases()] == [
        ("Queued", 0.3),
        ("Processing", 1.0),
        ("Pending", 5),
        ("Processing", 1.0),
    ]


def test_explicit_timeline_accepts_pairs_and_objects():
    wf = Workflow(id=1, timeline=[["Queued", 1], {"status": "Pending", "seconds": 2}])
    assert wf.phases() == [Phase("Queued", 1), Phase("Pending", 2)]


def test_repeat_expands_tasks_with_numbered_names():
    wf = Workflow(id=1, tasks=[TaskSpec("Upload", "Callout", repeat=3), {"name": "End"}])
    assert [t.name for t in wf.tasks] == ["Upload 1", "Upload 2", "Upload 3", "End"]
    assert all(t.repeat == 1 for t in wf.tasks)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"id": "abc"}, "workflow id must be an integer"),
        ({"id": 0}, "workflow id must be > 0"),
        ({"id": 1, "status": "Draft"}, "status must be one of"),
        ({"id": 1, "result": "failed"}, "result must be one of"),
        ({"id": 1, "result": "errors", "tasks": [{"name": "a"}]}, "needs at least one task with 'error'"),
        ({"id": 1, "tasks": [{"name": "a", "error": "boom"}]}, "result 'success' but 1 task(s)"),
        ({"id": 1, "stopped_after": 1, "tasks": [{"name": "a"}]}, "stopped_after is only meaningful"),
        ({"id": 1, "result": "stopped", "stopped_after": 5, "tasks": [{"name": "a"}]}, "within 0..1"),
        ({"id": 1, "queued_seconds": -1}, "queued_seconds must be a number >= 0"),
        ({"id": 1, "timeline": [["Finished", 1]]}, "not allowed in a timeline"),
        ({"id": 1, "timeline": [["Queued", -2]]}, "seconds must be a number >= 0"),
        ({"id": 1, "parameters": ["a", "a"]}, "duplicate names"),
        ({"id": 1, "parameters": [{"name": "a", "mandatory": True}]}, "unknown field(s) ['mandatory']"),
        ({"id": 1, "tasks": [{"name": "a", "repeat": 0}]}, "repeat must be an integer >= 1"),
        ({"id": 1, "tasks": [{"name": ""}]}, "task name must be a non-empty string"),
    ],
)
def test_bad_specs_name_the_field(kwargs, fragment):
    with pytest.raises(ValueError) as err:
        Workflow.from_dict(kwargs)
    assert fragment in str(err.value)


def test_from_dict_rejects_unknown_keys_and_missing_id():
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['callout'\]"):
        Workflow.from_dict({"id": 1, "callout": False})
    with pytest.raises(ValueError, match="'id' is required"):
        Workflow.from_dict({"name": "x"})


def test_to_dict_round_trips():
    wf = Workflow(
        id=5,
        parameters=[Parameter("a", required=True)],
        tasks=[TaskSpec("t", error="e", error_details={"k": 1})],
        result="errors",
        timeline=[Phase("Queued", 1)],
    )
    again = Workflow.from_dict(json.loads(json.dumps(wf.to_dict())))
    assert again == wf


def test_workflows_from_json_accepts_list_or_object_and_rejects_duplicates():
    assert [w.id for w in workflows_from_json([{"id": 1}, {"id": 2}])] == [1, 2]
    assert [w.id for w in workflows_from_json({"workflows": [{"id": 3}]})] == [3]
    with pytest.raises(ValueError, match=r"duplicate workflow ids \[1\]"):
        workflows_from_json([{"id": 1}, {"id": 1}])
    with pytest.raises(ValueError, match="expected a list"):
        workflows_from_json({"items": []})


def test_load_workflows_reports_bad_json_with_the_path(tmp_path):
    path = tmp_path / "wf.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"wf\.json: not valid JSON"):
        load_workflows(path)


def test_sample_set_covers_each_behaviour():
    by_behaviour: dict[str, list[Workflow]] = {}
    for wf in sample_workflows():
        statuses = {p.status for p in wf.phases()}
        total = sum(p.seconds for p in wf.phases())
        runnable = wf.status == "Active" and wf.callout_trigger
        if (
            wf.result == "success"
            and runnable
            and total <= 2.5
            and wf.parameters
            and "Pending" not in statuses
        ):
            by_behaviour.setdefault("quick success with parameters", []).append(wf)
        if wf.result == "errors" and any(t.fails for t in wf.tasks):
            by_behaviour.setdefault("task errors", []).append(wf)
        if "Pending" in statuses:
            by_behaviour.setdefault("pending", []).append(wf)
        if not wf.callout_trigger:
            by_behaviour.setdefault("callout disabled", []).append(wf)
        if wf.status == "Inactive":
            by_behaviour.setdefault("inactive", []).append(wf)
        if len(wf.tasks) >= 250:
            by_behaviour.setdefault("many tasks", []).append(wf)
        if wf.result == "stopped":
            by_behaviour.setdefault("stopped", []).append(wf)
    assert set(by_behaviour) == {
        "quick success with parameters",
        "task errors",
        "pending",
        "callout disabled",
        "inactive",
        "many tasks",
        "stopped",
    }
    quick = by_behaviour["quick success with parameters"][0]
    assert len(quick.parameters) >= 2 and any(p.required for p in quick.parameters)
