"""The sans-IO core: validation, requests, error parsing, retry decisions (no network)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_zuora import __version__, api, calls
from airflow_provider_zuora.exceptions import (
    ZuoraApiError,
    ZuoraAuthError,
    ZuoraConfigError,
)

H = api.base_headers(entity_ids=None, org_ids=None, track_id=None)


# ---------------------------------------------------------------- parameters
@pytest.mark.parametrize("key", sorted(api.RESERVED_PARAMETER_KEYS))
def test_reserved_keys_are_refused_by_name(key: str) -> None:
    with pytest.raises(ZuoraConfigError, match=f"'{key}' is reserved by Zuora.*rename it"):
        api.validate_parameters({"accountId": "A", key: 1})


def test_reserved_set_is_zuoras() -> None:
    assert {"controller", "action", "id", "user_email", "user_token", "format"} == api.RESERVED_PARAMETER_KEYS


@pytest.mark.parametrize("key", [1, None, ("a",)])
def test_non_string_keys_are_refused(key: Any) -> None:
    with pytest.raises(ZuoraConfigError, match="must be a string"):
        api.validate_parameters({key: 1})


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (object(), "object"),
        ({1, 2}, "set"),
        (b"raw", "bytes"),
        (math.nan, "nan"),
        (math.inf, "inf"),
        (Decimal("NaN"), "NaN"),
        ({"nested": [1, object()]}, "\\['nested'\\]\\[1\\]"),
        ({"nested": {2: "x"}}, "keys must be strings"),
    ],
)
def test_values_that_are_not_json_are_refused_naming_the_key(value: Any, fragment: str) -> None:
    with pytest.raises(ZuoraConfigError, match=fragment) as err:
        api.validate_parameters({"amount": value})
    assert "'amount'" in str(err.value)


def test_dates_datetimes_decimals_and_tuples_become_json() -> None:
    tz = dt.timezone(dt.timedelta(hours=2))
    out = api.validate_parameters(
        {
            "day": dt.date(2026, 11, 28),
            "at": dt.datetime(2026, 11, 28, 10, 30, tzinfo=tz),
            "naive": dt.datetime(2026, 11, 28, 10, 30),
            "amount": Decimal("125.50"),
            "ids": (1, "2"),
            "nested": {"when": dt.date(2026, 1, 2), "ok": True, "n": None, "f": 1.5},
        }
    )
    assert out == {
        "day": "2026-11-28",
        "at": "2026-11-28T10:30:00+02:00",
        "naive": "2026-11-28T10:30:00",
        "amount": "125.50",
        "ids": [1, "2"],
        "nested": {"when": "2026-01-02", "ok": True, "n": None, "f": 1.5},
    }
    json.dumps(out)


def test_none_parameters_are_an_empty_body() -> None:
    assert api.validate_parameters(None) == {}


# ---------------------------------------------------------------- headers
@pytest.mark.parametrize("bad", ["a" * 65, "a:b", "a;b", 'a"b', "a'b", "café", "", "tab\there"])
def test_track_id_rules(bad: str) -> None:
    with pytest.raises(ZuoraConfigError, match="track_id"):
        api.validate_track_id(bad)


def test_track_id_ok() -> None:
    assert api.validate_track_id("a" * 64) == "a" * 64
    assert api.validate_track_id("dag.task.manual__2026-11-28T10_00_00+00_00.1")


@pytest.mark.parametrize("bad", ["", "k" * 256, "ключ", "a\nb"])
def test_idempotency_key_rules(bad: str) -> None:
    with pytest.raises(ZuoraConfigError, match="idempotency_key"):
        api.validate_idempotency_key(bad)


def test_base_headers() -> None:
    headers = api.base_headers(entity_ids="E1", org_ids="O1,O2", track_id="t-1")
    assert headers["Accept-Encoding"] == "gzip"
    assert headers["User-Agent"] == f"airflow-provider-zuora/{__version__}"
    assert (headers["Zuora-Entity-Ids"], headers["Zuora-Org-Ids"], headers["Zuora-Track-Id"]) == (
        "E1",
        "O1,O2",
        "t-1",
    )
    assert "Zuora-Entity-Ids" not in H and "Zuora-Track-Id" not in H and "Authorization" not in H


def test_header_values_must_be_one_line_ascii() -> None:
    with pytest.raises(ZuoraConfigError, match="entity_ids"):
        api.base_headers(entity_ids="E1\r\nX-Evil: 1", org_ids=None, track_id=None)


# ---------------------------------------------------------------- requests
def test_run_request_is_retryable_only_with_a_key_and_sends_it_only_there() -> None:
    plain = api.run_workflow_request(396, {"a": 1}, headers=H)
    keyed = api.run_workflow_request("396", {"a": 1}, idempotency_key="k1", headers=H)
    assert (plain.method, plain.path, plain.json) == ("POST", "/workflows/396/run", {"a": 1})
    assert not plain.retryable and "Idempotency-Key" not in plain.headers
    assert keyed.retryable and keyed.headers["Idempotency-Key"] == "k1"
    for req in (
        api.get_instance_request(1, H),
        api.stop_instance_request(1, H),
        api.get_workflow_request(1, H),
    ):
        assert "Idempotency-Key" not in req.headers and req.retryable


def test_retryable_follows_from_the_method_and_the_key_never_from_a_default() -> None:
    # A new POST endpoint written by copying a GET one must not inherit "retry me".
    assert not api.ApiRequest("POST", "/workflows/tasks/1/rerun").retryable
    assert not api.ApiRequest("PATCH", "/x", headers={"Accept": "application/json"}).retryable
    assert api.ApiRequest("POST", "/x", headers={"Idempotency-Key": "k"}).retryable
    assert all(api.ApiRequest(m, "/x").retryable for m in ("GET", "PUT", "DELETE"))
    assert api.ApiRequest("POST", "/oauth/token", retryable=True).retryable  # said explicitly
    assert not api.ApiRequest("GET", "/x", retryable=False).retryable
    a, b = api.ApiRequest("GET", "/x", params={"p": 1}), api.ApiRequest("GET", "/x", params={"p": 1})
    assert a == b and a != api.ApiRequest("GET", "/y") and "path='/x'" in repr(a)


def test_paths_and_ids() -> None:
    assert api.get_instance_request(400, H).path == "/workflows/workflow_runs/400"
    assert api.get_instance_request("400", H).path == "/workflows/workflow_runs/400"
    assert api.stop_instance_request(400, H).path == "/workflows/workflow_runs/400/stop"
    assert api.stop_instance_request(400, H).method == "PUT"
    assert api.get_instance_request("a/b", H).path == "/workflows/workflow_runs/a%2Fb"  # never a path escape
    req = api.list_tasks_request(400, 2, H)
    assert (req.path, req.params) == (
        "/workflows/tasks",
        {"workflow_id": "400", "instance": "true", "page": 2, "page_length": 100},
    )
    assert api.list_workflows_request(H).params == {"page": 1, "page_length": 1}


@pytest.mark.parametrize("bad", [None, "", "None", " ", 1.5, True])
def test_bad_ids_are_refused_naming_the_field(bad: Any) -> None:
    with pytest.raises(ZuoraConfigError, match="instance_id"):
        api.get_instance_request(bad, H)


def test_body_encoding_gzips_only_large_bodies() -> None:
    small, headers = api.encode_body({"a": 1})
    assert (small, headers) == (b'{"a":1}', {})
    big = {"a": "x" * 5000}
    raw, headers = api.encode_body(big)
    assert headers == {"Content-Encoding": "gzip"} and json.loads(gzip.decompress(raw)) == big
    assert api.encode_body(None) == (None, {})


def test_token_form() -> None:
    assert api.token_form("id", "sec") == {
        "client_id": "id",
        "client_secret": "sec",
        "grant_type": "client_credentials",
    }


# ---------------------------------------------------------------- responses
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"errors": [{"status": 400, "code": "invalid", "title": "Callout mode is not turned on."}]},
            "Callout mode",
        ),
        (
            {"success": False, "reasons": [{"code": 53100320, "message": "Bad thing"}]},
            "Bad thing (code 53100320)",
        ),
        (
            {"reasons": [{"code": 70, "message": "API Rate limit exceeded"}]},
            "API Rate limit exceeded (code 70)",
        ),
        ({"message": "Authentication error"}, "Authentication error"),
        ({"code": 50000040, "message": "No permission"}, "No permission"),
    ],
)
def test_error_shapes(body: dict[str, Any], message: str) -> None:
    err = api.api_error(400, {"Zuora-Request-Id": "rid", "Zuora-Track-Id": "tid"}, json.dumps(body))
    assert message in err.message
    assert (err.status_code, err.request_id, err.track_id) == (400, "rid", "tid")
    assert "rid" in str(err)


def test_raw_and_empty_error_bodies() -> None:
    assert api.api_error(502, {}, "<html>Bad Gateway</html>").message == "<html>Bad Gateway</html>"
    assert api.api_error(504, {}, "").message == "(empty body)"


def test_read_response() -> None:
    assert api.read_response(200, {}, '{"id": 1}') == {"id": 1}
    assert api.read_response(204, {}, "") is None
    with pytest.raises(ZuoraApiError, match="not JSON"):
        api.read_response(200, {}, "<html>")
    with pytest.raises(ZuoraApiError) as err:
        api.read_response(404, {}, '{"message": "nope"}')
    assert err.value.status_code == 404


def test_401_from_the_token_call_is_an_auth_error_unless_passing() -> None:
    assert isinstance(
        api.api_error(401, {}, '{"message": "Authentication error"}', token_call=True), ZuoraAuthError
    )
    passing = api.api_error(401, {}, '{"message": "Failed to get user info"}', token_call=True)
    assert not isinstance(passing, ZuoraAuthError)
    on_api = api.api_error(401, {}, '{"message": "Authentication error"}')
    assert not isinstance(on_api, ZuoraAuthError) and calls.classify(on_api) == calls.EXPIRED


def test_retry_after() -> None:
    assert api.retry_after_seconds({"Retry-After": "120"}) == 120
    assert api.retry_after_seconds({"retry-after": "0"}) == 0
    now = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.timezone.utc)
    assert api.retry_after_seconds({"Retry-After": "Sat, 28 Nov 2026 12:00:30 GMT"}, now) == 30
    assert api.retry_after_seconds({"Retry-After": "soon"}) is None
    assert api.retry_after_seconds({}) is None
    err = api.api_error(429, {"Retry-After": "7"}, '{"reasons": []}')
    assert err.retry_after == 7 and err.retryable


def test_token_answer() -> None:
    assert api.read_token({"access_token": "t", "expires_in": 3599}) == ("t", 3599)
    with pytest.raises(ZuoraApiError):
        api.read_token({"token_type": "bearer"})
    assert api.token_lifetime(3599) == 3539  # refreshed a minute early
    assert api.token_lifetime(10) == 9  # short tokens: 10 % early


def test_next_page() -> None:
    assert api.next_page({"pagination": {"next_page": "http://x?page=2"}}, 1) == 2
    assert api.next_page({"pagination": {"next_page": None}}, 3) is None
    assert api.next_page({"data": []}, 1) is None


# ---------------------------------------------------------------- edges of the rules above
UTC = dt.timezone.utc


def test_error_message_reads_each_shape_and_joins_several_entries() -> None:
    errors = {"errors": [{"title": "A"}, {"detail": "B"}, {"code": "C"}], "message": "ignored"}
    assert api.error_message(errors, "") == "A; B; C"
    reasons = {"success": False, "reasons": [{"code": 1, "message": "x"}, {"message": "y"}, {"code": 2}]}
    assert api.error_message(reasons, "") == "x (code 1); y; 2"
    assert api.error_message({"message": "Authentication error"}, "") == "Authentication error"


@pytest.mark.parametrize(
    ("body", "text", "message"),
    [
        (None, "  <html>Bad Gateway</html>\n", "<html>Bad Gateway</html>"),
        (["a", "list"], '["a", "list"]', '["a", "list"]'),
        ({"success": False}, '{"success": false}', '{"success": false}'),
        ({"errors": ["not an object"]}, '{"errors": ["not an object"]}', '{"errors": ["not an object"]}'),
        (None, "x" * 900, "x" * 500),
        (None, " \n", "(empty body)"),
    ],
)
def test_error_message_falls_back_to_the_raw_text(body: Any, text: str, message: str) -> None:
    assert api.error_message(body, text) == message


def test_an_empty_reason_does_not_become_the_message_none() -> None:
    text = '{"success": false, "reasons": [{}]}'
    assert api.error_message(json.loads(text), text) == text


def test_api_error_reads_headers_in_any_case_and_keeps_the_body() -> None:
    headers = {"zuora-request-id": "rid", "ZUORA-TRACK-ID": "tid", "retry-after": "4"}
    err = api.api_error(503, headers, '{"message": "busy"}')
    assert (err.request_id, err.track_id, err.retry_after, err.body) == ("rid", "tid", 4, {"message": "busy"})
    assert api.api_error(502, {}, "<html>").body == "<html>"
    assert type(api.api_error(403, {}, '{"message": "no"}', token_call=True)) is ZuoraApiError
    passing = api.api_error(401, {}, '{"message": "FAILED TO GET USER INFO"}', token_call=True)
    assert type(passing) is ZuoraApiError and passing.retryable


def test_read_response_treats_a_blank_2xx_body_as_none() -> None:
    assert api.read_response(200, {}, "  \n") is None
    assert api.read_response(201, {}, "[1, 2]") == [1, 2]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("-5", 0), ("1.5", 1.5), ("", None), ("Sun, 06 Nov 1994 08:49:37 GMT", 0)],  # a date in the past: now
)
def test_retry_after_is_never_negative(value: str, seconds: float | None) -> None:
    assert api.retry_after_seconds({"Retry-After": value}) == seconds


def test_retry_after_reads_the_rfc850_date_form() -> None:
    now = dt.datetime(1994, 11, 6, 8, 49, 0, tzinfo=UTC)
    assert api.retry_after_seconds({"Retry-After": "Sunday, 06-Nov-94 08:49:37 GMT"}, now) == 37


@pytest.mark.parametrize("value", ["Sun Nov  6 08:49:37 1994", "Sun, 06 Nov 1994 08:49:37 -0000"])
def test_retry_after_reads_the_asctime_date_form(value: str) -> None:
    now = dt.datetime(1994, 11, 6, 8, 49, 0, tzinfo=UTC)
    assert api.retry_after_seconds({"Retry-After": value}, now) == 37


@pytest.mark.parametrize(
    ("expires_in", "lifetime"), [(3599, 3539), (600, 540), (100, 90), (10, 9), (0, 0), (-5, 0)]
)
def test_token_lifetime(expires_in: float, lifetime: float) -> None:
    assert api.token_lifetime(expires_in) == lifetime


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"access_token": "t"}, ("t", 3599)),
        ({"access_token": "t", "expires_in": "120"}, ("t", 120)),
        ({"access_token": "t", "expires_in": None}, ("t", 3599)),
        ({"access_token": "t", "expires_in": "soon"}, ("t", 3599)),
    ],
)
def test_read_token_defaults_a_missing_or_odd_lifetime(
    body: dict[str, Any], expected: tuple[str, float]
) -> None:
    assert api.read_token(body) == expected


@pytest.mark.parametrize("body", [None, [], "tok", {"access_token": ""}, {"access_token": None}])
def test_read_token_refuses_an_answer_without_a_token(body: Any) -> None:
    with pytest.raises(ZuoraApiError, match="no access_token"):
        api.read_token(body)


@pytest.mark.parametrize(
    ("body", "page", "following"),
    [
        ({"pagination": {"next_page": "/workflows/tasks?page=8"}}, 7, 8),
        ({"pagination": {"next_page": ""}}, 1, None),
        ({"pagination": "p2"}, 1, None),
        ([{"pagination": {"next_page": "x"}}], 1, None),
        (None, 1, None),
    ],
)
def test_next_page_edges(body: Any, page: int, following: int | None) -> None:
    assert api.next_page(body, page) == following


def test_list_tasks_request() -> None:
    req = api.list_tasks_request(" 400 ", 3, {"X": "1"})
    assert (req.method, req.path, req.retryable, req.json) == ("GET", "/workflows/tasks", True, None)
    assert req.params == {"workflow_id": "400", "instance": "true", "page": 3, "page_length": 100}
    assert req.headers == {"X": "1"}
    for bad in (None, "", "None"):
        with pytest.raises(ZuoraConfigError, match="instance_id"):
            api.list_tasks_request(bad, 1, H)  # type: ignore[arg-type]


def test_run_request_body_headers_and_validation() -> None:
    given = {"Accept": "application/json"}
    req = api.run_workflow_request(
        "a b", {"on": dt.date(2026, 1, 2), "amount": Decimal("1.10")}, headers=given
    )
    assert req.path == "/workflows/a%20b/run"
    assert req.json == {"on": "2026-01-02", "amount": "1.10"}
    assert req.headers == {"Accept": "application/json", "Content-Type": "application/json"}
    assert given == {"Accept": "application/json"}  # the caller's mapping is left alone
    assert api.run_workflow_request(1, None, headers=H).json == {}
    with pytest.raises(ZuoraConfigError, match="idempotency_key"):
        api.run_workflow_request(1, {}, idempotency_key="k" * 256, headers=H)
    with pytest.raises(ZuoraConfigError, match="workflow_id"):
        api.run_workflow_request("None", {}, headers=H)


def test_get_workflow_request() -> None:
    req = api.get_workflow_request(396, H)
    assert (req.method, req.path, req.retryable) == ("GET", "/workflows/396", True)
    with pytest.raises(ZuoraConfigError, match="workflow_id"):
        api.get_workflow_request("", H)


def test_idempotency_key_limits() -> None:
    assert api.validate_idempotency_key("k" * 255) == "k" * 255
    assert api.validate_idempotency_key(None) is None
    with pytest.raises(ZuoraConfigError, match="idempotency_key"):
        api.validate_idempotency_key(123)  # type: ignore[arg-type]


def test_track_id_none_and_type() -> None:
    assert api.validate_track_id(None) is None
    with pytest.raises(ZuoraConfigError, match="track_id must be a string"):
        api.validate_track_id(123)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "segment"), [(0, "0"), (" 400 ", "400"), ("WF-1", "WF-1"), ("a?b#c", "a%3Fb%23c")]
)
def test_ids_become_safe_path_segments(value: Any, segment: str) -> None:
    assert api.normalize_id(value, "instance_id") == segment


@pytest.mark.parametrize("bad", ["null", "NULL", " None ", False, 4.0, b"4", None])
def test_more_bad_ids(bad: Any) -> None:
    with pytest.raises(ZuoraConfigError, match="workflow_id"):
        api.normalize_id(bad, "workflow_id")


@pytest.mark.parametrize("bad", [".", ".."])
def test_dot_ids_are_refused(bad: str) -> None:
    with pytest.raises(ZuoraConfigError, match="instance_id"):
        api.stop_instance_request(bad, H)


def test_parameters_must_be_a_mapping() -> None:
    with pytest.raises(ZuoraConfigError, match="parameters must be a dict, got list"):
        api.validate_parameters([("a", 1)])  # type: ignore[arg-type]


def test_reserved_names_are_refused_only_at_the_top_level() -> None:
    out = api.validate_parameters({"data": {"id": 1, "format": "csv"}, "rows": [{"action": "x"}]})
    assert out == {"data": {"id": 1, "format": "csv"}, "rows": [{"action": "x"}]}


def test_values_keep_their_json_types() -> None:
    utc_time = dt.datetime(2026, 11, 28, 10, 30, 5, 123456, tzinfo=UTC)
    out = api.validate_parameters(
        {
            "flag": True,
            "big": 2**70,
            "rows": [(1, (2, 3)), {"d": Decimal("-0.00")}],
            "at": utc_time,
            "sci": Decimal("1E+2"),
        }
    )
    assert out == {
        "flag": True,
        "big": 2**70,
        "rows": [[1, [2, 3]], {"d": "-0.00"}],
        "at": "2026-11-28T10:30:05.123456+00:00",
        "sci": "1E+2",
    }
    assert out["flag"] is True
    with pytest.raises(ZuoraConfigError, match=r"'n'.*Infinity"):
        api.validate_parameters({"n": Decimal("Infinity")})


def test_gzip_starts_just_over_1_kib_and_is_byte_stable() -> None:
    at_limit = {"a": "x" * (api.GZIP_REQUEST_MIN_BYTES - 8)}  # '{"a":""}' is 8 bytes
    raw, headers = api.encode_body(at_limit)
    assert len(raw or b"") == api.GZIP_REQUEST_MIN_BYTES and headers == {}
    over = {"a": "x" * (api.GZIP_REQUEST_MIN_BYTES - 7)}
    first, headers = api.encode_body(over)
    assert headers == {"Content-Encoding": "gzip"} and json.loads(gzip.decompress(first or b"")) == over
    assert api.encode_body(over)[0] == first  # a retried request sends the same bytes


def test_empty_header_values_are_dropped_and_values_trimmed() -> None:
    headers = api.base_headers(entity_ids="  E1  ", org_ids="", track_id=None)
    assert headers["Zuora-Entity-Ids"] == "E1" and "Zuora-Org-Ids" not in headers
    with pytest.raises(ZuoraConfigError, match="org_ids"):
        api.base_headers(entity_ids=None, org_ids="O1\nO2", track_id=None)
    with pytest.raises(ZuoraConfigError, match="org_ids"):
        api.base_headers(entity_ids=None, org_ids="Orgé", track_id=None)


def test_header_values_with_control_characters_are_refused() -> None:
    with pytest.raises(ZuoraConfigError, match="entity_ids"):
        api.base_headers(entity_ids="E1\x00", org_ids=None, track_id=None)
