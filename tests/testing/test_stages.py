"""Each gateway stage in-process: given a request, it passes (None) or answers, as Zuora's gateway would."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_zuora.testing import stages
from airflow_provider_zuora.testing.backend import ZuoraBackend
from airflow_provider_zuora.testing.gateway import Answer, Exchange, ZuoraGateway

CLIENT = ("127.0.0.1", 5555)
GRANT = {
    "client_id": "00000000-0000-4000-8000-000000000001",
    "client_secret": "emulator-client-secret",
    "grant_type": "client_credentials",
}


class FakeTransport:
    aborted = False

    def abort(self) -> None:
        self.aborted = True


async def ok_route(scope: Any, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"routed " + scope["zuora.body"]})


@pytest.fixture
def backend() -> ZuoraBackend:
    return ZuoraBackend()


@pytest.fixture
def transport() -> FakeTransport:
    return FakeTransport()


@pytest.fixture
def make(backend: ZuoraBackend, transport: FakeTransport) -> Callable[..., Exchange]:
    gateway = ZuoraGateway(ok_route, backend, {CLIENT: transport}, stages.STAGES)

    def make(method: str = "GET", path: str = "/workflows", body: bytes = b"", **headers: str) -> Exchange:
        scope = {
            "type": "http", "method": method, "path": path, "query_string": b"", "client": CLIENT,
            "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
        }  # fmt: skip

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Any) -> None:
            raise AssertionError("a stage never sends")

        return Exchange(scope, receive, send, gateway)

    return make


def _token(backend: ZuoraBackend) -> str:
    return "Bearer " + backend.issue_token(GRANT)["access_token"]


def _json(answer: Answer | None) -> Any:
    assert answer is not None
    return json.loads(answer.body)


def test_the_stages_run_in_zuoras_order():
    assert [s.__name__ for s in stages.STAGES] == [
        "log", "faults_before", "reject_bad_gzip", "check_track_id", "limit_concurrency", "limit_rate",
        "authenticate", "reserve_idempotency_key", "faults_during", "route", "store_idempotent_answer",
        "faults_after",
    ]  # fmt: skip


async def test_a_good_request_passes_every_stage_and_gets_the_route_answer(make, backend):
    ex = make("POST", "/workflows/396/run", b"{}", authorization=_token(backend), idempotency_key="k")
    for stage in stages.STAGES:
        assert await stage(ex) is None, stage.__name__
    assert ex.response == Answer(200, [(b"content-type", b"text/plain")], b"routed {}", "ok")
    assert backend.idempotency_state("k") == "stored"


# ---- log ----
async def test_log_enters_the_request_with_its_body_redacted(make, backend):
    body = b"client_id=c&client_secret=s"
    ex = make("POST", "/oauth/token", body, content_type="application/x-www-form-urlencoded")
    assert await stages.log(ex) is None
    (entry,) = backend.request_log
    assert entry is ex.record and entry.seq == 1
    assert entry.body == {"client_id": "c", "client_secret": "***"} and ex.body == body


async def test_log_reads_gzip_bodies_and_notes_bad_ones(make):
    ex = make(
        "POST", "/w", gzip.compress(b'{"a": 1}'), content_encoding="gzip", content_type="application/json"
    )
    await stages.log(ex)
    assert (ex.body, ex.record.body, ex.bad_gzip) == (b'{"a": 1}', {"a": 1}, False)
    bad = make("POST", "/w", b"not gzip", content_encoding="gzip")
    await stages.log(bad)
    assert (bad.record.body, bad.bad_gzip) == ("<bad gzip>", True)
    assert (await stages.reject_bad_gzip(bad)).status == 400
    assert await stages.reject_bad_gzip(ex) is None


# ---- faults at each stage ----
async def test_fault_stages_pass_without_a_fault_and_answer_with_one(make, backend):
    ex = make()
    assert await stages.faults_before(ex) is None
    fault = backend.inject_fault(path="/workflows", status=503)
    answer = await stages.faults_before(ex)
    assert answer is not None and (answer.status, answer.outcome) == (503, "fault")
    assert ex.record.fault_id == fault.id
    backend.inject_fault(path="/workflows", status=502, when="after")
    assert await stages.faults_during(ex) is None  # not this stage's fault
    assert (await stages.faults_after(ex)).status == 502


async def test_a_drop_fault_closes_the_connection(make, backend, transport):
    ex = make()
    backend.inject_fault(drop=True)
    answer = await stages.faults_before(ex)
    assert answer is not None and answer.outcome == "dropped" and transport.aborted
    assert (ex.record.outcome, ex.record.status) == ("dropped", None)


async def test_a_truncate_gzip_fault_lets_the_request_go_on_with_its_answer_to_be_broken(make, backend):
    ex = make()
    backend.inject_fault(truncate_gzip=True, when="during")
    assert await stages.faults_during(ex) is None and ex.encoder is not None


async def test_faults_during_do_not_apply_to_a_replay(make, backend):
    ex = make("POST", "/w")
    ex.response = Answer(200, [], b"{}", "replayed")
    backend.inject_fault(status=500, when="during")
    assert await stages.faults_during(ex) is None and len(backend.faults) == 1


# ---- track id, limits, auth ----
@pytest.mark.parametrize(
    ("value", "passes"), [(None, True), ("dag.task-1", True), ("a:b", False), ("x" * 65, False)]
)
async def test_check_track_id(make, value, passes):
    ex = make(**({"zuora_track_id": value} if value else {}))
    answer = await stages.check_track_id(ex)
    if passes:
        assert answer is None and ex.track_id == value
    else:
        assert answer is not None and answer.status == 400 and _json(answer)["reasons"][0]["code"] == 90000011
        assert ex.track_id is None  # an invalid track id is not echoed


async def test_limit_concurrency_counts_the_other_requests_in_flight(make, backend):
    backend.configure(concurrency_limit=1)
    backend.request_started()  # this request
    assert await stages.limit_concurrency(make()) is None
    backend.request_started()  # and one more
    answer = await stages.limit_concurrency(make())
    assert answer is not None and answer.status == 429 and (b"retry-after", b"120") in answer.headers
    assert await stages.limit_concurrency(make("POST", "/oauth/token")) is None  # token calls: not limited


async def test_limit_rate_sets_the_headers_and_answers_429_past_the_limit(make, backend):
    backend.configure(rate_limit=1)
    backend.freeze_clock()
    first = make()
    assert await stages.limit_rate(first) is None
    assert dict(first.rate_headers)[b"ratelimit-remaining"] == b"0"
    answer = await stages.limit_rate(make())
    assert answer is not None and answer.status == 429 and _json(answer)["reasons"][0]["code"] == 70
    assert await stages.limit_rate(make("POST", "/oauth/token")) is None  # its own window


async def test_authenticate(make, backend):
    assert await stages.authenticate(make("POST", "/oauth/token")) is None
    assert await stages.authenticate(make(authorization=_token(backend))) is None
    for headers in ({}, {"authorization": "Bearer made-up"}, {"authorization": "Basic abc"}):
        answer = await stages.authenticate(make(**headers))
        assert answer is not None and (answer.status, answer.body) == (
            401,
            b'{"message": "Authentication error"}',
        )


# ---- idempotency ----
async def test_idempotency_key_is_only_for_post_and_patch(make, backend):
    assert await stages.reserve_idempotency_key(make("GET", idempotency_key="k")) is None
    assert backend.idempotency_state("k") is None


async def test_idempotency_key_reserve_busy_mismatch_and_too_long(make, backend):
    ex = make("POST", "/w", idempotency_key="k")
    assert await stages.reserve_idempotency_key(ex) is None and ex.idempotency_key == "k"
    assert backend.idempotency_state("k") == "in_progress"
    busy = await stages.reserve_idempotency_key(make("POST", "/w", idempotency_key="k"))
    assert busy is not None and busy.status == 409
    other = await stages.reserve_idempotency_key(make("POST", "/v", idempotency_key="k"))
    assert other is not None and other.status == 422
    long = await stages.reserve_idempotency_key(make("POST", "/w", idempotency_key="k" * 256))
    assert long is not None and long.status == 400
    for cleanup in ex.cleanups:  # the request ended without an answer from the route: the key is free
        cleanup()
    assert backend.idempotency_state("k") is None


async def test_store_keeps_the_answer_and_a_later_request_gets_it_replayed(make, backend):
    ex = make("POST", "/w", idempotency_key="k")
    await stages.reserve_idempotency_key(ex)
    await stages.route(ex)
    assert await stages.store_idempotent_answer(ex) is None and ex.idempotency_key is None
    again = make("POST", "/w", idempotency_key="k")
    assert await stages.reserve_idempotency_key(again) is None
    assert again.response is not None and again.response.outcome == "replayed"
    assert (b"idempotent-replayed", b"true") in again.response.headers and again.response.body == b"routed "
    await stages.route(again)  # a replay does not reach the route again
    assert again.response.outcome == "replayed"


async def test_a_5xx_answer_is_not_kept_for_the_key(make, backend):
    ex = make("POST", "/w", idempotency_key="k")
    await stages.reserve_idempotency_key(ex)
    ex.response = Answer(503, [], b"", "ok")
    await stages.store_idempotent_answer(ex)
    assert backend.idempotency_state("k") is None
