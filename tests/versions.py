"""The Airflow under test, for the few Airflow bugs no feature test can detect (each use says which)."""

from __future__ import annotations

from importlib.metadata import version

AIRFLOW_VERSION = tuple(int(part) for part in version("apache-airflow").split(".")[:2])
AIRFLOW_3_0 = AIRFLOW_VERSION < (3, 1)
#: ``airflow connections test`` exits 1 on a failed test from 3.3 on; 3.0 to 3.2 print "Connection
#: failed!" and exit 0 (read in each release's ``cli/commands/connection_command.py``).
CONNECTIONS_TEST_FAILURE_EXIT = 1 if AIRFLOW_VERSION >= (3, 3) else 0


def _has_task_state_store() -> bool:
    from airflow.sdk.execution_time import context

    return hasattr(context, "TaskStateStoreAccessor")


#: Whether tasks get a ``task_state_store`` in their context (3.3+): the class that serves it.
HAS_TASK_STATE_STORE = _has_task_state_store()
