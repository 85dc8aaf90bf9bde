"""The emulator's state and rules, with no HTTP: workflows, runs, tokens, idempotency, limits, faults.

Like moto's ``models.py``: plain methods a test can call in-process, and that the FastAPI app
(:mod:`.app`) maps routes onto. API methods raise :class:`~.faults.EmulatorError` for the
errors Zuora would answer. Every method takes the lock: uvicorn's thread and the test's
thread share one backend.

The clock is real time plus an offset (:meth:`ZuoraBackend.advance_clock`), so runs progress
in real time and tests can also jump ahead: token expiry, the idempotency store's 24 hours,
run retention and rate-limit windows all follow it.
"""

from __future__ import annotations

import dataclasses
import hmac
import math
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_zuora.testing.faults import EmulatorError, Fault, RequestRecord
from airflow_provider_zuora.testing.runs import Run, zuora_time
from airflow_provider_zuora.testing.workflows import Workflow, coerce_workflows, sample_workflows

#: Path prefix of the emulator's own control routes (no auth; see app.py and client.py).
CONTROL_PREFIX = "/_emulator"
#: The default OAuth client, shaped as Zuora's are so that clients that validate them accept it
#: (Zuora's own SDK, ``zuora-sdk``, wants a 36-character client id and a secret of at most 42).
DEFAULT_CLIENT_ID = "00000000-0000-4000-8000-000000000001"
DEFAULT_CLIENT_SECRET = "emulator-client-secret"
#: Top-level run-body keys Zuora reserves (SEED).
RESERVED_KEYS = ("controller", "action", "id", "user_email", "user_token", "format")
#: Limit shown in ``RateLimit-Limit`` when no limit is enforced (Zuora production's per-minute limit).
NOMINAL_RATE_LIMIT = 50_000
MAX_WORKFLOWS_PAGE = 50
MAX_TASKS_PAGE = 100
DEFAULT_PAGE_LENGTH = 20
#: First instance id; workflow and instance ids share one id space, as in Zuora.
FIRST_INSTANCE_ID = 1000


def parse_id(value: int | str) -> int | None:
    """An id from a path or query (``396`` or ``"396"``); None when it is not a positive integer."""
    if isinstance(value, int):
        return value if value > 0 else None
    text = str(value).strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


