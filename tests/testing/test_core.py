"""The core in-process, without the Workflow service: tokens, idempotency store, limits, faults, log."""

from __future__ import annotations

import json

import pytest

from airflow_provider_zuora.testing.core import EmulatorCore, StoredResponse, renamed
from airflow_provider_zuora.testing.errors import EmulatorError
from airflow_provider_zuora.testing.records import RequestRecord
from airflow_provider_zuora.testing.settings import Settings

CREDS = {"client_id": "00000000-0000-4000-8000-000000000001", "client_secret": "emulator-client-secret"}
GRANT = {**CREDS, "grant_type": "client_credentials"}


@pytest.fixture
def c() -> EmulatorCore:
    return EmulatorCore()


# ---- tokens ----
def test_tokens_expire_on_the_emulated_clock(c):
    c.configure(token_lifetime=60)
    token = c.issue_token(GRANT)
    assert token["expires_in"] == 59 and token["token_type"] == "bearer"
    assert c.check_token(token["access_token"])
    c.advance_clock(61)
    assert not c.check_token(token["access_token"])
    assert not c.check_token("made-up")
    assert c.tokens_issued == 1


def test_expire_tokens_invalidates_all(c):
    tokens = [c.issue_token(GRANT)["access_token"] for _ in range(3)]
    assert c.expire_tokens() == 3
    assert not any(c.check_token(t) for t in tokens)
    assert c.tokens_issued == 3


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({**GRANT, "client_secret": "wrong"}, 401),
        ({**GRANT, "client_id": "wrong"}, 401),
        ({"grant_type": "client_credentials"}, 401),
        ({**CREDS, "grant_type": "password"}, 400),
    ],
)
def test_bad_token_requests(c, form, status):
    with pytest.raises(EmulatorError) as err:
        c.issue_token(form)
    assert err.value.status == status
    assert c.tokens_issued == 0


# ---- idempotency ----
def test_idempotency_store_lifecycle(c):
    assert c.idempotency_begin("k", "POST", "/workflows/396/run") == ("new", None)
    assert c.idempotency_state("k") == "in_progress"
    assert c.idempotency_begin("k", "POST", "/workflows/396/run") == ("busy", None)
    assert c.idempotency_begin("k", "POST", "/workflows/397/run") == ("mismatch", None)
    stored = StoredResponse(200, [], b"{}")
    c.idempotency_finish("k", stored)
    assert c.idempotency_begin("k", "POST", "/workflows/396/run") == ("replay", stored)
    assert c.idempotency_begin("k", "PATCH", "/workflows/396/run") == ("mismatch", None)
    c.advance_clock(24 * 3600 - 5)
    assert c.idempotency_state("k") == "stored"
    c.advance_clock(10)
    assert c.idempotency_state("k") is None
    assert c.idempotency_begin("k", "POST", "/workflows/396/run") == ("new", None)
    c.idempotency_finish("k", None)  # released: the key is free again
    assert c.idempotency_state("k") is None


# ---- rate limits ----
def test_rate_window_counts_per_emulated_minute(c):
    c.configure(rate_limit=2)
    c.freeze_clock()
    verdicts = [c.rate_check() for _ in range(3)]
    assert [v.allowed for v in verdicts] == [True, True, False]
    assert [v.remaining for v in verdicts] == [1, 0, 0]
    assert 1 <= verdicts[2].reset <= 60
    assert c.rate_check("token").allowed  # tokens have their own window
    c.advance_clock(60)
    assert c.rate_check().allowed


def test_a_shorter_rate_window_resets_sooner_and_says_so(c):
    c.configure(rate_limit=1, rate_window=5)
    c.freeze_clock()
    assert c.rate_check().allowed
    refused = c.rate_check()
    assert not refused.allowed and 1 <= refused.reset <= 5
    c.advance_clock(refused.reset)
    assert c.rate_check().allowed


def test_unlimited_rate_still_reports_headers(c):
    verdict = c.rate_check()
    assert verdict.allowed and verdict.limit == 50_000 and verdict.remaining == 49_999


