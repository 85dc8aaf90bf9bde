"""Zuora's own Python SDK (``zuora-sdk``) against the emulator, as a DAG author's task would call it.

zuora-sdk cannot be installed next to Airflow (its certifi and urllib3 pins conflict with
Airflow's: see ``zuora_sdk_requirements.txt``), so the SDK lives in a venv of its own, built
once from that pinned list and cached by its digest (``venv_cache.py``). The emulator runs in
this process (the ``zuora_emulator`` fixture, on 127.0.0.1); ``zuora_sdk_client.py`` runs in the
SDK's venv against it and prints what each call answered as JSON. Without the package index the
venv cannot be built: the SDK tests are then skipped, saying so, or fail when ``CI`` is set.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_zuora.testing.emulator import ZuoraEmulator
from airflow_provider_zuora.testing.settings import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from tests.testing.venv_cache import VenvBuildError, cached_venv, python_of, unavailable

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "zuora_sdk_requirements.txt"
CLIENT = HERE / "zuora_sdk_client.py"
SDK_VERSION = "3.21.0"
#: The emulator's default client id before it was shaped for the SDK (18 characters).
OLD_CLIENT_ID = "emulator-client-id"
MARKER = "ZUORA_SDK_RESULT "


def test_default_credentials_pass_the_sdks_validation() -> None:
    """What zuora-sdk checks before sending a token request, without the SDK."""
    assert len(DEFAULT_CLIENT_ID) == 36
    assert str(uuid.UUID(DEFAULT_CLIENT_ID)) == DEFAULT_CLIENT_ID  # shaped as Zuora's: a UUID
    assert 0 < len(DEFAULT_CLIENT_SECRET) <= 42
    emu = ZuoraEmulator()  # not started: the defaults are what a connection would carry
    assert emu.backend.config.client_id == DEFAULT_CLIENT_ID
    assert emu.backend.config.client_secret == DEFAULT_CLIENT_SECRET


def test_requirements_pin_the_sdk_and_all_it_needs() -> None:
    pins = [line for line in REQUIREMENTS.read_text().splitlines() if line and not line.startswith("#")]
    assert f"zuora-sdk=={SDK_VERSION}" in pins
    assert all("==" in line for line in pins), pins  # every distribution pinned: reproducible


@pytest.fixture(scope="module")
def sdk_python() -> Path:
    try:
        venv = cached_venv("zuora-sdk", REQUIREMENTS.read_bytes(), ["-r", str(REQUIREMENTS)])
    except VenvBuildError as exc:
        unavailable(f"could not build the zuora-sdk venv from {REQUIREMENTS.name}: {exc}")
    return python_of(venv)


def _run_client(python: Path, emu: ZuoraEmulator) -> dict[str, Any]:
    cfg = {
        "base_url": emu.base_url,
        "client_id": emu.backend.config.client_id,
        "client_secret": emu.backend.config.client_secret,
        "old_client_id": OLD_CLIENT_ID,
        "workflow_id": 396,
        "parameters": {"accountId": "A00000001"},
        "idempotency_key": "sdk-run-0001",
        "track_id": "sdk-test-track",
    }
    # Importing zuora_sdk (1,700 pydantic models) takes ~11 s on a 2-core machine.
    proc = subprocess.run(
        [str(python), str(CLIENT), json.dumps(cfg)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith(MARKER)]
    return json.loads(line[len(MARKER) :])


@pytest.mark.integration
def test_zuora_sdk_against_the_emulator(sdk_python: Path, zuora_emulator: ZuoraEmulator) -> None:
    emu = zuora_emulator
    assert emu.client_id == DEFAULT_CLIENT_ID  # the defaults, nothing made up for the SDK
    got = _run_client(sdk_python, emu)
    backend = emu.backend

    assert got["sdk_version"] == SDK_VERSION
    assert got["host"] == emu.base_url

    # The old default id never left the SDK: pydantic refused it before any request.
    assert got["old_default_id"]["class"] == "ValidationError"
    assert got["old_default_id"]["fields"] == ["client_id"]

    assert got["token"] == {
        "token_type": "bearer",
        "expires_in": 3599,
        "scope": got["token"]["scope"],
        "has_access_token": True,
    }

    assert got["workflows"]["ids"] == [w.id for w in backend.workflows]
    assert got["workflows"]["names"][0] == "Sync account to CRM"
    assert got["workflows"]["page"] == 1 and got["workflows"]["next_page"] is None

    run, replay = got["run"], got["replay"]
    assert run["status_code"] == 200 and run["original_workflow_id"] == 396
    assert run["type"] == "Workflow::Instance" and run["name"].startswith("WF-396-")
    assert run["status"] in {"Queued", "Processing"}
    assert run["replayed"] is None and run["track_id"] == "sdk-test-track" and run["request_id"]
    assert replay["replayed"] == "true"
    for key in ("id", "name", "created_at", "status", "original_workflow_id"):
        assert replay[key] == run[key], key  # the stored first answer, replayed
    assert backend.run_count(396) == 1  # one run for two calls with the key
    instance = backend.get_run(run["id"])
    assert instance["parameters"] == {"accountId": "A00000001"}

    assert got["statuses"][0] in {"Queued", "Processing"} and got["statuses"][-1] == "Finished"
    final = got["final"]
    assert final["id"] == run["id"] and final["status"] == "Finished" and final["finished_at"]
    assert final["tasks"] == {
        "total": 3, "queued": 0, "processing": 0, "pending": 0, "stopped": 0, "success": 3, "error": 0
    }  # fmt: skip

    pages = got["task_pages"]
    assert [p["page"] for p in pages] == [1, 2, 3]
    assert all(p["page_length"] == 1 and len(p["tasks"]) == 1 for p in pages)
    assert [p["next_page"] is None for p in pages] == [False, False, True]
    assert all(p["next_page"].startswith(emu.base_url + "/workflows/tasks?") for p in pages[:2])
    names = [p["tasks"][0]["name"] for p in pages]
    assert names == [t["name"] for t in backend.get_run_tasks(run["id"])]
    assert {p["tasks"][0]["status"] for p in pages} == {"Success"}
    assert {p["tasks"][0]["workflow_id"] for p in pages} == {run["id"]}

    errors = got["errors"]
    for name, cls, status in [
        ("401_token", "UnauthorizedException", 401),
        ("401_api", "UnauthorizedException", 401),
        ("404_run", "NotFoundException", 404),
        ("404_workflow", "NotFoundException", 404),
        ("406", "ApiException", 406),  # the SDK has no class of its own for 406
    ]:
        err = errors[name]
        assert (err["class"], err["module"], err["status"]) == (cls, "zuora_sdk.exceptions", status), name
        assert err["is_api_exception"] and err["zuora_request_id"], name
    assert errors["401_token"]["body"] == {"message": "Authentication error"}
    assert errors["401_api"]["body"] == {"message": "Authentication error"}
    assert errors["404_run"]["body"]["errors"][0]["status"] == 404
    missing = errors["406"]["body"]
    assert missing["parameters"] == {} and "accountId" in missing["errors"][0]["title"]
    assert backend.run_count(987654) == 0

    # Everything reached the emulator (the client resolves loopback only), and nothing else did:
    # one token issued (the 401 and the refused old id issued none), the replay marked as such.
    assert backend.tokens_issued == 1
    log = backend.request_log
    tokens = [r for r in log if r.path == "/oauth/token"]
    assert [r.status for r in tokens] == [200, 401]
    assert all(r.body.get("client_id") == DEFAULT_CLIENT_ID for r in tokens)
    runs = [r for r in log if r.method == "POST" and r.path == "/workflows/396/run"]
    assert [(r.status, r.outcome) for r in runs] == [(200, "ok"), (200, "replayed"), (406, "ok")]
    assert runs[0].headers.get("idempotency-key") == "sdk-run-0001"
    assert len(backend.requests("GET", "/workflows/tasks")) == 3
