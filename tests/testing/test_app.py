"""The emulator's routes over real HTTP on 127.0.0.1: OAuth, run, run state, stop, tasks, workflows."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.integration

ZUORA_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")


# ---- OAuth ----
def test_token_is_issued_for_form_encoded_client_credentials(api, backend):
    resp = api.token_response()
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "jti"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 3599
    assert backend.tokens_issued == 1


@pytest.mark.parametrize("field", ["client_id", "client_secret"])
def test_wrong_credentials_get_the_gateway_401(api, backend, field):
    resp = api.token_response(**{field: "nope"})
    assert resp.status_code == 401
    assert resp.json() == {"message": "Authentication error"}
    assert backend.tokens_issued == 0


def test_token_call_must_be_form_encoded(api):
    resp = api.http.post("/oauth/token", json={"client_id": "00000000-0000-4000-8000-000000000001"})
    assert resp.status_code == 400
    assert "x-www-form-urlencoded" in resp.json()["message"]


def test_token_lifetime_is_configurable(api, backend):
    backend.configure(token_lifetime=120)
    assert api.token_response().json()["expires_in"] == 119


@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Bearer not-a-token", "Basic ZW11bGF0b3I6c2VjcmV0", "Token abc"]
)
def test_api_calls_without_a_valid_bearer_token_get_401(api, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    resp = api.http.get("/workflows", headers=headers)
    assert resp.status_code == 401
    assert resp.json() == {"message": "Authentication error"}


def test_expired_and_revoked_tokens_get_401(api, backend):
    assert api.get("/workflows").status_code == 200
    backend.advance_clock(3600)
    assert api.get("/workflows").status_code == 401
    api._token = None
    assert api.get("/workflows").status_code == 200
    backend.expire_tokens()
    assert api.get("/workflows").status_code == 401


# ---- run ----
def test_run_answers_the_documented_instance(api, backend):
    resp = api.run(396, {"accountId": "A-1", "paymentId": "P-1"})
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"createdAt", "id", "name", "originalWorkflowId", "status", "type", "updatedAt"}
    assert body["type"] == "Workflow::Instance"
    assert body["status"] in ("Queued", "Processing")
    assert body["originalWorkflowId"] == 396 and body["name"] == "WF-396-00000001"
    assert ZUORA_TIME.match(body["createdAt"]) and ZUORA_TIME.match(body["updatedAt"])
    assert backend.get_run(body["id"])["parameters"] == {"accountId": "A-1", "paymentId": "P-1"}
    assert backend.run_count(396) == 1


def test_run_unknown_workflow_is_404(api):
    resp = api.run(999_999)
    assert resp.status_code == 404
    assert resp.json()["errors"][0]["status"] == 404


def test_run_with_callout_disabled_is_400(api, backend):
    resp = api.run(399)
    assert resp.status_code == 400
    assert resp.json() == {
        "errors": [
            {"status": 400, "code": "invalid", "title": "Callout mode is not turned on in this workflow."}
        ]
    }
    assert backend.run_count(399) == 0


def test_run_of_inactive_workflow_is_400(api, backend):
    resp = api.run(401)
    assert resp.status_code == 400 and "inactive" in resp.json()["errors"][0]["title"]
    assert backend.run_count(401) == 0


def test_run_missing_required_parameter_is_406_echoing_parameters(api, backend):
    resp = api.run(396, {"paymentId": "P-1"})
    assert resp.status_code == 406
    body = resp.json()
    assert body["parameters"] == {"paymentId": "P-1"}
    assert body["errors"] == [
        {
            "status": 406,
            "code": "invalid",
            "title": "Required field for Workflow-accountId does not have a set value. "
            "Ensure parameter 'accountId' is present.",
        }
    ]
    assert backend.run_count(396) == 0


def test_run_of_an_instance_id_is_409(api, backend):
    first = api.run(396, {"accountId": "A"}).json()
    resp = api.run(first["id"], {"accountId": "A"})
    assert resp.status_code == 409
    error = resp.json()["errors"][0]
    assert error["status"] == 406
    assert error["title"] == f"Workflow {first['name']} with Id {first['id']} is an instance/run."
    assert backend.run_count(396) == 1


@pytest.mark.parametrize("key", ["controller", "action", "id", "user_email", "user_token", "format"])
def test_reserved_top_level_keys_are_rejected_by_name(api, backend, key):
    resp = api.run(396, {"accountId": "A", key: "x"})
    assert resp.status_code == 400
    assert f"'{key}'" in resp.json()["errors"][0]["title"]
    assert backend.run_count(396) == 0


def test_run_body_must_be_a_json_object(api):
    assert api.run(396, ["accountId"]).status_code == 400
    resp = api.request(
        "POST", "/workflows/396/run", content=b"{oops", headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 400 and "not valid JSON" in resp.json()["errors"][0]["title"]


def test_empty_body_runs_a_workflow_without_required_parameters(api, backend):
    resp = api.request("POST", "/workflows/397/run")
    assert resp.status_code == 200 and backend.run_count(397) == 1


# ---- run state and stop ----
def test_run_state_follows_the_timeline(api, backend):
    run_id = api.run(396, {"accountId": "A"}).json()["id"]
    backend.freeze_clock()
    first = api.state(run_id)
    assert first["status"] == "Queued" and first["tasks"]["queued"] == 3
    backend.advance_clock(1.0)
    middle = api.state(run_id)
    assert middle["status"] == "Processing" and middle["tasks"]["processing"] == 1
    backend.advance_clock(5)
    final = api.state(run_id)
    assert final["status"] == "Finished"
    assert final["tasks"] == {
        "total": 3, "queued": 0, "processing": 0, "pending": 0, "stopped": 0, "success": 3, "error": 0,
    }  # fmt: skip
    assert ZUORA_TIME.match(final["finishedAt"]) and final["runTime"] > 0
    assert {
        "id",
        "name",
        "originalWorkflowId",
        "type",
        "cpuTime",
        "createdAt",
        "updatedAt",
        "messages",
    } <= set(final)


def test_counts_match_the_task_list_at_each_step(api, backend):
    run_id = api.run(398, {"creditMemoId": "CM-1"}).json()["id"]
    backend.freeze_clock()
    seen = set()
    for _ in range(8):
        state = api.state(run_id)
        tasks = api.tasks(run_id).json()["data"]
        seen.add(state["status"])
        for key in ("queued", "processing", "pending", "success", "error", "stopped"):
            assert state["tasks"][key] == sum(t["status"].lower() == key for t in tasks)
        backend.advance_clock(0.5)
    assert {"Queued", "Processing", "Pending", "Finished"} <= seen


def test_finished_with_task_errors_is_still_finished(api, backend):
    run_id = api.run(397).json()["id"]
    backend.advance_clock(10)
    state = api.state(run_id)
    assert state["status"] == "Finished" and state["tasks"]["error"] == 2


def test_unknown_run_is_404(api):
    assert api.get("/workflows/workflow_runs/987654").status_code == 404
    assert api.get("/workflows/workflow_runs/396").status_code == 404  # a workflow, not a run


def test_runs_are_forgotten_after_the_retention_period(api, backend):
    run_id = api.run(396, {"accountId": "A"}).json()["id"]
    backend.advance_clock(31 * 86400)
    api._token = None
    assert api.get(f"/workflows/workflow_runs/{run_id}").status_code == 404


def test_stop_goes_stopping_then_stopped(api, backend):
    run_id = api.run(404).json()["id"]
    backend.freeze_clock()
    backend.advance_clock(10)
    resp = api.request("PUT", f"/workflows/workflow_runs/{run_id}/stop")
    assert resp.status_code == 200 and resp.json() == {"success": True}
    assert api.state(run_id)["status"] == "Stopping"
    backend.advance_clock(1)
    state = api.state(run_id)
    assert state["status"] == "Stopped" and state["tasks"]["stopped"] == 3
    assert api.request("PUT", f"/workflows/workflow_runs/{run_id}/stop").status_code == 200
    assert api.state(run_id)["status"] == "Stopped"


def test_stop_of_a_finished_run_leaves_it_finished(api, backend):
    run_id = api.run(396, {"accountId": "A"}).json()["id"]
    backend.advance_clock(10)
    assert api.request("PUT", f"/workflows/workflow_runs/{run_id}/stop").status_code == 200
    assert api.state(run_id)["status"] == "Finished"


def test_stop_unknown_run_is_404(api):
    resp = api.request("PUT", "/workflows/workflow_runs/987654/stop")
    assert resp.status_code == 404
    assert resp.json()["errors"][0]["title"] == "Cannot find a workflow run with id provided."


# ---- tasks ----
def test_task_list_is_paginated_and_carries_error_details(api, backend):
    run_id = api.run(402).json()["id"]
    backend.advance_clock(10)
    pages, url = [], f"/workflows/tasks?workflow_id={run_id}&instance=true&page=1&page_length=100"
    while url:
        body = api.get(url).json()
        pages.append(body["data"])
        assert body["pagination"]["page_length"] == 100
        url = body["pagination"]["next_page"]
    tasks = [t for page in pages for t in page]
    assert [len(p) for p in pages] == [100, 100, 100]
    assert len({t["id"] for t in tasks}) == 300
    failed = [t for t in tasks if t["status"] == "Error"]
    assert len(failed) == 1 and failed[0] in pages[2]
    assert failed[0]["error"] and failed[0]["error_class"] and failed[0]["error_details"]
    assert api.state(run_id)["tasks"]["error"] == 1


def test_task_list_default_page_and_fields(api):
    run_id = api.run(402).json()["id"]
    body = api.tasks(run_id).json()
    assert body["pagination"]["page"] == 1 and body["pagination"]["page_length"] == 20
    assert len(body["data"]) == 20 and body["pagination"]["next_page"]
    task = body["data"][0]
    assert {"id", "name", "action_type", "status", "start_time", "end_time", "original_task_id"} <= set(task)
    assert {"error", "error_class", "error_details"} <= set(task)


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"page_length": 101}, 400),
        ({"page_length": 0}, 400),
        ({"page": 0}, 400),
        ({"page": "x"}, 400),
    ],
)
def test_task_list_rejects_bad_pages(api, params, status):
    run_id = api.run(396, {"accountId": "A"}).json()["id"]
    assert api.tasks(run_id, **params).status_code == status


def test_task_list_needs_workflow_id_and_instance_true_for_runs(api):
    run_id = api.run(396, {"accountId": "A"}).json()["id"]
    assert api.get("/workflows/tasks").status_code == 400
    assert api.get("/workflows/tasks", params={"workflow_id": run_id}).json()["data"] == []
    definition = api.get("/workflows/tasks", params={"workflow_id": 396}).json()["data"]
    assert [t["name"] for t in definition] == ["Fetch account", "Post to CRM", "Mark account synced"]
    assert all(t["instance"] is False for t in definition)


# ---- workflows ----
def test_get_workflow_definition(api):
    body = api.get("/workflows/396").json()
    assert body["id"] == 396 and body["status"] == "Active"
    assert body["calloutTrigger"] is True and body["ondemandTrigger"] is True
    assert body["active_version"]["status"] == "Active"
    assert api.get("/workflows/401").json()["status"] == "Inactive"
    assert api.get("/workflows/399").json()["calloutTrigger"] is False
    assert api.get("/workflows/999999").status_code == 404


def test_list_workflows_is_paginated_and_filtered(api, backend):
    ids, url = [], "/workflows?page_length=3"
    while url:
        body = api.get(url).json()
        assert len(body["data"]) <= 3
        ids += [w["id"] for w in body["data"]]
        url = body["pagination"]["next_page"]
    assert ids == sorted(w.id for w in backend.workflows)
    named = api.get("/workflows", params={"name": "credit memo"}).json()["data"]
    assert [w["id"] for w in named] == [398]
    assert api.get("/workflows", params={"page_length": 51}).status_code == 400
