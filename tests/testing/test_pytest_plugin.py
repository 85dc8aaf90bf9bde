"""The opt-in pytest plugin as a DAG author's project uses it: pytest on a small project, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]

USER_TESTS = """
import json, os
import httpx


def _token(emu):
    return httpx.post(
        emu.base_url + "/oauth/token",
        data={"client_id": "emulator-client-id", "client_secret": "emulator-client-secret",
              "grant_type": "client_credentials"},
    ).json()["access_token"]


def test_first_run(zuora_emulator):
    conn = json.loads(os.environ["AIRFLOW_CONN_ZUORA_DEFAULT"])
    assert conn["conn_type"] == "zuora" and conn["host"] == zuora_emulator.base_url
    headers = {"Authorization": "Bearer " + _token(zuora_emulator)}
    resp = httpx.post(conn["host"] + "/workflows/{wf}/run", json={}, headers=headers)
    assert resp.status_code == 200, resp.text
    assert zuora_emulator.backend.instance_count({wf}) == 1


def test_state_is_fresh_per_test(zuora_emulator, zuora_conn_uri):
    assert zuora_emulator.backend.instance_count({wf}) == 0
    assert zuora_emulator.backend.tokens_issued == 0
    assert zuora_conn_uri.startswith("zuora://http://")


def test_same_server_for_the_session(zuora_emulator, zuora_emulator_session):
    assert zuora_emulator is zuora_emulator_session
"""


def _run_pytest(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("AIRFLOW_CONN_ZUORA_DEFAULT", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_plugin_with_the_sample_workflows(tmp_path):
    (tmp_path / "conftest.py").write_text(
        'pytest_plugins = ["airflow_provider_zuora.testing.pytest_plugin"]\n'
    )
    (tmp_path / "test_user.py").write_text(textwrap.dedent(USER_TESTS.replace("{wf}", "397")))
    result = _run_pytest(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_plugin_with_workflows_from_the_ini_option(tmp_path):
    (tmp_path / "workflows.json").write_text(json.dumps([{"id": 123, "tasks": [{"name": "only"}]}]))
    (tmp_path / "pytest.ini").write_text("[pytest]\nzuora_emulator_workflows = workflows.json\n")
    (tmp_path / "conftest.py").write_text(
        'pytest_plugins = ["airflow_provider_zuora.testing.pytest_plugin"]\n'
    )
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(USER_TESTS.replace("{wf}", "123"))
        + "\n\ndef test_only_file_workflows(zuora_emulator):\n"
        + "    assert [w.id for w in zuora_emulator.backend.workflows] == [123]\n"
    )
    result = _run_pytest(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout
