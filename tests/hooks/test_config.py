"""A zuora connection read into ZuoraConfig (hooks/_config.py), directly and through ZuoraHook and
Airflow's Connection (``AIRFLOW_CONN_`` JSON); the hook's own arguments."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from airflow_provider_zuora.environments import ENVIRONMENTS
from airflow_provider_zuora.exceptions import ZuoraConfigError
from airflow_provider_zuora.get_provider_info import get_provider_info
from airflow_provider_zuora.hooks._config import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_TIMEOUT,
    ZuoraConfig,
    config_from_connection,
)
from airflow_provider_zuora.hooks.zuora import ZuoraHook


class Conn:
    """The attributes of an Airflow Connection that the config reads."""

    def __init__(self, **kwargs: Any) -> None:
        self.conn_id = kwargs.get("conn_id", "zuora_x")
        self.host = kwargs.get("host", "https://rest.zuora.com")
        self.schema = kwargs.get("schema")
        self.port = kwargs.get("port")
        self.login = kwargs.get("login", "cid")
        self.password = kwargs.get("password", "csecret-value")
        self.extra_dejson = kwargs.get("extra", {})


def use_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str = "zuora_default", **conn: Any) -> None:
    """A connection as ``AIRFLOW_CONN_<ID>`` JSON; client id and secret filled in unless given."""
    conn.setdefault("conn_type", "zuora")
    conn.setdefault("login", "cid")
    conn.setdefault("password", "csecret")
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def test_defaults_without_extras() -> None:
    cfg = config_from_connection(Conn())
    assert (cfg.timeout, cfg.max_attempts, cfg.entity_ids, cfg.org_ids) == (
        DEFAULT_TIMEOUT,
        DEFAULT_MAX_ATTEMPTS,
        None,
        None,
    )
    assert (cfg.base_url, cfg.client_id, cfg.client_secret) == (
        "https://rest.zuora.com",
        "cid",
        "csecret-value",
    )


def test_extras_given_apart_from_the_connection_win() -> None:
    """Async callers decode the extra themselves (``aextra_dejson``) and pass it in."""
    cfg = config_from_connection(Conn(extra={"timeout": 1}), {"timeout": 7, "org_ids": "O1"})
    assert (cfg.timeout, cfg.org_ids) == (7, "O1")


def test_a_url_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(ZuoraConfigError, match="must not carry a user name or password") as err:
        config_from_connection(Conn(host="https://user:hunter2-pass@rest.zuora.com"))
    assert "hunter2-pass" not in str(err.value) and "'zuora_x'" in str(err.value)


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"max_attempts": "2.5"}, "whole number"),
        ({"max_attempts": -1}, "must be > 0"),
        ({"timeout": "inf"}, "must be > 0"),
        ({"timeout": "nan"}, "must be > 0"),
    ],
)
def test_bad_numbers_in_extras_are_refused(extra: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ZuoraConfigError, match=fragment):
        config_from_connection(Conn(extra=extra))


def test_repr_hides_the_secret_and_overrides_replace_only_what_is_given() -> None:
    cfg = config_from_connection(Conn(extra={"timeout": 5, "max_attempts": 9}))
    assert "csecret-value" not in repr(cfg)
    assert cfg.with_overrides(timeout=None, max_attempts=None) == cfg
    both = cfg.with_overrides(timeout=1.5, max_attempts=1)
    assert (both.timeout, both.max_attempts, both.client_secret) == (1.5, 1, "csecret-value")


def test_token_key_changes_with_the_secret_pool_key_does_not() -> None:
    a = config_from_connection(Conn())
    b = config_from_connection(Conn(password="rotated-secret"))
    assert a.token_key != b.token_key and a.pool_key == b.pool_key
    assert "csecret-value" not in repr(a.token_key)


@pytest.mark.parametrize(
    ("conn", "base_url"),
    [
        ({"host": "https://rest.apisandbox.zuora.com"}, "https://rest.apisandbox.zuora.com"),
        ({"host": "https://rest.eu.zuora.com/"}, "https://rest.eu.zuora.com"),
        ({"host": "https://copy.example.com", "port": 8443}, "https://copy.example.com:8443"),
        ({"host": "https://copy.example.com:9443", "port": 8443}, "https://copy.example.com:9443"),
        ({"host": "http://127.0.0.1", "port": 8080}, "http://127.0.0.1:8080"),
        ({"host": "rest.zuora.com", "schema": "https"}, "https://rest.zuora.com"),
        ({"host": "http://127.0.0.1:8080"}, "http://127.0.0.1:8080"),
        ({"host": "http://localhost:9"}, "http://localhost:9"),
        ({"host": "http://[::1]:8080"}, "http://[::1]:8080"),
        ({"extra": {"environment": "EU API Sandbox"}}, "https://rest.sandbox.eu.zuora.com"),
        ({"extra": {"environment": "eu-api-sandbox"}}, "https://rest.sandbox.eu.zuora.com"),
        ({"extra": {"environment": "us-cloud-2-production"}}, "https://rest.zuora.com"),
        ({"extra": {"extra__zuora__environment": "APAC Production"}}, "https://rest.ap.zuora.com"),
        (
            {"host": "https://custom.example.com", "extra": {"environment": "EU Production"}},
            "https://custom.example.com",
        ),
    ],
)
def test_base_url_from_host_port_schema_or_environment(
    monkeypatch: pytest.MonkeyPatch, conn: dict[str, Any], base_url: str
) -> None:
    use_conn(monkeypatch, **conn)
    assert ZuoraHook().base_url == base_url


@pytest.mark.parametrize(
    ("conn", "fragments"),
    [
        ({"host": "rest.zuora.com"}, ["needs a scheme", "https://rest.zuora.com"]),
        ({"host": "http://rest.zuora.com"}, ["http://", "cleartext", "use https://"]),
        ({"host": "http://10.0.0.5:8080"}, ["cleartext", "loopback"]),
        ({"host": "ftp://rest.zuora.com"}, ["not an http(s) URL"]),
        ({"extra": {"environment": "Mars"}}, ["unknown environment 'Mars'", *ENVIRONMENTS]),
        ({}, ["neither a REST endpoint (host) nor an environment"]),
        ({"host": "https://rest.zuora.com", "login": ""}, ["Client ID (login)"]),
        ({"host": "https://rest.zuora.com", "password": ""}, ["Client Secret"]),
        ({"host": "https://rest.zuora.com", "password": None}, ["Client Secret"]),
        ({"host": "https://rest.zuora.com", "extra": {"timeout": "soon"}}, ["'timeout' must be a number"]),
        ({"host": "https://rest.zuora.com", "extra": {"max_attempts": 0}}, ["'max_attempts' must be > 0"]),
    ],
)
def test_bad_connections_name_the_connection_and_the_problem(
    monkeypatch: pytest.MonkeyPatch, conn: dict[str, Any], fragments: list[str]
) -> None:
    use_conn(monkeypatch, "zuora_bad", **conn)
    with pytest.raises(ZuoraConfigError) as err:
        ZuoraHook("zuora_bad").config  # noqa: B018 - the property reads the connection
    text = str(err.value)
    assert "'zuora_bad'" in text
    assert [f for f in fragments if f not in text] == []
    assert "csecret" not in text


def test_extras_are_read_under_both_names(monkeypatch: pytest.MonkeyPatch) -> None:
    use_conn(
        monkeypatch,
        host="https://rest.zuora.com",
        extra={
            "extra__zuora__entity_ids": "E1",
            "org_ids": "O1,O2",
            "extra__zuora__timeout": "12.5",
            "max_attempts": "3",
            "ui_url_template": "https://ui.example/{instance_id}",
        },
    )
    cfg = ZuoraHook().config
    assert (cfg.entity_ids, cfg.org_ids, cfg.timeout, cfg.max_attempts) == ("E1", "O1,O2", 12.5, 3)
    assert ZuoraHook().ui_url(400) == "https://ui.example/400"


def test_hook_arguments_override_the_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    use_conn(monkeypatch, host="https://rest.zuora.com", extra={"timeout": 5, "max_attempts": 9})
    cfg = ZuoraHook(timeout=30, max_attempts=2).config
    assert (cfg.timeout, cfg.max_attempts) == (30, 2)


@pytest.mark.parametrize(
    ("base_url", "template", "url"),
    [
        ("https://rest.apisandbox.zuora.com", None, "https://apisandbox.zuora.com/workflows/instances/9"),
        ("https://rest.zuora.com", None, "https://www.zuora.com/workflows/instances/9"),
        ("https://rest.sandbox.eu.zuora.com", None, "https://sandbox.eu.zuora.com/workflows/instances/9"),
        ("https://rest.zuora.com:8443", None, "https://www.zuora.com:8443/workflows/instances/9"),
        ("http://[::1]:8080", None, "http://[::1]:8080/workflows/instances/9"),
        ("http://127.0.0.1:8080", None, "http://127.0.0.1:8080/workflows/instances/9"),
        ("http://127.0.0.1:8080", "{base_url}/ui/runs/{instance_id}", "http://127.0.0.1:8080/ui/runs/9"),
        (
            "https://rest.zuora.com",
            "https://eu.example/{instance_id}?from={host}",
            "https://eu.example/9?from=https://www.zuora.com",
        ),
    ],
)
def test_ui_url_by_default_and_from_a_template(base_url: str, template: str | None, url: str) -> None:
    cfg = ZuoraConfig("c", base_url, "id", "s", ui_url_template=template)
    assert cfg.ui_url(9) == url
    assert cfg.ui_url("9") == url


def test_a_broken_ui_url_template_gives_no_link_and_a_warning(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    conn = {"conn_type": "zuora", "host": "https://rest.zuora.com", "login": "i", "password": "secret-pw"}
    conn["extra"] = json.dumps({"ui_url_template": "https://ui/{run}"})  # type: ignore[assignment]
    monkeypatch.setenv("AIRFLOW_CONN_ZUORA_DEFAULT", json.dumps(conn))
    assert ZuoraHook().ui_url(1) is None
    assert "bad ui_url_template 'https://ui/{run}'" in capfd.readouterr().out  # the hook's (structlog) log


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"timeout": 0}, "timeout"),
        ({"timeout": "30"}, "timeout"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 2.5}, "whole number"),
        ({"max_attempts": True}, "max_attempts"),
        ({"retry_max_wait": -1}, "retry_max_wait"),
    ],
)
def test_bad_hook_arguments_fail_at_construction(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ZuoraConfigError, match=fragment):
        ZuoraHook("no_such_connection", **kwargs)  # refused before the connection is even looked up


def test_zero_wait_is_allowed_for_tests() -> None:
    assert ZuoraHook(retry_max_wait=0, max_attempts=1).retry_max_wait == 0


# ---------------------------------------------------------------- extras the connection form stores
# Airflow 3.3.2's form (seen in Chromium, tests/hooks/test_form_browser.py) stores EVERY conn-field
# when the connection is saved: an untouched or cleared field as null, or as its metadata default.
# The metadata has no defaults (so all nulls); with 0.1.0's defaults the form stored 60 and 5.
UNTOUCHED_NOW = (
    '{\n  "environment": null,\n  "entity_ids": null,\n  "org_ids": null,\n  "timeout": null,\n'
    '  "max_attempts": null,\n  "ui_url_template": null\n}'
)
UNTOUCHED_WITH_OLD_DEFAULTS = (
    '{"environment": null, "entity_ids": null, "org_ids": null, "timeout": 60, "max_attempts": 5, '
    '"ui_url_template": null}'
)
# Older forms (Flask-AppBuilder) stored the prefixed names, an untouched field as an empty string;
# the Extra Fields JSON editor lets a user leave "" too.
UNTOUCHED_PREFIXED = json.dumps(
    {f"extra__zuora__{name}": "" for name in ("environment", "entity_ids", "org_ids", "timeout")}
)
EMPTY_STRINGS = json.dumps(dict.fromkeys(("entity_ids", "org_ids", "ui_url_template", "timeout"), ""))
UNTOUCHED = pytest.mark.parametrize(
    "extra",
    [UNTOUCHED_NOW, UNTOUCHED_WITH_OLD_DEFAULTS, UNTOUCHED_PREFIXED, EMPTY_STRINGS, "{}"],
    ids=["form-3.3", "form-old-defaults", "form-prefixed", "empty-strings", "empty"],
)


def _form_untouched() -> dict[str, Any]:
    """What the form stores for an untouched form, from the metadata: each field's default or null."""
    (conn,) = get_provider_info()["connection-types"]
    return {name: spec["schema"].get("default") for name, spec in conn["conn-fields"].items()}


