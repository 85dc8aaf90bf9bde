"""Bad inputs: what a task says about input it cannot send, word for word, and what Zuora saw.

Each case is one bad input to the operator or the sensor (or its connection), run against the
emulator. The message must be exactly the one in the table (request ids replaced), name the field
and say what to do; an input the provider can judge itself must reach Zuora with no request at all
(not even a token call), and one only Zuora can judge costs the token call and the run call.
Every case records itself for ``docs/reliability.md`` (see ``report.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_provider_zuora._compat import AirflowFailException
from airflow_provider_zuora.environments import ENVIRONMENTS
from airflow_provider_zuora.exceptions import ZuoraError
from airflow_provider_zuora.hooks._transport import TOKENS
from airflow_provider_zuora.operators.workflow import RunZuoraWorkflowOperator
from airflow_provider_zuora.sensors.workflow import ZuoraWorkflowInstanceSensor
from tests.reliability import report
from tests.reliability._support import task_context

pytestmark = pytest.mark.integration

TRACK = "reliability.zuora.manual__2026-12-01T00_00_00+00_00.1"  # the default track id of the context
RESERVED = "action, controller, format, id, user_email, user_token"
IDS = f"| Zuora-Request-Id=<request id> | Zuora-Track-Id={TRACK}"
AIRFLOW_ONLY = "Jinja renders to strings unless render_template_as_native_obj=True is set on the DAG."


class Env:
    """The emulator, and the connection the case gives the task."""

    def __init__(self, emu: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.emu = emu
        self.backend = emu.backend
        self.monkeypatch = monkeypatch

    def conn(self, **changes: Any) -> None:
        conn = json.loads(self.emu.airflow_conn_json())
        conn.update(changes)
        conn = {k: v for k, v in conn.items() if v is not None}
        self.monkeypatch.setenv("AIRFLOW_CONN_ZUORA_DEFAULT", json.dumps(conn))


def operator(**kwargs: Any) -> RunZuoraWorkflowOperator:
    return RunZuoraWorkflowOperator(
        **{"task_id": "zuora", "workflow_id": 396, "parameters": {"accountId": "A-1"}, **kwargs}
    )


def run(**kwargs: Any) -> Callable[[Env], Any]:
    """The operator's execute with these arguments (a bad argument at parse time raises here too)."""
    return lambda env: operator(**kwargs).execute(task_context())


def rendered(parameters: str, params: dict[str, Any]) -> Callable[[Env], Any]:
    """A templated ``parameters``, rendered as Airflow renders it, then executed."""

    def call(env: Env) -> Any:
        task = operator(parameters=parameters)
        ctx = {**task_context(), "params": params}
        task.render_template_fields(ctx)  # type: ignore[arg-type]
        return task.execute(ctx)

    return call


def with_conn(**changes: Any) -> Callable[[Env], Any]:
    def call(env: Env) -> Any:
        env.conn(**changes)
        return operator().execute(task_context())

    return call


def run_of_an_instance_id(env: Env) -> Any:
    instance_id = env.backend.run_workflow(396, {"accountId": "A-0"})["id"]  # no request: the backend
    return operator(workflow_id=instance_id).execute(task_context())


def sensor_on(instance_id: Any) -> Callable[[Env], Any]:
    return lambda env: ZuoraWorkflowInstanceSensor(
        task_id="wait", instance_id=instance_id, poke_interval=0.01, timeout=5
    ).execute(task_context())


@dataclass(frozen=True)
class Bad:
    name: str
    field: str  # the field, as the table names it
    names: str  # how the message names it
    todo: str  # the part of the message that says what to do
    message: str  # exact, request ids as "<request id>"
    call: Callable[[Env], Any]
    local: bool = True  # detectable before any request (then the emulator must see none)
    requests: int = 0  # what Zuora sees when it is not local: the token call and the run call
    parse_time: bool = False  # refused when the DAG file is parsed (the constructor)


def refused(workflow_id: int, what: str, todo: str) -> str:
    return f"Zuora refused to run workflow {workflow_id}: Zuora API error {what} What to do: {todo} {IDS}"


