"""The ASGI layer in front of the routes: it runs every API request through the stages, in order.

Zuora's gateway does the same things for every request (request id, limits, auth, idempotency,
gzip); here each is a small function of :mod:`.stages`. This module holds the plumbing they
share: :class:`Exchange` (one request on its way through), :class:`Answer` (what it gets) and
:class:`ZuoraGateway`, a plain ASGI middleware (cheaper than Starlette's
``BaseHTTPMiddleware``). Control routes under ``/_emulator`` bypass it: the emulator listens on
loopback and a test driving it needs no token.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import uuid
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_zuora.testing.core import EmulatorCore, StoredResponse
from airflow_provider_zuora.testing.errors import EmulatorError
from airflow_provider_zuora.testing.records import RequestRecord, redact_headers
from airflow_provider_zuora.testing.stages import STAGES

#: Path prefix of the emulator's own control routes (no auth; see app.py and client.py).
CONTROL_PREFIX = "/_emulator"
TOKEN_PATH = "/oauth/token"
GZIP_MIN_BYTES = 1001  # "responses over 1,000 bytes"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]
#: Replaces the gzip step of sending: body in, extra headers and the body to send out.
Encoder = Callable[[bytes], tuple[Headers, bytes]]


def accepts_gzip(value: str) -> bool:
    """Whether an ``Accept-Encoding`` value lets the answer be gzipped."""
    for part in value.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            q = params.strip()
            return not (q.startswith("q=") and q[2:].strip() in ("0", "0.0", "0.00", "0.000"))
    return False


@dataclass
class Answer:
    """A response the gateway sends; ``outcome`` goes to the request log (``ok``, ``fault``, ``replayed``,
    ``rejected``; ``dropped`` when the connection was closed instead)."""

    status: int
    headers: Headers
    body: bytes
    outcome: str = "ok"


class Exchange:
    """One API request crossing the gateway: what the stages read, and what they leave for later ones."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, gateway: ZuoraGateway) -> None:
        self.scope, self.receive, self.send, self.gateway = scope, receive, send, gateway
        self.backend = backend = gateway.backend
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.is_token = self.path == TOKEN_PATH
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self.record = RequestRecord(
            seq=0,
            time=backend.now(),
            method=self.method,
            path=self.path,
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=redact_headers(self.headers),
            body=None,
            request_id=str(uuid.uuid4()),
        )
        self.body = b""
        self.bad_gzip = False
        self.track_id: str | None = None
        self.rate_headers: Headers = []
        self.idempotency_key: str | None = None  # reserved by this request, not yet stored or released
        self.response: Answer | None = None  # the route's answer (or a replay), sent unless a stage answers
        self.encoder: Encoder | None = None
        self.cleanups: list[Callable[[], None]] = []  # run once the request is done, whatever happened

    # ---- for the stages ----
    async def read_body(self) -> bytes:
        chunks = []
        while True:
            message = await self.receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def reject(self, error: EmulatorError) -> Answer:
        """The gateway's own error answer (rendered as ``json.dumps`` does, unlike the routes')."""
        headers = [(b"content-type", b"application/json")]
        headers += [(k.lower().encode(), str(v).encode()) for k, v in error.headers.items()]
        return Answer(error.status, headers, json.dumps(error.body()).encode(), "rejected")

    def replay(self, stored: StoredResponse) -> Answer:
        """An answer the idempotency store kept, as it was, marked ``Idempotent-Replayed``."""
        return Answer(
            stored.status, [*stored.headers, (b"idempotent-replayed", b"true")], stored.body, "replayed"
        )

    async def call_route(self) -> Answer:
        return await self.gateway.call_route(self.scope, self.body)

    # ---- for faults ----
    def fault_answer(self, fault_id: int, status: int, headers: dict[str, str], body: bytes) -> Answer:
        self.record.fault_id = fault_id
        raw = [(k.lower().encode(), str(v).encode()) for k, v in headers.items()]
        return Answer(status, raw, body, "fault")

    def encode_with(self, fault_id: int, encoder: Encoder) -> None:
        """Send whatever answer this request gets through ``encoder`` (a fault's broken encoding)."""
        self.record.fault_id = fault_id
        self.encoder = encoder

    async def drop(self, fault_id: int) -> Answer:
        """Close the connection with no response (TCP reset)."""
        self.record.outcome, self.record.status, self.record.fault_id = "dropped", None, fault_id
        transport = self.gateway.transports.get(self.scope.get("client"))
        if transport is None:  # served by something other than ZuoraEmulator: break a response off
            await self.send(
                {"type": "http.response.start", "status": 500, "headers": [(b"content-length", b"1000")]}
            )
            raise ConnectionAbortedError("emulator fault: connection dropped")
        transport.abort()
        for _ in range(3):  # let the server notice the disconnect before this app returns
            await asyncio.sleep(0)
        return Answer(0, [], b"", "dropped")


Stage = Callable[[Exchange], Awaitable[Answer | None]]


class ZuoraGateway:
    """ASGI middleware: each API request goes through ``stages`` until one answers (see :mod:`.stages`)."""

    def __init__(
        self,
        app: ASGIApp,
        backend: EmulatorCore,
        transports: dict[Any, Any] | None = None,
        stages: Sequence[Stage] = STAGES,
    ) -> None:
        self.app = app
        self.backend = backend
        #: client address -> asyncio transport, filled by the emulator's protocol (for dropping connections).
        self.transports = transports if transports is not None else {}
        self.stages = tuple(stages)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        ex = Exchange(scope, receive, send, self)
        self.backend.request_started()
        try:
            answer = await self._answer(ex)
            if answer.outcome != "dropped":
                await self._send(send, ex, answer)
        finally:
            for cleanup in ex.cleanups:
                cleanup()
            self.backend.request_finished()

    async def _answer(self, ex: Exchange) -> Answer:
        for stage in self.stages:
            answer = await stage(ex)
            if answer is not None:
                return answer
        if ex.response is None:
            raise RuntimeError("no stage answered the request")
        return ex.response

    async def _send(self, send: Send, ex: Exchange, answer: Answer) -> None:
        out = [(k, v) for k, v in answer.headers if k.lower() not in (b"content-length", b"content-encoding")]
        body, outcome = answer.body, answer.outcome
        if ex.encoder is not None:
            extra, body = ex.encoder(body)
            out += extra
            outcome = "fault"
        elif len(body) >= GZIP_MIN_BYTES and accepts_gzip(ex.headers.get("accept-encoding", "")):
            body = gzip.compress(body, compresslevel=5)
            out += [(b"content-encoding", b"gzip"), (b"vary", b"Accept-Encoding")]
        out.append((b"content-length", str(len(body)).encode()))
        out.append((b"zuora-request-id", ex.record.request_id.encode()))
        if ex.track_id:
            out.append((b"zuora-track-id", ex.track_id.encode()))
        out += ex.rate_headers
        ex.record.status = answer.status
        ex.record.outcome = outcome
        await send({"type": "http.response.start", "status": answer.status, "headers": out})
        await send({"type": "http.response.body", "body": body})

    async def call_route(self, scope: Scope, body: bytes) -> Answer:
        """Run the FastAPI app and capture its (small, unstreamed) response."""
        sent = False
        captured: dict[str, Any] = {"status": 500, "headers": [], "body": []}

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # nothing more comes: the body was read already
            return {"type": "http.disconnect"}  # pragma: no cover

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))

        inner = dict(scope)
        inner["zuora.body"] = body
        await self.app(inner, receive, capture)
        return Answer(captured["status"], captured["headers"], b"".join(captured["body"]))
