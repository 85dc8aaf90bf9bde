"""ZuoraHook's connection handling: base URL, extras under both names, AIRFLOW_CONN_ JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_zuora.exceptions import ZuoraConfigError
from airflow_provider_zuora.hooks.zuora import ZuoraHook


def use_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str = "zuora_default", **conn: Any) -> None:
    conn.setdefault("conn_type", "zuora")
    conn.setdefault("login", "cid")
    conn.setdefault("password", "csecret")
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def test_hook_identity() -> None:
    assert ZuoraHook.conn_type == "zuora"
    assert ZuoraHook.default_conn_name == "zuora_default"
    assert ZuoraHook.conn_name_attr == "zuora_conn_id"
    assert ZuoraHook.hook_name == "Zuora"
    assert ZuoraHook().zuora_conn_id == "zuora_default"


@pytest.mark.parametrize(
    ("conn", "base_url"),
    [
        ({"host": "https://rest.apisandbox.zuora.com"}, "https://rest.apisandbox.zuora.com"),
        ({"host": "https://rest.eu.zuora.com/"}, "https://rest.eu.zuora.com"),
        ({"host": "https://copy.example.com", "port": 8443}, "https://copy.example.com:8443"),
        ({"host": "rest.zuora.com", "schema": "https"}, "https://rest.zuora.com"),
        ({"host": "http://127.0.0.1:8080"}, "http://127.0.0.1:8080"),
        ({"host": "http://localhost:9"}, "http://localhost:9"),
        ({"host": "http://[::1]:8080"}, "http://[::1]:8080"),
        ({"extra": {"environment": "EU API Sandbox"}}, "https://rest.sandbox.eu.zuora.com"),
        ({"extra": {"environment": "us-cloud-2-production"}}, "https://rest.zuora.com"),
        ({"extra": {"extra__zuora__environment": "APAC Production"}}, "https://rest.ap.zuora.com"),
        (
            {"host": "https://custom.example.com", "extra": {"environment": "EU Production"}},
            "https://custom.example.com",
        ),
    ],
)
def test_base_url(monkeypatch: pytest.MonkeyPatch, conn: dict[str, Any], base_url: str) -> None:
    use_conn(monkeypatch, **conn)
    assert ZuoraHook().base_url == base_url


@pytest.mark.parametrize(
    ("conn", "fragment"),
    [
        ({"host": "rest.zuora.com"}, "needs a scheme"),
        ({"host": "http://rest.zuora.com"}, "cleartext"),
        ({"host": "http://10.0.0.5:8080"}, "cleartext"),
        ({"host": "ftp://rest.zuora.com"}, "not an http(s) URL"),
        ({"extra": {"environment": "Mars"}}, "unknown environment 'Mars'"),
        ({}, "neither a REST endpoint"),
        ({"host": "https://rest.zuora.com", "password": ""}, "Client Secret"),
        ({"host": "https://rest.zuora.com", "extra": {"timeout": "soon"}}, "'timeout' must be a number"),
        ({"host": "https://rest.zuora.com", "extra": {"max_attempts": 0}}, "'max_attempts' must be > 0"),
    ],
)
def test_bad_connections_name_the_connection_and_the_problem(
    monkeypatch: pytest.MonkeyPatch, conn: dict[str, Any], fragment: str
) -> None:
    use_conn(monkeypatch, "zuora_bad", **conn)
    with pytest.raises(ZuoraConfigError) as err:
        ZuoraHook("zuora_bad").config  # noqa: B018 - the property reads the connection
    assert "'zuora_bad'" in str(err.value)
    assert fragment in str(err.value)
    assert "csecret" not in str(err.value)


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


def test_constructor_overrides_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    use_conn(monkeypatch, host="https://rest.zuora.com", extra={"timeout": 5, "max_attempts": 9})
    cfg = ZuoraHook(timeout=30, max_attempts=2).config
    assert (cfg.timeout, cfg.max_attempts) == (30, 2)


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("https://rest.apisandbox.zuora.com", "https://apisandbox.zuora.com/workflows/instances/7"),
        ("https://rest.zuora.com", "https://www.zuora.com/workflows/instances/7"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/workflows/instances/7"),
    ],
)
def test_default_ui_url(monkeypatch: pytest.MonkeyPatch, host: str, url: str) -> None:
    use_conn(monkeypatch, host=host)
    assert ZuoraHook().ui_url("7") == url


def test_repr_of_hook_and_config_never_show_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    use_conn(monkeypatch, host="https://rest.zuora.com", password="s3cr3t-value")
    hook = ZuoraHook()
    assert "s3cr3t-value" not in repr(hook)
    assert "s3cr3t-value" not in repr(hook.config)
    assert hook.config.client_secret == "s3cr3t-value"
