"""The Zuora Workflow API without I/O: requests to send, answers to read, retry decisions.

The sync transport (requests) and the async one (httpcore) in the hook are thin shells around
these functions, so URLs, headers, validation, error parsing and retry rules exist once.
Cheap to import (no HTTP library): the operator validates parameters with it at parse time.

Parameters policy (``validate_parameters``): keys must be strings and not reserved by Zuora;
values must be JSON: ``str``, ``int``, finite ``float``, ``bool``, ``None``, lists/tuples and
dicts of those. ``date`` becomes ``"YYYY-MM-DD"``, ``datetime`` ISO 8601 (``isoformat()``, with
its offset when it has one), ``Decimal`` a string of its exact digits (``"125.50"``: no float
rounding on money). Anything else is refused, naming the key.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math
import zlib
from collections.abc import Mapping
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

from airflow_provider_zuora import __version__
from airflow_provider_zuora.exceptions import (
    TRANSIENT_401_MESSAGE,
    ZuoraApiError,
    ZuoraAuthError,
    ZuoraConfigError,
)

RESERVED_PARAMETER_KEYS = frozenset({"controller", "action", "id", "user_email", "user_token", "format"})
TRACK_ID_MAX = 64
TRACK_ID_FORBIDDEN = frozenset(":;\"'")
IDEMPOTENCY_KEY_MAX = 255
TASKS_PAGE_LENGTH = 100  # Zuora's maximum for GET /workflows/tasks
MAX_TASK_PAGES = 1000  # a guard against a server that never stops paging
GZIP_REQUEST_MIN_BYTES = 1024  # request bodies larger than this are sent gzip-compressed
USER_AGENT = f"airflow-provider-zuora/{__version__}"
#: Refresh a token this many seconds before Zuora says it expires.
TOKEN_EXPIRY_MARGIN = 60.0


#: Methods whose repeat changes nothing more than the first call did (RFC 9110, 9.2.2).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


class ApiRequest:
    """One call to make: ``path`` is relative to the base URL.

    ``retryable`` (may another try be sent?) follows from the call itself: an idempotent method, or
    an ``Idempotency-Key`` header that makes Zuora replay the first answer. A POST without a key is
    never retried unless its caller says so (``retryable=True``: only where a repeat is harmless,
    as for a token). A slotted class, not a dataclass: every DAG file that uses the operator
    defines it, and a frozen dataclass costs about 1 ms there.
    """

    __slots__ = ("headers", "json", "method", "params", "path", "retryable")

    def __init__(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        retryable: bool | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.params = params
        self.json = json
        self.headers: dict[str, str] = dict(headers or {})
        if retryable is None:
            retryable = method in IDEMPOTENT_METHODS or "Idempotency-Key" in self.headers
        self.retryable: bool = retryable

    def _fields(self) -> tuple[Any, ...]:
        return (self.method, self.path, self.params, self.json, self.headers, self.retryable)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiRequest) and self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable fields, as the dataclass had

    def __repr__(self) -> str:
        return (
            f"ApiRequest(method={self.method!r}, path={self.path!r}, params={self.params!r}, "
            f"json=..., headers=<{len(self.headers)}>, retryable={self.retryable!r})"
        )


# ------------------------------------------------------------------ validation
def validate_parameter_keys(parameters: Mapping[Any, Any], *, field_name: str = "parameters") -> None:
    """Refuse non-string and reserved top-level keys (cheap: the operator calls it at parse time)."""
    for key in parameters:
        if not isinstance(key, str):
            raise ZuoraConfigError(
                f"{field_name} key {key!r} must be a string (the workflow input parameter's name), "
                f"got {type(key).__name__}"
            )
        if key in RESERVED_PARAMETER_KEYS:
            raise ZuoraConfigError(
                f"{field_name} key {key!r} is reserved by Zuora (reserved: "
                f"{', '.join(sorted(RESERVED_PARAMETER_KEYS))}); rename it"
            )


_FINITE = "send a finite number, a string or None instead"


def _to_json_value(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ZuoraConfigError(f"{where} is {value!r}, which JSON cannot carry: {_FINITE}")
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ZuoraConfigError(f"{where} is {value!r}, which JSON cannot carry: {_FINITE}")
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_to_json_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ZuoraConfigError(f"{where} has key {k!r}: keys must be strings")
            out[k] = _to_json_value(v, f"{where}[{k!r}]")
        return out
    raise ZuoraConfigError(
        f"{where} is a {type(value).__name__}, which cannot be sent as JSON "
        "(use str, int, float, bool, None, list, dict, date, datetime or Decimal)"
    )


def validate_parameters(parameters: Mapping[Any, Any] | None) -> dict[str, Any]:
    """Check a run's parameters and return them ready for JSON (see the module docstring)."""
    if parameters is None:
        return {}
    if not isinstance(parameters, Mapping):
        raise ZuoraConfigError(f"parameters must be a dict, got {type(parameters).__name__}")
    validate_parameter_keys(parameters)
    return {key: _to_json_value(value, f"parameters key {key!r}") for key, value in parameters.items()}


