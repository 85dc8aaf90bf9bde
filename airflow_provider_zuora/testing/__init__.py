"""A local emulator of the Zuora Workflow API, for tests and demos (think moto or LocalStack).

``ZuoraEmulator`` serves it on loopback; ``ZuoraBackend`` is its in-memory state, usable
in-process, and ``Settings`` what it can be set up with; ``Workflow`` (with ``Parameter``,
``TaskSpec``, ``Phase``) scripts what a workflow does; ``EmulatorClient`` drives an emulator
in another process. DAG authors: add
``pytest_plugins = ["airflow_provider_zuora.testing.pytest_plugin"]`` and use the
``zuora_emulator`` fixture. See docs/emulator.md.

Names are imported on first use, so importing this package costs nothing (no FastAPI, no uvicorn).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_zuora.testing.backend import ZuoraBackend
    from airflow_provider_zuora.testing.client import EmulatorClient
    from airflow_provider_zuora.testing.emulator import ZuoraEmulator
    from airflow_provider_zuora.testing.faults import Fault
    from airflow_provider_zuora.testing.records import RequestRecord
    from airflow_provider_zuora.testing.settings import Settings
    from airflow_provider_zuora.testing.workflows import (
        Parameter,
        Phase,
        TaskSpec,
        Workflow,
        load_workflows,
        sample_workflows,
    )

_EXPORTS = {
    "ZuoraEmulator": "emulator",
    "ZuoraBackend": "backend",
    "EmulatorClient": "client",
    "Fault": "faults",
    "RequestRecord": "records",
    "Settings": "settings",
    "Workflow": "workflows",
    "Parameter": "workflows",
    "TaskSpec": "workflows",
    "Phase": "workflows",
    "load_workflows": "workflows",
    "sample_workflows": "workflows",
}

__all__ = [
    "EmulatorClient",
    "Fault",
    "Parameter",
    "Phase",
    "RequestRecord",
    "Settings",
    "TaskSpec",
    "Workflow",
    "ZuoraBackend",
    "ZuoraEmulator",
    "load_workflows",
    "sample_workflows",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
