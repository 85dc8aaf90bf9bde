"""A zuora connection read into ZuoraConfig (hooks/_config.py); the hook's own arguments."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_zuora.exceptions import ZuoraConfigError
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


def test_defaults() -> None:
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
def test_bad_numbers_in_extras(extra: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ZuoraConfigError, match=fragment):
        config_from_connection(Conn(extra=extra))


def test_repr_and_overrides() -> None:
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
    ("base_url", "template", "url"),
    [
        ("https://rest.sandbox.eu.zuora.com", None, "https://sandbox.eu.zuora.com/workflows/instances/9"),
        ("https://rest.zuora.com:8443", None, "https://www.zuora.com:8443/workflows/instances/9"),
        ("http://[::1]:8080", None, "http://[::1]:8080/workflows/instances/9"),
        ("http://127.0.0.1:8080", "{base_url}/ui/runs/{instance_id}", "http://127.0.0.1:8080/ui/runs/9"),
        (
            "https://rest.zuora.com",
            "https://eu.example/{instance_id}?from={host}",
            "https://eu.example/9?from=https://www.zuora.com",
        ),
    ],
)
def test_ui_url(base_url: str, template: str | None, url: str) -> None:
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
