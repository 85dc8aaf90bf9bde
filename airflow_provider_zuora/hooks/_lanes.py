"""The async HTTP client the hook shares per event loop: httpcore lanes of one connection each.

Why not ``httpx.AsyncClient``: measured on a 2-core VM, an httpx GET cost ~1.6 ms of CPU with a
40-connection pool, because httpcore 1.0's pool walks every connection (a ``poll()`` per idle
socket) and every queued request on each request and release (encode/httpcore#1035), and the
client layer above it (URL merging, cookies, auth and redirect flows) costs ~0.3 ms more. A
triggerer polling a thousand instances a second cannot afford either. Here each connection is its
own one-connection ``httpcore`` pool; a request takes an idle lane, the most recently used first
(so spare connections age out under light load), or waits for one. What the hook needs from a
client is kept: keep-alive, TLS with the system/certifi CAs (``SSL_CERT_FILE``/``SSL_CERT_DIR``
honoured), ``HTTP(S)_PROXY``/``NO_PROXY`` from the environment, gzip answers, timeouts.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.parse
import urllib.request
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpcore

from airflow_provider_zuora import api
from airflow_provider_zuora.exceptions import ZuoraConfigError, ZuoraTransportError

#: httpcore errors that mean "no (complete) answer": retryable, like requests' ConnectionError.
NO_ANSWER = (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError, httpcore.ProxyError)
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


class Lane(Protocol):
    """What a lane must do: an ``httpcore`` connection pool has this interface."""

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    text: str


def _proxy_for(url: httpcore.URL) -> str | None:
    """The proxy the environment gives for ``url`` (``HTTPS_PROXY`` etc.), unless ``NO_PROXY`` says not."""
    host = url.host.decode("ascii")
    proxies = urllib.request.getproxies()
    proxy = proxies.get(url.scheme.decode("ascii")) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    return proxy


def open_lane(base_url: httpcore.URL, ssl_context: ssl.SSLContext) -> Lane:
    """One connection to ``base_url``, direct or through the environment's HTTP(S) proxy."""
    limits: dict[str, Any] = {"max_connections": 1, "max_keepalive_connections": 1, "keepalive_expiry": 5.0}
    proxy = _proxy_for(base_url)
    if proxy is None:
        return httpcore.AsyncConnectionPool(ssl_context=ssl_context, **limits)
    parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if parts.scheme not in ("http", "https"):
        raise ZuoraConfigError(
            f"proxy {parts.scheme}://{parts.hostname} (from the environment) is not supported: "
            "Zuora calls from a trigger go through an HTTP(S) proxy or none"
        )
    auth = None
    if parts.username:
        auth = (urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ""))
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return httpcore.AsyncHTTPProxy(
        f"{parts.scheme}://{parts.hostname}:{port}", proxy_auth=auth, ssl_context=ssl_context, **limits
    )


class LaneClient:
    """Keep-alive HTTP/1.1 to one base URL over ``lanes`` one-connection pools; one event loop."""

    def __init__(self, base_url: str, lanes: int, headers: Mapping[str, str]) -> None:
        if lanes < 1:
            raise ValueError(f"lanes must be at least 1, not {lanes}")
        self._base = httpcore.URL(base_url.rstrip("/"))
        self._prefix = self._base.target.rstrip(b"/")  # a base URL's own path, before each call's
        port = self._base.port
        host = self._base.host.decode("ascii")
        host = f"[{host}]" if ":" in host else host  # an IPv6 literal keeps its brackets in Host
        self._host = (host if port is None else f"{host}:{port}").encode("ascii")
        self._headers = {k.lower(): (k, v) for k, v in headers.items()}
        import httpx  # only for its SSL context: certifi, SSL_CERT_FILE / SSL_CERT_DIR, as httpx would

        context = httpx.create_ssl_context()
        self._lanes = [open_lane(self._base, context) for _ in range(lanes)]
        self._idle: asyncio.LifoQueue[Lane] = asyncio.LifoQueue()
        for lane in reversed(self._lanes):
            self._idle.put_nowait(lane)
        self.is_closed = False

    @property
    def idle(self) -> int:
        """Lanes free right now."""
        return self._idle.qsize()

    def _url(self, path: str, params: Mapping[str, Any] | None) -> httpcore.URL:
        target = self._prefix + urllib.parse.quote(path, safe=_PATH_SAFE).encode()
        if params:
            target += b"?" + urllib.parse.urlencode(params).encode("ascii")
        base = self._base
        return httpcore.URL(scheme=base.scheme, host=base.host, port=base.port, target=target)

    async def request(
        self,
        method: str,
        path: str,
        *,
        timeout: float,
        connect_timeout: float,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        data: Mapping[str, str] | None = None,
    ) -> Answer:
        """Send one request and read its whole answer; no answer raises ``ZuoraTransportError``."""
        if self.is_closed:
            raise RuntimeError("this client is closed")
        named = dict(self._headers)  # the client's defaults; the call's own win, whatever their case
        named.update((k.lower(), (k, v)) for k, v in (headers or {}).items())
        if data is not None:
            content = urllib.parse.urlencode(data).encode("ascii")
            named["content-type"] = ("Content-Type", "application/x-www-form-urlencoded")
        if content is not None:
            named["content-length"] = ("Content-Length", str(len(content)))
        raw = [(b"Host", self._host)] + [(k.encode("ascii"), v.encode("latin-1")) for k, v in named.values()]
        limits = {"connect": connect_timeout, "read": timeout, "write": timeout, "pool": timeout}
        url = self._url(path, params)
        body = content or b""
        request = httpcore.Request(method, url, headers=raw, content=body, extensions={"timeout": limits})
        lane = await self._idle.get()
        try:
            response = await lane.handle_async_request(request)
            try:
                answer = await response.aread()
            finally:
                await response.aclose()
        except NO_ANSWER as err:
            raise ZuoraTransportError(f"Zuora {method} {path} got no answer: {type(err).__name__}") from err
        finally:
            self._idle.put_nowait(lane)
        answer_headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in response.headers}
        encoding = api.header(answer_headers, "Content-Encoding")
        try:
            text = api.decode_answer(answer, encoding)
        except zlib.error as err:
            raise ZuoraTransportError(f"Zuora {method} {path}: answer not valid {encoding}") from err
        return Answer(response.status, answer_headers, text)

    async def aclose(self) -> None:
        self.is_closed = True
        await asyncio.gather(*(lane.aclose() for lane in self._lanes))
