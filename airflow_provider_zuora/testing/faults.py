"""Scripted failures a test injects: what a fault is, which requests it matches, and what it does.

Everything about a fault kind lives here: its fields on :class:`Fault`, their checks in
``__post_init__``, and its effect in :meth:`Fault.apply`, which the gateway's fault stages call
with the request (``before``, ``during`` or ``after``, see :mod:`.stages`). ``inject_fault``, the
``/_emulator/faults`` route and :class:`~.client.EmulatorClient` all take the fields as they are.
"""

from __future__ import annotations

import asyncio
import fnmatch
import gzip
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_zuora.testing.errors import EmulatorError as EmulatorError  # importable from here too
from airflow_provider_zuora.testing.errors import errors_body, reason_phrase, reasons_body

if TYPE_CHECKING:
    from airflow_provider_zuora.testing.gateway import Answer, Exchange

BODY_SHAPES = ("errors", "reasons", "message", "raw", "empty")
WHEN = ("before", "during", "after")


def request_matcher(method: str, path: str) -> Callable[[str, str], bool]:
    """A test of ``(method, path)``: ``method`` ``*`` or equal (any case); ``path`` an ``fnmatch`` glob
    (``*`` also matches ``/``) or, starting with ``re:``, a regular expression the path must match."""
    method = method.upper()
    if path.startswith("re:"):
        try:
            regex = re.compile(path[3:])
        except re.error as exc:
            raise ValueError(f"fault path: bad regular expression: {exc}") from None
        return lambda m, p: method in ("*", m) and regex.fullmatch(p) is not None
    return lambda m, p: method in ("*", m) and fnmatch.fnmatchcase(p, path)


def truncated_gzip(body: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """A gzip stream of ``body`` cut in half, and the header that announces it."""
    whole = gzip.compress(body, compresslevel=5)
    return [(b"content-encoding", b"gzip")], whole[: max(1, len(whole) // 2)]


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
    #: Set by the backend: the fault's number, and how many requests it has met.
    id: int = field(default=0, init=False)
    hits: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.method = str(self.method).upper()
        self.headers = dict(self.headers or {})
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
        self._matches = request_matcher(self.method, self.path)

    def matches(self, method: str, path: str) -> bool:
        return self._matches(method, path)

    async def apply(self, request: Exchange) -> Answer | None:
        """Do this fault to a request that reached its stage: the answer it gets instead, or None
        (the request goes on, maybe delayed, maybe with its answer to be broken)."""
        if self.truncate_gzip:
            request.encode_with(self.id, truncated_gzip)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.drop:
            return await request.drop(self.id)
        if self.status is not None:
            return request.fault_answer(self.id, *self.response())
        return None

    def response(self) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body of the injected answer."""
        status = self.status or 500
        headers = dict(self.headers)
        if self.retry_after is not None:
            headers["Retry-After"] = str(int(self.retry_after))
        message = self.message or (
            f"API Rate limit exceeded for the minute, retry after {int(self.retry_after or 60)} seconds"
            if status == 429
            else reason_phrase(status)
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
            phrase = f"{status} {reason_phrase(status)}"
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