# ---- faults ----
def test_faults_match_by_method_and_glob_and_are_consumed(c):
    fault = c.inject_fault(method="post", path="/workflows/*/run", status=503, count=2)
    assert c.take_fault("GET", "/workflows/396/run") is None
    assert c.take_fault("POST", "/workflows") is None
    assert c.take_fault("POST", "/workflows/396/run") is fault
    assert c.take_fault("POST", "/workflows/397/run") is fault
    assert c.take_fault("POST", "/workflows/396/run") is None
    assert fault.hits == 2 and c.faults == []


def test_regex_faults_and_unbounded_faults(c):
    fault = c.inject_fault(path=r"re:/workflows/workflow_runs/\d+", status=500, count=None)
    for _ in range(5):
        assert c.take_fault("GET", "/workflows/workflow_runs/1000") is fault
    assert c.take_fault("GET", "/workflows/workflow_runs/abc") is None
    c.clear_faults()
    assert c.take_fault("GET", "/workflows/workflow_runs/1000") is None


def test_faults_are_matched_first_in_first_out_and_numbered(c):
    first = c.inject_fault(status=500)
    second = c.inject_fault("GET", "/x", 502)  # positionally: method, path, status, as before
    assert (first.id, second.id) == (1, 2)
    assert c.take_fault("GET", "/x") is first
    assert c.take_fault("GET", "/x") is second


def test_faults_are_matched_by_stage(c):
    after = c.inject_fault(status=502, when="after")
    assert c.take_fault("GET", "/x", "before") is None
    assert c.take_fault("GET", "/x", "after") is after


# ---- request log and requests in flight ----
def _record(method: str, path: str) -> RequestRecord:
    return RequestRecord(seq=0, time=0.0, method=method, path=path, query="", headers={}, body=None)


def test_request_log_numbers_filters_and_keeps_the_newest():
    c = EmulatorCore(Settings(request_log_size=2))
    for method, path in [("GET", "/a"), ("POST", "/b/run"), ("GET", "/b/1")]:
        c.log_request(_record(method, path))
    assert [r.seq for r in c.request_log] == [2, 3]
    assert [r.path for r in c.requests(method="get")] == ["/b/1"]
    assert [r.path for r in c.requests(path="/b/*")] == ["/b/run", "/b/1"]
    assert [r.path for r in c.requests(path=r"re:/b/\d+")] == ["/b/1"]
    c.clear_request_log()
    assert c.request_log == []


def test_inflight_counts_and_wait_idle(c):
    c.request_started()
    assert c.inflight == 1 and not c.wait_idle(timeout=0.05)
    c.reset()  # the count is the server's, not the test's state: kept
    assert c.inflight == 1
    c.request_finished()
    assert c.inflight == 0 and c.wait_idle(timeout=0.05)


# ---- settings, reset, state ----
def test_reset_restores_initial_settings_and_clears_the_state(c):
    c.configure(rate_limit=1)
    c.issue_token(GRANT)
    c.inject_fault(status=500)
    c.log_request(_record("GET", "/a"))
    c.advance_clock(100)
    c.reset()
    assert c.config.rate_limit is None
    assert (c.tokens_issued, c.faults, c.request_log) == (0, [], [])
    assert c.state(log=False)["clock_offset"] == 0
    with pytest.raises(ValueError, match="unknown emulator setting 'speed'"):
        c.configure(speed=2)


def test_state_is_json_ready_and_has_no_secrets(c):
    token = c.issue_token(GRANT)["access_token"]
    state = c.state()
    assert list(state) == [
        "now", "clock_offset", "clock_frozen", "tokens_issued", "active_tokens", "inflight", "faults",
        "request_log",
    ]  # fmt: skip
    text = json.dumps(state)
    assert token not in text and "emulator-client-secret" not in text
    assert "emulator-client-secret" not in repr(c.config)


# ---- renamed attributes ----
class _Thing:
    def new(self) -> str:
        return "new"

    old = renamed("new")


def test_a_renamed_attribute_reads_and_monkeypatches_the_new_one(monkeypatch):
    thing = _Thing()
    assert thing.old() == "new"
    monkeypatch.setattr(thing, "old", lambda: "patched")
    assert thing.new() == "patched" and thing.old() == "patched"
    monkeypatch.undo()
    assert thing.new() == "new" and "new" not in vars(thing)