BAD: list[Bad] = [
    Bad("a reserved key in parameters (literal)", "parameters", "parameters key 'id'", "rename it",
        f"parameters key 'id' is reserved by Zuora (reserved: {RESERVED}); rename it",
        run(parameters={"accountId": "A-1", "id": "A-1"}), parse_time=True),
    Bad("a reserved key in parameters after Jinja rendering", "parameters", "parameters key 'format'",
        "rename it", f"parameters key 'format' is reserved by Zuora (reserved: {RESERVED}); rename it",
        rendered("{{ params.body }}", {"body": {"accountId": "A-1", "format": "csv"}})),
    Bad("parameters that are not a dict (a list)", "parameters", "parameters must be a dict",
        "must be a dict", f"parameters must be a dict of workflow input parameters, got list. {AIRFLOW_ONLY}",
        run(parameters=["A-1"])),
    Bad("parameters rendered to a string that is not a JSON object", "parameters", "parameters rendered",
        "Pass a dict or an XComArg",
        "parameters rendered to a string that is not a dict: 'accountId=A-1'. Pass a dict or an XComArg, or "
        "set render_template_as_native_obj=True on the DAG so Jinja gives Python objects.",
        rendered("{{ params.body }}", {"body": "accountId=A-1"})),
    Bad("a key in parameters that is not a string", "parameters", "parameters key 1",
        "must be a string (the workflow input parameter's name)",
        "parameters key 1 must be a string (the workflow input parameter's name), got int",
        run(parameters={1: "A-1"}), parse_time=True),
    Bad("a value JSON cannot carry (NaN)", "parameters", "parameters key 'amount'",
        "send a finite number, a string or None instead",
        "parameters key 'amount' is nan, which JSON cannot carry: send a finite number, a string or None "
        "instead", run(parameters={"accountId": "A-1", "amount": float("nan")})),
    Bad("a value JSON cannot carry (a set)", "parameters", "parameters key 'ids'",
        "(use str, int, float, bool, None, list, dict, date, datetime or Decimal)",
        "parameters key 'ids' is a set, which cannot be sent as JSON (use str, int, float, bool, None, list, "
        "dict, date, datetime or Decimal)", run(parameters={"accountId": "A-1", "ids": {"A-1"}})),
    Bad("an empty workflow id", "workflow_id", "workflow_id", "set it to the id",
        "workflow_id is empty (''): set it to the id (from an XCom: did the upstream task push it?)",
        run(workflow_id="")),
    Bad("a workflow id that is not a number", "workflow_id", "workflow_id 'sync-accounts'",
        "set it to the numeric id of the workflow to run",
        "workflow_id 'sync-accounts' is not a number: set it to the numeric id of the workflow to run "
        "(Zuora's workflow list, GET /workflows, shows each one's id)", run(workflow_id="sync-accounts")),
    Bad("an instance id where a workflow id belongs (Zuora: 409)", "workflow_id", "workflow_id 1000",
        "set workflow_id to the workflow's own id",
        "Zuora API error 409: workflow_id 1000 is the id of a workflow run (instance), not of a workflow: "
        "set workflow_id to the workflow's own id (the run's originalWorkflowId). Zuora said: Workflow "
        f"WF-396-00000001 with Id 1000 is an instance/run. {IDS}",
        run_of_an_instance_id, local=False, requests=2),
    Bad("a required workflow parameter missing (Zuora: 406)", "parameters", "to parameters",
        "add the workflow's required input parameters",
        refused(396, "406: Required field for Workflow-accountId does not have a set value. Ensure parameter "
                "'accountId' is present.", "add the workflow's required input parameters Zuora names to "
                "parameters"),
        run(parameters={"paymentId": "P-1"}), local=False, requests=2),
    Bad("the workflow's callout trigger is off (Zuora: 400)", "workflow_id", "workflow_id",
        "turn on the Callout trigger",
        refused(399, "400: Callout mode is not turned on in this workflow.",
                "turn on the Callout trigger in the workflow's settings in Zuora, or set another "
                "workflow_id"),
        run(workflow_id=399), local=False, requests=2),
    Bad("an inactive workflow (Zuora: 400)", "workflow_id", "workflow_id", "activate the workflow",
        refused(401, "400: Workflow 401 (Retired invoice sync) is inactive and cannot be run.",
                "activate the workflow in Zuora, or set workflow_id to an active workflow"),
        run(workflow_id=401), local=False, requests=2),
    Bad("an unknown workflow (Zuora: 404)", "workflow_id", "workflow_id", "check workflow_id",
        refused(99999, "404: Workflow 99999 not found.",
                "check workflow_id: no workflow has this id in the tenant the connection points at"),
        run(workflow_id=99999), local=False, requests=2),
    Bad("a track id over 64 characters", "track_id", "track_id", "Zuora-Track-Id takes 1 to 64",
        f"track_id '{'t' * 65}' is 65 characters long: Zuora-Track-Id takes 1 to 64 printable US-ASCII "
        "characters, none of : ; \" '", run(track_id="t" * 65)),
    Bad("a track id with ':'", "track_id", "track_id 'billing:sync'", "none of : ; \" '",
        "track_id 'billing:sync' has forbidden characters [':']: Zuora-Track-Id takes 1 to 64 printable "
        "US-ASCII characters, none of : ; \" '", run(track_id="billing:sync")),
    Bad("an idempotency key over 255 characters", "idempotency_key", "idempotency_key", "shorten it",
        f"idempotency_key must be a string of 1 to 255 characters, got 256 characters ('{'k' * 40}'...): "
        "shorten it (a hash of what makes the run unique will do), or leave it unset for the default key",
        run(idempotency_key="k" * 256)),
    Bad("a connection with neither host nor environment", "connection host / environment extra",
        "REST endpoint (host) nor an environment extra", "set one",
        "Connection 'zuora_default' has neither a REST endpoint (host) nor an environment extra: set one",
        with_conn(host=None)),
    Bad("an unknown environment extra", "connection environment extra", "unknown environment 'Mars'",
        "use one of",
        f"Connection 'zuora_default': unknown environment 'Mars'; use one of: {', '.join(ENVIRONMENTS)}",
        with_conn(host=None, extra=json.dumps({"environment": "Mars"}))),
    Bad("an http:// host off loopback", "connection host", "REST endpoint 'http://rest.zuora.com'",
        "use https://",
        "Connection 'zuora_default': REST endpoint 'http://rest.zuora.com' uses http://, which would send "
        "the client secret in cleartext; use https:// (http is accepted only for loopback addresses)",
        with_conn(host="http://rest.zuora.com")),
    Bad("a host with credentials in it (user:pass@)", "connection host", "the REST endpoint",
        "put the OAuth Client ID and Secret in the login and password fields",
        "Connection 'zuora_default': the REST endpoint must not carry a user name or password; put the OAuth "
        "Client ID and Secret in the login and password fields",
        with_conn(host="https://someone:hunter2@rest.zuora.com")),
    Bad("a connection without a client secret", "connection password", "Client Secret",
        "needs the OAuth Client ID (login) and Client Secret",
        "Connection 'zuora_default' needs the OAuth Client ID (login) and Client Secret",
        with_conn(password=None)),
    Bad("wrong credentials", "connection login / password", "Client ID and Client Secret",
        "check its Client ID and Client Secret",
        "Zuora refused to run workflow 396: Zuora API error 401: Zuora refused the OAuth client credentials "
        "of connection 'zuora_default' (Authentication error); check its Client ID and Client Secret "
        "| Zuora-Request-Id=<request id>",
        with_conn(password="not-the-secret"), local=False, requests=1),
    Bad("the sensor's instance id missing (an XCom that was never pushed)", "instance_id", "instance_id",
        "set it to the id",
        "instance_id is empty ('None'): set it to the id (from an XCom: did the upstream task push it?)",
        sensor_on("None")),
    Bad("poll_interval 0", "poll_interval", "poll_interval", "must be > 0 seconds",
        "poll_interval must be > 0 seconds, got 0", run(poll_interval=0), parse_time=True),
]  # fmt: skip


