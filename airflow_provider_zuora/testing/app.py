"""The emulator's HTTP face: a FastAPI app over :class:`~.backend.ZuoraBackend`, plus one ASGI layer.

Routes only translate between the wire and backend calls. Everything that applies to every
request lives in :class:`ZuoraGateway`, a plain ASGI middleware (cheaper than Starlette's
``BaseHTTPMiddleware``), in this order:

1. request id, request log entry, body read; faults with ``when="before"``;
2. gzip request bodies; ``Zuora-Track-Id`` check (400) and echo;
3. rate limits (429 with ``Retry-After``) and ``RateLimit-*`` headers; bearer token check (401);
4. ``Idempotency-Key`` on POST/PATCH: replay, 409 in progress, 422 reused elsewhere; ``during`` faults;
5. the route; then ``after`` faults; gzip responses over 1,000 bytes when the client accepts it.

Control routes under ``/_emulator`` (tests driving an emulator in another process) skip 1-5
and need no token: the emulator listens on loopback.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import uuid
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import Response

from airflow_provider_zuora.testing.backend import (
    CONTROL_PREFIX,
    DEFAULT_PAGE_LENGTH,
    StoredResponse,
    ZuoraBackend,
)
from airflow_provider_zuora.testing.faults import (
    EmulatorError,
    Fault,
    RequestRecord,
    errors_body,
    rate_limited_body,
    reasons_body,
    redact_fields,
    redact_headers,
)

TOKEN_PATH = "/oauth/token"
GZIP_MIN_BYTES = 1001  # "responses over 1,000 bytes"
MAX_IDEMPOTENCY_KEY = 255
MAX_TRACK_ID = 64
CONCURRENCY_RETRY_AFTER = 120
LOGGED_BODY_CHARS = 20_000

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":")).encode()
    return Response(content=body, status_code=status, headers=headers, media_type="application/json")


def track_id_problem(value: str) -> str | None:
    """Why a ``Zuora-Track-Id`` is invalid, or None."""
    if len(value) > MAX_TRACK_ID:
        return f"Zuora-Track-Id must be at most {MAX_TRACK_ID} characters, got {len(value)}"
    if any(ord(c) > 127 for c in value):
        return "Zuora-Track-Id must use the US-ASCII character set"
    bad = sorted({c for c in value if c in ":;\"'"})
    if bad:
        return f"Zuora-Track-Id must not contain {' '.join(bad)}"
    return None


def accepts_gzip(value: str) -> bool:
    for part in value.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            q = params.strip()
            return not (q.startswith("q=") and q[2:].strip() in ("0", "0.0", "0.00", "0.000"))
    return False


def _parse_body_for_log(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    text = raw[:LOGGED_BODY_CHARS].decode("utf-8", "replace")
    if "x-www-form-urlencoded" in content_type:
        return redact_fields(dict(parse_qsl(text, keep_blank_values=True)))
    if "json" in content_type or text[:1] in "{[":
        try:
            return redact_fields(json.loads(raw))
        except ValueError:
            pass
    return text


class _Exchange:
    """One request's bookkeeping while it crosses the gateway."""

    __slots__ = ("headers", "rate", "record", "track_id", "truncate_gzip")

    def __init__(self, headers: dict[str, str], record: RequestRecord) -> None:
        self.headers = headers
        self.record = record
        self.rate: list[tuple[bytes, bytes]] = []
        self.track_id: str | None = None
        self.truncate_gzip = False  # a fault's: send the answer gzipped and cut in half


