"""EmulatorClient: the backend's controls over the /_emulator routes, as another process would use them."""

from __future__ import annotations

import pytest

from airflow_provider_zuora.testing.client import EmulatorClient, EmulatorClientError
from airflow_provider_zuora.testing.workflows import TaskSpec, Workflow

pytestmark = pytest.mark.integration


@pytest.fixture
def ctl(emu) -> EmulatorClient:
    return emu.client()


def test_state_reports_counts_tokens_and_log(api, ctl):
    run = api.run(396, {"accountId": "A"}).json()
    state = ctl.state()
    assert state["instance_counts"]["396"] == 1
    assert state["tokens_issued"] == 1 and state["active_tokens"] == 1
    assert [i["id"] for i in state["instances"]] == [run["id"]]
    assert [r["path"] for r in state["request_log"]] == ["/oauth/token", "/workflows/396/run"]
    assert ctl.state(log=False)["request_log"] == []
    assert ctl.instance_count(396) == 1 and ctl.instance_count(397) == 0
    assert ctl.tokens_issued == 1


def test_get_instance_includes_parameters_and_tasks(api, ctl):
    run_id = api.run(396, {"accountId": "A"}).json()["id"]
    found = ctl.get_instance(run_id)
    assert found["parameters"] == {"accountId": "A"}
    assert [t["name"] for t in found["task_list"]] == ["Fetch account", "Post to CRM", "Mark account synced"]
    with pytest.raises(EmulatorClientError, match="HTTP 404"):
        ctl.get_instance(123456)


def test_faults_over_http(api, ctl):
    created = ctl.inject_fault(method="GET", path="/workflows", status=503, count=2, body_shape="reasons")
    assert created["id"] >= 1 and created["count"] == 2
    assert [f["id"] for f in ctl.state()["faults"]] == [created["id"]]
    assert api.get("/workflows").status_code == 503
    ctl.clear_faults()
    assert api.get("/workflows").status_code == 200
    with pytest.raises(EmulatorClientError, match=r"HTTP 400.*when must be one of"):
        ctl.inject_fault(status=500, when="sometime")
    with pytest.raises(EmulatorClientError, match="HTTP 400"):
        ctl.inject_fault(status=500, colour="red")


def test_clock_and_tokens_over_http(api, ctl, backend):
    run_id = api.run(396, {"accountId": "A"}).json()["id"]
    before = backend.now()
    assert ctl.advance_clock(3600) >= before + 3600
    assert backend.get_run(run_id)["status"] == "Finished"
    assert api.get("/workflows").status_code == 401  # the token expired with the clock
    api._token = None
    assert api.get("/workflows").status_code == 200
    assert ctl.expire_tokens() == 1
    assert api.get("/workflows").status_code == 401
    frozen = ctl.freeze_clock()
    assert backend.now() == frozen
    ctl.freeze_clock(False)
    with pytest.raises(EmulatorClientError, match="HTTP 400"):
        ctl.advance_clock(-5)


def test_add_workflow_over_http(api, ctl, backend):
    definition = ctl.add_workflow(Workflow(id=7001, name="Added", tasks=[TaskSpec("t", "Callout")]))
    assert definition["id"] == 7001 and definition["name"] == "Added"
    assert api.run(7001).status_code == 200
    ctl.add_workflow({"id": 7100, "callout_trigger": False})
    assert api.run(7100).status_code == 400
    with pytest.raises(EmulatorClientError, match="unknown field"):
        ctl.add_workflow({"id": 7003, "bogus": 1})
    assert backend.run_count(7001) == 1


def test_configure_and_reset_over_http(api, ctl, backend):
    settings = ctl.configure(rate_limit=1)
    assert settings["rate_limit"] == 1 and "client_secret" not in settings
    api.token  # noqa: B018
    backend.freeze_clock()
    assert [api.get("/workflows").status_code for _ in range(2)] == [200, 429]
    ctl.reset()
    assert backend.config.rate_limit is None and backend.tokens_issued == 0
    with pytest.raises(EmulatorClientError, match="unknown emulator setting"):
        ctl.configure(colour="red")


def test_request_log_over_http(api, ctl):
    api.get("/workflows")
    api.run(396, {"accountId": "A"})
    assert [r["path"] for r in ctl.request_log(method="POST")] == ["/oauth/token", "/workflows/396/run"]
    assert [r["path"] for r in ctl.request_log(path="/workflows")] == ["/workflows"]
    ctl.clear_request_log()
    assert ctl.request_log() == []


def test_client_repr_and_unreachable_emulator():
    client = EmulatorClient("http://127.0.0.1:9/", timeout=1)
    assert repr(client) == "EmulatorClient('http://127.0.0.1:9')"
    with pytest.raises(OSError):
        client.state()
