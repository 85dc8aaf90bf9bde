"""The emulator's HTTP face: a FastAPI app whose routes map onto :class:`~.backend.ZuoraBackend`.

Routes only translate between the wire and backend calls; errors raised as named
:mod:`.errors` become their answers. What applies to every API request is the gateway's
(:mod:`.gateway` running :mod:`.stages`), which :func:`create_app` puts in front. The control
routes under ``/_emulator`` let a test in another process drive and inspect the emulator
(:mod:`.client`); they need no token.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import Response

from airflow_provider_zuora.testing import errors
from airflow_provider_zuora.testing.backend import DEFAULT_PAGE_LENGTH, ZuoraBackend
from airflow_provider_zuora.testing.errors import EmulatorError
from airflow_provider_zuora.testing.gateway import CONTROL_PREFIX, TOKEN_PATH, ZuoraGateway

Endpoint = Callable[..., Awaitable[Response]]


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":")).encode()
    return Response(content=body, status_code=status, headers=headers, media_type="application/json")


def _backend(request: Request) -> ZuoraBackend:
    backend: ZuoraBackend = request.app.state.backend
    return backend


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise errors.InvalidQueryParameter(f"{name} must be an integer, got {raw!r}") from None


def _page_params(request: Request) -> tuple[int, int]:
    """``page`` and ``page_length`` of a paginated list call."""
    return _int_param(request, "page", 1), _int_param(request, "page_length", DEFAULT_PAGE_LENGTH)


def _page(
    request: Request, items: list[dict[str, Any]], has_next: bool, page: int, page_length: int
) -> Response:
    next_page = str(request.url.include_query_params(page=page + 1)) if has_next else None
    return _json(
        {"data": items, "pagination": {"next_page": next_page, "page": page, "page_length": page_length}}
    )


def _body_json(request: Request) -> Any:
    raw = request.scope.get("zuora.body", b"")
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise errors.InvalidJsonBody(exc) from None


# ---- the Workflow API ----
async def oauth_token(request: Request) -> Response:
    content_type = request.headers.get("content-type", "")
    if "application/x-www-form-urlencoded" not in content_type:
        raise errors.NotFormEncoded(content_type)
    form = dict(parse_qsl(request.scope.get("zuora.body", b"").decode("utf-8", "replace")))
    return _json(_backend(request).issue_token(form))


async def run_workflow(request: Request, workflow_id: str) -> Response:
    return _json(_backend(request).run_workflow(workflow_id, _body_json(request)))


async def get_workflow_run(request: Request, run_id: str) -> Response:
    return _json(_backend(request).get_workflow_run(run_id))


async def stop_workflow_run(request: Request, run_id: str) -> Response:
    return _json(_backend(request).stop_workflow_run(run_id))


async def list_workflow_tasks(request: Request) -> Response:
    page, page_length = _page_params(request)
    run_tasks = request.query_params.get("instance", "").lower() in ("true", "1", "yes")
    workflow_id = request.query_params.get("workflow_id")
    items, more = _backend(request).list_workflow_tasks(workflow_id, run_tasks, page, page_length)
    return _page(request, items, more, page, page_length)


async def get_workflow(request: Request, workflow_id: str) -> Response:
    return _json(_backend(request).get_workflow_definition(workflow_id))


async def list_workflows(request: Request) -> Response:
    page, page_length = _page_params(request)
    items, more = _backend(request).list_workflows(page, page_length, request.query_params.get("name"))
    return _page(request, items, more, page, page_length)


#: Method, path, endpoint; ``/workflows/tasks`` before ``/workflows/{workflow_id}``.
API_ROUTES: list[tuple[str, str, Endpoint]] = [
    ("POST", TOKEN_PATH, oauth_token),
    ("POST", "/workflows/{workflow_id}/run", run_workflow),
    ("GET", "/workflows/workflow_runs/{run_id}", get_workflow_run),
    ("PUT", "/workflows/workflow_runs/{run_id}/stop", stop_workflow_run),
    ("GET", "/workflows/tasks", list_workflow_tasks),
    ("GET", "/workflows/{workflow_id}", get_workflow),
    ("GET", "/workflows", list_workflows),
]


# ---- /_emulator: drive and inspect the emulator from another process ----
async def _control_body(request: Request, expect_object: str | None = None) -> Any:
    """The JSON body of a control call; with ``expect_object`` (the call's name) it must be an object."""
    raw = await request.body()
    try:
        spec = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise errors.ControlRequestInvalid(f"control body is not JSON: {exc}") from None
    if expect_object and not isinstance(spec, dict):
        raise errors.ControlRequestInvalid(f"{expect_object}: expected a JSON object")
    return spec


def _guarded(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a backend control; its TypeError or ValueError is the caller's mistake: a 400."""
    try:
        return fn(*args, **kwargs)
    except (TypeError, ValueError) as exc:
        raise errors.ControlRequestInvalid(str(exc)) from None


async def control_state(request: Request) -> Response:
    return _json(_backend(request).state(log=request.query_params.get("log", "true").lower() != "false"))


async def control_requests(request: Request) -> Response:
    q = request.query_params
    return _json([r.to_dict() for r in _backend(request).requests(q.get("method"), q.get("path"))])


async def control_clear_requests(request: Request) -> Response:
    _backend(request).clear_request_log()
    return _json({"cleared": True})


async def control_run(request: Request, run_id: str) -> Response:
    backend = _backend(request)
    found = backend.get_run(run_id)
    if found is None:
        raise errors.ControlRunNotFound(run_id)
    return _json({**found, "task_list": backend.get_run_tasks(run_id)})


async def control_add_fault(request: Request) -> Response:
    spec = await _control_body(request, "fault")
    return _json(_guarded(_backend(request).inject_fault, **spec).to_dict())


async def control_faults(request: Request) -> Response:
    return _json([f.to_dict() for f in _backend(request).faults])


async def control_clear_faults(request: Request) -> Response:
    _backend(request).clear_faults()
    return _json({"cleared": True})


async def control_clock(request: Request) -> Response:
    """``{"advance": seconds}`` and/or ``{"freeze": true|false}``."""
    backend, spec = _backend(request), await _control_body(request, "clock")
    if spec.get("freeze") is True:
        backend.freeze_clock()
    elif spec.get("freeze") is False:
        backend.unfreeze_clock()
    now = _guarded(backend.advance_clock, spec.get("advance", 0))
    return _json({"now": now, "offset": backend.clock.offset, "frozen": backend.clock.frozen})


async def control_expire_tokens(request: Request) -> Response:
    return _json({"expired": _backend(request).expire_tokens()})


async def control_add_workflow(request: Request) -> Response:
    backend = _backend(request)
    wf = _guarded(backend.add_workflow, await _control_body(request))
    return _json(backend.workflow_definition(wf))


async def control_configure(request: Request) -> Response:
    spec = await _control_body(request, "config")
    return _json(_guarded(_backend(request).configure, **spec).public())


async def control_reset(request: Request) -> Response:
    _backend(request).reset()
    return _json({"reset": True})


CONTROL_ROUTES: list[tuple[str, str, Endpoint]] = [
    ("GET", CONTROL_PREFIX + "/state", control_state),
    ("GET", CONTROL_PREFIX + "/requests", control_requests),
    ("DELETE", CONTROL_PREFIX + "/requests", control_clear_requests),
    ("GET", CONTROL_PREFIX + "/instances/{run_id}", control_run),
    ("POST", CONTROL_PREFIX + "/faults", control_add_fault),
    ("GET", CONTROL_PREFIX + "/faults", control_faults),
    ("DELETE", CONTROL_PREFIX + "/faults", control_clear_faults),
    ("POST", CONTROL_PREFIX + "/clock", control_clock),
    ("POST", CONTROL_PREFIX + "/expire-tokens", control_expire_tokens),
    ("POST", CONTROL_PREFIX + "/workflows", control_add_workflow),
    ("POST", CONTROL_PREFIX + "/config", control_configure),
    ("POST", CONTROL_PREFIX + "/reset", control_reset),
]


async def _emulator_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, EmulatorError)
    return _json(exc.body(), exc.status, exc.headers)


def create_app(backend: ZuoraBackend, transports: dict[Any, Any] | None = None) -> FastAPI:
    """The ASGI app of the emulator for ``backend``, the gateway in front."""
    app = FastAPI(title="Zuora Workflow API emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.backend = backend
    app.add_exception_handler(EmulatorError, _emulator_error)
    for method, path, endpoint in API_ROUTES + CONTROL_ROUTES:
        app.add_api_route(path, endpoint, methods=[method])
    app.add_middleware(ZuoraGateway, backend=backend, transports=transports)
    return app
