"""A DAG task's Zuora calls made with Zuora's own Python SDK (``zuora-sdk``), against the emulator.

Run by ``test_zuora_sdk.py`` with the Python of a venv that has ``zuora-sdk`` (it cannot share
Airflow's venv, see ``zuora_sdk_requirements.txt``); needs nothing from this repository. Reads one
JSON object from argv[1] (``base_url``, ``client_id``, ``client_secret``, ``old_client_id``,
``workflow_id``, ``parameters``, ``idempotency_key``, ``track_id``) and prints one JSON object: what
each call answered, and the SDK's own exception classes for the errors.

Only loopback addresses may be resolved in this process: every SDK call must go to the emulator.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import sys
import time
from typing import Any

_real_getaddrinfo = socket.getaddrinfo


def _loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
    name = host.decode() if isinstance(host, bytes) else str(host)
    try:
        loopback = name == "localhost" or ipaddress.ip_address(name).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise OSError(f"the SDK client may only reach loopback; it tried to resolve {name!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _loopback_only

import pydantic  # noqa: E402  (after the guard: nothing may resolve a host before it)
import zuora_sdk  # noqa: E402
from zuora_sdk import ApiClient, Configuration, OAuthApi, WorkflowsApi  # noqa: E402
from zuora_sdk.exceptions import ApiException  # noqa: E402
from zuora_sdk.zuora_client import ZuoraClient, ZuoraEnvironment  # noqa: E402

TERMINAL = {"Finished", "Stopped"}


def _error(exc: BaseException) -> dict[str, Any]:
    """What a task would see of an SDK exception: its class, status and Zuora's body."""
    out: dict[str, Any] = {"class": type(exc).__name__, "module": type(exc).__module__}
    if isinstance(exc, ApiException):
        out["status"] = exc.status
        out["is_api_exception"] = True
        out["zuora_request_id"] = exc.get_zuora_request_id()
        try:
            out["body"] = json.loads(exc.body) if exc.body else None
        except ValueError:
            out["body"] = exc.body
    if isinstance(exc, pydantic.ValidationError):
        out["fields"] = sorted(str(e["loc"][-1]) for e in exc.errors())
    return out


def _call(fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        fn(*args, **kwargs)
    except (ApiException, pydantic.ValidationError) as exc:
        return _error(exc)
    return {"class": None}


def _lower(headers: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (headers or {}).items()}


def main(cfg: dict[str, Any]) -> dict[str, Any]:
    base_url = cfg["base_url"]
    out: dict[str, Any] = {"sdk_version": zuora_sdk.__version__}

    # The client a DAG author builds: a Zuora environment, then the emulator's base URL instead.
    client = ZuoraClient(cfg["client_id"], cfg["client_secret"], env=ZuoraEnvironment.SBX)
    client.set_base_url(base_url)  # before the token call: it goes to the same host
    out["host"] = client.api_client.configuration.host

    # The SDK's own validation, before any request: the emulator's pre-0.1 default id is refused.
    oauth = OAuthApi(client.api_client)
    out["old_default_id"] = _call(
        oauth.create_token,
        client_id=cfg["old_client_id"],
        client_secret=cfg["client_secret"],
        grant_type="client_credentials",
    )

    # Token: OAuthApi directly (what ZuoraClient.refresh_token() calls, minus its print-and-retry).
    token = oauth.create_token(
        client_id=cfg["client_id"], client_secret=cfg["client_secret"], grant_type="client_credentials"
    )
    out["token"] = {
        "token_type": token.token_type,
        "expires_in": token.expires_in,
        "scope": token.scope,
        "has_access_token": bool(token.access_token),
    }
    client.api_client.set_default_header("Authorization", f"Bearer {token.access_token}")
    workflows = client.workflows_api()

    listed = workflows.get_workflows(page=1, page_length=50)
    out["workflows"] = {
        "ids": [w.id for w in listed.data or []],
        "names": [w.name for w in listed.data or []],
        "page": listed.pagination.page if listed.pagination else None,
        "next_page": listed.pagination.next_page if listed.pagination else None,
    }

    # Run with an idempotency key, then the same call again: the replay is the same run.
    runs = []
    for _ in range(2):
        resp = workflows.post_run_workflow_with_http_info(
            cfg["workflow_id"],
            idempotency_key=cfg["idempotency_key"],
            zuora_track_id=cfg["track_id"],
            inputparameters=cfg["parameters"],
        )
        inst = resp.data
        headers = _lower(resp.headers)
        runs.append(
            {
                "status_code": resp.status_code,
                "id": inst.id,
                "name": inst.name,
                "status": inst.status,
                "original_workflow_id": inst.original_workflow_id,
                "created_at": inst.created_at,
                "type": inst.additional_properties.get("type"),
                "replayed": headers.get("idempotent-replayed"),
                "track_id": resp.zuora_track_id,
                "request_id": resp.zuora_request_id,
            }
        )
    out["run"], out["replay"] = runs
    run_id = runs[0]["id"]

    # Retrieve the run until it ends.
    statuses: list[str] = []
    deadline = time.monotonic() + 60
    while True:
        state = workflows.get_workflow_run(str(run_id))
        if not statuses or statuses[-1] != state.status:
            statuses.append(state.status)
        if state.status in TERMINAL or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    out["statuses"] = statuses
    out["final"] = {
        "id": state.id,
        "name": state.name,
        "status": state.status,
        "original_workflow_id": state.original_workflow_id,
        "type": state.type,
        "tasks": state.tasks.to_dict() if state.tasks else None,
        "finished_at": state.finished_at,
        "run_time": state.run_time,
        "cpu_time": state.cpu_time,
    }

    # Its tasks, one per page, following the pages until there is no next one.
    pages = []
    page = 1
    while page:
        listing = workflows.get_workflows_tasks(
            workflow_id=str(run_id), instance=True, page=page, page_length=1
        )
        pagination = listing.pagination
        pages.append(
            {
                "page": pagination.page if pagination else None,
                "page_length": pagination.page_length if pagination else None,
                "next_page": pagination.next_page if pagination else None,
                "tasks": [
                    {"id": t.id, "name": t.name, "status": t.status, "workflow_id": t.workflow_id}
                    for t in listing.data or []
                ],
            }
        )
        page = page + 1 if pagination and pagination.next_page else 0
        if page > 50:
            break
    out["task_pages"] = pages

    # The errors, as the SDK's own exception classes.
    errors = {}
    errors["401_token"] = _call(
        oauth.create_token,
        client_id=cfg["client_id"],
        client_secret="not-the-secret",
        grant_type="client_credentials",
    )
    stranger = ApiClient(Configuration(host=base_url))
    stranger.set_default_header("Authorization", "Bearer not-a-token")
    errors["401_api"] = _call(WorkflowsApi(stranger).get_workflows)
    errors["404_run"] = _call(workflows.get_workflow_run, "987654")
    errors["404_workflow"] = _call(workflows.post_run_workflow, 987654, inputparameters={})
    errors["406"] = _call(workflows.post_run_workflow, cfg["workflow_id"], inputparameters={})
    out["errors"] = errors
    return out


if __name__ == "__main__":
    result = main(json.loads(sys.argv[1]))
    sys.stdout.write("ZUORA_SDK_RESULT " + json.dumps(result, default=str) + "\n")
    sys.stdout.flush()