def test_the_form_stores_null_for_every_untouched_field() -> None:
    """No field has a default, so an untouched form is all nulls: the JSON recorded above."""
    assert _form_untouched() == json.loads(UNTOUCHED_NOW)


@UNTOUCHED
def test_untouched_extras_read_as_no_extras(extra: str) -> None:
    assert config_from_connection(Conn(extra=json.loads(extra))) == config_from_connection(Conn(extra={}))


@UNTOUCHED
def test_untouched_extras_keep_the_environment_alternative(extra: str) -> None:
    """A null ``environment`` is no environment: with an empty host that is the usual error."""
    with pytest.raises(ZuoraConfigError, match="neither a REST endpoint"):
        config_from_connection(Conn(host=None, extra=json.loads(extra)))
    env_only = {**json.loads(extra), "environment": "EU API Sandbox"}
    assert (
        config_from_connection(Conn(host="", extra=env_only)).base_url == "https://rest.sandbox.eu.zuora.com"
    )


@UNTOUCHED
def test_a_hook_on_an_untouched_form_is_a_hook_without_extras(
    monkeypatch: pytest.MonkeyPatch, extra: str
) -> None:
    """Through Airflow's own Connection: the extra as the exact JSON text the form saved."""
    base = {
        "conn_type": "zuora",
        "host": "https://rest.zuora.com",
        "login": "cid",
        "password": "csecret-value",
    }
    monkeypatch.setenv("AIRFLOW_CONN_ZUORA_FORM", json.dumps({**base, "extra": extra}))
    monkeypatch.setenv("AIRFLOW_CONN_ZUORA_PLAIN", json.dumps(base))
    form, plain = ZuoraHook("zuora_form").config, ZuoraHook("zuora_plain").config
    assert dataclasses.replace(form, conn_id="zuora_plain") == plain
    assert (form.timeout, form.max_attempts) == (DEFAULT_TIMEOUT, DEFAULT_MAX_ATTEMPTS)
    assert (form.entity_ids, form.org_ids, form.ui_url_template) == (None, None, None)
    assert ZuoraHook("zuora_form").ui_url(7) == "https://www.zuora.com/workflows/instances/7"


def test_filled_in_fields_among_untouched_ones_are_read() -> None:
    """The form saves a number field as a JSON number; one typed into the JSON editor may be a string."""
    extra = {**json.loads(UNTOUCHED_NOW), "org_ids": "O-1,O-2", "timeout": 12.5, "max_attempts": 3}
    cfg = config_from_connection(Conn(extra=extra))
    assert (cfg.org_ids, cfg.timeout, cfg.max_attempts, cfg.entity_ids) == ("O-1,O-2", 12.5, 3, None)
    as_strings = config_from_connection(Conn(extra={**extra, "timeout": "12.5", "max_attempts": "3"}))
    assert as_strings == cfg
