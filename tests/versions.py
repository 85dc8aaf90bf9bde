"""The Airflow under test, for the few Airflow bugs no feature test can detect (each use says which)."""

from __future__ import annotations

from importlib.metadata import version

AIRFLOW_VERSION = tuple(int(part) for part in version("apache-airflow").split(".")[:2])
AIRFLOW_3_0 = AIRFLOW_VERSION < (3, 1)


def _has_task_state_store() -> bool:
    from airflow.sdk.execution_time import context

    return hasattr(context, "TaskStateStoreAccessor")


#: Whether tasks get a ``task_state_store`` in their context (3.3+): the class that serves it.
HAS_TASK_STATE_STORE = _has_task_state_store()
