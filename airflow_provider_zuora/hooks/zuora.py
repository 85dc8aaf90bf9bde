"""ZuoraHook: the ``zuora`` connection, OAuth 2.0 client credentials and the Workflow API calls.

Sync calls use one ``requests.Session`` per hook; async calls (for triggers) use a lean httpcore
client (``hooks/_lanes.py``) shared per event loop and (base URL, client id). Both go through the sans-IO
rules in :mod:`airflow_provider_zuora.api`: same URLs, headers, validation, errors and retry
decisions; what is here is only moving bytes. The connection is read by ``hooks/_config.py``;
the process-wide token cache and async client pool live in ``hooks/_transport.py``.

Retries follow :mod:`airflow_provider_zuora.calls` (the policy, without I/O; the two drivers
here only send, sleep and log): 429, 5xx, connection errors and timeouts, with exponential
backoff and full jitter (``Retry-After`` wins, both capped at ``retry_max_wait``), at most
``max_attempts`` tries in all; then the last error is raised, saying how many tries were made.
Other 4xx are never retried, and a run call only when it carries an ``Idempotency-Key``; a keyed
call that Zuora answers 409 (the key still in progress) is resent until Zuora replays its answer.
A 401 on an API call fetches a new token and sends the call again, once per call.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from typing import TYPE_CHECKING, Any

from airflow_provider_zuora import api, calls
from airflow_provider_zuora._compat import BaseHook, aget_connection, amask_secret, mask_secret
from airflow_provider_zuora.exceptions import ZuoraApiError, ZuoraAuthError, ZuoraTransportError
from airflow_provider_zuora.hooks._config import (
    ZuoraConfig,
    check_number,
    config_from_connection,
)
from airflow_provider_zuora.hooks._transport import (
    ASYNC_CLIENTS,
    MAX_CONCURRENT_REQUESTS,
    TOKENS,
    no_netrc_auth,
)

if TYPE_CHECKING:
    import requests

    from airflow_provider_zuora.hooks._lanes import LaneClient

__all__ = ["CONNECT_TIMEOUT", "DEFAULT_RETRY_MAX_WAIT", "ZuoraConfig", "ZuoraHook"]

log = logging.getLogger(__name__)  # the DEBUG wire lines: method, path, status, Zuora-Request-Id

CONNECT_TIMEOUT = 10.0
DEFAULT_RETRY_MAX_WAIT = 60.0
# A POST without a key, yet harmless to repeat: a second token replaces nothing the first did.
_TOKEN_REQUEST = api.ApiRequest("POST", "/oauth/token", retryable=True)
_TOKEN_HEADERS = {"Accept": "application/json", "User-Agent": api.USER_AGENT}
_CLIENT_HEADERS = {"User-Agent": api.USER_AGENT, "Accept-Encoding": "gzip"}


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
        check_number("timeout", timeout, minimum=0.001)
        check_number("max_attempts", max_attempts, minimum=1, integer=True)
        check_number("retry_max_wait", retry_max_wait, minimum=0)
        self.zuora_conn_id = zuora_conn_id
        self._timeout = timeout
        self._max_attempts = max_attempts
        self.retry_max_wait = DEFAULT_RETRY_MAX_WAIT if retry_max_wait is None else float(retry_max_wait)
        self._config: ZuoraConfig | None = None
        self._session: requests.Session | None = None
        self._aclient: LaneClient | None = None
        self._aloop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"ZuoraHook(zuora_conn_id={self.zuora_conn_id!r})"

    # ---------------------------------------------------------------- configuration
    @property
    def config(self) -> ZuoraConfig:
        """The checked connection (read once per hook; raises ``ZuoraConfigError`` naming it)."""
        if self._config is None:
            cfg = config_from_connection(self.get_connection(self.zuora_conn_id))
            mask_secret(cfg.client_secret)
            self._config = cfg.with_overrides(timeout=self._timeout, max_attempts=self._max_attempts)
        return self._config

    async def aconfig(self) -> ZuoraConfig:
        """:attr:`config` without blocking the event loop (async connection lookup and masking)."""
        if self._config is None:
            conn = await aget_connection(self, self.zuora_conn_id)
            aextra = getattr(conn, "aextra_dejson", None)
            extras = await aextra() if aextra is not None else conn.extra_dejson
            cfg = config_from_connection(conn, extras)
            await amask_secret(cfg.client_secret)
            self._config = cfg.with_overrides(timeout=self._timeout, max_attempts=self._max_attempts)
        return self._config

    @property
    def base_url(self) -> str:
        return self.config.base_url

    @staticmethod
    def _headers(
        cfg: ZuoraConfig,
        track_id: str | None = None,
        entity_ids: str | None = None,
        org_ids: str | None = None,
    ) -> dict[str, str]:
        """Per-call values win over the connection's (an empty string drops the header)."""
        return api.base_headers(
            entity_ids=cfg.entity_ids if entity_ids is None else entity_ids,
            org_ids=cfg.org_ids if org_ids is None else org_ids,
            track_id=track_id,
        )

    def ui_url(self, instance_id: int | str) -> str | None:
        """The run's page in Zuora's UI from the ``ui_url_template`` extra, or None if it is broken.

        The default, ``{host}/workflows/instances/{instance_id}``, is UNVERIFIED: Zuora does not
        document the URL of a workflow run; set ``ui_url_template`` when it differs.
        """
        cfg = self.config
        try:
            return cfg.ui_url(instance_id)
        except (KeyError, IndexError, ValueError) as err:
            self.log.warning(
                "Connection %s: bad ui_url_template %r: %r", cfg.conn_id, cfg.ui_url_template, err
            )
            return None

    # ---------------------------------------------------------------- connection form (Airflow 3.0, 3.1)
    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden, relabelled and placeholder standard fields (Airflow 3.0, 3.1; see ``hooks/_form.py``)."""
        from airflow_provider_zuora.hooks._form import ui_field_behaviour

        return ui_field_behaviour()

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The form's extra fields (Airflow 3.0, 3.1; ``{}`` without wtforms; see ``hooks/_form.py``)."""
        from airflow_provider_zuora.hooks._form import connection_form_widgets

        return connection_form_widgets()

    # ---------------------------------------------------------------- shared by both transports
    def _policy(
        self, request: api.ApiRequest, cfg: ZuoraConfig, started: float, *, can_refresh: bool = True
    ) -> calls.Call:
        """The policy of a call that began at ``started`` (monotonic); the API calls make it at
        their first failure, as most never need one."""
        return calls.Call(
            request,
            max_attempts=cfg.max_attempts,
            max_wait=self.retry_max_wait,
            now=started,
            base_wait=calls.BASE_WAIT,
            can_refresh=can_refresh,
        )

    def _next(self, call: calls.Call, error: BaseException) -> calls.Step:
        """The step after a failed try: logged here; a ``FAIL`` raises the error to give up with."""
        step = call.after(error, now=time.monotonic())
        if step.action == calls.FAIL:
            raise step.error or error
        if step.action == calls.RETRY:
            self.log.warning("%s", step.message)
        elif step.action == calls.WAIT_FOR_KEY:
            self.log.info("%s", step.message)
        return step

    def _read_token_answer(self, answer: tuple[int, Any, str]) -> Any:
        try:
            return api.read_response(*answer, token_call=True)
        except ZuoraAuthError as err:  # never the secret: only the connection id and Zuora's words
            raise ZuoraAuthError(
                err.status_code,
                f"Zuora refused the OAuth client credentials of connection {self.zuora_conn_id!r} "
                f"({err.message}); check its Client ID and Client Secret",
                request_id=err.request_id,
                track_id=err.track_id,
            ) from None

    @staticmethod
    def _log_answer(method: str, path: str, status: int, headers: Any) -> None:
        request_id = api.header(headers, "Zuora-Request-Id")
        log.debug("Zuora %s %s -> %s (Zuora-Request-Id %s)", method, path, status, request_id)

    # ---------------------------------------------------------------- sync transport (requests)
    @property
    def session(self) -> requests.Session:
        """This hook's HTTP session, reused for keep-alive."""
        if self._session is None:
            import requests

            session = requests.Session()
            session.auth = no_netrc_auth
            session.headers.update(_CLIENT_HEADERS)
            self._session = session
        return self._session

    def close(self) -> None:
        """Close this hook's HTTP session (a later call opens a new one)."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def _http(self, cfg: ZuoraConfig, method: str, path: str, **kwargs: Any) -> tuple[int, Any, str]:
        import requests
        import urllib3

        try:
            resp = self.session.request(
                method,
                cfg.base_url + path,
                timeout=(CONNECT_TIMEOUT, cfg.timeout),
                allow_redirects=False,  # a redirect must never carry the secret or the token elsewhere
                stream=True,  # the body is read and decoded below, as the async transport does
                **kwargs,
            )
            try:  # the raw bytes: requests would quietly hand over a gzip stream cut short as text
                raw = resp.raw.read(decode_content=False)
            except BaseException:
                resp.close()
                raise
        except (requests.RequestException, urllib3.exceptions.HTTPError) as err:
            raise ZuoraTransportError(f"Zuora {method} {path} got no answer: {type(err).__name__}") from err
        resp.raw.release_conn()  # read to the end: the connection goes back to the pool (keep-alive)
        self._log_answer(method, path, resp.status_code, resp.headers)
        encoding = resp.headers.get("Content-Encoding")
        try:
            text = api.decode_answer(raw, encoding)
        except zlib.error as err:
            raise ZuoraTransportError(f"Zuora {method} {path}: answer not valid {encoding}") from err
        return resp.status_code, resp.headers, text

    def _fetch_token(self) -> tuple[str, float]:
        cfg = self.config
        form = api.token_form(cfg.client_id, cfg.client_secret)
        call = self._policy(_TOKEN_REQUEST, cfg, time.monotonic(), can_refresh=False)
        while True:
            try:
                answer = self._http(cfg, "POST", "/oauth/token", data=form, headers=_TOKEN_HEADERS)
                body = self._read_token_answer(answer)
                break
            except (ZuoraApiError, ZuoraTransportError) as err:
                step = self._next(call, err)
            time.sleep(step.seconds)
        token, expires_in = api.read_token(body)
        mask_secret(token)
        return token, api.token_lifetime(expires_in)

    def _send(self, request: api.ApiRequest) -> Any:
        """Send ``request`` as its :class:`~airflow_provider_zuora.calls.Call` policy says."""
        cfg = self.config
        started, call = time.monotonic(), None
        body, encoding = api.encode_body(request.json)
        while True:
            token = TOKENS.get(cfg.token_key, self._fetch_token)  # its own failures are final here
            headers = {**request.headers, **encoding, "Authorization": f"Bearer {token}"}
            try:
                answer = self._http(
                    cfg, request.method, request.path, params=request.params, data=body, headers=headers
                )
                return api.read_response(*answer)
            except (ZuoraApiError, ZuoraTransportError) as err:
                call = call or self._policy(request, cfg, started)
                step = self._next(call, err)
            if step.action == calls.REFRESH:
                TOKENS.invalidate(cfg.token_key, token)
            else:
                time.sleep(step.seconds)

    # ---------------------------------------------------------------- async transport (httpcore lanes)
    def _aclient_for(self, cfg: ZuoraConfig) -> LaneClient:
        loop = asyncio.get_running_loop()
        if self._aclient is None or self._aloop is not loop or self._aclient.is_closed:
            from airflow_provider_zuora.hooks._lanes import LaneClient

            def make() -> LaneClient:
                return LaneClient(cfg.base_url, MAX_CONCURRENT_REQUESTS, _CLIENT_HEADERS)

            self._aclient = ASYNC_CLIENTS.acquire(cfg.pool_key, make)
            self._aloop = loop
        return self._aclient

    async def _ahttp(self, cfg: ZuoraConfig, method: str, path: str, **kwargs: Any) -> tuple[int, Any, str]:
        client = self._aclient_for(cfg)  # its lanes bound the requests in flight (Zuora's limit)
        answer = await client.request(
            method, path, timeout=cfg.timeout, connect_timeout=CONNECT_TIMEOUT, **kwargs
        )
        self._log_answer(method, path, answer.status, answer.headers)
        return answer.status, answer.headers, answer.text

    async def _afetch_token(self) -> tuple[str, float]:
        cfg = await self.aconfig()
        form = api.token_form(cfg.client_id, cfg.client_secret)
        call = self._policy(_TOKEN_REQUEST, cfg, time.monotonic(), can_refresh=False)
        while True:
            try:
                answer = await self._ahttp(cfg, "POST", "/oauth/token", data=form, headers=_TOKEN_HEADERS)
                body = self._read_token_answer(answer)
                break
            except (ZuoraApiError, ZuoraTransportError) as err:
                step = self._next(call, err)
            await asyncio.sleep(step.seconds)
        token, expires_in = api.read_token(body)
        await amask_secret(token)
        return token, api.token_lifetime(expires_in)

    async def _asend(self, request: api.ApiRequest) -> Any:
        """The async :meth:`_send`: the same policy, on the loop's shared client and token."""
        cfg = await self.aconfig()
        started, call = time.monotonic(), None
        body, encoding = api.encode_body(request.json)
        while True:
            token = await TOKENS.aget(cfg.token_key, self._afetch_token)
            headers = {**request.headers, **encoding, "Authorization": f"Bearer {token}"}
            try:
                answer = await self._ahttp(
                    cfg, request.method, request.path, params=request.params, content=body, headers=headers
                )
                return api.read_response(*answer)
            except (ZuoraApiError, ZuoraTransportError) as err:
                call = call or self._policy(request, cfg, started)
                step = self._next(call, err)
            if step.action == calls.REFRESH:
                TOKENS.invalidate(cfg.token_key, token)
            else:
                await asyncio.sleep(step.seconds)

    async def aclose(self) -> None:
        """Release this hook's share of the loop's HTTP client (closed when no hook uses it)."""
        client, self._aclient = self._aclient, None
        loop, self._aloop = self._aloop, None
        if client is not None and self._config is not None and loop is asyncio.get_running_loop():
            await ASYNC_CLIENTS.release(self._config.pool_key, client)

    @classmethod
    async def aclose_shared_clients(cls) -> int:
        """Close every shared async client of the running loop; returns how many were open."""
        return await ASYNC_CLIENTS.aclose_all()

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
        Parameter values follow :func:`airflow_provider_zuora.api.validate_parameters`.
        """
        request = api.run_workflow_request(
            workflow_id,
            parameters,
            idempotency_key=idempotency_key,
            headers=self._headers(self.config, track_id, entity_ids, org_ids),
        )
        return api.instance_from(self._send(request), request, need_id=True)

    def get_workflow_instance(self, instance_id: int | str, *, track_id: str | None = None) -> dict[str, Any]:
        """A run's state: ``status`` and ``tasks`` counts."""
        request = api.get_instance_request(instance_id, self._headers(self.config, track_id))
        return api.instance_from(self._send(request), request)

    def stop_workflow_instance(self, instance_id: int | str) -> dict[str, Any]:
        """Stop a run (``{"success": true}``)."""
        return self._send(api.stop_instance_request(instance_id, self._headers(self.config)))

    def get_workflow_instance_tasks(self, instance_id: int | str) -> list[dict[str, Any]]:
        """Every task of a run, following every page."""
        tasks: list[dict[str, Any]] = []
        page: int | None = 1
        while page is not None:
            body = self._send(api.list_tasks_request(instance_id, page, self._headers(self.config)))
            page = self._add_page(tasks, body, page, instance_id)
        return tasks

    def _add_page(
        self, tasks: list[dict[str, Any]], body: Any, page: int, instance_id: int | str
    ) -> int | None:
        tasks.extend((body or {}).get("data") or [])
        following = api.next_page(body, page)
        if following is not None and following > api.MAX_TASK_PAGES:
            self.log.warning(
                "Stopped listing the tasks of %s after %d pages", instance_id, api.MAX_TASK_PAGES
            )
            return None
        return following

    def get_workflow(self, workflow_id: int | str) -> dict[str, Any]:
        """A workflow's definition."""
        return self._send(api.get_workflow_request(workflow_id, self._headers(self.config)))

    def test_connection(self) -> tuple[bool, str]:
        """A token plus one cheap read (the Connections UI's Test button)."""
        try:
            self._send(api.list_workflows_request(self._headers(self.config)))
        except Exception as err:  # the UI shows the message; never the secret (masked, never formatted)
            return False, str(err)
        return True, f"Connected to Zuora at {self.base_url}: token issued, workflows readable"

    async def aget_workflow_instance(self, instance_id: int | str) -> dict[str, Any]:
        """Async :meth:`get_workflow_instance`, on the loop's shared client and token."""
        cfg = await self.aconfig()
        request = api.get_instance_request(instance_id, self._headers(cfg))
        return api.instance_from(await self._asend(request), request)

    async def astop_workflow_instance(self, instance_id: int | str) -> dict[str, Any]:
        """Async :meth:`stop_workflow_instance`."""
        cfg = await self.aconfig()
        return await self._asend(api.stop_instance_request(instance_id, self._headers(cfg)))

    async def aget_workflow_instance_tasks(self, instance_id: int | str) -> list[dict[str, Any]]:
        """Async :meth:`get_workflow_instance_tasks`: every page."""
        cfg = await self.aconfig()
        tasks: list[dict[str, Any]] = []
        page: int | None = 1
        while page is not None:
            body = await self._asend(api.list_tasks_request(instance_id, page, self._headers(cfg)))
            page = self._add_page(tasks, body, page, instance_id)
        return tasks