def validate_track_id(value: str | None) -> str | None:
    """``Zuora-Track-Id``: at most 64 US-ASCII characters, none of ``: ; " '``."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ZuoraConfigError(f"track_id must be a string, got {type(value).__name__}")
    bad = sorted({c for c in value if c in TRACK_ID_FORBIDDEN or not 32 <= ord(c) < 127})
    if value != value.strip():
        raise ZuoraConfigError(
            f"track_id {value[:80]!r} has leading or trailing spaces (HTTP would refuse it)"
        )
    if bad or len(value) > TRACK_ID_MAX or not value:
        why = f"has forbidden characters {bad}" if bad else f"is {len(value)} characters long"
        raise ZuoraConfigError(
            f"track_id {value[:80]!r} {why}: Zuora-Track-Id takes 1 to {TRACK_ID_MAX} printable US-ASCII "
            "characters, none of : ; \" '"
        )
    return value


def validate_idempotency_key(value: str | None) -> str | None:
    """``Idempotency-Key``: a non-empty string of at most 255 characters."""
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > IDEMPOTENCY_KEY_MAX:
        long = isinstance(value, str) and bool(value)
        got = f"{len(value)} characters ({value[:40]!r}...)" if long else repr(value)
        raise ZuoraConfigError(
            f"idempotency_key must be a string of 1 to {IDEMPOTENCY_KEY_MAX} characters, got {got:.80}: "
            "shorten it (a hash of what makes the run unique will do), or leave it unset for the default key"
        )
    if not value.isascii() or not value.isprintable() or value != value.strip():
        raise ZuoraConfigError(
            f"idempotency_key {value!r:.80} must be printable ASCII without leading or trailing spaces "
            "(it is an HTTP header)"
        )
    return value


def clean_id(value: Any, field_name: str) -> str:
    """An id checked and stripped (int or str on the way in): for a query parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ZuoraConfigError(f"{field_name} must be an int or a string, got {type(value).__name__}")
    text = str(value).strip()
    if not text or text.lower() in {"none", "null"}:
        raise ZuoraConfigError(
            f"{field_name} is empty ({value!r}): set it to the id "
            "(from an XCom: did the upstream task push it?)"
        )
    if not text.strip("."):  # "." or "..": would leave the path segment
        raise ZuoraConfigError(f"{field_name} {value!r} is not an id")
    return text


def normalize_id(value: Any, field_name: str) -> str:
    """An id as Zuora accepts it in a path: ``clean_id``, quoted as one safe path segment."""
    return quote(clean_id(value, field_name), safe="")


