"""What the emulator keeps for every request whatever the API: moto's core, under the Zuora service.

:class:`EmulatorCore` holds the settings, the clock, OAuth tokens, the idempotency store,
rate-limit windows, injected faults, the request log and the count of requests in flight. The
gateway's stages (:mod:`.stages`) use it for every API request; the service,
:class:`~.backend.ZuoraBackend`, adds workflows and runs on top. Every method takes the one lock:
uvicorn's thread and the test's thread share one backend.
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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_zuora.testing.clock import Clock, zuora_time
from airflow_provider_zuora.testing.errors import AuthenticationFailed, UnsupportedGrantType
from airflow_provider_zuora.testing.faults import Fault, request_matcher
from airflow_provider_zuora.testing.records import RequestRecord
from airflow_provider_zuora.testing.settings import Settings

#: Limit shown in ``RateLimit-Limit`` when no limit is enforced (Zuora production's per-minute limit).
NOMINAL_RATE_LIMIT = 50_000
TOKEN_SCOPE = "entity.emulator platform.write service.workflow.read service.workflow.write"


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


class renamed:
    """An old attribute name kept for its callers (``old = renamed("new")``): reading, setting (as
    monkeypatch does) and deleting it reach ``new``."""

    def __init__(self, new: str) -> None:
        self.new = new

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        return self if obj is None else getattr(obj, self.new)

    def __set__(self, obj: Any, value: Any) -> None:
        own = getattr(type(obj), self.new, None)
        if getattr(value, "__self__", None) is obj and getattr(value, "__func__", None) is own:
            obj.__dict__.pop(self.new, None)  # the original put back (a monkeypatch undone)
        else:
            setattr(obj, self.new, value)

    def __delete__(self, obj: Any) -> None:
        obj.__dict__.pop(self.new, None)


class EmulatorCore:
    """Settings, clock, tokens, idempotency, rate windows, faults, request log, in-flight count."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._lock = threading.RLock()
        self._initial_settings = dataclasses.replace(settings or Settings())
        self.clock = Clock()
        self._inflight = 0  # requests the server is still working on (kept across reset)
        self._reset_core()

    def _reset_core(self) -> None:
        self.config = dataclasses.replace(self._initial_settings)
        self.clock.reset()
        self._tokens: dict[str, float] = {}
        self._tokens_issued = 0
        self._idempotency: dict[str, _IdempotencyRecord] = {}
        self._windows: dict[str, _Window] = {"api": _Window(), "token": _Window()}
        self._faults: list[Fault] = []
        self._fault_seq = 0
        self._log: deque[RequestRecord] = deque(maxlen=self.config.request_log_size)
        self._log_seq = 0

    # ---- lifecycle, settings, clock ----
    def reset(self) -> None:
        """Initial settings; no tokens, idempotency records, faults or log; the clock back at real time."""
        with self._lock:
            self._reset_core()

    def configure(self, **changes: Any) -> Settings:
        """Change settings (``rate_limit``, ``token_lifetime``, ...); unknown names raise ValueError."""
        with self._lock:
            return self.config.update(**changes)

    def now(self) -> float:
        """The emulated clock: real time (or the frozen instant) plus the offset tests moved it by."""
        return self.clock.now()

    def freeze_clock(self) -> float:
        """Stop the clock at the current emulated time (``advance_clock`` still moves it); returns it.

        Handy to read a run's state and its task list at one instant.
        """
        return self.clock.freeze()

    def unfreeze_clock(self) -> float:
        """Let the clock run again from where it stood."""
        return self.clock.unfreeze()

    def advance_clock(self, seconds: float) -> float:
        """Move the emulated clock forward; returns the new emulated time."""
        return self.clock.advance(seconds)

    # ---- tokens ----
    def issue_token(self, form: Mapping[str, str]) -> dict[str, Any]:
        """``POST /oauth/token`` (client credentials)."""
        if form.get("grant_type") != "client_credentials":
            raise UnsupportedGrantType()
        cfg = self.config
        ok_id = hmac.compare_digest(str(form.get("client_id", "")).encode(), cfg.client_id.encode())
        ok_secret = hmac.compare_digest(
            str(form.get("client_secret", "")).encode(), cfg.client_secret.encode()
        )
        if not (ok_id and ok_secret):
            raise AuthenticationFailed()
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
            "scope": TOKEN_SCOPE,
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
    def inject_fault(self, *args: Any, **spec: Any) -> Fault:
        """Make the next ``count`` requests matching ``method`` and ``path`` fail: the arguments are
        :class:`~.faults.Fault`'s fields (positionally: method, path, status, count, body_shape)."""
        fault = Fault(*args, **spec)
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
        """The logged requests with this method and/or path (``fnmatch`` glob, or ``re:`` regex)."""
        matches = request_matcher(method or "*", path or "*")
        return [r for r in self.request_log if matches(r.method, r.path)]

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
        """API requests the server has not answered yet, from their arrival (delayed by a fault, say)."""
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
    def _service_state(self) -> dict[str, Any]:
        """What the service on top adds to :meth:`state` (after the clock)."""
        return {}

    def state(self, *, log: bool = True) -> dict[str, Any]:
        """Everything a test in another process may want to assert on (``GET /_emulator/state``)."""
        with self._lock:
            return {
                "now": zuora_time(self.now()),
                "clock_offset": self.clock.offset,
                "clock_frozen": self.clock.frozen,
                **self._service_state(),
                "tokens_issued": self._tokens_issued,
                "active_tokens": sum(exp > self.now() for exp in self._tokens.values()),
                "inflight": self._inflight,
                "faults": [f.to_dict() for f in self._faults],
                "request_log": [r.to_dict() for r in self._log] if log else [],
            }
