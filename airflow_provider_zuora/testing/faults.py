"""Error bodies in Zuora's shapes, injected faults, and request-log records.

Zuora answers errors in three body shapes (see docs/zuora-workflow-api.md, "Errors"): the
workflow endpoints' ``{"errors": [{status, code, title}]}``, the general v1
``{"success": false, "processId": ..., "reasons": [{code, message}]}`` and the gateway's
``{"message": ...}``. :class:`EmulatorError` is how the backend says "answer this error";
:class:`Fault` is a scripted failure a test injects.
"""

from __future__ import annotations

import fnmatch
import json
import re
import uuid
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from typing import Any

BODY_SHAPES = ("errors", "reasons", "message", "raw", "empty")
WHEN = ("before", "during", "after")

_ERROR_CODES = {
    400: "invalid",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    406: "invalid",
    409: "conflict",
    422: "unprocessable_entity",
    429: "too_many_requests",
}


def _reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def errors_body(
    status: int, titles: str | list[str], *, code: str | None = None, inner: int | None = None
) -> dict:
    """``{"errors": [{"status", "code", "title"}]}``: the workflow endpoints' error shape."""
    titles = [titles] if isinstance(titles, str) else titles
    code = code or _ERROR_CODES.get(status, "error")
    return {"errors": [{"status": inner or status, "code": code, "title": t} for t in titles]}


def reasons_body(message: str, *, code: int = 53100000, with_process: bool = True) -> dict:
    """The general v1 shape: ``{"success": false, "processId": ..., "reasons": [{code, message}]}``."""
    body: dict[str, Any] = (
        {"success": False, "processId": uuid.uuid4().hex[:16].upper()} if with_process else {}
    )
    body["reasons"] = [{"code": code, "message": message}]
    return body


def rate_limited_body(retry_after: float) -> dict:
    """The 429 body of the docs: ``{"reasons": [{"code": 70, "message": "API Rate limit exceeded ..."}]}``."""
    return reasons_body(
        f"API Rate limit exceeded for the minute, retry after {int(retry_after)} seconds",
        code=70,
        with_process=False,
    )


