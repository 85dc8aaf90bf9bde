"""Request-log records: secrets redacted from headers and bodies before anything is kept."""

from __future__ import annotations

from airflow_provider_zuora.testing.records import RequestRecord, body_for_log, redact_fields, redact_headers


def test_redaction_keeps_the_scheme_but_not_the_secret():
    headers = redact_headers(
        {"authorization": "Bearer abc.def", "proxy-authorization": "opaque", "x-other": "v"}
    )
    assert headers == {"authorization": "Bearer ***", "proxy-authorization": "***", "x-other": "v"}
    assert redact_fields({"client_secret": "s", "Password": "p", "client_id": "c"}) == {
        "client_secret": "***",
        "Password": "***",
        "client_id": "c",
    }
    assert redact_fields(["client_secret"]) == ["client_secret"]


def test_bodies_are_parsed_for_the_log_and_redacted():
    form = body_for_log(b"client_id=c&client_secret=s&grant_type=", "application/x-www-form-urlencoded")
    assert form == {"client_id": "c", "client_secret": "***", "grant_type": ""}
    assert body_for_log(b'{"access_token": "t", "a": 1}', "application/json") == {
        "access_token": "***",
        "a": 1,
    }
    assert body_for_log(b'["x"]', "") == ["x"]  # looks like JSON without saying so
    assert body_for_log(b"{oops", "application/json") == "{oops"
    assert body_for_log(b"", "application/json") is None
    assert body_for_log(b"x" * 30_000, "text/plain") == "x" * 20_000


def test_a_record_is_json_ready():
    record = RequestRecord(seq=1, time=0.0, method="GET", path="/w", query="", headers={}, body=None)
    assert record.to_dict()["outcome"] == "ok" and record.to_dict()["fault_id"] is None
