"""Process-wide state the hooks share: OAuth tokens and async HTTP clients.

Both are optimisations only (a fresh process fetches a fresh token): correctness never depends
on them. Tokens are cached per (base URL, client id) until shortly before they expire; one
thread or coroutine fetches while the others wait, so many hooks cause one token request.
Async clients are per event loop (an ``httpx.AsyncClient`` cannot cross loops) and per base URL,
reference-counted so one trigger's ``cleanup()`` does not close a pool others still use. Each
comes with a semaphore of ``MAX_CONCURRENT_REQUESTS`` (Zuora's default per-tenant concurrency
limit): a thousand triggers queue in order instead of piling into httpx's pool, which slows
down badly as its queue grows, and Zuora never sees more than it allows.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

TokenKey = tuple[str, str]
MAX_CONCURRENT_REQUESTS = 40


@dataclass
class _Token:
    value: str
    good_until: float  # time.monotonic()


class TokenCache:
    """Tokens per (base URL, client id), shared by every hook in the process."""

    def __init__(self) -> None:
        self._tokens: dict[TokenKey, _Token] = {}
        self._guard = threading.Lock()
        self._thread_locks: dict[TokenKey, threading.Lock] = {}
        self._loop_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[TokenKey, asyncio.Lock]]
        self._loop_locks = weakref.WeakKeyDictionary()

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
        """The cached token, or one fetched by exactly one thread while the others wait."""
        token = self.peek(key)
        if token is not None:
            return token
        with self._guard:
            lock = self._thread_locks.setdefault(key, threading.Lock())
        with lock:
            token = self.peek(key)
            if token is None:
                token, lifetime = fetch()
                self.store(key, token, lifetime)
            return token

    async def aget(self, key: TokenKey, fetch: Callable[[], Awaitable[tuple[str, float]]]) -> str:
        """The async twin of :meth:`get`: one coroutine per loop fetches, the rest await it."""
        token = self.peek(key)
        if token is not None:
            return token
        loop = asyncio.get_running_loop()
        with self._guard:
            lock = self._loop_locks.setdefault(loop, {}).setdefault(key, asyncio.Lock())
        async with lock:
            token = self.peek(key)
            if token is None:
                token, lifetime = await fetch()
                self.store(key, token, lifetime)
            return token


class AsyncClientPool:
    """One ``httpx.AsyncClient`` per (event loop, base URL), with reference counts."""

    def __init__(self) -> None:
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, list[Any]]]
        self._clients = weakref.WeakKeyDictionary()

    def acquire(
        self, base_url: str, make: Callable[[], httpx.AsyncClient]
    ) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        """The loop's client for ``base_url`` and the semaphore that bounds its requests in flight."""
        per_loop = self._clients.setdefault(asyncio.get_running_loop(), {})
        entry = per_loop.get(base_url)
        if entry is None or entry[0].is_closed:
            entry = per_loop[base_url] = [make(), 0, asyncio.Semaphore(MAX_CONCURRENT_REQUESTS)]
        entry[1] += 1
        return entry[0], entry[2]

    async def release(self, base_url: str, client: httpx.AsyncClient) -> None:
        per_loop = self._clients.get(asyncio.get_running_loop(), {})
        entry = per_loop.get(base_url)
        if entry is None or entry[0] is not client:
            await client.aclose()
            return
        entry[1] -= 1
        if entry[1] <= 0:
            del per_loop[base_url]
            await client.aclose()


TOKENS = TokenCache()
ASYNC_CLIENTS = AsyncClientPool()
