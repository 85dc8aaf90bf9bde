"""ZuoraEmulator's lifecycle and connection values, and the command line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from airflow_provider_zuora.testing import ZuoraEmulator
from airflow_provider_zuora.testing.workflows import Parameter, TaskSpec, Workflow

# The defaults, spelt out: a change to them is a change users see.
CLIENT_ID = "00000000-0000-4000-8000-000000000001"
CLIENT_SECRET = "emulator-client-secret"

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _emulator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("zuora-emulator-")]


def test_start_stop_leaves_no_thread_and_frees_the_port():
    before = len(_emulator_threads())
    emu = ZuoraEmulator(workflows=[Workflow(id=1, tasks=[TaskSpec("t")])])
    emu.start()
    port = emu.port
    assert emu.running and emu.base_url == f"http://127.0.0.1:{port}"
    assert httpx.get(emu.base_url + "/workflows").status_code == 401
    with httpx.Client() as keep_alive:  # an open keep-alive connection must not block stop()
        keep_alive.get(emu.base_url + "/workflows")
        emu.stop()
    assert not emu.running
    assert len(_emulator_threads()) == before
    assert _port_is_free(port)
    emu.stop()  # idempotent


def test_context_manager_and_two_emulators_side_by_side():
    with ZuoraEmulator(workflows=[]) as a, ZuoraEmulator(workflows=[{"id": 5}]) as b:
        assert a.port != b.port
        token = httpx.post(
            b.base_url + "/oauth/token",
            data={
                "client_id": b.client_id,
                "client_secret": "emulator-client-secret",
                "grant_type": "client_credentials",
            },
        ).json()["access_token"]
        assert (
            httpx.get(b.base_url + "/workflows/5", headers={"Authorization": f"Bearer {token}"}).status_code
            == 200
        )
        assert (
            httpx.get(a.base_url + "/workflows/5", headers={"Authorization": f"Bearer {token}"}).status_code
            == 401
        )
    assert not a.running and not b.running


def test_start_twice_and_port_in_use_are_clear_errors():
    with ZuoraEmulator(workflows=[]) as emu:
        with pytest.raises(RuntimeError, match="already running"):
            emu.start()
        other = ZuoraEmulator(port=emu.port, workflows=[])
        with pytest.raises(OSError, match=f"cannot bind the emulator to 127.0.0.1:{emu.port}"):
            other.start()


def test_port_before_start_is_an_error_and_repr_has_no_secret():
    emu = ZuoraEmulator(client_secret="s3cret-value", workflows=[])
    with pytest.raises(RuntimeError, match="not started"):
        _ = emu.port
    assert "not started" in repr(emu) and "s3cret-value" not in repr(emu) + repr(emu.backend)


def test_workflows_and_file_are_exclusive(tmp_path):
    path = tmp_path / "wf.json"
    path.write_text(json.dumps([{"id": 42, "parameters": [{"name": "x", "required": True}]}]))
    assert [w.id for w in ZuoraEmulator(workflows_file=path).backend.workflows] == [42]
    with pytest.raises(ValueError, match="not both"):
        ZuoraEmulator(workflows=[], workflows_file=path)


def test_custom_credentials_and_lifetime():
    wf = Workflow(id=9, parameters=[Parameter("p", required=True)], tasks=[TaskSpec("t")])
    with ZuoraEmulator(workflows=[wf], client_id="me", client_secret="pw", token_lifetime=10) as emu:
        good = httpx.post(
            emu.base_url + "/oauth/token",
            data={"client_id": "me", "client_secret": "pw", "grant_type": "client_credentials"},
        )
        assert good.status_code == 200 and good.json()["expires_in"] == 9
        bad = httpx.post(
            emu.base_url + "/oauth/token",
            data={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                  "grant_type": "client_credentials"},
        )  # fmt: skip
        assert bad.status_code == 401


def test_airflow_connection_json_and_uri_parse_back_to_the_emulator(emu):
    from airflow.models.connection import Connection as ModelConnection
    from airflow.sdk.definitions.connection import Connection

    # How Airflow reads AIRFLOW_CONN_* JSON: the SDK's Connection.from_json (3.1+), the model's on 3.0.
    parse = getattr(Connection, "from_json", None) or ModelConnection.from_json
    from_json = parse(emu.airflow_conn_json(timeout=5), conn_id="zuora_default")
    assert (from_json.conn_type, from_json.host) == ("zuora", emu.base_url)
    assert (from_json.login, from_json.password) == (CLIENT_ID, CLIENT_SECRET)
    assert json.loads(from_json.extra) == {"timeout": 5}
    from_uri = ModelConnection(conn_id="zuora_default", uri=emu.airflow_conn_uri(timeout=5))
    assert (from_uri.conn_type, from_uri.host, from_uri.port) == ("zuora", emu.base_url, None)
    assert (from_uri.login, from_uri.password) == (CLIENT_ID, CLIENT_SECRET)
    assert from_uri.extra_dejson == {"timeout": 5}
    assert list(emu.airflow_env("zuora_test")) == ["AIRFLOW_CONN_ZUORA_TEST"]


def test_the_fixture_points_airflow_at_the_emulator(emu):
    assert json.loads(os.environ["AIRFLOW_CONN_ZUORA_DEFAULT"])["host"] == emu.base_url


# ---- command line ----
def _start_cli(*args: str) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_zuora.testing.emulator", "--port", "0", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(4)]
    return proc, lines


def test_cli_serves_prints_the_connection_and_stops_on_sigterm(tmp_path):
    path = tmp_path / "wf.json"
    path.write_text(json.dumps({"workflows": [{"id": 77, "name": "From file", "tasks": [{"name": "t"}]}]}))
    proc, lines = _start_cli("--workflows", str(path), "--client-secret", "cli-secret")
    try:
        assert lines[0].startswith("Zuora emulator listening on http://127.0.0.1:")
        base_url = lines[0].rsplit(" ", 1)[-1].strip()
        assert "77 'From file'" in lines[1]
        conn = json.loads(lines[3].split("=", 1)[1].strip().strip("'"))
        assert conn == {
            "conn_type": "zuora", "host": base_url, "login": CLIENT_ID, "password": "cli-secret",
        }  # fmt: skip
        token = httpx.post(
            base_url + "/oauth/token",
            data={
                "client_id": conn["login"],
                "client_secret": conn["password"],
                "grant_type": "client_credentials",
            },
        ).json()["access_token"]
        run = httpx.post(
            base_url + "/workflows/77/run", json={}, headers={"Authorization": f"Bearer {token}"}
        )
        assert run.status_code == 200
        assert httpx.get(base_url + "/_emulator/state").json()["instance_counts"] == {"77": 1}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


def test_cli_help_lists_the_server_options_and_the_settings():
    from airflow_provider_zuora.testing.emulator import _parser

    options = [a.option_strings[-1] for a in _parser()._actions]
    assert options == [
        "--help", "--host", "--port", "--workflows", "--client-id", "--client-secret", "--token-lifetime",
        "--rate-limit", "--token-rate-limit", "--concurrency-limit", "--log-level",
    ]  # fmt: skip


def test_cli_reports_a_bad_workflows_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"id": 1, "result": "explode"}]))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow_provider_zuora.testing.emulator",
            "--port",
            "0",
            "--workflows",
            str(path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert proc.returncode == 2
    assert "result must be one of" in proc.stderr
