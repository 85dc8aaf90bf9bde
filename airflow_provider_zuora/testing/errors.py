"""Every error the emulator answers, by name, in Zuora's three body shapes.

The workflow endpoints answer ``{"errors": [{status, code, title}]}``, the general v1 API
``{"success": false, "processId": ..., "reasons": [{code, message}]}`` and the gateway
``{"message": ...}``. :class:`EmulatorError` renders any of them; each subclass below is one
error Zuora (or the emulator, where Zuora is silent) gives, so the backend, the gateway's
stages and the routes raise a name instead of a status and a message.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_zuora.testing.workflows import Parameter

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


def reason_phrase(status: int) -> str:
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
    """Zuora's 429: ``{"reasons": [{"code": 70, "message": "API Rate limit exceeded ..."}]}``."""
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


# ---- POST /workflows/{id}/run, GET /workflows/{id}, GET /workflows/tasks ----
class WorkflowNotFound(EmulatorError):
    def __init__(self, workflow_id: object) -> None:
        super().__init__(404, f"Workflow {workflow_id} not found")


class WorkflowIsARun(EmulatorError):
    """Running a run's id: 409 with the inner status 406 Zuora gives."""

    def __init__(self, name: str, run_id: int) -> None:
        super().__init__(409, f"Workflow {name} with Id {run_id} is an instance/run.", inner_status=406)


class WorkflowInactive(EmulatorError):
    """Emulator choice: Zuora does not document running an Inactive workflow."""

    def __init__(self, workflow_id: int, name: str) -> None:
        super().__init__(400, f"Workflow {workflow_id} ({name}) is inactive and cannot be run.")


class CalloutDisabled(EmulatorError):
    def __init__(self) -> None:
        super().__init__(400, "Callout mode is not turned on in this workflow.")


class BodyNotAnObject(EmulatorError):
    def __init__(self, body: object) -> None:
        kind = type(body).__name__
        super().__init__(400, f"The request body must be a JSON object of input parameters, got {kind}.")


class InvalidJsonBody(EmulatorError):
    def __init__(self, problem: object) -> None:
        super().__init__(400, f"The request body is not valid JSON: {problem}")


class ReservedKeys(EmulatorError):
    def __init__(self, found: Iterable[str], reserved: Iterable[str]) -> None:
        super().__init__(
            400,
            f"Parameter(s) {', '.join(repr(k) for k in found)} use reserved words and cannot be "
            f"used in the request body (reserved: {', '.join(reserved)}).",
        )


class MissingParameters(EmulatorError):
    """406: one error per required parameter missing, and the run body echoed as ``parameters``."""

    def __init__(self, missing: Iterable[Parameter], body: dict[str, Any]) -> None:
        super().__init__(
            406,
            [
                f"Required field for {p.object}-{p.name} does not have a set value. "
                f"Ensure parameter '{p.name}' is present."
                for p in missing
            ],
            extra={"parameters": body},
        )


class RunNotFound(EmulatorError):
    """404 for a run id; the stop endpoint's message does not name the id (``run_id=None``)."""

    def __init__(self, run_id: object = None) -> None:
        if run_id is None:
            super().__init__(404, "Cannot find a workflow run with id provided.")
        else:
            super().__init__(404, f"Cannot find a workflow run with id {run_id}.")


class WorkflowIdRequired(EmulatorError):
    def __init__(self) -> None:
        super().__init__(400, "workflow_id is required (this emulator lists tasks of one workflow or run).")


class InvalidQueryParameter(EmulatorError):
    """A ``page``, ``page_length`` or other query value out of range or not an integer."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message)


# ---- POST /oauth/token ----
class NotFormEncoded(EmulatorError):
    def __init__(self, content_type: str) -> None:
        super().__init__(
            400,
            f"Content-Type must be application/x-www-form-urlencoded, got {content_type!r}",
            shape="message",
        )


class UnsupportedGrantType(EmulatorError):
    def __init__(self) -> None:
        super().__init__(
            400,
            "grant_type must be client_credentials",
            shape="message",
            extra={"error": "unsupported_grant_type"},
        )


class AuthenticationFailed(EmulatorError):
    """401 ``{"message": "Authentication error"}``: wrong client credentials, or no valid bearer token."""

    def __init__(self) -> None:
        super().__init__(401, "Authentication error", shape="message")


# ---- the gateway, for every API request ----
class InvalidGzipBody(EmulatorError):
    def __init__(self) -> None:
        super().__init__(400, "Request body is not valid gzip data")


class InvalidTrackId(EmulatorError):
    def __init__(self, problem: str) -> None:
        super().__init__(400, problem, shape="reasons", code=90000011)


class ConcurrencyLimitExceeded(EmulatorError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(
            429,
            f"Concurrent request limit exceeded, retry after {retry_after} seconds",
            shape="reasons",
            code=70,
            headers={"Retry-After": str(retry_after)},
        )


class RateLimitExceeded(EmulatorError):
    """429 with Zuora's documented body (no ``processId``) and ``Retry-After``."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(429, "API Rate limit exceeded", headers={"Retry-After": str(retry_after)})

    def body(self) -> dict[str, Any]:
        return rate_limited_body(self.retry_after)


class InvalidIdempotencyKey(EmulatorError):
    def __init__(self, length: int, maximum: int) -> None:
        super().__init__(400, f"Idempotency-Key must be 1 to {maximum} characters, got {length}")


class IdempotencyKeyInProgress(EmulatorError):
    """409, told apart from the "is an instance/run" 409 by its ``reasons`` body."""

    def __init__(self) -> None:
        super().__init__(
            409,
            "A request with the same Idempotency-Key is still in progress; retry later.",
            shape="reasons",
            code=53000040,
        )


class IdempotencyKeyReused(EmulatorError):
    def __init__(self) -> None:
        super().__init__(
            422,
            "The Idempotency-Key was already used for a request with another URL or method.",
            shape="reasons",
            code=53000050,
        )


# ---- the /_emulator control routes ----
class ControlRequestInvalid(EmulatorError):
    """400 ``{"message": ...}``: a control call with a bad body or arguments."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message, shape="message")


class ControlRunNotFound(EmulatorError):
    def __init__(self, run_id: object) -> None:
        super().__init__(404, f"no instance {run_id}", shape="message")
