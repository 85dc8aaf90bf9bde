"""The backend in-process: ids, validation order, tokens and the clock, idempotency store, limits, faults."""

from __future__ import annotations

import threading

import pytest

from airflow_provider_zuora.testing.backend import ZuoraBackend, parse_id
from airflow_provider_zuora.testing.faults import EmulatorError
from airflow_provider_zuora.testing.workflows import Parameter, TaskSpec, Workflow

CREDS = {"client_id": "00000000-0000-4000-8000-000000000001", "client_secret": "emulator-client-secret"}


@pytest.fixture
def b() -> ZuoraBackend:
    return ZuoraBackend()


def test_default_workflows_are_the_sample_set(b):
    assert [w.id for w in b.workflows] == [396, 397, 398, 399, 401, 402, 403, 404]
    assert ZuoraBackend(workflows=[]).workflows == []


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
    assert (b.instance_count(396), b.instance_count(397), b.instance_count(999)) == (2, 1, 0)
    assert b.get_instance(first["id"])["parameters"] == {"accountId": "A"}
    assert [i["id"] for i in b.instances] == [first["id"], second["id"], other["id"]]


def test_adding_a_workflow_with_an_instance_id_is_refused(b):
    run = b.run_workflow(396, {"accountId": "A"})
    with pytest.raises(ValueError, match="already the id of an instance"):
        b.add_workflow(Workflow(id=run["id"]))


def test_added_workflow_ids_push_instance_ids_above_them(b):
    b.add_workflow({"id": 50_000, "tasks": [{"name": "t"}]})
    assert b.run_workflow(50_000, {})["id"] == 50_001


@pytest.mark.parametrize(
    ("workflow_id", "body", "status", "fragment"),
    [
        (999, {}, 404, "Workflow 999 not found"),
        ("x1", {}, 404, "not found"),
        (399, {}, 400, "Callout mode is not turned on in this workflow."),
        (401, {}, 400, "is inactive"),
        (396, ["accountId"], 400, "must be a JSON object"),
        (396, {"accountId": "A", "format": "csv"}, 400, "'format'"),
        (396, {}, 406, "Ensure parameter 'accountId' is present."),
        (396, {"accountId": ""}, 406, "Required field for Workflow-accountId does not have a set value."),
    ],
)
def test_run_errors(b, workflow_id, body, status, fragment):
    with pytest.raises(EmulatorError) as err:
        b.run_workflow(workflow_id, body)
    assert err.value.status == status
    assert fragment in " ".join(err.value.messages)
    assert b.instance_count(396) == 0


def test_run_of_an_instance_id_is_409_with_inner_406(b):
    run = b.run_workflow(396, {"accountId": "A"})
    with pytest.raises(EmulatorError) as err:
        b.run_workflow(run["id"], {})
    body = err.value.body()
    assert err.value.status == 409
    assert body["errors"][0]["status"] == 406
    assert body["errors"][0]["title"] == f"Workflow {run['name']} with Id {run['id']} is an instance/run."


def test_406_lists_every_missing_parameter_and_echoes_the_body(b):
    b.add_workflow(Workflow(id=10, parameters=[Parameter("a", required=True), Parameter("b", required=True)]))
    with pytest.raises(EmulatorError) as err:
        b.run_workflow(10, {"c": 1})
    body = err.value.body()
    assert [e["title"].split("'")[1] for e in body["errors"]] == ["a", "b"]
    assert body["parameters"] == {"c": 1}


def test_every_reserved_key_is_rejected_by_name(b):
    for key in ("controller", "action", "id", "user_email", "user_token", "format"):
        with pytest.raises(EmulatorError) as err:
            b.run_workflow(396, {"accountId": "A", key: "x"})
        assert err.value.status == 400 and f"'{key}'" in err.value.messages[0]


def test_tokens_expire_on_the_emulated_clock(b):
    b.configure(token_lifetime=60)
    token = b.issue_token({**CREDS, "grant_type": "client_credentials"})
    assert token["expires_in"] == 59 and token["token_type"] == "bearer"
    assert b.check_token(token["access_token"])
    b.advance_clock(61)
    assert not b.check_token(token["access_token"])
    assert not b.check_token("made-up")
    assert b.tokens_issued == 1


def test_expire_tokens_invalidates_all(b):
    tokens = [b.issue_token({**CREDS, "grant_type": "client_credentials"})["access_token"] for _ in range(3)]
    assert b.expire_tokens() == 3
    assert not any(b.check_token(t) for t in tokens)
    assert b.tokens_issued == 3


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({**CREDS, "client_secret": "wrong", "grant_type": "client_credentials"}, 401),
        ({**CREDS, "client_id": "wrong", "grant_type": "client_credentials"}, 401),
        ({"grant_type": "client_credentials"}, 401),
        ({**CREDS, "grant_type": "password"}, 400),
    ],
)
def test_bad_token_requests(b, form, status):
    with pytest.raises(EmulatorError) as err:
        b.issue_token(form)
    assert err.value.status == status
    if status == 401:
        assert err.value.body() == {"message": "Authentication error"}
    assert b.tokens_issued == 0


