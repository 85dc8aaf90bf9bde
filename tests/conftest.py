"""Test-wide set-up: an isolated Airflow home inside the repo, set before Airflow is imported.

DAG tests (``dag.test()``) need their DAG files in a DAG bundle: two local bundles are
configured, the shipped ``example_dags/`` and the test-only ``tests/dags/``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

# Dogfood the fixtures DAG authors use (zuora_emulator & co.).
pytest_plugins = ["airflow_provider_zuora.testing.pytest_plugin"]

REPO = Path(__file__).resolve().parent.parent
_BUNDLES = [
    {
        "name": "zuora_example_dags",
        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(REPO / "example_dags"), "refresh_interval": 0},
    },
    {
        "name": "zuora_test_dags",
        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(REPO / "tests" / "dags"), "refresh_interval": 0},
    },
]
os.environ["AIRFLOW_HOME"] = os.environ.get("AIRFLOW_HOME") or str(REPO / ".airflow")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "example_dags")
os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(_BUNDLES)
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")


def _is_loopback(host: object) -> bool:
    if host is None or host in ("localhost", socket.gethostname()):
        return True
    name = host.decode() if isinstance(host, bytes) else str(host)
    try:
        return ipaddress.ip_address(name.split("%")[0]).is_loopback
    except ValueError:
        return name.endswith(".localhost")


@pytest.fixture(autouse=True, scope="session")
def loopback_only() -> Iterator[None]:
    """No test resolves a host outside loopback (so none reaches a real Zuora): a mock that
    missed its mark fails loudly here instead of trying the internet."""
    real = socket.getaddrinfo

    def guarded(host: object, *args: object, **kwargs: object) -> object:
        if not _is_loopback(host):
            raise OSError(f"tests may only reach loopback; this one tried to resolve {host!r}")
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket, "getaddrinfo", guarded)
        yield


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[None]:
    """A migrated metadata DB (SQLite in AIRFLOW_HOME), made once per test session."""
    from airflow.utils.db import initdb

    initdb()
    yield


def load_dag(path: Path | str, dag_id: str):
    """Parse one DAG file (it must live in a configured bundle folder) and return the DAG ``dag_id``."""
    from airflow_provider_zuora._compat import DagBag

    bag = DagBag(dag_folder=str(path))
    assert not bag.import_errors, bag.import_errors
    return bag.dags[dag_id]