def _header_value(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if not text.isascii() or not text.isprintable():
        raise ZuoraConfigError(f"{name} {text!r:.80} must be printable ASCII on one line")
    return text


# ------------------------------------------------------------------ requests
def base_headers(*, entity_ids: str | None, org_ids: str | None, track_id: str | None) -> dict[str, str]:
    """Headers every API call carries (the bearer token is added by the transport)."""
    headers = {"Accept": "application/json", "Accept-Encoding": "gzip", "User-Agent": USER_AGENT}
    for name, value in (
        ("Zuora-Entity-Ids", _header_value("entity_ids", entity_ids)),
        ("Zuora-Org-Ids", _header_value("org_ids", org_ids)),
        ("Zuora-Track-Id", validate_track_id(track_id)),
    ):
        if value is not None:
            headers[name] = value
    return headers


def run_workflow_request(
    workflow_id: int | str,
    parameters: Mapping[str, Any] | None,
    *,
    idempotency_key: str | None = None,
    headers: Mapping[str, str],
) -> ApiRequest:
    """``POST /workflows/{id}/run``: retried only with an ``Idempotency-Key`` (never two runs)."""
    body = validate_parameters(parameters)
    all_headers = {**headers, "Content-Type": "application/json"}
    key = validate_idempotency_key(idempotency_key)
    if key is not None:
        all_headers["Idempotency-Key"] = key
    path = f"/workflows/{normalize_id(workflow_id, 'workflow_id')}/run"
    return ApiRequest("POST", path, json=body, headers=all_headers)


def get_instance_request(instance_id: int | str, headers: Mapping[str, str]) -> ApiRequest:
    return ApiRequest(
        "GET", f"/workflows/workflow_runs/{normalize_id(instance_id, 'instance_id')}", headers=dict(headers)
    )


def stop_instance_request(instance_id: int | str, headers: Mapping[str, str]) -> ApiRequest:
    """``PUT .../stop``: stopping twice is harmless, so it may be retried."""
    path = f"/workflows/workflow_runs/{normalize_id(instance_id, 'instance_id')}/stop"
    return ApiRequest("PUT", path, headers=dict(headers))


def list_tasks_request(instance_id: int | str, page: int, headers: Mapping[str, str]) -> ApiRequest:
    """One page of a run's tasks (``workflow_id`` is the *run* id here, per Zuora's examples)."""
    params = {
        "workflow_id": clean_id(instance_id, "instance_id"),
        "instance": "true",
        "page": page,
        "page_length": TASKS_PAGE_LENGTH,
    }
    return ApiRequest("GET", "/workflows/tasks", params=params, headers=dict(headers))


def get_workflow_request(workflow_id: int | str, headers: Mapping[str, str]) -> ApiRequest:
    return ApiRequest("GET", f"/workflows/{normalize_id(workflow_id, 'workflow_id')}", headers=dict(headers))


def list_workflows_request(headers: Mapping[str, str], *, page: int = 1, page_length: int = 1) -> ApiRequest:
    return ApiRequest(
        "GET", "/workflows", params={"page": page, "page_length": page_length}, headers=dict(headers)
    )


def encode_body(body: Any) -> tuple[bytes | None, dict[str, str]]:
    """A JSON body as bytes, gzip-compressed (``Content-Encoding: gzip``) when over 1 KiB."""
    if body is None:
        return None, {}
    raw = json.dumps(body, separators=(",", ":")).encode()
    if len(raw) <= GZIP_REQUEST_MIN_BYTES:
        return raw, {}
    return gzip.compress(raw, mtime=0), {"Content-Encoding": "gzip"}


def token_form(client_id: str, client_secret: str) -> dict[str, str]:
    """The form of ``POST /oauth/token`` (sent form-encoded, with no Authorization header)."""
    return {"client_id": client_id, "client_secret": client_secret, "grant_type": "client_credentials"}


# ------------------------------------------------------------------ responses
def decode_answer(body: bytes, encoding: str | None) -> str:
    """An answer's bytes as text, undoing its ``Content-Encoding`` (gzip, zlib or raw deflate).

    Both transports read answers with this, so a broken stream means the same to both: a gzip
    stream that ends early raises ``zlib.error`` (the transport's "no complete answer", retried)
    rather than giving the part that arrived.
    """
    if body and encoding and encoding.strip().lower() in ("gzip", "x-gzip", "deflate"):
        try:
            body = zlib.decompress(body, wbits=47)  # gzip or zlib framing, detected
        except zlib.error:
            body = zlib.decompress(body, wbits=-15)  # raw deflate, as some servers send it
    return body.decode("utf-8", errors="replace")


def _decode(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def error_message(body: Any, text: str) -> str:
    """Read Zuora's error shapes (``errors[].title``, ``reasons[].message``, ``message``), else raw text."""
    if isinstance(body, Mapping):
        parts: list[str] = []
        for item in body.get("errors") or []:
            if isinstance(item, Mapping):
                parts.append(str(item.get("title") or item.get("detail") or item.get("code") or item))
        for item in body.get("reasons") or []:
            if isinstance(item, Mapping) and (item.get("message") or item.get("code") is not None):
                code = item.get("code")
                msg = str(item.get("message") or "")
                parts.append(f"{msg} (code {code})" if code is not None and msg else msg or str(code))
        if not parts and body.get("message"):
            parts.append(str(body["message"]))
        if parts:
            return "; ".join(p for p in parts if p)
    snippet = text.strip()
    return snippet[:500] if snippet else "(empty body)"


def header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def retry_after_seconds(headers: Mapping[str, str], now: dt.datetime | None = None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), or None."""
    raw = header(headers, "Retry-After")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, OverflowError):
        return None
    if when.tzinfo is None:  # asctime form or a -0000 zone: HTTP dates are GMT
        when = when.replace(tzinfo=dt.timezone.utc)
    now = now or dt.datetime.now(dt.timezone.utc)
    return max(0.0, (when - now).total_seconds())


def api_error(
    status: int, headers: Mapping[str, str], text: str, *, token_call: bool = False
) -> ZuoraApiError:
    """The typed error for a non-2xx answer; a 401 from the token call is ``ZuoraAuthError``."""
    body = _decode(text)
    message = error_message(body, text)
    kwargs: dict[str, Any] = {
        "request_id": header(headers, "Zuora-Request-Id"),
        "track_id": header(headers, "Zuora-Track-Id"),
        "retry_after": retry_after_seconds(headers),
        "body": body if body is not None else text[:2000],
    }
    # On the token call a 401 means bad credentials (unless the gateway says it is passing). On an API
    # call it usually means the token died: the hook refreshes it once (see :mod:`.calls`).
    if status == 401 and token_call and TRANSIENT_401_MESSAGE.lower() not in message.lower():
        return ZuoraAuthError(status, message, **kwargs)
    return ZuoraApiError(status, message, **kwargs)


def read_response(status: int, headers: Mapping[str, str], text: str, *, token_call: bool = False) -> Any:
    """The decoded JSON body of a 2xx answer; raise the typed error otherwise."""
    if 200 <= status < 300:
        body = _decode(text)
        if body is None and text.strip():
            raise ZuoraApiError(
                status, f"Zuora answered {status} with a body that is not JSON: {text[:200]!r}"
            )
        return body
    raise api_error(status, headers, text, token_call=token_call)


def instance_from(body: Any, request: ApiRequest, *, need_id: bool = False) -> dict[str, Any]:
    """The workflow run a 2xx answer carries: a JSON object (with an ``id`` when ``need_id``).

    Anything else (an empty body, a list, an object without an id) raises ``ZuoraApiError``
    saying what came back, rather than failing later on a ``None``.
    """
    if isinstance(body, Mapping) and (not need_id or body.get("id") not in (None, "")):
        return dict(body)
    if body is None:
        got = "an empty body"
    else:
        got = f"{json.dumps(body)[:200]}" if isinstance(body, Mapping) else f"a JSON {type(body).__name__}"
    raise ZuoraApiError(
        200,
        f"Zuora answered {request.method} {request.path} with {got}, not a workflow run "
        f"(a JSON object{' with an id' if need_id else ''})",
    )


def read_token(body: Any) -> tuple[str, float]:
    """``(access_token, expires_in seconds)`` from the token answer."""
    if not isinstance(body, Mapping) or not body.get("access_token"):
        raise ZuoraApiError(200, "Zuora's token answer has no access_token")
    try:
        expires_in = float(body.get("expires_in", 3599))
    except (TypeError, ValueError):
        expires_in = 3599.0
    return str(body["access_token"]), expires_in


def token_lifetime(expires_in: float) -> float:
    """How long to reuse a token: until ``TOKEN_EXPIRY_MARGIN`` (or 10 % for short ones) before it ends."""
    return max(0.0, expires_in - min(TOKEN_EXPIRY_MARGIN, expires_in * 0.1))


def next_page(body: Any, page: int) -> int | None:
    """The page after ``page`` when ``pagination.next_page`` says there is one."""
    pagination = body.get("pagination") if isinstance(body, Mapping) else None
    if not isinstance(pagination, Mapping) or not pagination.get("next_page"):
        return None
    return page + 1
