"""pytest fixtures to test DAGs against the Zuora emulator instead of Zuora.

Opt in from a ``conftest.py``::

    pytest_plugins = ["airflow_provider_zuora.testing.pytest_plugin"]

    def test_my_dag(zuora_emulator):
        ...  # AIRFLOW_CONN_ZUORA_DEFAULT points at the emulator for this test
        assert zuora_emulator.backend.instance_count(396) == 1

One server per test session (``zuora_emulator_session``); each test that asks for
``zuora_emulator`` gets it with fresh state (no runs, tokens, faults, log; clock reset).
Choose the workflows with the ini option ``zuora_emulator_workflows = path/to/file.json`` or by
overriding the session fixture ``zuora_emulator_workflows`` (a list of ``Workflow``/dicts, a
path, or None for the bundled sample set).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_zuora.testing.emulator import DEFAULT_CONN_ID, ZuoraEmulator

INI_WORKFLOWS = "zuora_emulator_workflows"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        INI_WORKFLOWS, "Workflows JSON file for the zuora_emulator fixture (default: the sample set)"
    )


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
