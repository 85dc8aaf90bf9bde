"""Process-wide state the hooks share: OAuth tokens and async HTTP clients.

Both are optimisations only (a fresh process fetches a fresh token): correctness never depends
on them. Tokens are cached per (base URL, client id, digest of the secret) until shortly before
they expire. Fetches are single-flight: while one thread (or, per event loop, one task) fetches,
the others wait for *its* outcome, token or error, so a thousand hooks cause one token request
even when the credentials are wrong (no herd of refused token calls against Zuora's 100-per-IP
token limit).

Async clients (``hooks/_lanes.py``) are per event loop (a connection cannot cross loops) and per
(base URL, client id), reference-counted so one trigger's ``cleanup()`` does not close a pool
others still use. Each has ``MAX_CONCURRENT_REQUESTS`` lanes (Zuora's default per-tenant concurrency
limit), one request each: a thousand triggers queue for a free lane in order, cheaply, and Zuora
never sees more than it allows.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_provider_zuora.exceptions import ZuoraTransportError

if TYPE_CHECKING:
    import requests

    from airflow_provider_zuora.hooks._lanes import LaneClient

TokenKey = tuple[str, str]
MAX_CONCURRENT_REQUESTS = 40


def no_netrc_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """A no-op auth for a requests session: without it requests adds ``~/.netrc`` credentials, which
    would put an Authorization header on the token call and replace the bearer token on API calls."""
    return request


@dataclass
class _Token:
    value: str
    good_until: float  # time.monotonic()


def _retrieve(task: asyncio.Task[str]) -> None:
    """Mark a fetch's error as seen, so a fetch every waiter gave up on logs no warning."""
    if not task.cancelled():
        task.exception()


class TokenCache:
    """Tokens per key, shared by every hook in the process; one fetch at a time per key."""

    def __init__(self) -> None:
        self._tokens: dict[TokenKey, _Token] = {}
        self._guard = threading.Lock()
        self._flights: dict[TokenKey, Future[str]] = {}
        self._aflights: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[TokenKey, asyncio.Task[str]]
        ]
        self._aflights = weakref.WeakKeyDictionary()

    def peek(self, key: TokenKey) -> str | None:
        tok = self._tokens.get(key)
        return tok.value if tok is not None and tok.good_until > time.monotonic() else None

    def store(self, key: TokenKey, value: str, lifetime: float) -> None:
        self._tokens[key] = _Token(value, time.monotonic() + lifetime)

    def invalidate(self, key: TokenKey, value: str) -> None:
        """Forget ``value`` (a 401 said it is dead) unless another caller already replaced it."""
        with self._guard:
            tok = self._tokens.get(key)
            if tok is not None and tok.value == value:
                del self._tokens[key]

    def clear(self) -> None:
        with self._guard:
            self._tokens.clear()

    def get(self, key: TokenKey, fetch: Callable[[], tuple[str, float]]) -> str:
        """The cached token, or the outcome of the one fetch in flight (started here if none is)."""
        token = self.peek(key)
        if token is not None:
            return token
        with self._guard:
            token = self.peek(key)
            if token is not None:
                return token
            flight = self._flights.get(key)
            owner = flight is None
            if flight is None:
                flight = self._flights[key] = Future()
        if not owner:
            return flight.result()  # the owner's token, or its error raised here too
        try:
            token, lifetime = fetch()
            self.store(key, token, lifetime)
            flight.set_result(token)
            return token
        except BaseException as err:  # waiters get the error; an interrupt only as a retryable one
            shared = err if isinstance(err, Exception) else ZuoraTransportError("token fetch interrupted")
            flight.set_exception(shared)
            raise
        finally:
            with self._guard:
                self._flights.pop(key, None)

    async def aget(self, key: TokenKey, fetch: Callable[[], Awaitable[tuple[str, float]]]) -> str:
        """The async twin of :meth:`get`: one task per loop fetches, every caller awaits it.

        The fetch runs in its own task, so a caller that is cancelled (a trigger being stopped)
        does not cancel the fetch the other callers are waiting for.
        """
        token = self.peek(key)
        if token is not None:
            return token
        loop = asyncio.get_running_loop()
        with self._guard:
            flights = self._aflights.setdefault(loop, {})
        task = flights.get(key)
        if task is None:

            async def run() -> str:
                try:
                    value, lifetime = await fetch()
                    self.store(key, value, lifetime)
                    return value
                finally:
                    flights.pop(key, None)

            task = flights[key] = loop.create_task(run())
            task.add_done_callback(_retrieve)
        return await asyncio.shield(task)


class AsyncClientPool:
    """One ``LaneClient`` per (event loop, key), with reference counts."""

    def __init__(self) -> None:
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, _Entry]]
        self._clients = weakref.WeakKeyDictionary()
        self._guard = threading.Lock()

    def _per_loop(self) -> dict[Hashable, _Entry]:
        with self._guard:
            return self._clients.setdefault(asyncio.get_running_loop(), {})

    def acquire(self, key: Hashable, make: Callable[[], LaneClient]) -> LaneClient:
        """The running loop's client for ``key`` (made now if there is none, or it was closed)."""
        per_loop = self._per_loop()
        entry = per_loop.get(key)
        if entry is None or entry.client.is_closed:
            entry = per_loop[key] = _Entry(make())
        entry.users += 1
        return entry.client

    async def release(self, key: Hashable, client: LaneClient) -> None:
        """Give back one use of ``client``; the last user closes it."""
        per_loop = self._per_loop()
        entry = per_loop.get(key)
        if entry is None or entry.client is not client:
            await client.aclose()
            return
        entry.users -= 1
        if entry.users <= 0:
            del per_loop[key]
            await client.aclose()

    async def aclose_all(self) -> int:
        """Close every client of the running loop (shutdown, tests); returns how many were open."""
        per_loop = self._per_loop()
        entries = list(per_loop.values())
        per_loop.clear()
        for entry in entries:
            await entry.client.aclose()
        return len(entries)


@dataclass
class _Entry:
    client: LaneClient
    users: int = 0


TOKENS = TokenCache()
ASYNC_CLIENTS = AsyncClientPool()
