"""``airflow connections test <id>`` on a ``zuora`` connection, against the emulator.

The way to test a connection on Airflow 3.3.2, whose UI Test button fails with "Bad Request" for
a connection without a port (apache/airflow#73298). Needs ``[core] test_connection = Enabled``.
The CLI prints "Connection success!" (not the hook's message) on success, and the hook's
message on failure. Connections come from ``AIRFLOW_CONN_*`` (no metadata DB needed; the
browser test, tests/hooks/test_form_browser.py, tests one saved in the DB).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_zuora.hooks.zuora import ZuoraHook
from airflow_provider_zuora.testing.emulator import ZuoraEmulator
from tests.stack.airflow_stack import AIRFLOW, AirflowStack
from tests.versions import CONNECTIONS_TEST_FAILURE_EXIT

pytestmark = pytest.mark.integration

# Any HTTP(S) the CLI sends off loopback goes to a dead loopback proxy instead.
NO_INTERNET = {
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost,::1",
}


def _conn(emulator: ZuoraEmulator, **changes: Any) -> str:
    conn = json.loads(emulator.airflow_conn_json())
    conn.update(changes)
    return json.dumps(conn)


def _connections_test(
    tmp_path: Path, conn_json: str, *, enabled: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {"AIRFLOW_CONN_ZUORA_CLI": conn_json, "COLUMNS": "250", **NO_INTERNET}
    if enabled:
        env["AIRFLOW__CORE__TEST_CONNECTION"] = "Enabled"
    stack = AirflowStack(tmp_path / "home", env)  # only its isolated environment: nothing started
    cmd = [AIRFLOW, "connections", "test", "zuora_cli"]
    return subprocess.run(cmd, env=stack.env, capture_output=True, text=True, timeout=120)


def test_the_hook_s_test_connection_talks_to_the_emulator(
    zuora_emulator: ZuoraEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_ZUORA_CLI", _conn(zuora_emulator))
    assert ZuoraHook("zuora_cli").test_connection() == (
        True,
        f"Connected to Zuora at {zuora_emulator.base_url}: token issued, workflows readable",
    )
    assert len(zuora_emulator.backend.requests("POST", "/oauth/token")) == 1
    assert len(zuora_emulator.backend.requests("GET", "/workflows")) == 1


def test_connections_test_succeeds_against_the_emulator(
    zuora_emulator: ZuoraEmulator, tmp_path: Path
) -> None:
    conn = _conn(zuora_emulator, extra={"org_ids": "O-9", "timeout": None, "max_attempts": None})
    out = _connections_test(tmp_path, conn)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Connection success!" in out.stdout
    assert zuora_emulator.backend.config.client_secret not in out.stdout + out.stderr
    (token,) = zuora_emulator.backend.requests("POST", "/oauth/token")
    (listing,) = zuora_emulator.backend.requests("GET", "/workflows")
    assert token.status == 200 and listing.status == 200
    assert {k.lower(): v for k, v in listing.headers.items()}["zuora-org-ids"] == "O-9"


@pytest.mark.parametrize(
    ("changes", "message", "reaches_zuora"),
    [
        (
            {"password": "wrong-secret-7f3a"},
            "Zuora refused the OAuth client credentials of connection 'zuora_cli' (Authentication error); "
            "check its Client ID and Client Secret",
            True,
        ),
        (
            {"host": "http://rest.zuora.com", "password": "cleartext-secret-9b1c"},
            "Connection 'zuora_cli': REST endpoint 'http://rest.zuora.com' uses http://, which would send "
            "the client secret in cleartext; use https:// (http is accepted only for loopback addresses)",
            False,
        ),
        (
            {"host": None, "password": "no-host-secret-2d4e"},
            "Connection 'zuora_cli' has neither a REST endpoint (host) nor an environment extra: set one",
            False,
        ),
    ],
    ids=["wrong-secret", "http-off-loopback", "no-host-no-environment"],
)
def test_connections_test_fails_clearly_without_showing_the_secret(
    zuora_emulator: ZuoraEmulator, tmp_path: Path, changes: dict[str, Any], message: str, reaches_zuora: bool
) -> None:
    out = _connections_test(tmp_path, _conn(zuora_emulator, **changes))
    text = " ".join((out.stdout + out.stderr).split())  # the CLI's console wraps long lines
    assert out.returncode == CONNECTIONS_TEST_FAILURE_EXIT, text
    assert "Connection failed!" in text and message in text
    assert changes["password"] not in text
    assert zuora_emulator.backend.config.client_secret not in text
    assert bool(zuora_emulator.backend.requests("POST", "/oauth/token")) is reaches_zuora


def test_connections_test_needs_test_connection_enabled(
    zuora_emulator: ZuoraEmulator, tmp_path: Path
) -> None:
    out = _connections_test(tmp_path, _conn(zuora_emulator), enabled=False)
    assert out.returncode == 1
    assert "Testing connections is disabled in Airflow configuration" in out.stdout + out.stderr
    assert zuora_emulator.backend.request_log == []
