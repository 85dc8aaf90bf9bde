"""ZuoraHook: the ``zuora`` connection, OAuth 2.0 client credentials and the Workflow API calls.

Sync calls use one ``requests.Session`` per hook; async calls (for triggers) use an
``httpx.AsyncClient`` shared per event loop and base URL. Both go through the sans-IO rules in
:mod:`airflow_provider_zuora.api`: same URLs, headers, validation, errors and retry decisions.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.sdk import BaseHook
from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from airflow_provider_zuora import api
from airflow_provider_zuora.environments import ENVIRONMENTS, environment_host
from airflow_provider_zuora.exceptions import (
    ZuoraApiError,
    ZuoraAuthError,
    ZuoraConfigError,
    ZuoraTransportError,
)
from airflow_provider_zuora.hooks._transport import ASYNC_CLIENTS, MAX_CONCURRENT_REQUESTS, TOKENS

if TYPE_CHECKING:
    import httpx
    import requests
    from airflow.sdk import Connection

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0
CONNECT_TIMEOUT = 10.0
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_RETRY_MAX_WAIT = 60.0
RETRY_BASE_WAIT = 1.0
#: The link to a run in Zuora's UI. UNVERIFIED: Zuora does not document this URL; override it
#: with the connection extra ``ui_url_template`` ({host} = the UI host with scheme, {instance_id}).
DEFAULT_UI_URL_TEMPLATE = "{host}/workflows/instances/{instance_id}"
_TOKEN_REQUEST = api.ApiRequest("POST", "/oauth/token")


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ZuoraConfig:
    """What a hook needs from its connection. The secret never shows in a repr."""

    conn_id: str
    base_url: str
    client_id: str
    client_secret: str = field(repr=False)
    entity_ids: str | None = None
    org_ids: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    ui_url_template: str | None = None

    @property
    def token_key(self) -> tuple[str, str]:
        """Tokens are shared per (base URL, client id); a digest of the secret keeps a wrong or
        rotated secret from borrowing a token fetched with the right one."""
        digest = hashlib.sha256(self.client_secret.encode()).hexdigest()[:16]
        return (self.base_url, f"{self.client_id}#{digest}")


def _extra(extras: dict[str, Any], name: str) -> Any:
    value = extras.get(name)
    if value in (None, ""):
        value = extras.get(f"extra__zuora__{name}")
    return None if value in (None, "") else value


def _number(extras: dict[str, Any], name: str, default: float, conn_id: str) -> float:
    value = _extra(extras, name)
    if value is None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ZuoraConfigError(
            f"Connection {conn_id!r}: extra {name!r} must be a number, got {value!r}"
        ) from None
    if number <= 0:
        raise ZuoraConfigError(f"Connection {conn_id!r}: extra {name!r} must be > 0, got {value!r}")
    return number


def resolve_base_url(conn_id: str, host: str | None, schema: str | None, port: int | None, env: Any) -> str:
    """The REST base URL: the host (scheme required; http only on loopback), else the environment."""
    host = (host or "").strip()
    if host:
        if "://" not in host:
            if schema not in ("http", "https"):
                raise ZuoraConfigError(
                    f"Connection {conn_id!r}: REST endpoint {host!r} needs a scheme, e.g. https://{host}"
                )
            host = f"{schema}://{host}"
        parts = urlsplit(host)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ZuoraConfigError(f"Connection {conn_id!r}: REST endpoint {host!r} is not an http(s) URL")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ZuoraConfigError(
                f"Connection {conn_id!r}: REST endpoint {host!r} uses http://, which would send the client "
                "secret in cleartext; use https:// (http is accepted only for loopback addresses)"
            )
        netloc = parts.netloc if parts.port or not port else f"{parts.netloc}:{port}"
        return f"{parts.scheme}://{netloc}{parts.path}".rstrip("/")
    if env:
        found = environment_host(str(env))
        if found is None:
            raise ZuoraConfigError(
                f"Connection {conn_id!r}: unknown environment {env!r}; use one of: {', '.join(ENVIRONMENTS)}"
            )
        return found
    raise ZuoraConfigError(
        f"Connection {conn_id!r} has neither a REST endpoint (host) nor an environment extra: set one"
    )


def config_from_connection(conn: Connection) -> ZuoraConfig:
    """Read and check a ``zuora`` connection; raise ``ZuoraConfigError`` naming what is wrong."""
    conn_id = conn.conn_id or "?"
    extras = conn.extra_dejson or {}
    if not conn.login or not conn.password:
        raise ZuoraConfigError(f"Connection {conn_id!r} needs the OAuth Client ID (login) and Client Secret")
    base_url = resolve_base_url(conn_id, conn.host, conn.schema, conn.port, _extra(extras, "environment"))
    attempts = int(_number(extras, "max_attempts", DEFAULT_MAX_ATTEMPTS, conn_id))
    return ZuoraConfig(
        conn_id=conn_id,
        base_url=base_url,
        client_id=str(conn.login),
        client_secret=str(conn.password),
        entity_ids=_extra(extras, "entity_ids"),
        org_ids=_extra(extras, "org_ids"),
        timeout=_number(extras, "timeout", DEFAULT_TIMEOUT, conn_id),
        max_attempts=attempts,
        ui_url_template=_extra(extras, "ui_url_template"),
    )


def _mask(secret: str) -> None:
    from airflow.sdk.log import mask_secret

    mask_secret(secret)


class ZuoraHook(BaseHook):
    """Talk to the Zuora Workflow API through an Airflow ``zuora`` connection.

    :param zuora_conn_id: the connection (host or ``environment`` extra, client id and secret).
    :param timeout: read timeout per request in seconds (default: the ``timeout`` extra, else 60).
    :param max_attempts: tries per request for 429/5xx/network errors (default: extra, else 5).
    :param retry_max_wait: the longest wait between tries, ``Retry-After`` included (default 60 s).
    """

    conn_name_attr = "zuora_conn_id"
    default_conn_name = "zuora_default"
    conn_type = "zuora"
    hook_name = "Zuora"

    def __init__(
        self,
        zuora_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_attempts: int | None = None,
        retry_max_wait: float | None = None,
    ) -> None:
        super().__init__()
        self.zuora_conn_id = zuora_conn_id
        self._timeout = timeout
        self._max_attempts = max_attempts
        self.retry_max_wait = DEFAULT_RETRY_MAX_WAIT if retry_max_wait is None else retry_max_wait
        self._config: ZuoraConfig | None = None
        self._session: requests.Session | None = None
        self._aclient: httpx.AsyncClient | None = None
        self._alimit: asyncio.Semaphore | None = None

    def __repr__(self) -> str:
        return f"ZuoraHook(zuora_conn_id={self.zuora_conn_id!r})"

    # ---------------------------------------------------------------- configuration
    def _configure(self, conn: Connection) -> ZuoraConfig:
        cfg = config_from_connection(conn)
        _mask(cfg.client_secret)
        if self._timeout is not None or self._max_attempts is not None:
            cfg = ZuoraConfig(
                **{
                    **cfg.__dict__,
                    "timeout": self._timeout or cfg.timeout,
                    "max_attempts": self._max_attempts or cfg.max_attempts,
                }
            )
        if cfg.max_attempts < 1:
            raise ZuoraConfigError(f"max_attempts must be >= 1, got {cfg.max_attempts}")
        self._config = cfg
        return cfg

    @property
    def config(self) -> ZuoraConfig:
        return self._config or self._configure(self.get_connection(self.zuora_conn_id))

    async def aconfig(self) -> ZuoraConfig:
        return self._config or self._configure(await self.aget_connection(self.zuora_conn_id))

    @property
    def base_url(self) -> str:
        return self.config.base_url

    def _headers(
        self, track_id: str | None = None, entity_ids: str | None = None, org_ids: str | None = None
    ) -> dict:
        cfg = self.config
        return api.base_headers(
            entity_ids=entity_ids if entity_ids is not None else cfg.entity_ids,
            org_ids=org_ids if org_ids is not None else cfg.org_ids,
            track_id=track_id,
        )

    def ui_url(self, instance_id: int | str) -> str | None:
        """The run's page in Zuora's UI, from ``ui_url_template`` (the default pattern is unverified)."""
        cfg = self.config
        parts = urlsplit(cfg.base_url)
        host = parts.hostname or ""
        if not _is_loopback(host):
            host = host.removeprefix("rest.")
            host = "www.zuora.com" if host == "zuora.com" else host
        web = f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
        template = cfg.ui_url_template or DEFAULT_UI_URL_TEMPLATE
        try:
            return template.format(host=web, instance_id=instance_id)
        except (KeyError, IndexError, ValueError) as err:
            self.log.warning("Connection %s: bad ui_url_template %r: %s", cfg.conn_id, template, err)
            return None

    # ---------------------------------------------------------------- retry plumbing (shared)
    def _retry_kwargs(self, request: api.ApiRequest) -> dict[str, Any]:
        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            delay = api.backoff_seconds(
                state.attempt_number, error, base=RETRY_BASE_WAIT, cap=self.retry_max_wait
            )
            self.log.info(
                "Zuora %s %s failed (%s); try %d of %d in %.1f s",
                request.method,
                request.path,
                error,
                state.attempt_number + 1,
                self.config.max_attempts,
                delay,
            )
            return delay

        return {
            "stop": stop_after_attempt(self.config.max_attempts),
            "wait": wait,
            "retry": retry_if_exception(lambda e: api.should_retry(request, e)),
            "reraise": True,
        }

    def _auth_failed(self, err: ZuoraApiError) -> ZuoraAuthError:
        return ZuoraAuthError(
            err.status_code,
            f"Zuora refused the OAuth client credentials of connection {self.zuora_conn_id!r} "
            f"({err.message}); check its Client ID and Client Secret",
            request_id=err.request_id,
            track_id=err.track_id,
        )

    def _log_answer(self, method: str, path: str, status: int, headers: Any) -> None:
        # The module logger (stdlib): DEBUG-level wire lines, without headers or bodies.
        log.debug(
            "Zuora %s %s -> %s (Zuora-Request-Id %s)", method, path, status, headers.get("Zuora-Request-Id")
        )

    # ---------------------------------------------------------------- sync transport (requests)
    @property
    def session(self) -> requests.Session:
        if self._session is None:
            import requests

            self._session = requests.Session()
        return self._session

    def _http(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any, str]:
        import requests

        cfg = self.config
        try:
            resp = self.session.request(
                method, cfg.base_url + path, timeout=(CONNECT_TIMEOUT, cfg.timeout), **kwargs
            )
        except requests.RequestException as err:
            raise ZuoraTransportError(f"Zuora {method} {path} got no answer: {type(err).__name__}") from err
        self._log_answer(method, path, resp.status_code, resp.headers)
        return resp.status_code, resp.headers, resp.text

    def _fetch_token(self) -> tuple[str, float]:
        cfg = self.config
        form = api.token_form(cfg.client_id, cfg.client_secret)
        headers = {"Accept": "application/json", "User-Agent": api.USER_AGENT}
        for attempt in Retrying(**self._retry_kwargs(_TOKEN_REQUEST)):
            with attempt:
                try:
                    body = api.read_response(
                        *self._http("POST", "/oauth/token", data=form, headers=headers), token_call=True
                    )
                except ZuoraAuthError as err:
                    raise self._auth_failed(err) from None
        token, expires_in = api.read_token(body)
        _mask(token)
        return token, api.token_lifetime(expires_in)

    def _send_once(self, request: api.ApiRequest) -> Any:
        body, encoding = api.encode_body(request.json)
        key = self.config.token_key
        token = TOKENS.get(key, self._fetch_token)
        for refreshed in (False, True):
            headers = {**request.headers, **encoding, "Authorization": f"Bearer {token}"}
            answer = self._http(
                request.method, request.path, params=request.params, data=body, headers=headers
            )
            try:
                return api.read_response(*answer)
            except ZuoraApiError as err:
                if refreshed or not api.is_auth_refresh(err):
                    raise
                TOKENS.invalidate(key, token)  # a 401: refresh the token once and try once more
                token = TOKENS.get(key, self._fetch_token)
        raise AssertionError("unreachable")

    def _send(self, request: api.ApiRequest) -> Any:
        for attempt in Retrying(**self._retry_kwargs(request)):
            with attempt:
                return self._send_once(request)
        raise AssertionError("unreachable")

    # ---------------------------------------------------------------- async transport (httpx)
    async def _aclient_for(self, cfg: ZuoraConfig) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        if self._aclient is None or self._alimit is None:
            import httpx

            def make() -> httpx.AsyncClient:
                timeout = httpx.Timeout(cfg.timeout, connect=CONNECT_TIMEOUT)
                size = MAX_CONCURRENT_REQUESTS
                limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
                return httpx.AsyncClient(base_url=cfg.base_url, timeout=timeout, limits=limits)

            self._aclient, self._alimit = ASYNC_CLIENTS.acquire(cfg.base_url, make)
        return self._aclient, self._alimit

    async def _ahttp(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any, str]:
        import httpx

        client, limit = await self._aclient_for(await self.aconfig())
        try:
            async with limit:
                resp = await client.request(method, path, **kwargs)
        except httpx.HTTPError as err:
            raise ZuoraTransportError(f"Zuora {method} {path} got no answer: {type(err).__name__}") from err
        self._log_answer(method, path, resp.status_code, resp.headers)
        return resp.status_code, resp.headers, resp.text

    async def _afetch_token(self) -> tuple[str, float]:
        cfg = await self.aconfig()
        form = api.token_form(cfg.client_id, cfg.client_secret)
        headers = {"Accept": "application/json", "User-Agent": api.USER_AGENT}
        async for attempt in AsyncRetrying(**self._retry_kwargs(_TOKEN_REQUEST)):
            with attempt:
                try:
                    answer = await self._ahttp("POST", "/oauth/token", data=form, headers=headers)
                    body = api.read_response(*answer, token_call=True)
                except ZuoraAuthError as err:
                    raise self._auth_failed(err) from None
        token, expires_in = api.read_token(body)
        _mask(token)
        return token, api.token_lifetime(expires_in)

    async def _asend_once(self, request: api.ApiRequest) -> Any:
        body, encoding = api.encode_body(request.json)
        key = (await self.aconfig()).token_key
        token = await TOKENS.aget(key, self._afetch_token)
        for refreshed in (False, True):
            headers = {**request.headers, **encoding, "Authorization": f"Bearer {token}"}
            answer = await self._ahttp(
                request.method, request.path, params=request.params, content=body, headers=headers
            )
            try:
                return api.read_response(*answer)
            except ZuoraApiError as err:
                if refreshed or not api.is_auth_refresh(err):
                    raise
                TOKENS.invalidate(key, token)
                token = await TOKENS.aget(key, self._afetch_token)
        raise AssertionError("unreachable")

    async def _asend(self, request: api.ApiRequest) -> Any:
        await self.aconfig()
        async for attempt in AsyncRetrying(**self._retry_kwargs(request)):
            with attempt:
                return await self._asend_once(request)
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        """Release this hook's share of the loop's HTTP client (closed when no hook uses it)."""
        if self._aclient is not None and self._config is not None:
            client, self._aclient, self._alimit = self._aclient, None, None
            await ASYNC_CLIENTS.release(self._config.base_url, client)

    # ---------------------------------------------------------------- the API
    def run_workflow(
        self,
        workflow_id: int | str,
        parameters: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        track_id: str | None = None,
        entity_ids: str | None = None,
        org_ids: str | None = None,
    ) -> dict[str, Any]:
        """Start a run; returns the instance (``id``, ``name``, ``status``...).

        Without ``idempotency_key`` the call is never retried, so it can never start two runs.
        """
        request = api.run_workflow_request(
            workflow_id,
            parameters,
            idempotency_key=idempotency_key,
            headers=self._headers(track_id, entity_ids, org_ids),
        )
        return self._send(request)

    def get_workflow_instance(self, instance_id: int | str, *, track_id: str | None = None) -> dict[str, Any]:
        """A run's state: ``status`` and ``tasks`` counts."""
        return self._send(api.get_instance_request(instance_id, self._headers(track_id)))

    def stop_workflow_instance(self, instance_id: int | str) -> dict[str, Any]:
        """Stop a run (``{"success": true}``)."""
        return self._send(api.stop_instance_request(instance_id, self._headers()))

    def get_workflow_instance_tasks(self, instance_id: int | str) -> list[dict[str, Any]]:
        """Every task of a run, following every page."""
        tasks: list[dict[str, Any]] = []
        page: int | None = 1
        while page is not None and page <= api.MAX_TASK_PAGES:
            body = self._send(api.list_tasks_request(instance_id, page, self._headers()))
            tasks.extend((body or {}).get("data") or [])
            page = api.next_page(body, page)
        return tasks

    def get_workflow(self, workflow_id: int | str) -> dict[str, Any]:
        """A workflow's definition."""
        return self._send(api.get_workflow_request(workflow_id, self._headers()))

    def test_connection(self) -> tuple[bool, str]:
        """A token plus one cheap read (the Connections UI's Test button)."""
        try:
            self._send(api.list_workflows_request(self._headers()))
        except Exception as err:  # the UI shows the message; never the secret (masked, never formatted)
            return False, str(err)
        return True, f"Connected to Zuora at {self.base_url}: token issued, workflows readable"

    async def aget_workflow_instance(self, instance_id: int | str) -> dict[str, Any]:
        """Async :meth:`get_workflow_instance`, on the loop's shared client and token."""
        await self.aconfig()
        return await self._asend(api.get_instance_request(instance_id, self._headers()))

    async def astop_workflow_instance(self, instance_id: int | str) -> dict[str, Any]:
        await self.aconfig()
        return await self._asend(api.stop_instance_request(instance_id, self._headers()))

    async def aget_workflow_instance_tasks(self, instance_id: int | str) -> list[dict[str, Any]]:
        await self.aconfig()
        tasks: list[dict[str, Any]] = []
        page: int | None = 1
        while page is not None and page <= api.MAX_TASK_PAGES:
            body = await self._asend(api.list_tasks_request(instance_id, page, self._headers()))
            tasks.extend((body or {}).get("data") or [])
            page = api.next_page(body, page)
        return tasks