@dataclass
class StoredResponse:
    """A response kept by the idempotency store, replayed as it was."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass
class _IdempotencyRecord:
    method: str
    path: str
    at: float
    response: StoredResponse | None = None


@dataclass
class RateVerdict:
    allowed: bool
    limit: int
    remaining: int
    reset: int


@dataclass
class _Window:
    minute: int = -1
    count: int = 0


@dataclass
class BackendConfig:
    """Settings a test may change at any time (also over HTTP: ``POST /_emulator/config``)."""

    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = field(default=DEFAULT_CLIENT_SECRET, repr=False)
    token_lifetime: float = 3600
    rate_limit: int | None = None
    token_rate_limit: int | None = None
    concurrency_limit: int | None = None
    # Length of a rate-limit window in seconds: Zuora's is a minute; load tests shorten it.
    rate_window: float = 60
    idempotency_ttl: float = 24 * 3600
    retention_days: float = 30


class ZuoraBackend:
    """In-memory Zuora tenant: see the module docstring. Thread-safe."""

    def __init__(
        self,
        workflows: Iterable[Workflow | Mapping[str, Any]] | None = None,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        token_lifetime: float = 3600,
        rate_limit: int | None = None,
        token_rate_limit: int | None = None,
        concurrency_limit: int | None = None,
        idempotency_ttl: float = 24 * 3600,
        retention_days: float = 30,
        request_log_size: int = 10_000,
    ) -> None:
        self.config = BackendConfig(
            client_id=client_id,
            client_secret=client_secret,
            token_lifetime=token_lifetime,
            rate_limit=rate_limit,
            token_rate_limit=token_rate_limit,
            concurrency_limit=concurrency_limit,
            idempotency_ttl=idempotency_ttl,
            retention_days=retention_days,
        )
        self._initial_config = dataclasses.replace(self.config)
        self._lock = threading.RLock()
        self._initial = sample_workflows() if workflows is None else coerce_workflows(workflows)
        self._log_size = request_log_size
        self._inflight = 0  # requests the server is still working on (kept across reset)
        self.reset()

    def __repr__(self) -> str:
        return f"ZuoraBackend(workflows={len(self._workflows)}, runs={len(self._runs)})"

    # ---- lifecycle, clock, config ----
    def reset(self, workflows: Iterable[Workflow | Mapping[str, Any]] | None = None) -> None:
        """Back to a fresh tenant: initial settings and (or given) workflows; no runs, tokens, faults or log;
        the clock back at real time."""
        with self._lock:
            if workflows is not None:
                self._initial = coerce_workflows(workflows)
            self.config = dataclasses.replace(self._initial_config)
            self._offset = 0.0
            self._frozen: float | None = None
            self._workflows: dict[int, Workflow] = {}
            self._workflow_added: dict[int, float] = {}
            self._definition_task_base: dict[int, int] = {}
            self._runs: dict[int, Run] = {}
            self._run_counts: dict[int, int] = {}
            self._next_id = FIRST_INSTANCE_ID
            self._next_task_id = 10_000
            self._tokens: dict[str, float] = {}
            self._tokens_issued = 0
            self._idempotency: dict[str, _IdempotencyRecord] = {}
            self._windows: dict[str, _Window] = {"api": _Window(), "token": _Window()}
            self._faults: list[Fault] = []
            self._fault_seq = 0
            self._log: deque[RequestRecord] = deque(maxlen=self._log_size)
            self._log_seq = 0
            for wf in self._initial:
                self.add_workflow(wf)

    def configure(self, **changes: Any) -> BackendConfig:
        """Change settings (``rate_limit``, ``token_lifetime``, ...); unknown names raise ValueError."""
        with self._lock:
            for name, value in changes.items():
                if not hasattr(self.config, name):
                    raise ValueError(f"unknown emulator setting {name!r}")
                setattr(self.config, name, value)
            return self.config

    def now(self) -> float:
        """The emulated clock: real time (or the frozen instant) plus the offset tests moved it by."""
        frozen = self._frozen
        return (frozen if frozen is not None else time.time()) + self._offset

    def freeze_clock(self) -> float:
        """Stop the clock at the current emulated time (``advance_clock`` still moves it); returns it.

        Handy to read a run's state and its task list at one instant.
        """
        with self._lock:
            if self._frozen is None:
                self._frozen = time.time()
            return self.now()

    def unfreeze_clock(self) -> float:
        """Let the clock run again from where it stood (the frozen time is kept as an offset)."""
        with self._lock:
            if self._frozen is not None:
                self._offset -= time.time() - self._frozen
                self._frozen = None
            return self.now()

    def advance_clock(self, seconds: float) -> float:
        """Move the emulated clock forward; returns the new emulated time."""
        if not isinstance(seconds, (int, float)) or seconds < 0 or math.isnan(seconds):
            raise ValueError(f"advance_clock: seconds must be a number >= 0, got {seconds!r}")
        with self._lock:
            self._offset += seconds
            return self.now()

    # ---- workflows ----
    def add_workflow(self, workflow: Workflow | Mapping[str, Any]) -> Workflow:
        """Add (or replace, same id) a workflow definition. Existing runs keep the spec they started with."""
        wf = workflow if isinstance(workflow, Workflow) else Workflow.from_dict(workflow)
        with self._lock:
            if wf.id in self._runs:
                raise ValueError(f"workflow id {wf.id} is already the id of an instance")
            self._workflows[wf.id] = wf
            self._workflow_added.setdefault(wf.id, self.now())
            self._definition_task_base[wf.id] = self._next_task_id
            self._next_task_id += max(len(wf.tasks), 1)
            self._run_counts.setdefault(wf.id, 0)
            self._next_id = max(self._next_id, wf.id + 1)
            return wf

    def get_workflow(self, workflow_id: int | str) -> Workflow | None:
        ident = parse_id(workflow_id)
        with self._lock:
            return self._workflows.get(ident) if ident is not None else None

    @property
    def workflows(self) -> list[Workflow]:
        with self._lock:
            return list(self._workflows.values())

    def workflow_definition(self, wf: Workflow) -> dict[str, Any]:
        """A workflow as ``GET /workflows/{id}`` answers."""
        added = zuora_time(self._workflow_added.get(wf.id, self.now()))
        active = wf.status == "Active"
        return {
            "id": wf.id,
            "name": wf.name,
            "description": wf.description,
            "type": "Workflow::Setup",
            "status": wf.status,
            "version": wf.version,
            "active_version": {
                "id": wf.id,
                "type": "Workflow::Setup",
                "version": wf.version,
                "status": "Active",
            }
            if active
            else None,
            "calloutTrigger": wf.callout_trigger,
            "ondemandTrigger": wf.ondemand_trigger,
            "scheduledTrigger": wf.scheduled_trigger,
            "priority": "Medium",
            "interval": None,
            "timezone": "UTC",
            "parameters": [
                {"name": p.name, "required": p.required, "datatype": p.datatype, "object": p.object}
                for p in wf.parameters
            ],
            "createdAt": added,
            "updatedAt": added,
        }

    def get_workflow_definition(self, workflow_id: int | str) -> dict[str, Any]:
        with self._lock:
            wf = self.get_workflow(workflow_id)
            if wf is None:
                raise EmulatorError(404, f"Workflow {workflow_id} not found")
            return self.workflow_definition(wf)

    def list_workflow_definitions(
        self, page: int = 1, page_length: int = DEFAULT_PAGE_LENGTH, name: str | None = None
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page of definitions (``name``: case-insensitive substring) and whether more follow."""
        _check_page(page, page_length, MAX_WORKFLOWS_PAGE)
        with self._lock:
            items = sorted(self._workflows.values(), key=lambda w: w.id)
            if name:
                items = [w for w in items if name.lower() in w.name.lower()]
            start = (page - 1) * page_length
            chunk = items[start : start + page_length]
            return [self.workflow_definition(w) for w in chunk], start + page_length < len(items)

    # ---- runs ----
    def run_workflow(self, workflow_id: int | str, body: Any) -> dict[str, Any]:
        """``POST /workflows/{id}/run``: validate as Zuora does, create a run, return its summary."""
        ident = parse_id(workflow_id)
        with self._lock:
            now = self.now()
            if ident in self._runs:
                run = self._runs[ident]
                raise EmulatorError(
                    409, f"Workflow {run.name} with Id {run.id} is an instance/run.", inner_status=406
                )
            wf = self._workflows.get(ident) if ident is not None else None
            if wf is None:
                raise EmulatorError(404, f"Workflow {workflow_id} not found")
            if wf.status != "Active":
                raise EmulatorError(400, f"Workflow {wf.id} ({wf.name}) is inactive and cannot be run.")
            if not wf.callout_trigger:
                raise EmulatorError(400, "Callout mode is not turned on in this workflow.")
            if body is None:
                body = {}
            if not isinstance(body, dict):
                raise EmulatorError(
                    400,
                    f"The request body must be a JSON object of input parameters, got {type(body).__name__}.",
                )
            reserved = [k for k in RESERVED_KEYS if k in body]
            if reserved:
                raise EmulatorError(
                    400,
                    f"Parameter(s) {', '.join(repr(k) for k in reserved)} use reserved words and cannot be "
                    f"used in the request body (reserved: {', '.join(RESERVED_KEYS)}).",
                )
            missing = [p for p in wf.required_parameters if body.get(p.name) in (None, "")]
            if missing:
                raise EmulatorError(
                    406,
                    [
                        f"Required field for {p.object}-{p.name} does not have a set value. "
                        f"Ensure parameter '{p.name}' is present."
                        for p in missing
                    ],
                    extra={"parameters": body},
                )
            run_id = self._next_id
            self._next_id += 1
            seq = self._run_counts.get(wf.id, 0) + 1
            self._run_counts[wf.id] = seq
            run = Run(
                id=run_id,
                name=f"WF-{wf.id}-{seq:08d}",
                workflow=wf,
                created=now,
                parameters=dict(body),
                task_id_base=self._next_task_id,
                definition_task_base=self._definition_task_base[wf.id],
            )
            self._next_task_id += max(len(wf.tasks), 1)
            self._runs[run_id] = run
            return run.summary(now)

    def _find_run(self, run_id: int | str) -> Run | None:
        ident = parse_id(run_id)
        run = self._runs.get(ident) if ident is not None else None
        if run is not None and self.now() - run.created > self.config.retention_days * 86400:
            return None
        return run

    def workflow_run_state(self, run_id: int | str) -> dict[str, Any]:
        """``GET /workflows/workflow_runs/{id}``."""
        with self._lock:
            run = self._find_run(run_id)
            if run is None:
                raise EmulatorError(404, f"Cannot find a workflow run with id {run_id}.")
            return run.state(self.now())

    def stop_workflow_run(self, run_id: int | str) -> dict[str, Any]:
        """``PUT /workflows/workflow_runs/{id}/stop``: Stopping, then Stopped. An ended run stays as it is."""
        with self._lock:
            run = self._find_run(run_id)
            if run is None:
                raise EmulatorError(404, "Cannot find a workflow run with id provided.")
            run.request_stop(self.now())
            return {"success": True}

    def list_tasks(
        self,
        workflow_id: int | str | None,
        instance: bool,
        page: int = 1,
        page_length: int = DEFAULT_PAGE_LENGTH,
    ) -> tuple[list[dict[str, Any]], bool]:
        """``GET /workflows/tasks``: a run's (``workflow_id`` = run id, ``instance=true``) or a workflow's."""
        _check_page(page, page_length, MAX_TASKS_PAGE)
        if workflow_id is None or workflow_id == "":
            raise EmulatorError(
                400, "workflow_id is required (this emulator lists tasks of one workflow or run)."
            )
        with self._lock:
            run = self._find_run(workflow_id)
            wf = self.get_workflow(workflow_id)
            if instance and run is not None:
                tasks = run.tasks_at(self.now())
            elif not instance and wf is not None:
                base = self._definition_task_base[wf.id]
                tasks = [
                    {"id": base + i, "name": t.name, "action_type": t.action_type, "instance": False,
                     "workflow_id": wf.id, "status": None, "tags": []}
                    for i, t in enumerate(wf.tasks)
                ]  # fmt: skip
            else:
                tasks = []
        start = (page - 1) * page_length
        return tasks[start : start + page_length], start + page_length < len(tasks)

    def instance_count(self, workflow_id: int | str) -> int:
        """How many runs a workflow has had (0 for unknown ids)."""
        ident = parse_id(workflow_id)
        with self._lock:
            return self._run_counts.get(ident, 0) if ident is not None else 0

    def get_instance(self, run_id: int | str) -> dict[str, Any] | None:
        """A run's state as the API shows it now, plus ``parameters`` (its run body); None if unknown."""
        with self._lock:
            run = self._runs.get(parse_id(run_id) or 0)
            if run is None:
                return None
            return {**run.state(self.now()), "parameters": dict(run.parameters)}

    def get_instance_tasks(self, run_id: int | str) -> list[dict[str, Any]]:
        with self._lock:
            run = self._runs.get(parse_id(run_id) or 0)
            return run.tasks_at(self.now()) if run is not None else []

    @property
    def instances(self) -> list[dict[str, Any]]:
        """Every run (see :meth:`get_instance`), oldest first."""
        with self._lock:
            return [self.get_instance(i) for i in sorted(self._runs)]  # type: ignore[misc]

    # ---- tokens ----
    def issue_token(self, form: Mapping[str, str]) -> dict[str, Any]:
        """``POST /oauth/token`` (client credentials)."""
        if form.get("grant_type") != "client_credentials":
            raise EmulatorError(
                400,
                "grant_type must be client_credentials",
                shape="message",
                extra={"error": "unsupported_grant_type"},
            )
        cfg = self.config
        ok_id = hmac.compare_digest(str(form.get("client_id", "")).encode(), cfg.client_id.encode())
        ok_secret = hmac.compare_digest(
            str(form.get("client_secret", "")).encode(), cfg.client_secret.encode()
        )
        if not (ok_id and ok_secret):
            raise EmulatorError(401, "Authentication error", shape="message")
        token = secrets.token_urlsafe(24)
        with self._lock:
            now = self.now()
            if len(self._tokens) > 1000:
                self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
            self._tokens[token] = now + cfg.token_lifetime
            self._tokens_issued += 1
        return {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": max(int(cfg.token_lifetime) - 1, 0),
            "scope": "entity.emulator platform.write service.workflow.read service.workflow.write",
            "jti": uuid.uuid4().hex,
        }

    def check_token(self, token: str) -> bool:
        """True when ``token`` was issued here and has not expired (on the emulated clock)."""
        with self._lock:
            expires = self._tokens.get(token)
            return expires is not None and self.now() < expires

    def expire_tokens(self) -> int:
        """Make every issued token invalid (the next API call gets 401); returns how many were live."""
        with self._lock:
            live = sum(exp > self.now() for exp in self._tokens.values())
            self._tokens.clear()
            return live

    @property
    def tokens_issued(self) -> int:
        with self._lock:
            return self._tokens_issued

    # ---- idempotency ----
    def idempotency_begin(self, key: str, method: str, path: str) -> tuple[str, StoredResponse | None]:
        """Reserve ``key``: ``("new", None)``, ``("replay", response)``, ``("busy", None)`` (in progress) or
        ``("mismatch", None)`` (used with another method or path)."""
        with self._lock:
            now = self.now()
            rec = self._idempotency.get(key)
            if rec is not None and rec.response is not None and now - rec.at >= self.config.idempotency_ttl:
                rec = None
            if rec is None:
                self._idempotency[key] = _IdempotencyRecord(method, path, now)
                return "new", None
            if (rec.method, rec.path) != (method, path):
                return "mismatch", None
            if rec.response is None:
                return "busy", None
            return "replay", rec.response

    def idempotency_state(self, key: str) -> str | None:
        """``"in_progress"``, ``"stored"`` or None (unknown or expired) for an ``Idempotency-Key``."""
        with self._lock:
            rec = self._idempotency.get(key)
            if rec is None:
                return None
            if rec.response is None:
                return "in_progress"
            return "stored" if self.now() - rec.at < self.config.idempotency_ttl else None

    def idempotency_finish(self, key: str, response: StoredResponse | None) -> None:
        """Store the first response for ``key`` (kept for ``idempotency_ttl``), or release it (``None``)."""
        with self._lock:
            if response is None:
                self._idempotency.pop(key, None)
                return
            rec = self._idempotency.get(key)
            if rec is not None:
                rec.response = response
                rec.at = self.now()

    # ---- rate limits ----
    def rate_check(self, kind: str = "api") -> RateVerdict:
        """Count one request in the current window (a minute) of the emulated clock. ``kind``: ``api`` or
        ``token``."""
        with self._lock:
            limit = self.config.rate_limit if kind == "api" else self.config.token_rate_limit
            now, length = self.now(), self.config.rate_window
            minute = int(now // length)
            window = self._windows[kind]
            if window.minute != minute:
                window.minute, window.count = minute, 0
            reset = max(math.ceil(length - now % length), 1)
            if limit is not None and window.count >= limit:
                return RateVerdict(False, limit, 0, reset)
            window.count += 1
            shown = limit if limit is not None else NOMINAL_RATE_LIMIT
            return RateVerdict(True, shown, max(shown - window.count, 0), reset)

    # ---- faults ----
    def inject_fault(
        self,
        method: str = "*",
        path: str = "*",
        status: int | None = None,
        count: int | None = 1,
        body_shape: str = "errors",
        delay: float | None = None,
        drop: bool = False,
        when: str = "before",
        retry_after: float | None = None,
        message: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        truncate_gzip: bool = False,
    ) -> Fault:
        """Make the next ``count`` requests matching ``method`` and ``path`` fail (see ``faults.Fault``)."""
        fault = Fault(
            method=method, path=path, status=status, count=count, body_shape=body_shape,
            message=message, body=body, delay=delay, drop=drop, when=when, retry_after=retry_after,
            headers=dict(headers or {}), truncate_gzip=truncate_gzip,
        )  # fmt: skip
        with self._lock:
            self._fault_seq += 1
            fault.id = self._fault_seq
            self._faults.append(fault)
        return fault

    def take_fault(self, method: str, path: str, when: str | None = None) -> Fault | None:
        """The first pending fault matching this request (and stage ``when``), with one use consumed."""
        if not self._faults:
            return None
        with self._lock:
            for fault in self._faults:
                if (when is None or fault.when == when) and fault.matches(method, path):
                    fault.hits += 1
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        """The faults still pending."""
        with self._lock:
            return list(self._faults)

    # ---- request log ----
    def log_request(self, record: RequestRecord) -> RequestRecord:
        with self._lock:
            self._log_seq += 1
            record.seq = self._log_seq
            self._log.append(record)
            return record

    @property
    def request_log(self) -> list[RequestRecord]:
        """The requests seen so far (oldest first, the last ``request_log_size``), secrets redacted."""
        with self._lock:
            return list(self._log)

    def requests(self, method: str | None = None, path: str | None = None) -> list[RequestRecord]:
        """The logged requests with this method and/or path (``fnmatch`` glob)."""
        probe = Fault(method=method or "*", path=path or "*", status=500)
        return [r for r in self.request_log if probe.matches(r.method, r.path)]

    def clear_request_log(self) -> None:
        with self._lock:
            self._log.clear()

    # ---- requests in flight ----
    def request_started(self) -> None:
        with self._lock:
            self._inflight += 1

    def request_finished(self) -> None:
        with self._lock:
            self._inflight -= 1

    @property
    def inflight(self) -> int:
        """Requests the server has not answered yet (delayed by a fault, say)."""
        return self._inflight

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is in flight (so a delayed one cannot touch the next test's state)."""
        deadline = time.monotonic() + timeout
        while self._inflight > 0:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    # ---- inspection ----
    def state(self, *, log: bool = True) -> dict[str, Any]:
        """Everything a test in another process may want to assert on (``GET /_emulator/state``)."""
        with self._lock:
            return {
                "now": zuora_time(self.now()),
                "clock_offset": self._offset,
                "clock_frozen": self._frozen is not None,
                "workflows": sorted(self._workflows),
                "instance_counts": {str(k): v for k, v in sorted(self._run_counts.items())},
                "instances": self.instances,
                "tokens_issued": self._tokens_issued,
                "active_tokens": sum(exp > self.now() for exp in self._tokens.values()),
                "inflight": self._inflight,
                "faults": [f.to_dict() for f in self._faults],
                "request_log": [r.to_dict() for r in self._log] if log else [],
            }


def _check_page(page: int, page_length: int, maximum: int) -> None:
    if not isinstance(page, int) or page < 1:
        raise EmulatorError(400, f"page must be an integer >= 1, got {page!r}")
    if not isinstance(page_length, int) or not 1 <= page_length <= maximum:
        raise EmulatorError(
            400, f"page_length must be an integer between 1 and {maximum}, got {page_length!r}"
        )
