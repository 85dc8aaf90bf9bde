"""The Workflow service in-process: workflows, runs, ids, validation order, task lists, the old names."""

from __future__ import annotations

import threading

import pytest

from airflow_provider_zuora.testing import errors
from airflow_provider_zuora.testing.backend import ZuoraBackend, parse_id
from airflow_provider_zuora.testing.settings import Settings
from airflow_provider_zuora.testing.workflows import Parameter, TaskSpec, Workflow


@pytest.fixture
def b() -> ZuoraBackend:
    return ZuoraBackend()


def test_default_workflows_are_the_sample_set(b):
    assert [w.id for w in b.workflows] == [396, 397, 398, 399, 401, 402, 403, 404]
    assert ZuoraBackend(workflows=[]).workflows == []


def test_settings_come_as_an_object_or_as_keywords():
    assert ZuoraBackend(settings=Settings(rate_limit=3)).config.rate_limit == 3
    assert ZuoraBackend(rate_limit=3, token_lifetime=10).config.token_lifetime == 10
    with pytest.raises(TypeError):
        ZuoraBackend(colour="red")


@pytest.mark.parametrize(
    ("value", "expected"), [(396, 396), ("396", 396), (" 7 ", 7), ("abc", None), (0, None)]
)
def test_parse_id_accepts_int_or_str(value, expected):
    assert parse_id(value) == expected


def test_runs_get_names_per_workflow_and_ids_from_a_shared_space(b):
    first = b.run_workflow(396, {"accountId": "A"})
    second = b.run_workflow("396", {"accountId": "B"})
    other = b.run_workflow(397, None)
    assert (first["name"], second["name"], other["name"]) == (
        "WF-396-00000001",
        "WF-396-00000002",
        "WF-397-00000001",
    )
    assert first["id"] > max(w.id for w in b.workflows)
    assert len({first["id"], second["id"], other["id"]}) == 3
    assert (b.run_count(396), b.run_count(397), b.run_count(999)) == (2, 1, 0)
    assert b.get_run(first["id"])["parameters"] == {"accountId": "A"}
    assert [r["id"] for r in b.runs] == [first["id"], second["id"], other["id"]]


def test_adding_a_workflow_with_a_run_id_is_refused(b):
    run = b.run_workflow(396, {"accountId": "A"})
    with pytest.raises(ValueError, match="already the id of an instance"):
        b.add_workflow(Workflow(id=run["id"]))


def test_added_workflow_ids_push_run_ids_above_them(b):
    b.add_workflow({"id": 50_000, "tasks": [{"name": "t"}]})
    assert b.run_workflow(50_000, {})["id"] == 50_001


@pytest.mark.parametrize(
    ("workflow_id", "body", "error"),
    [
        (999, {}, errors.WorkflowNotFound),
        ("x1", {}, errors.WorkflowNotFound),
        (399, {}, errors.CalloutDisabled),
        (401, {}, errors.WorkflowInactive),
        (396, ["accountId"], errors.BodyNotAnObject),
        (396, {"accountId": "A", "format": "csv"}, errors.ReservedKeys),
        (396, {}, errors.MissingParameters),
        (396, {"accountId": ""}, errors.MissingParameters),
    ],
)
def test_run_errors(b, workflow_id, body, error):
    with pytest.raises(error):
        b.run_workflow(workflow_id, body)
    assert b.run_count(396) == 0


def test_a_run_id_is_checked_first_then_existence_status_callout_body_and_parameters(b):
    run = b.run_workflow(396, {"accountId": "A"})
    with pytest.raises(errors.WorkflowIsARun) as err:
        b.run_workflow(run["id"], ["not even an object"])
    assert (
        err.value.body()["errors"][0]["title"]
        == f"Workflow {run['name']} with Id {run['id']} is an instance/run."
    )
    b.add_workflow(Workflow(id=10, status="Inactive", callout_trigger=False))
    with pytest.raises(errors.WorkflowInactive):
        b.run_workflow(10, ["x"])  # inactive before callout and body
    b.add_workflow(Workflow(id=11, callout_trigger=False))
    with pytest.raises(errors.CalloutDisabled):
        b.run_workflow(11, ["x"])  # callout before body
    b.add_workflow(Workflow(id=12, parameters=[Parameter("p", required=True)]))
    with pytest.raises(errors.ReservedKeys):
        b.run_workflow(12, {"id": 1})  # reserved keys before missing parameters


def test_406_lists_every_missing_parameter_and_echoes_the_body(b):
    b.add_workflow(Workflow(id=10, parameters=[Parameter("a", required=True), Parameter("b", required=True)]))
    with pytest.raises(errors.MissingParameters) as err:
        b.run_workflow(10, {"c": 1})
    body = err.value.body()
    assert [e["title"].split("'")[1] for e in body["errors"]] == ["a", "b"]
    assert body["parameters"] == {"c": 1}


