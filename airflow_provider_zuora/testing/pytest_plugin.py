"""pytest fixtures to test DAGs against the Zuora emulator instead of Zuora.

Opt in from a ``conftest.py``::

    pytest_plugins = ["airflow_provider_zuora.testing.pytest_plugin"]

    def test_my_dag(zuora_emulator):
        ...  # AIRFLOW_CONN_ZUORA_DEFAULT points at the emulator for this test
        assert zuora_emulator.backend.run_count(396) == 1

One server per test session (``zuora_emulator_session``); each test that asks for
``zuora_emulator`` gets it with fresh state (no runs, tokens, faults, log; clock reset).
Choose the workflows with the ini option ``zuora_emulator_workflows = path/to/file.json`` or by
overriding the session fixture ``zuora_emulator_workflows`` (a list of ``Workflow``/dicts, a
path, or None for the bundled sample set).

DAG tests (``dag.test()``) need a migrated Airflow metadata DB and their DAG files in the
configured DAGs folder. Opt in with the ini option ``zuora_airflow_home = throwaway``: before
Airflow is imported (``pytest_configure``), the plugin points ``AIRFLOW_HOME`` at a new
temporary folder (its SQLite DB in it; all removed after the session) and the DAGs folder at
``zuora_airflow_dags_folder`` (relative to the rootdir; default ``$AIRFLOW__CORE__DAGS_FOLDER``
if set, else ``dags``). The session fixture ``zuora_airflow_db`` migrates the DB, once::

    [pytest]
    zuora_airflow_home = throwaway

    def test_my_dag(zuora_airflow_db, zuora_emulator):
        assert my_dag.test().state == "success"
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_zuora.testing.emulator import DEFAULT_CONN_ID, ZuoraEmulator

INI_WORKFLOWS = "zuora_emulator_workflows"
INI_AIRFLOW_HOME = "zuora_airflow_home"
INI_DAGS_FOLDER = "zuora_airflow_dags_folder"
THROWAWAY = "throwaway"
DEFAULT_DAGS_FOLDER = "dags"
#: On the config's stash: the Airflow home the plugin set up, and the temporary one to remove.
_HOME_KEY = pytest.StashKey[Path]()
_TEMP_KEY = pytest.StashKey[Path]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        INI_WORKFLOWS, "Workflows JSON file for the zuora_emulator fixture (default: the sample set)"
    )
    parser.addini(
        INI_AIRFLOW_HOME,
        "'throwaway': a new temporary AIRFLOW_HOME (its SQLite DB migrated by the zuora_airflow_db "
        "fixture) for the session, removed after it; a path (relative to the rootdir): that "
        "AIRFLOW_HOME, kept; empty (default): Airflow's configuration is left alone",
    )
    parser.addini(
        INI_DAGS_FOLDER,
        "With zuora_airflow_home: the DAGs folder, relative to the rootdir "
        "(default: $AIRFLOW__CORE__DAGS_FOLDER if set, else 'dags')",
    )


def _airflow_home_already_loaded() -> str | None:
    """The AIRFLOW_HOME an already imported Airflow configuration read, or None if none is loaded."""
    configuration = sys.modules.get("airflow.configuration")
    if configuration is None:
        return None
    return str(getattr(configuration, "AIRFLOW_HOME", None) or os.environ.get("AIRFLOW_HOME", "?"))


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Loaded with ``-p airflow_provider_zuora.testing.pytest_plugin``: set the home before the conftests."""
    _set_airflow_home(early_config)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Loaded from a conftest's ``pytest_plugins``: set the home before test modules are collected."""
    _set_airflow_home(config)


