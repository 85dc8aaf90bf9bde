"""Shared by the mocked-HTTP hook tests: the connection, its URLs and a token answer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_zuora.hooks import _transport
from airflow_provider_zuora.hooks.zuora import ZuoraHook

BASE = "https://rest.apisandbox.zuora.com"
TOKEN_URL = f"{BASE}/oauth/token"
RUN_URL = f"{BASE}/workflows/396/run"
STATE_URL = f"{BASE}/workflows/workflow_runs/400"
INSTANCE = {"id": 400, "name": "WF-396-00000003", "status": "Queued", "originalWorkflowId": "396"}


def token_answer(n: int = 1, expires_in: int = 3599) -> dict[str, Any]:
    return {"json": {"access_token": f"tok-{n}", "token_type": "bearer", "expires_in": expires_in}}


@pytest.fixture(autouse=True)
def conn(monkeypatch: pytest.MonkeyPatch) -> None:
    """The connection as users give it in an environment variable: AIRFLOW_CONN_ZUORA_DEFAULT JSON."""
    _transport.TOKENS.clear()
    monkeypatch.setenv(
        "AIRFLOW_CONN_ZUORA_DEFAULT",
        json.dumps(
            {
                "conn_type": "zuora",
                "host": BASE,
                "login": "client-id",
                "password": "client-secret-value",
                "extra": {"entity_ids": "E-1", "org_ids": "O-1,O-2", "timeout": 30},
            }
        ),
    )
    monkeypatch.setattr("tenacity.nap.time.sleep", lambda s: None)  # retries without waiting


def hook(**kwargs: Any) -> ZuoraHook:
    return ZuoraHook(**kwargs)