def test_every_reserved_key_is_rejected_by_name(b):
    for key in ("controller", "action", "id", "user_email", "user_token", "format"):
        with pytest.raises(errors.ReservedKeys) as err:
            b.run_workflow(396, {"accountId": "A", key: "x"})
        assert f"'{key}'" in err.value.messages[0]


def test_get_and_stop_a_run_and_its_retention(b):
    b.freeze_clock()
    run = b.run_workflow(404, {})
    assert b.get_workflow_run(run["id"])["status"] in ("Queued", "Processing")
    assert b.stop_workflow_run(run["id"]) == {"success": True}
    assert b.get_workflow_run(run["id"])["status"] == "Stopping"
    b.advance_clock(31 * 86400)
    with pytest.raises(errors.RunNotFound, match=f"with id {run['id']}"):
        b.get_workflow_run(run["id"])
    with pytest.raises(errors.RunNotFound, match="with id provided"):
        b.stop_workflow_run(run["id"])
    assert b.get_run(run["id"])["status"] == "Stopped"  # tests still see it


def test_task_lists_of_a_run_and_of_a_definition(b):
    run = b.run_workflow(402, {})
    page, more = b.list_workflow_tasks(run["id"], run_tasks=True, page=1, page_length=100)
    assert len(page) == 100 and more and all(t["instance"] for t in page)
    definition, more = b.list_workflow_tasks(396, run_tasks=False)
    assert [t["name"] for t in definition] == ["Fetch account", "Post to CRM", "Mark account synced"]
    assert not more
    assert b.list_workflow_tasks(run["id"], run_tasks=False) == ([], False)
    with pytest.raises(errors.WorkflowIdRequired):
        b.list_workflow_tasks(None, run_tasks=True)
    with pytest.raises(errors.InvalidQueryParameter, match="between 1 and 100"):
        b.list_workflow_tasks(run["id"], run_tasks=True, page_length=101)


def test_workflow_definitions_one_and_by_page(b):
    assert b.get_workflow_definition("396")["active_version"]["status"] == "Active"
    assert b.get_workflow_definition(401)["active_version"] is None
    with pytest.raises(errors.WorkflowNotFound):
        b.get_workflow_definition(999)
    first, more = b.list_workflows(page=1, page_length=3)
    assert [w["id"] for w in first] == [396, 397, 398] and more
    assert [w["id"] for w in b.list_workflows(name="CREDIT")[0]] == [398]
    with pytest.raises(errors.InvalidQueryParameter, match="page must be"):
        b.list_workflows(page=0)


def test_reset_restores_initial_workflows_and_runs(b):
    b.add_workflow(Workflow(id=77))
    b.run_workflow(396, {"accountId": "A"})
    b.reset()
    assert 77 not in [w.id for w in b.workflows]
    assert (b.run_count(396), b.runs) == (0, [])
    b.reset(workflows=[{"id": 5}])
    assert [w.id for w in b.workflows] == [5]


def test_concurrent_runs_from_threads_never_share_an_id(b):
    b.add_workflow(Workflow(id=20, tasks=[TaskSpec("t")]))
    ids: list[int] = []

    def runner() -> None:
        for _ in range(50):
            ids.append(b.run_workflow(20, {})["id"])

    threads = [threading.Thread(target=runner) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == len(set(ids)) == 200 == b.run_count(20)


def test_state_adds_workflows_and_runs_after_the_clock(b):
    run = b.run_workflow(396, {"accountId": "A"})
    state = b.state(log=False)
    assert list(state)[:6] == [
        "now",
        "clock_offset",
        "clock_frozen",
        "workflows",
        "instance_counts",
        "instances",
    ]
    assert state["instance_counts"]["396"] == 1 and state["instances"][0]["id"] == run["id"]
    assert "emulator-client-secret" not in repr(b)


def test_the_old_names_still_work(b, monkeypatch):
    """Tests and docs outside the emulator use these: ``instance_count``, ``instances``, ..."""
    b.freeze_clock()
    run = b.run_workflow(396, {"accountId": "A"})
    assert b.instance_count(396) == b.run_count(396) == 1
    assert b.instances == b.runs
    assert b.get_instance(run["id"]) == b.get_run(run["id"])
    assert b.get_instance_tasks(run["id"]) == b.get_run_tasks(run["id"])
    assert b.workflow_run_state(run["id"]) == b.get_workflow_run(run["id"])
    monkeypatch.setattr(b, "workflow_run_state", lambda run_id: {"patched": run_id})
    assert b.get_workflow_run(7) == {"patched": 7}  # what the route calls sees the patch