def test_idempotency_store_lifecycle(b):
    from airflow_provider_zuora.testing.backend import StoredResponse

    assert b.idempotency_begin("k", "POST", "/workflows/396/run") == ("new", None)
    assert b.idempotency_state("k") == "in_progress"
    assert b.idempotency_begin("k", "POST", "/workflows/396/run") == ("busy", None)
    assert b.idempotency_begin("k", "POST", "/workflows/397/run") == ("mismatch", None)
    stored = StoredResponse(200, [], b"{}")
    b.idempotency_finish("k", stored)
    assert b.idempotency_begin("k", "POST", "/workflows/396/run") == ("replay", stored)
    assert b.idempotency_begin("k", "PATCH", "/workflows/396/run") == ("mismatch", None)
    b.advance_clock(24 * 3600 - 5)
    assert b.idempotency_state("k") == "stored"
    b.advance_clock(10)
    assert b.idempotency_state("k") is None
    assert b.idempotency_begin("k", "POST", "/workflows/396/run") == ("new", None)
    b.idempotency_finish("k", None)  # released: the key is free again
    assert b.idempotency_state("k") is None


def test_rate_window_counts_per_emulated_minute(b):
    b.configure(rate_limit=2)
    b.freeze_clock()
    verdicts = [b.rate_check() for _ in range(3)]
    assert [v.allowed for v in verdicts] == [True, True, False]
    assert [v.remaining for v in verdicts] == [1, 0, 0]
    assert 1 <= verdicts[2].reset <= 60
    assert b.rate_check("token").allowed  # tokens have their own window
    b.advance_clock(60)
    assert b.rate_check().allowed


def test_a_shorter_rate_window_resets_sooner_and_says_so(b):
    b.configure(rate_limit=1, rate_window=5)
    b.freeze_clock()
    assert b.rate_check().allowed
    refused = b.rate_check()
    assert not refused.allowed and 1 <= refused.reset <= 5
    b.advance_clock(refused.reset)
    assert b.rate_check().allowed


def test_unlimited_rate_still_reports_headers(b):
    verdict = b.rate_check()
    assert verdict.allowed and verdict.limit == 50_000 and verdict.remaining == 49_999


def test_faults_match_by_method_and_glob_and_are_consumed(b):
    fault = b.inject_fault(method="post", path="/workflows/*/run", status=503, count=2)
    assert b.take_fault("GET", "/workflows/396/run") is None
    assert b.take_fault("POST", "/workflows") is None
    assert b.take_fault("POST", "/workflows/396/run") is fault
    assert b.take_fault("POST", "/workflows/397/run") is fault
    assert b.take_fault("POST", "/workflows/396/run") is None
    assert fault.hits == 2 and b.faults == []


def test_regex_faults_and_unbounded_faults(b):
    fault = b.inject_fault(path=r"re:/workflows/workflow_runs/\d+", status=500, count=None)
    for _ in range(5):
        assert b.take_fault("GET", "/workflows/workflow_runs/1000") is fault
    assert b.take_fault("GET", "/workflows/workflow_runs/abc") is None
    b.clear_faults()
    assert b.take_fault("GET", "/workflows/workflow_runs/1000") is None


def test_faults_are_matched_first_in_first_out(b):
    first = b.inject_fault(status=500)
    second = b.inject_fault(status=502)
    assert b.take_fault("GET", "/x") is first
    assert b.take_fault("GET", "/x") is second


def test_freeze_clock_holds_time_and_unfreeze_resumes_from_there(b):
    frozen = b.freeze_clock()
    assert b.now() == frozen
    assert b.advance_clock(10) == pytest.approx(frozen + 10)
    resumed = b.unfreeze_clock()
    assert resumed == pytest.approx(frozen + 10, abs=0.5)
    with pytest.raises(ValueError, match="seconds must be a number >= 0"):
        b.advance_clock(-1)


def test_reset_restores_initial_settings_and_workflows(b):
    b.configure(rate_limit=1)
    b.add_workflow(Workflow(id=77))
    b.run_workflow(396, {"accountId": "A"})
    b.issue_token({**CREDS, "grant_type": "client_credentials"})
    b.inject_fault(status=500)
    b.advance_clock(100)
    b.reset()
    assert b.config.rate_limit is None
    assert 77 not in [w.id for w in b.workflows]
    assert (b.instance_count(396), b.tokens_issued, b.faults) == (0, 0, [])
    assert b.state(log=False)["clock_offset"] == 0
    with pytest.raises(ValueError, match="unknown emulator setting 'speed'"):
        b.configure(speed=2)


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
    assert len(ids) == len(set(ids)) == 200 == b.instance_count(20)


def test_state_is_json_ready_and_has_no_secrets(b):
    import json

    token = b.issue_token({**CREDS, "grant_type": "client_credentials"})["access_token"]
    text = json.dumps(b.state())
    assert token not in text and "emulator-client-secret" not in text
    assert "emulator-client-secret" not in repr(b) + repr(b.config)
