"""The shared token cache and async client pool (hooks/_transport.py), without HTTP."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from typing import Any

import httpx
import pytest

from airflow_provider_zuora import api
from airflow_provider_zuora.exceptions import ZuoraAuthError, ZuoraTransportError
from airflow_provider_zuora.hooks import _transport
from airflow_provider_zuora.hooks._transport import AsyncClientPool, TokenCache

KEY = ("https://rest.zuora.com", "cid#digest")
GET = api.ApiRequest("GET", "/workflows/workflow_runs/1")
RUN = api.ApiRequest("POST", "/workflows/1/run")  # no Idempotency-Key: never retried


# ---------------------------------------------------------------- tokens, threads
def test_tokens_are_cached_until_their_lifetime_ends_and_keyed() -> None:
    cache = TokenCache()
    fetched: list[str] = []

    def fetch(lifetime: float) -> Any:
        def inner() -> tuple[str, float]:
            fetched.append(f"t{len(fetched) + 1}")
            return fetched[-1], lifetime

        return inner

    assert cache.get(KEY, fetch(3600)) == "t1"
    assert cache.get(KEY, fetch(3600)) == "t1"
    assert cache.get(("https://rest.zuora.com", "other#d"), fetch(0)) == "t2"  # another client: own token
    assert cache.get(("https://rest.zuora.com", "other#d"), fetch(0)) == "t3"  # lifetime 0: expired at once
    assert fetched == ["t1", "t2", "t3"]


def test_invalidate_drops_only_the_token_it_names() -> None:
    cache = TokenCache()
    cache.store(KEY, "new", 60)
    cache.invalidate(KEY, "old")  # a caller that saw the old token fail: the new one stays
    assert cache.peek(KEY) == "new"
    cache.invalidate(KEY, "new")
    assert cache.peek(KEY) is None


def test_many_threads_cause_one_fetch() -> None:
    cache = TokenCache()
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def fetch() -> tuple[str, float]:
        calls.append(1)
        started.set()
        release.wait(5)
        return "tok", 3600

    got: list[str] = []
    threads = [threading.Thread(target=lambda: got.append(cache.get(KEY, fetch))) for _ in range(20)]
    threads[0].start()
    started.wait(5)
    for t in threads[1:]:
        t.start()
    release.set()
    for t in threads:
        t.join(5)
    assert calls == [1] and got == ["tok"] * 20


@pytest.mark.parametrize(
    ("raised", "waiters_get"),
    [
        (ZuoraAuthError(401, "Authentication error"), ZuoraAuthError),
        (KeyboardInterrupt(), ZuoraTransportError),
    ],
)
def test_a_failed_fetch_fails_every_waiting_thread_once_then_a_new_call_fetches_again(
    monkeypatch: pytest.MonkeyPatch, raised: BaseException, waiters_get: type[Exception]
) -> None:
    waiting = threading.Semaphore(0)

    class CountedFuture(Future):  # type: ignore[type-arg]
        def result(self, timeout: float | None = None) -> Any:
            waiting.release()  # a thread parks on the owner's fetch
            return super().result(timeout)

    monkeypatch.setattr(_transport, "Future", CountedFuture)
    cache = TokenCache()
    calls: list[int] = []

    def refused() -> tuple[str, float]:
        calls.append(1)
        for _ in range(9):  # fail only once the other nine threads wait for this fetch
            assert waiting.acquire(timeout=5)
        raise raised

    errors: list[BaseException] = []

    def call() -> None:
        try:
            cache.get(KEY, refused)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=call) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert calls == [1] and len(errors) == 10
    assert errors.count(raised) >= 1  # the owner gets its own error back
    assert all(isinstance(e, waiters_get) for e in errors if e is not raised)  # an error, never an interrupt
    assert len([e for e in errors if isinstance(e, waiters_get)]) >= 9
    assert cache.get(KEY, lambda: ("fresh", 60)) == "fresh"  # failures are not cached


# ---------------------------------------------------------------- tokens, coroutines
async def test_a_thousand_coroutines_cause_one_fetch() -> None:
    cache = TokenCache()
    calls: list[int] = []

    async def fetch() -> tuple[str, float]:
        calls.append(1)
        await asyncio.sleep(0.01)
        return "atok", 3600

    got = await asyncio.gather(*(cache.aget(KEY, fetch) for _ in range(1000)))
    assert set(got) == {"atok"} and calls == [1]


async def test_a_failed_async_fetch_is_one_request_and_fails_every_waiter() -> None:
    cache = TokenCache()
    calls: list[int] = []

    async def refused() -> tuple[str, float]:
        calls.append(1)
        await asyncio.sleep(0.01)
        raise ZuoraAuthError(401, "Authentication error")

    results = await asyncio.gather(*(cache.aget(KEY, refused) for _ in range(1000)), return_exceptions=True)
    assert calls == [1]
    assert all(isinstance(r, ZuoraAuthError) for r in results)

    async def ok() -> tuple[str, float]:
        return "later", 60

    assert await cache.aget(KEY, ok) == "later"


async def test_a_cancelled_caller_does_not_cancel_the_fetch_others_wait_for() -> None:
    cache = TokenCache()
    gate = asyncio.Event()
    calls: list[int] = []

    async def fetch() -> tuple[str, float]:
        calls.append(1)
        await gate.wait()
        return "tok", 3600

    first = asyncio.ensure_future(cache.aget(KEY, fetch))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(cache.aget(KEY, fetch))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    assert await second == "tok"
    assert first.cancelled() and calls == [1]
    assert cache.peek(KEY) == "tok"


# ---------------------------------------------------------------- async clients
async def test_clients_are_shared_per_key_and_reference_counted() -> None:
    pool = AsyncClientPool()
    made: list[httpx.AsyncClient] = []

    def make() -> httpx.AsyncClient:
        made.append(httpx.AsyncClient())
        return made[-1]

    a = pool.acquire(("u", "c1"), make)
    b = pool.acquire(("u", "c1"), make)
    other = pool.acquire(("u", "c2"), make)
    assert a is b and other is not a and len(made) == 2
    await pool.release(("u", "c1"), a)
    assert not a.is_closed
    await pool.release(("u", "c1"), b)
    assert a.is_closed
    assert pool.acquire(("u", "c1"), make) is not a  # a closed client is never handed out again
    assert await pool.aclose_all() == 2
    assert all(c.is_closed for c in made)


def test_each_event_loop_gets_its_own_client() -> None:
    pool = AsyncClientPool()

    async def take() -> httpx.AsyncClient:
        return pool.acquire("k", httpx.AsyncClient)

    first = asyncio.run(take())
    second = asyncio.run(take())
    assert first is not second