class EmulatorError(Exception):
    """An error the emulator answers: status, message, body shape (``errors``/``reasons``/``message``)."""

    def __init__(
        self,
        status: int,
        message: str | list[str],
        *,
        shape: str = "errors",
        code: str | int | None = None,
        inner_status: int | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.messages = [message] if isinstance(message, str) else list(message)
        self.shape = shape
        self.code = code
        self.inner_status = inner_status
        self.extra = extra or {}
        self.headers = headers or {}
        super().__init__(f"{status}: {'; '.join(self.messages)}")

    def body(self) -> dict[str, Any]:
        if self.shape == "message":
            out: dict[str, Any] = {"message": self.messages[0]}
        elif self.shape == "reasons":
            out = reasons_body(self.messages[0], code=int(self.code or 53100000))
        else:
            out = errors_body(
                self.status,
                self.messages,
                code=str(self.code) if self.code else None,
                inner=self.inner_status,
            )
        out.update(self.extra)
        return out


@dataclass
class Fault:
    """A scripted failure for the next ``count`` requests matching ``method`` and ``path``.

    ``path`` is an ``fnmatch`` glob over the request path without the query (``*`` also
    matches ``/``), or a regular expression when it starts with ``re:``. ``count=None`` keeps the
    fault until cleared. ``when``:

    - ``before``: before anything (auth, rate limit, idempotency, the backend): nothing happens.
    - ``during``: after auth, rate limit and idempotency-key reservation, before the backend: a
      ``delay`` here holds the key "in progress"; a ``status`` or ``drop`` releases it, nothing happens.
    - ``after``: the backend handles the request (a run IS created, the idempotency store records
      it), then the response is delayed, dropped or replaced by ``status``.

    Each matching request waits ``delay`` seconds (if set), then has its connection dropped
    (``drop``) or gets ``status`` with a body of ``body_shape`` (or ``body`` verbatim).
    ``truncate_gzip=True``: the answer (the fault's own with ``status``, else the real one, at any
    stage) is sent gzip-compressed with ``Content-Encoding: gzip`` and cut in half, with a
    ``Content-Length`` that matches the cut body (a broken gzip stream, not a broken connection).

    A use is consumed when a request reaches the fault's stage: requests the gateway turns away
    first (401, 429, bad ``Zuora-Track-Id``, idempotency 409/422) do not use up ``during`` or
    ``after`` faults. An idempotent replay counts as a response for ``after`` faults.
    """

    method: str = "*"
    path: str = "*"
    status: int | None = None
    count: int | None = 1
    body_shape: str = "errors"
    message: str | None = None
    body: Any = None
    delay: float | None = None
    drop: bool = False
    when: str = "before"
    retry_after: float | None = None
    headers: dict[str, str] = field(default_factory=dict)
    truncate_gzip: bool = False
    id: int = 0
    hits: int = 0

    def __post_init__(self) -> None:
        self.method = str(self.method).upper()
        if self.when not in WHEN:
            raise ValueError(f"fault when must be one of {WHEN}, got {self.when!r}")
        if self.body_shape not in BODY_SHAPES:
            raise ValueError(f"fault body_shape must be one of {BODY_SHAPES}, got {self.body_shape!r}")
        if self.status is not None and not (isinstance(self.status, int) and 100 <= self.status <= 599):
            raise ValueError(f"fault status must be an HTTP status code, got {self.status!r}")
        if self.drop and self.status is not None:
            raise ValueError("fault: give either status or drop=True, not both")
        if self.drop and self.truncate_gzip:
            raise ValueError("fault: give either drop=True or truncate_gzip=True, not both")
        if self.status is None and not self.drop and not self.delay and not self.truncate_gzip:
            raise ValueError("fault: give a status, drop=True or a delay (or truncate_gzip=True)")
        if self.count is not None and (not isinstance(self.count, int) or self.count < 1):
            raise ValueError(f"fault count must be an integer >= 1 or None, got {self.count!r}")
        if self.delay is not None and (not isinstance(self.delay, (int, float)) or self.delay < 0):
            raise ValueError(f"fault delay must be a number of seconds >= 0, got {self.delay!r}")
        if self.path.startswith("re:"):
            try:
                self._regex: re.Pattern[str] | None = re.compile(self.path[3:])
            except re.error as exc:
                raise ValueError(f"fault path: bad regular expression: {exc}") from None
        else:
            self._regex = None

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("*", method):
            return False
        if self._regex is not None:
            return self._regex.fullmatch(path) is not None
        return fnmatch.fnmatchcase(path, self.path)

    def response(self) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body of the injected answer."""
        status = self.status or 500
        headers = dict(self.headers)
        if self.retry_after is not None:
            headers["Retry-After"] = str(int(self.retry_after))
        message = self.message or (
            f"API Rate limit exceeded for the minute, retry after {int(self.retry_after or 60)} seconds"
            if status == 429
            else _reason_phrase(status)
        )
        if self.body is not None:
            if isinstance(self.body, (bytes, str)):
                raw = self.body.encode() if isinstance(self.body, str) else self.body
                headers.setdefault("Content-Type", "text/plain; charset=utf-8")
                return status, headers, raw
            headers.setdefault("Content-Type", "application/json")
            return status, headers, json.dumps(self.body).encode()
        if self.body_shape == "empty":
            return status, headers, b""
        if self.body_shape == "raw":
            phrase = f"{status} {_reason_phrase(status)}"
            headers.setdefault("Content-Type", "text/html")
            html = f"<html><head><title>{phrase}</title></head><body><h1>{phrase}</h1><p>{message}</p></body>"
            html += "</html>"
            return status, headers, html.encode()
        if self.body_shape == "message":
            doc: dict[str, Any] = {"message": message}
        elif self.body_shape == "reasons":
            doc = reasons_body(
                message, code=70 if status == 429 else 53100000 + status, with_process=status != 429
            )
        else:
            doc = errors_body(status, message)
        headers.setdefault("Content-Type", "application/json")
        return status, headers, json.dumps(doc).encode()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Request headers whose values never reach the request log.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
#: Form/JSON fields whose values never reach the request log.
SECRET_FIELDS = frozenset({"client_secret", "password", "access_token", "refresh_token"})
REDACTED = "***"


@dataclass
class RequestRecord:
    """One request as the emulator saw it; secrets (auth headers, client secret) are redacted."""

    seq: int
    time: float
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    status: int | None = None
    outcome: str = "ok"
    request_id: str = ""
    fault_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _redact_header(value: str) -> str:
    scheme, sep, _ = value.partition(" ")
    return f"{scheme} {REDACTED}" if sep and scheme.isalpha() else REDACTED


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    """Header values with credentials replaced by ``***`` (``Bearer ***`` keeps the scheme)."""
    return {k: (_redact_header(v) if k in SECRET_HEADERS else v) for k, v in headers.items()}


def redact_fields(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: (REDACTED if str(k).lower() in SECRET_FIELDS else v) for k, v in data.items()}
    return data
