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
        data={"client_id": "00000000-0000-4000-8000-000000000001", "client_secret": "emulator-client-secret",
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


# ---- the Airflow home and metadata DB for DAG tests (zuora_airflow_home, zuora_airflow_db) ----
CONFTEST = 'pytest_plugins = ["airflow_provider_zuora.testing.pytest_plugin"]\n'
HELLO_DAG = """
import pendulum
from airflow.sdk import DAG, task

with DAG("hello", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False) as dag:

    @task
    def hello():
        return {"a": 1}

    hello()
"""
THROWAWAY_TESTS = """
import os
import sqlite3
from pathlib import Path

from dags.hello import dag


def test_airflow_is_configured_for_the_throwaway_home(pytestconfig):
    from airflow.configuration import conf

    home = Path(os.environ["AIRFLOW_HOME"])
    (pytestconfig.rootpath / "home.txt").write_text(str(home))
    assert home.name.startswith("zuora-airflow-home-") and home.parent == Path(os.environ["TMPDIR"])
    assert conf.get("database", "sql_alchemy_conn") == f"sqlite:///{home / 'airflow.db'}"
    assert conf.get("core", "dags_folder") == str(pytestconfig.rootpath / "dags")
    assert conf.getboolean("core", "load_examples") is False
    assert conf.getboolean("core", "unit_test_mode") is False


def test_the_db_is_migrated(zuora_airflow_db):
    assert zuora_airflow_db == Path(os.environ["AIRFLOW_HOME"])
    with sqlite3.connect(zuora_airflow_db / "airflow.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"alembic_version", "dag_run", "task_instance", "connection"} <= tables


def test_dag_test_runs(zuora_airflow_db):
    assert dag.test().state == "success"
"""
ENV_TESTS = """
import os
from pathlib import Path


def test_env(pytestconfig):
    want = {want!r}
    got = {{k: os.environ.get(k) for k in want}}
    root = str(pytestconfig.rootpath)
    assert got == {{k: v.replace("<root>", root) if v else v for k, v in want.items()}}
"""


def _author_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A DAG author's shell: no AIRFLOW_* from this suite, HOME and TMPDIR of the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "_AIRFLOW", "PYTEST"))}
    for name in ("home", "tmp"):
        (tmp_path / name).mkdir(exist_ok=True)
    env.update(PYTHONPATH=str(REPO), HOME=str(tmp_path / "home"), TMPDIR=str(tmp_path / "tmp"), **extra)
    return env


def _project(tmp_path: Path, ini: str, tests: str, conftest: str = CONFTEST) -> Path:
    project = tmp_path / "project"
    (project / "dags").mkdir(parents=True)
    (project / "pytest.ini").write_text("[pytest]\n" + ini)
    (project / "conftest.py").write_text(conftest)
    (project / "dags" / "hello.py").write_text(HELLO_DAG)
    (project / "test_author.py").write_text(textwrap.dedent(tests))
    return project


def _pytest_in(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:asyncio", "-W",
         "ignore::DeprecationWarning", *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.dag
def test_throwaway_airflow_home_gets_a_migrated_db_and_dag_test_runs(tmp_path):
    project = _project(tmp_path, "zuora_airflow_home = throwaway\n", THROWAWAY_TESTS)
    result = _pytest_in(project, _author_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
    home = Path((project / "home.txt").read_text())
    assert home.parent == tmp_path / "tmp" and not home.exists()  # removed after the session
    assert not (tmp_path / "home" / "airflow").exists()  # ~/airflow untouched
    assert sorted(p.name for p in project.iterdir()) == [
        "conftest.py", "dags", "home.txt", "pytest.ini", "test_author.py"
    ]  # fmt: skip


def test_airflow_imported_by_a_conftest_first_is_a_usage_error_and_dash_p_is_the_fix(tmp_path):
    conftest = "from airflow.configuration import AIRFLOW_HOME\n" + CONFTEST
    tests = """
import os
from airflow.configuration import AIRFLOW_HOME


def test_home():
    assert AIRFLOW_HOME == os.environ["AIRFLOW_HOME"] and "zuora-airflow-home-" in AIRFLOW_HOME
"""
    project = _project(tmp_path, "zuora_airflow_home = throwaway\n", tests, conftest)
    env = _author_env(tmp_path)
    result = _pytest_in(project, env)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert "Airflow was imported before the Zuora pytest plugin" in result.stderr
    assert "-p airflow_provider_zuora.testing.pytest_plugin" in result.stderr
    assert not list((tmp_path / "tmp").glob("zuora-airflow-home-*"))  # nothing left behind

    # Loaded before the conftests, the plugin sets the home in time.
    result = _pytest_in(project, env, "-p", "airflow_provider_zuora.testing.pytest_plugin")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert not list((tmp_path / "tmp").glob("zuora-airflow-home-*"))


@pytest.mark.parametrize(
    ("ini", "shell", "want"),
    [
        pytest.param(
            "zuora_airflow_home = .airflow-tests\nzuora_airflow_dags_folder = pipelines\n",
            {
                "AIRFLOW_HOME": "/nowhere/home",
                "AIRFLOW__CORE__DAGS_FOLDER": "/nowhere/dags",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://prod.example/airflow",
                "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "True",
            },
            {
                "AIRFLOW_HOME": "<root>/.airflow-tests",
                "AIRFLOW__CORE__DAGS_FOLDER": "<root>/pipelines",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite:///<root>/.airflow-tests/airflow.db",
                "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            },
            id="a-path-and-a-dags-folder-win-over-the-shell",
        ),
        pytest.param(
            "zuora_airflow_home = .airflow-tests\n",
            {"AIRFLOW__CORE__DAGS_FOLDER": "/my/dags"},
            {"AIRFLOW__CORE__DAGS_FOLDER": "/my/dags"},
            id="without-a-dags-folder-option-the-shells-is-kept",
        ),
        pytest.param(
            "",
            {"AIRFLOW_HOME": "/my/home", "AIRFLOW__CORE__DAGS_FOLDER": "/my/dags"},
            {
                "AIRFLOW_HOME": "/my/home",
                "AIRFLOW__CORE__DAGS_FOLDER": "/my/dags",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": None,
            },
            id="without-the-option-airflow-is-left-alone",
        ),
    ],
)
def test_airflow_home_option_sets_the_environment_before_airflow_loads(tmp_path, ini, shell, want):
    project = _project(tmp_path, ini, ENV_TESTS.format(want=want))
    result = _pytest_in(project, _author_env(tmp_path, **shell))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert (project / ".airflow-tests").is_dir() == bool(ini)  # a path home is kept
    assert not list((tmp_path / "tmp").glob("zuora-airflow-home-*"))
