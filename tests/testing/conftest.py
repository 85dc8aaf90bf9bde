"""Fixtures for the emulator's own tests: the plugin's fixtures, plus a small HTTP client.

The plugin's fixtures come from the root conftest's ``pytest_plugins``: one emulator per
session, fresh state per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_zuora.testing.emulator import ZuoraEmulator

CLIENT_ID = "00000000-0000-4000-8000-000000000001"
CLIENT_SECRET = "emulator-client-secret"


class Api:
    """httpx against the emulator, with a token fetched on first use."""

    def __init__(self, emulator: ZuoraEmulator) -> None:
        self.emulator = emulator
        self.http = httpx.Client(base_url=emulator.base_url, timeout=10)
        self._token: str | None = None

    def token_response(self, **form: str) -> httpx.Response:
        data = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": "client_credentials"}
        data.update(form)
        return self.http.post("/oauth/token", data=data)

    @property
    def token(self) -> str:
        if self._token is None:
            resp = self.token_response()
            assert resp.status_code == 200, resp.text
            self._token = resp.json()["access_token"]
        return self._token

    def auth(self, headers: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(headers or {})}

    def request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kw: Any
    ) -> httpx.Response:
        return self.http.request(method, path, headers=self.auth(headers), **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def run(self, workflow_id: int | str, params: Any = None, **kw: Any) -> httpx.Response:
        return self.request(
            "POST", f"/workflows/{workflow_id}/run", json={} if params is None else params, **kw
        )

    def state(self, run_id: int) -> dict[str, Any]:
        resp = self.get(f"/workflows/workflow_runs/{run_id}")
        assert resp.status_code == 200, resp.text
        return resp.json()

    def tasks(self, run_id: int, **params: Any) -> httpx.Response:
        return self.get("/workflows/tasks", params={"workflow_id": run_id, "instance": "true", **params})


@pytest.fixture
def emu(zuora_emulator: ZuoraEmulator) -> ZuoraEmulator:
    return zuora_emulator


@pytest.fixture
def backend(emu: ZuoraEmulator):
    return emu.backend


@pytest.fixture
def api(emu: ZuoraEmulator) -> Iterator[Api]:
    client = Api(emu)
    yield client
    client.http.close()
