"""Shared by the mocked-HTTP hook tests: the connection, its URLs and a token answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpcore
import httpx
import pytest

from airflow_provider_zuora.hooks import _lanes, _transport
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
    monkeypatch.setattr("time.sleep", lambda s: None)  # the hook retries without waiting


def hook(**kwargs: Any) -> ZuoraHook:
    return ZuoraHook(**kwargs)


Handler = Callable[[httpx.Request], Any]


class HandlerLane:
    """A lane of the hook's async client (``hooks/_lanes.py``) answered in-process by ``handler``:
    an ``httpx.Request`` in, an ``httpx.Response`` (or a coroutine of one) out, or an exception
    (``httpcore.ConnectError``...) raised as the network would."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        body = b"".join([chunk async for chunk in request.stream])  # type: ignore[union-attr]
        url = request.url
        port = f":{url.port}" if url.port else ""
        target = f"{url.scheme.decode()}://{url.host.decode()}{port}{url.target.decode()}"
        method = request.method.decode()
        sent = httpx.Request(
            method, target, headers=request.headers, content=body, extensions=request.extensions
        )
        answer = self.handler(sent)
        if asyncio.iscoroutine(answer):
            answer = await answer
        return httpcore.Response(answer.status_code, headers=answer.headers.raw, content=answer.content)

    async def aclose(self) -> None:
        return None


def serve_async(monkeypatch: pytest.MonkeyPatch, handler: Handler) -> list[httpx.Request]:
    """Route every async request the hooks make to ``handler``; returns the requests seen."""
    seen: list[httpx.Request] = []

    def recording(request: httpx.Request) -> Any:
        seen.append(request)
        return handler(request)

    monkeypatch.setattr(_lanes, "open_lane", lambda base_url, ssl_context: HandlerLane(recording))
    return seen