def _set_airflow_home(config: pytest.Config) -> None:
    """With ``zuora_airflow_home`` set: point Airflow at that home before anything imports Airflow.

    Environment set for the session: ``AIRFLOW_HOME``, ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``
    (SQLite in that home, never a DB from the calling shell), ``AIRFLOW__CORE__DAGS_FOLDER``,
    ``AIRFLOW__CORE__LOAD_EXAMPLES=False`` and ``AIRFLOW__CORE__UNIT_TEST_MODE=False`` (Airflow's
    unit-test mode is for Airflow's own suite: it loads the examples and Airflow's test DAGs).
    """
    if _HOME_KEY in config.stash:  # done already, by the earlier of the two hooks
        return
    wanted = config.getini(INI_AIRFLOW_HOME).strip()
    if not wanted:
        return
    root = Path(config.rootpath)
    if wanted == THROWAWAY:
        home = Path(tempfile.mkdtemp(prefix="zuora-airflow-home-"))
        config.stash[_TEMP_KEY] = home
    else:
        home = (root / wanted).resolve()
        home.mkdir(parents=True, exist_ok=True)
    loaded = _airflow_home_already_loaded()
    if loaded is not None and Path(loaded).resolve() != home:
        if _TEMP_KEY in config.stash:
            shutil.rmtree(config.stash[_TEMP_KEY], ignore_errors=True)
        raise pytest.UsageError(
            f"{INI_AIRFLOW_HOME} = {wanted}: Airflow was imported before the Zuora pytest plugin could "
            f"point it at its own AIRFLOW_HOME (Airflow is already using {loaded}). Import Airflow "
            "(and DAG files) in test modules or fixtures, not at the top of a conftest.py; or load "
            "the plugin before the conftests: -p airflow_provider_zuora.testing.pytest_plugin "
            "(on the command line or in addopts)."
        )
    dags = config.getini(INI_DAGS_FOLDER).strip()
    if dags:
        dags_folder = str((root / dags).resolve())
    else:
        dags_folder = os.environ.get("AIRFLOW__CORE__DAGS_FOLDER") or str(root / DEFAULT_DAGS_FOLDER)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": dags_folder,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        }
    )
    config.stash[_HOME_KEY] = home


def pytest_unconfigure(config: pytest.Config) -> None:
    temp = config.stash.get(_TEMP_KEY, None)
    if temp is not None:
        shutil.rmtree(temp, ignore_errors=True)


def migrate_airflow_db() -> None:
    """Create or upgrade the configured Airflow metadata DB (what ``airflow db migrate`` does).

    In-process with ``airflow.utils.db.initdb`` where this Airflow has it (3.0 to 3.3 all do;
    about 2 s on SQLite), else ``airflow db migrate`` in a subprocess.
    """
    db = importlib.import_module("airflow.utils.db")
    initdb = getattr(db, "initdb", None)
    if callable(initdb):
        initdb()
        return
    proc = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"airflow db migrate exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")


@pytest.fixture(scope="session")
def zuora_emulator_workflows(pytestconfig: pytest.Config) -> Any:
    """The emulator's workflows: override this fixture, or set the ini option; None means the sample set."""
    try:
        path = pytestconfig.getini(INI_WORKFLOWS)
    except ValueError:  # the fixtures were imported without the plugin's hooks
        return None
    return Path(pytestconfig.rootpath, path) if path else None


@pytest.fixture(scope="session")
def zuora_emulator_session(zuora_emulator_workflows: Any) -> Iterator[ZuoraEmulator]:
    """One emulator for the session, on a free loopback port. Shared state: prefer ``zuora_emulator``."""
    source = zuora_emulator_workflows
    if isinstance(source, (str, Path)):
        emulator = ZuoraEmulator(workflows_file=source)
    else:
        emulator = ZuoraEmulator(workflows=source)
    with emulator:
        yield emulator


@pytest.fixture
def zuora_emulator(zuora_emulator_session: ZuoraEmulator, monkeypatch: pytest.MonkeyPatch) -> ZuoraEmulator:
    """The session's emulator with fresh state; ``AIRFLOW_CONN_ZUORA_DEFAULT`` is set to it for this test."""
    zuora_emulator_session.backend.wait_idle()  # a request delayed by the last test's fault
    zuora_emulator_session.backend.reset()
    for name, value in zuora_emulator_session.airflow_env(DEFAULT_CONN_ID).items():
        monkeypatch.setenv(name, value)
    return zuora_emulator_session


@pytest.fixture
def zuora_conn_uri(zuora_emulator: ZuoraEmulator) -> str:
    """The emulator as an Airflow connection URI (``AIRFLOW_CONN_*`` or ``Connection(uri=...)``)."""
    return zuora_emulator.airflow_conn_uri()


@pytest.fixture(scope="session")
def zuora_airflow_db(pytestconfig: pytest.Config) -> Path:
    """A migrated Airflow metadata DB for ``dag.test()``, made once per session; returns AIRFLOW_HOME.

    With the ini option ``zuora_airflow_home`` the DB is the plugin's own (a throwaway SQLite DB);
    without it, this migrates the DB Airflow is configured with, like ``airflow db migrate``.
    """
    migrate_airflow_db()
    home = pytestconfig.stash.get(_HOME_KEY, None)
    if home is not None:
        return home
    return Path(_airflow_home_already_loaded() or os.environ.get("AIRFLOW_HOME") or "~/airflow").expanduser()
