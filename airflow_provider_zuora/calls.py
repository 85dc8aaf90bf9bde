"""What one API call does after each failed try, decided without I/O (as h11 does for HTTP).

The hook's sync and async drivers send a request, and on an error ask their :class:`Call` for
the next :class:`Step`: send again at once with a new token (``REFRESH``), sleep then send again
(``RETRY``, or ``WAIT_FOR_KEY`` while Zuora still works on an earlier request under the same
``Idempotency-Key``), or raise (``FAIL``). :func:`classify` is the one place that says what an
error means; whether a request may be sent twice follows from the request itself
(:attr:`~airflow_provider_zuora.api.ApiRequest.retryable`: its method or its key).
"""

from __future__ import annotations

import random

from airflow_provider_zuora.api import ApiRequest
from airflow_provider_zuora.exceptions import ZuoraApiError, ZuoraAuthError, ZuoraTransportError

# What an error from one try means (``classify``).
TRANSIENT = "transient"  # 429, 5xx, no answer, the gateway's passing 401: may pass on another try
EXPIRED = "expired"  # a 401 on an API call: the token died
KEY_IN_PROGRESS = "key in progress"  # a 409: an earlier request under this key is still running
PERMANENT = "permanent"  # anything else: no other try can change it

# What the driver does next (``Step.action``).
REFRESH, RETRY, WAIT_FOR_KEY, FAIL = "refresh", "retry", "wait for key", "fail"

#: Backoff base: the first retry waits up to this long (full jitter), doubling per try.
BASE_WAIT = 1.0
#: How long a keyed call keeps resending while Zuora answers 409 "still in progress": longer than
#: the first request can take (the read timeout is 60 s by default), so its answer is replayed.
KEY_IN_PROGRESS_BUDGET = 120.0


def is_run_id_conflict(error: ZuoraApiError) -> bool:
    """Zuora's 409 for a workflow id that is a run's id (not the 409 of a key still in progress)."""
    return error.status_code == 409 and "is an instance" in str(error.message).lower()


def classify(error: BaseException) -> str:
    """``TRANSIENT``, ``EXPIRED``, ``KEY_IN_PROGRESS`` or ``PERMANENT``, whatever the request."""
    if isinstance(error, ZuoraTransportError):
        return TRANSIENT
    if not isinstance(error, ZuoraApiError) or isinstance(error, ZuoraAuthError):
        return PERMANENT  # bad credentials, a config error, a bug: never tried again
    if error.status_code == 401:
        return EXPIRED
    if error.status_code == 409 and not is_run_id_conflict(error):
        return KEY_IN_PROGRESS
    return TRANSIENT if error.retryable else PERMANENT


def is_transient(error: BaseException) -> bool:
    """Worth another try of an idempotent request (a poll): what the hook itself would retry."""
    kind = classify(error)
    return kind == TRANSIENT or (kind == EXPIRED and getattr(error, "retryable", False))


def backoff_seconds(attempt: int, error: BaseException | None, *, base: float, cap: float) -> float:
    """Exponential backoff with full jitter; ``Retry-After`` wins, capped at ``cap``."""
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        return min(float(retry_after), cap)
    return random.uniform(0, min(cap, base * 2 ** max(attempt - 1, 0)))  # noqa: S311 - jitter, not crypto


def exhausted(error: BaseException, attempts: int) -> BaseException:
    """The error to raise when the tries ran out: the last one, saying how many were made."""
    if isinstance(error, (ZuoraApiError, ZuoraTransportError)):
        error.attempts = attempts
    return error


class Step:
    """The driver's next move: ``action``, the ``seconds`` to sleep first, a ``message`` to log
    (a warning for a retry, info for a key in progress) and, for ``FAIL``, the ``error`` to raise."""

    __slots__ = ("action", "error", "message", "seconds")

    def __init__(
        self, action: str, *, seconds: float = 0.0, message: str = "", error: BaseException | None = None
    ) -> None:
        self.action, self.seconds, self.message, self.error = action, seconds, message, error

    def __repr__(self) -> str:
        return f"Step({self.action!r}, seconds={self.seconds:g})"


class Call:
    """The policy of one call: up to ``max_attempts`` tries for transient errors (backoff capped at
    ``max_wait``), one token refresh on a 401 (``can_refresh``), and a keyed call's wait for its key
    still in progress.

    ``now`` is a monotonic clock reading the driver passes in: the object does no I/O.
    """

    def __init__(
        self,
        request: ApiRequest,
        *,
        max_attempts: int,
        max_wait: float,
        now: float,
        base_wait: float = BASE_WAIT,
        can_refresh: bool = True,
    ) -> None:
        self.request = request
        self.max_attempts = max_attempts
        self.max_wait = max_wait
        self.base_wait = base_wait
        self.attempt = 1  # the try in flight, counting transient failures only
        self.refreshed = not can_refresh  # the token call itself has no token to refresh
        self.started = now
        self.key_waits = 0

    def after(self, error: BaseException, *, now: float) -> Step:
        """The step after ``error`` ended the try in flight."""
        kind = classify(error)
        if kind == EXPIRED and not self.refreshed:
            # Safe even for a call never retried: the gateway refused it before Zuora saw it.
            self.refreshed = True
            return Step(REFRESH)
        if kind == KEY_IN_PROGRESS and "Idempotency-Key" in self.request.headers:
            return self._wait_for_key(error, now)
        if not (is_transient(error) and self.request.retryable):
            return Step(FAIL, error=error)
        if self.attempt >= self.max_attempts:
            return Step(FAIL, error=exhausted(error, self.attempt))
        seconds = backoff_seconds(self.attempt, error, base=self.base_wait, cap=self.max_wait)
        self.attempt += 1
        message = (
            f"Zuora {self.request.method} {self.request.path} failed ({error}); "
            f"try {self.attempt} of {self.max_attempts} in {seconds:.1f} s"
        )
        return Step(RETRY, seconds=seconds, message=message)

    def _wait_for_key(self, error: BaseException, now: float) -> Step:
        """An earlier request under this key (this call's own timed-out try, or an earlier task
        try's) is still in progress at Zuora: once it ends, Zuora replays its answer for the key.
        Resend after 1, 2, 4, 8 s, then every 10 s, within ``KEY_IN_PROGRESS_BUDGET``."""
        self.key_waits += 1
        seconds = min(2.0 ** (self.key_waits - 1), 10.0)
        if now - self.started + seconds > KEY_IN_PROGRESS_BUDGET:
            return Step(FAIL, error=error)
        message = (
            f"Zuora answered 409: an earlier run call under this key is still in progress "
            f"({getattr(error, 'message', error)}); trying again in {seconds:g} s"
        )
        return Step(WAIT_FOR_KEY, seconds=seconds, message=message)