def normalized(text: str) -> str:
    return re.sub(r"Zuora-Request-Id=[0-9a-f-]+", "Zuora-Request-Id=<request id>", text)


@pytest.fixture
def env(zuora_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Env:
    TOKENS.clear()
    return Env(zuora_emulator, monkeypatch)


@pytest.mark.parametrize("bad", BAD, ids=[re.sub(r"\W+", "-", b.name).strip("-") for b in BAD])
def test_bad_input(env: Env, bad: Bad) -> None:
    with pytest.raises((AirflowFailException, ZuoraError, ValueError)) as info:
        bad.call(env)
    message = normalized(str(info.value))
    requests = len(env.backend.request_log)
    report.bad_input(
        name=bad.name,
        field=bad.field,
        message=message,
        requests=requests,
        local=bad.local,
        order=BAD.index(bad),
    )
    assert message == bad.message
    assert bad.names in message and bad.todo in message
    assert requests == bad.requests, [(r.method, r.path, r.status) for r in env.backend.request_log]
    # Fail, not retry: bad input will not get better on the next try.
    if bad.parse_time:
        assert isinstance(info.value, ValueError)  # the DAG file fails to import
    elif bad.field == "workflow_id" and "409" in bad.message:
        assert isinstance(info.value, ZuoraError)  # see the report: not yet AirflowFailException
    else:
        assert isinstance(info.value, AirflowFailException), type(info.value)
    assert "not-the-secret" not in message and "hunter2" not in message
    if not bad.local:
        assert env.backend.instance_count(396) <= 1 and all(i["id"] == 1000 for i in env.backend.instances)


def test_the_table_is_big_enough() -> None:
    assert len(BAD) >= 15
    assert len({b.name for b in BAD}) == len(BAD)
