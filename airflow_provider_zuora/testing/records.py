"""What the request log keeps of each request, with credentials redacted before they are stored.

A test asserts on these records (``backend.request_log``, ``backend.requests(...)``) and they
go over HTTP (``GET /_emulator/requests``), so no token or client secret may reach them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qsl

#: Request headers whose values never reach the request log.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
#: Form/JSON fields whose values never reach the request log.
SECRET_FIELDS = frozenset({"client_secret", "password", "access_token", "refresh_token"})
REDACTED = "***"
#: How much of a request body the log keeps.
LOGGED_BODY_CHARS = 20_000


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
    """A form or JSON object with secret fields' values replaced by ``***``; anything else as is."""
    if isinstance(data, dict):
        return {k: (REDACTED if str(k).lower() in SECRET_FIELDS else v) for k, v in data.items()}
    return data


def body_for_log(raw: bytes, content_type: str) -> Any:
    """A request body as the log keeps it: parsed form or JSON (redacted), else text; None if empty."""
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
