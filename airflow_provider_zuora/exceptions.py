"""Errors raised by the provider. All are AirflowExceptions, so tasks fail the Airflow way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_zuora._compat import AirflowException

# Statuses worth another try: rate limits and server-side trouble (Zuora's own retry advice).
RETRYABLE_STATUS_CODES = frozenset({429, 500, 502, 503, 504})
#: The gateway's 401 body for a passing fault (retried); "Authentication error" means what it says.
TRANSIENT_401_MESSAGE = "Failed to get user info"


def _gave_up(attempts: int | None) -> str:
    return f" (gave up after {attempts} attempts)" if attempts and attempts > 1 else ""


class ZuoraError(AirflowException):
    """Base class of every error this provider raises."""


class ZuoraConfigError(ZuoraError, ValueError):
    """The connection or a call's arguments are wrong; nothing was sent."""


class ZuoraApiError(ZuoraError):
    """Zuora answered with an error status.

    ``message`` is read from any of Zuora's error body shapes (``errors[]``, ``reasons[]``,
    ``message``), else the raw text. Quote ``request_id`` in a Zuora support ticket.
    """

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        request_id: str | None = None,
        track_id: str | None = None,
        retry_after: float | None = None,
        body: Any = None,
        attempts: int | None = None,
    ) -> None:
        self.status_code = status_code  # type: ignore[assignment] # an int, as HTTP gives it
        self.message = message
        self.request_id = request_id
        self.track_id = track_id
        self.retry_after = retry_after
        self.body = body
        self.attempts = attempts  # set when the hook gave up retrying
        super().__init__(str(self))

    @property
    def retryable(self) -> bool:
        """True for failures that may pass on another try: 429, 5xx and the gateway's passing 401."""
        if self.status_code == 401:
            return TRANSIENT_401_MESSAGE.lower() in str(self.message).lower()
        return self.status_code in RETRYABLE_STATUS_CODES

    def __str__(self) -> str:
        parts = [f"Zuora API error {self.status_code}: {self.message}{_gave_up(self.attempts)}"]
        if self.request_id:
            parts.append(f"Zuora-Request-Id={self.request_id}")
        if self.track_id:
            parts.append(f"Zuora-Track-Id={self.track_id}")
        return " | ".join(parts)

    def __reduce__(self) -> tuple[Any, ...]:
        kwargs = {
            "request_id": self.request_id,
            "track_id": self.track_id,
            "retry_after": self.retry_after,
            "body": self.body,
            "attempts": self.attempts,
        }
        return (_rebuild, (type(self), self.status_code, self.message, kwargs))


def _rebuild(cls: type[ZuoraApiError], status: int, message: str, kwargs: Mapping[str, Any]) -> ZuoraApiError:
    return cls(status, message, **kwargs)


class ZuoraAuthError(ZuoraApiError):
    """The OAuth credentials were refused. Never retried: fix the connection."""

    @property
    def retryable(self) -> bool:
        return False


class ZuoraTransportError(ZuoraError):
    """The request never got an HTTP answer (connection refused or dropped, timeout). Always retryable."""

    retryable = True

    def __init__(self, message: str, *, attempts: int | None = None) -> None:
        self.message = message
        self.attempts = attempts
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.message}{_gave_up(self.attempts)}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_transport, (self.message, self.attempts))


def _rebuild_transport(message: str, attempts: int | None) -> ZuoraTransportError:
    return ZuoraTransportError(message, attempts=attempts)


class ZuoraWorkflowFailed(ZuoraError):
    """A workflow instance ended without success (task errors, or stopped)."""

    def __init__(self, message: str, *, state: Mapping[str, Any] | None = None) -> None:
        self.state = dict(state or {})
        super().__init__(message)


class ZuoraWaitTimeout(ZuoraError):
    """A wait ended before the instance did: the operator's ``timeout``, in a worker or deferred
    (the instance is stopped first). A retry of the task waits again on the same run."""