class ZuoraGateway:
    """ASGI middleware doing what Zuora's gateway does for every request (see the module docstring)."""

    def __init__(self, app: ASGIApp, backend: ZuoraBackend, transports: dict[Any, Any] | None = None) -> None:
        self.app = app
        self.backend = backend
        #: client address -> asyncio transport, filled by the emulator's protocol (for dropping connections).
        self.transports = transports if transports is not None else {}
        self.inflight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        self.backend.request_started()
        try:
            await self._handle(scope, receive, send)
        finally:
            self.backend.request_finished()

    # ---- plumbing ----
    @staticmethod
    async def _read_body(receive: Receive) -> bytes:
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _send(
        self,
        send: Send,
        ex: _Exchange,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        outcome: str,
    ) -> None:
        out = [(k, v) for k, v in headers if k.lower() not in (b"content-length", b"content-encoding")]
        if ex.truncate_gzip:  # a fault: a gzip stream that ends half-way
            whole = gzip.compress(body, compresslevel=5)
            body = whole[: max(1, len(whole) // 2)]
            out.append((b"content-encoding", b"gzip"))
            outcome = "fault"
        elif len(body) >= GZIP_MIN_BYTES and accepts_gzip(ex.headers.get("accept-encoding", "")):
            body = gzip.compress(body, compresslevel=5)
            out += [(b"content-encoding", b"gzip"), (b"vary", b"Accept-Encoding")]
        out.append((b"content-length", str(len(body)).encode()))
        out.append((b"zuora-request-id", ex.record.request_id.encode()))
        if ex.track_id:
            out.append((b"zuora-track-id", ex.track_id.encode()))
        out += ex.rate
        ex.record.status = status
        ex.record.outcome = outcome
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": body})

    async def _send_json(
        self,
        send: Send,
        ex: _Exchange,
        status: int,
        doc: Any,
        outcome: str,
        extra: dict[str, str] | None = None,
    ) -> None:
        headers = [(b"content-type", b"application/json")]
        headers += [(k.lower().encode(), str(v).encode()) for k, v in (extra or {}).items()]
        await self._send(send, ex, status, headers, json.dumps(doc).encode(), outcome)

    async def _send_fault(self, send: Send, ex: _Exchange, fault: Fault) -> None:
        status, headers, body = fault.response()
        ex.record.fault_id = fault.id
        raw = [(k.lower().encode(), str(v).encode()) for k, v in headers.items()]
        await self._send(send, ex, status, raw, body, "fault")

    async def _drop(self, scope: Scope, send: Send, ex: _Exchange, fault: Fault) -> None:
        """Close the connection with no response (TCP reset)."""
        ex.record.outcome, ex.record.status, ex.record.fault_id = "dropped", None, fault.id
        transport = self.transports.get(scope.get("client"))
        if transport is not None:
            transport.abort()
            for _ in range(3):  # let the server notice the disconnect before this app returns
                await asyncio.sleep(0)
            return
        # Served by something other than ZuoraEmulator: start a response and break it off.
        await send({"type": "http.response.start", "status": 500, "headers": [(b"content-length", b"1000")]})
        raise ConnectionAbortedError("emulator fault: connection dropped")

    # ---- the pipeline ----
    async def _fault(self, fault: Fault | None, scope: Scope, send: Send, ex: _Exchange) -> bool:
        """Apply a fault: wait its delay, then drop or answer it. True when the request got its answer."""
        if fault is None:
            return False
        if fault.truncate_gzip:  # whatever answer this request gets is cut short (see ``_send``)
            ex.truncate_gzip = True
            ex.record.fault_id = fault.id
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.drop:
            await self._drop(scope, send, ex, fault)
            return True
        if fault.status is not None:
            await self._send_fault(send, ex, fault)
            return True
        return False

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        backend = self.backend
        method, path = scope["method"], scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        record = RequestRecord(
            seq=0,
            time=backend.now(),
            method=method,
            path=path,
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=redact_headers(headers),
            body=None,
            request_id=str(uuid.uuid4()),
        )
        backend.log_request(record)
        ex = _Exchange(headers, record)
        body = await self._read_body(receive)
        bad_gzip = False
        if headers.get("content-encoding", "").strip().lower() == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError, zlib.error):
                bad_gzip = True
        record.body = (
            _parse_body_for_log(body, headers.get("content-type", "")) if not bad_gzip else "<bad gzip>"
        )

        if await self._fault(backend.take_fault(method, path, "before"), scope, send, ex):
            return
        if bad_gzip:
            return await self._send_json(
                send, ex, 400, errors_body(400, "Request body is not valid gzip data"), "rejected"
            )

        track = headers.get("zuora-track-id")
        if track:
            problem = track_id_problem(track)
            if problem:
                return await self._send_json(send, ex, 400, reasons_body(problem, code=90000011), "rejected")
            ex.track_id = track

        is_token = path == TOKEN_PATH
        limit = backend.config.concurrency_limit
        if not is_token and limit is not None and self.inflight >= limit:
            return await self._send_json(
                send,
                ex,
                429,
                reasons_body(
                    f"Concurrent request limit exceeded, retry after {CONCURRENCY_RETRY_AFTER} seconds",
                    code=70,
                ),
                "rejected",
                {"Retry-After": str(CONCURRENCY_RETRY_AFTER)},
            )
        self.inflight += 1
        try:
            await self._limited(scope, send, ex, body, is_token)
        finally:
            self.inflight -= 1

    async def _limited(self, scope: Scope, send: Send, ex: _Exchange, body: bytes, is_token: bool) -> None:
        backend = self.backend
        method, path = scope["method"], scope["path"]
        verdict = backend.rate_check("token" if is_token else "api")
        ex.rate = [
            (b"ratelimit-limit", str(verdict.limit).encode()),
            (b"ratelimit-remaining", str(verdict.remaining).encode()),
            (b"ratelimit-reset", str(verdict.reset).encode()),
        ]
        if not verdict.allowed:
            return await self._send_json(
                send,
                ex,
                429,
                rate_limited_body(verdict.reset),
                "rejected",
                {"Retry-After": str(verdict.reset)},
            )
        if not is_token:
            scheme, _, token = ex.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not backend.check_token(token.strip()):
                return await self._send_json(send, ex, 401, {"message": "Authentication error"}, "rejected")

        key = ex.headers.get("idempotency-key") if method in ("POST", "PATCH") else None
        if key is not None:
            if not key or len(key) > MAX_IDEMPOTENCY_KEY:
                msg = f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters, got {len(key)}"
                return await self._send_json(send, ex, 400, errors_body(400, msg), "rejected")
            verdict_key, stored = backend.idempotency_begin(key, method, path)
            if verdict_key == "replay" and stored is not None:
                if await self._fault(backend.take_fault(method, path, "after"), scope, send, ex):
                    return
                replay = [*stored.headers, (b"idempotent-replayed", b"true")]
                return await self._send(send, ex, stored.status, replay, stored.body, "replayed")
            if verdict_key == "busy":
                msg = "A request with the same Idempotency-Key is still in progress; retry later."
                return await self._send_json(send, ex, 409, reasons_body(msg, code=53000040), "rejected")
            if verdict_key == "mismatch":
                msg = "The Idempotency-Key was already used for a request with another URL or method."
                return await self._send_json(send, ex, 422, reasons_body(msg, code=53000050), "rejected")

        status, headers, out = 500, list[tuple[bytes, bytes]](), b""
        try:
            if await self._fault(backend.take_fault(method, path, "during"), scope, send, ex):
                if key is not None:  # nothing happened: the key is free again
                    backend.idempotency_finish(key, None)
                    key = None
                return
            status, headers, out = await self._call_route(scope, body)
        finally:
            if key is not None:
                stored_ok = status < 500
                backend.idempotency_finish(key, StoredResponse(status, headers, out) if stored_ok else None)

        if await self._fault(backend.take_fault(method, path, "after"), scope, send, ex):
            return
        await self._send(send, ex, status, headers, out, "ok")

    async def _call_route(self, scope: Scope, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
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
        return captured["status"], captured["headers"], b"".join(captured["body"])


# ---- routes ----
def _page_params(request: Request) -> tuple[int, int]:
    """``page`` and ``page_length`` of a paginated list call."""
    return _int_param(request, "page", 1), _int_param(request, "page_length", DEFAULT_PAGE_LENGTH)


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise EmulatorError(400, f"{name} must be an integer, got {raw!r}") from None


def _body_json(request: Request) -> Any:
    raw = request.scope.get("zuora.body", b"")
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise EmulatorError(400, f"The request body is not valid JSON: {exc}") from None


def _page(
    request: Request, items: list[dict[str, Any]], has_next: bool, page: int, page_length: int
) -> Response:
    next_page = str(request.url.include_query_params(page=page + 1)) if has_next else None
    return _json(
        {"data": items, "pagination": {"next_page": next_page, "page": page, "page_length": page_length}}
    )


def create_app(backend: ZuoraBackend, transports: dict[Any, Any] | None = None) -> FastAPI:
    """The ASGI app of the emulator for ``backend`` (the gateway middleware included)."""
    app = FastAPI(title="Zuora Workflow API emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.backend = backend

    @app.exception_handler(EmulatorError)
    async def _emulator_error(request: Request, exc: EmulatorError) -> Response:
        return _json(exc.body(), exc.status, exc.headers)

    @app.post(TOKEN_PATH)
    async def oauth_token(request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        if "application/x-www-form-urlencoded" not in content_type:
            raise EmulatorError(
                400,
                f"Content-Type must be application/x-www-form-urlencoded, got {content_type!r}",
                shape="message",
            )
        form = dict(parse_qsl(request.scope.get("zuora.body", b"").decode("utf-8", "replace")))
        return _json(backend.issue_token(form))

    @app.post("/workflows/{workflow_id}/run")
    async def run_workflow(request: Request, workflow_id: str) -> Response:
        return _json(backend.run_workflow(workflow_id, _body_json(request)))

    @app.get("/workflows/workflow_runs/{run_id}")
    async def get_workflow_run(run_id: str) -> Response:
        return _json(backend.workflow_run_state(run_id))

    @app.put("/workflows/workflow_runs/{run_id}/stop")
    async def stop_workflow_run(run_id: str) -> Response:
        return _json(backend.stop_workflow_run(run_id))

    @app.get("/workflows/tasks")
    async def list_tasks(request: Request) -> Response:
        page, page_length = _page_params(request)
        instance = request.query_params.get("instance", "").lower() in ("true", "1", "yes")
        items, more = backend.list_tasks(request.query_params.get("workflow_id"), instance, page, page_length)
        return _page(request, items, more, page, page_length)

    @app.get("/workflows/{workflow_id}")
    async def get_workflow(workflow_id: str) -> Response:
        return _json(backend.get_workflow_definition(workflow_id))

    @app.get("/workflows")
    async def list_workflows(request: Request) -> Response:
        page, page_length = _page_params(request)
        items, more = backend.list_workflow_definitions(page, page_length, request.query_params.get("name"))
        return _page(request, items, more, page, page_length)

    _control_routes(app, backend)
    app.add_middleware(ZuoraGateway, backend=backend, transports=transports)
    return app


def _control_routes(app: FastAPI, backend: ZuoraBackend) -> None:
    """``/_emulator/*``: drive and inspect the emulator from another process (see :mod:`.client`)."""

    async def body_of(request: Request) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            raise EmulatorError(400, f"control body is not JSON: {exc}", shape="message") from None

    def guarded(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (TypeError, ValueError) as exc:
            raise EmulatorError(400, str(exc), shape="message") from None

    @app.get(CONTROL_PREFIX + "/state")
    async def state(request: Request) -> Response:
        return _json(backend.state(log=request.query_params.get("log", "true").lower() != "false"))

    @app.get(CONTROL_PREFIX + "/requests")
    async def requests(request: Request) -> Response:
        q = request.query_params
        return _json([r.to_dict() for r in backend.requests(q.get("method"), q.get("path"))])

    @app.delete(CONTROL_PREFIX + "/requests")
    async def clear_requests() -> Response:
        backend.clear_request_log()
        return _json({"cleared": True})

    @app.get(CONTROL_PREFIX + "/instances/{run_id}")
    async def instance(run_id: str) -> Response:
        found = backend.get_instance(run_id)
        if found is None:
            raise EmulatorError(404, f"no instance {run_id}", shape="message")
        return _json({**found, "task_list": backend.get_instance_tasks(run_id)})

    @app.post(CONTROL_PREFIX + "/faults")
    async def add_fault(request: Request) -> Response:
        spec = await body_of(request)
        if not isinstance(spec, dict):
            raise EmulatorError(400, "fault: expected a JSON object", shape="message")
        return _json(guarded(backend.inject_fault, **spec).to_dict())

    @app.get(CONTROL_PREFIX + "/faults")
    async def list_faults() -> Response:
        return _json([f.to_dict() for f in backend.faults])

    @app.delete(CONTROL_PREFIX + "/faults")
    async def clear_faults() -> Response:
        backend.clear_faults()
        return _json({"cleared": True})

    @app.post(CONTROL_PREFIX + "/clock")
    async def clock(request: Request) -> Response:
        """``{"advance": seconds}`` and/or ``{"freeze": true|false}``."""
        spec = await body_of(request)
        if not isinstance(spec, dict):
            raise EmulatorError(400, "clock: expected a JSON object", shape="message")
        if spec.get("freeze") is True:
            backend.freeze_clock()
        elif spec.get("freeze") is False:
            backend.unfreeze_clock()
        now = guarded(backend.advance_clock, spec.get("advance", 0))
        state = backend.state(log=False)
        return _json({"now": now, "offset": state["clock_offset"], "frozen": state["clock_frozen"]})

    @app.post(CONTROL_PREFIX + "/expire-tokens")
    async def expire_tokens() -> Response:
        return _json({"expired": backend.expire_tokens()})

    @app.post(CONTROL_PREFIX + "/workflows")
    async def add_workflow(request: Request) -> Response:
        spec = await body_of(request)
        wf = guarded(backend.add_workflow, spec)
        return _json(backend.workflow_definition(wf))

    @app.post(CONTROL_PREFIX + "/config")
    async def configure(request: Request) -> Response:
        spec = await body_of(request)
        if not isinstance(spec, dict):
            raise EmulatorError(400, "config: expected a JSON object", shape="message")
        cfg = guarded(backend.configure, **spec)
        return _json({k: v for k, v in vars(cfg).items() if k != "client_secret"})

    @app.post(CONTROL_PREFIX + "/reset")
    async def reset() -> Response:
        backend.reset()
        return _json({"reset": True})
