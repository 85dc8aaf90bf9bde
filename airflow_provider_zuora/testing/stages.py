"""What Zuora's gateway does for every API request, one small function per step, run in order.

:data:`STAGES` is the order :class:`~.gateway.ZuoraGateway` runs them in. Each stage gets the
:class:`~.gateway.Exchange` and either passes (returns None, maybe leaving something for later
stages) or answers (returns the :class:`~.gateway.Answer`, and no later stage runs). The
route's answer is sent when every stage has passed. Rejections are the named errors of
:mod:`.errors`; the state the stages use (tokens, limits, idempotency store, faults, log)
is :class:`~.core.EmulatorCore`'s.
"""

from __future__ import annotations

import gzip
import zlib
from typing import TYPE_CHECKING

from airflow_provider_zuora.testing import errors
from airflow_provider_zuora.testing.core import StoredResponse
from airflow_provider_zuora.testing.records import body_for_log

if TYPE_CHECKING:
    from airflow_provider_zuora.testing.gateway import Answer, Exchange, Stage

MAX_IDEMPOTENCY_KEY = 255
MAX_TRACK_ID = 64
CONCURRENCY_RETRY_AFTER = 120


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


async def log(ex: Exchange) -> Answer | None:
    """Enter the request in the log, then read its body (gunzipped) into the entry, redacted."""
    ex.backend.log_request(ex.record)
    ex.body = await ex.read_body()
    if ex.headers.get("content-encoding", "").strip().lower() == "gzip":
        try:
            ex.body = gzip.decompress(ex.body)
        except (OSError, EOFError, zlib.error):
            ex.bad_gzip = True
    content_type = ex.headers.get("content-type", "")
    ex.record.body = "<bad gzip>" if ex.bad_gzip else body_for_log(ex.body, content_type)
    return None


async def _fault(ex: Exchange, when: str) -> Answer | None:
    fault = ex.backend.take_fault(ex.method, ex.path, when)
    return await fault.apply(ex) if fault is not None else None


async def faults_before(ex: Exchange) -> Answer | None:
    """Faults with ``when="before"``: before anything else, so nothing happens."""
    return await _fault(ex, "before")


async def reject_bad_gzip(ex: Exchange) -> Answer | None:
    return ex.reject(errors.InvalidGzipBody()) if ex.bad_gzip else None


async def check_track_id(ex: Exchange) -> Answer | None:
    """A valid ``Zuora-Track-Id`` is echoed on the answer; an invalid one is a 400."""
    track = ex.headers.get("zuora-track-id")
    if not track:
        return None
    problem = track_id_problem(track)
    if problem:
        return ex.reject(errors.InvalidTrackId(problem))
    ex.track_id = track
    return None


async def limit_concurrency(ex: Exchange) -> Answer | None:
    """429 when ``concurrency_limit`` other requests are in flight (token requests are not limited)."""
    limit = ex.backend.config.concurrency_limit
    others = ex.backend.inflight - 1
    if ex.is_token or limit is None or others < limit:
        return None
    return ex.reject(errors.ConcurrencyLimitExceeded(CONCURRENCY_RETRY_AFTER))


async def limit_rate(ex: Exchange) -> Answer | None:
    """Count the request in its window (API and token calls apart); ``RateLimit-*`` headers from here on."""
    verdict = ex.backend.rate_check("token" if ex.is_token else "api")
    ex.rate_headers = [
        (b"ratelimit-limit", str(verdict.limit).encode()),
        (b"ratelimit-remaining", str(verdict.remaining).encode()),
        (b"ratelimit-reset", str(verdict.reset).encode()),
    ]
    return None if verdict.allowed else ex.reject(errors.RateLimitExceeded(verdict.reset))


async def authenticate(ex: Exchange) -> Answer | None:
    """API calls need a live bearer token (the token call is how one gets it)."""
    if ex.is_token:
        return None
    scheme, _, token = ex.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and ex.backend.check_token(token.strip()):
        return None
    return ex.reject(errors.AuthenticationFailed())


async def reserve_idempotency_key(ex: Exchange) -> Answer | None:
    """``Idempotency-Key`` on POST/PATCH: reserve it, replay its stored answer, or refuse (409, 422)."""
    key = ex.headers.get("idempotency-key") if ex.method in ("POST", "PATCH") else None
    if key is None:
        return None
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        return ex.reject(errors.InvalidIdempotencyKey(len(key), MAX_IDEMPOTENCY_KEY))
    verdict, stored = ex.backend.idempotency_begin(key, ex.method, ex.path)
    if verdict == "busy":
        return ex.reject(errors.IdempotencyKeyInProgress())
    if verdict == "mismatch":
        return ex.reject(errors.IdempotencyKeyReused())
    if verdict == "replay" and stored is not None:
        ex.response = ex.replay(stored)
        return None
    ex.idempotency_key = key
    ex.cleanups.append(lambda: _release_key(ex))
    return None


def _release_key(ex: Exchange) -> None:
    """A reserved key whose request never reached (or got no answer from) the route is free again."""
    if ex.idempotency_key is not None:
        ex.backend.idempotency_finish(ex.idempotency_key, None)
        ex.idempotency_key = None


async def faults_during(ex: Exchange) -> Answer | None:
    """Faults with ``when="during"``: past the checks, before the route (a replay has no "during")."""
    return None if ex.response is not None else await _fault(ex, "during")


async def route(ex: Exchange) -> Answer | None:
    """The backend handles the request: its answer is what the request gets unless a later stage answers."""
    if ex.response is None:
        ex.response = await ex.call_route()
    return None


async def store_idempotent_answer(ex: Exchange) -> Answer | None:
    """Keep the route's answer for the reserved key (a 5xx releases the key instead)."""
    key, answer = ex.idempotency_key, ex.response
    if key is not None and answer is not None:
        kept = StoredResponse(answer.status, answer.headers, answer.body) if answer.status < 500 else None
        ex.backend.idempotency_finish(key, kept)
        ex.idempotency_key = None
    return None


async def faults_after(ex: Exchange) -> Answer | None:
    """Faults with ``when="after"``: the backend has done its work; only the answer is lost or changed."""
    return await _fault(ex, "after")


STAGES: tuple[Stage, ...] = (
    log,
    faults_before,
    reject_bad_gzip,
    check_track_id,
    limit_concurrency,
    limit_rate,
    authenticate,
    reserve_idempotency_key,
    faults_during,
    route,
    store_idempotent_answer,
    faults_after,
)
