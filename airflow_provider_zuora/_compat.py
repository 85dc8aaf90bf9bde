"""Airflow names that moved between 3.0 and 3.3, found once, by feature, for every other module.

Every module of the provider (and its tests) imports these names from here, never from where one
Airflow version happens to keep them. Each is looked up by trying the newer home first (an
import, or ``hasattr``), not by comparing version strings. What is imported at module level is
already loaded by ``airflow.sdk``; the rest (the trigger base classes, ``serde``, the DagBag) is
loaded on first use through ``__getattr__``, so importing this module stays cheap at DAG-parse time.

=========================  ==============================  ===============================
name                       where 3.3 keeps it              fallback (the versions without it)
=========================  ==============================  ===============================
``conf``                   ``airflow.sdk``                 ``airflow.configuration`` (3.0, 3.1)
``BaseHook``               ``airflow.sdk``                 ``airflow.hooks.base`` (3.0)
the exception classes      ``airflow.sdk.exceptions``      ``airflow.exceptions`` (3.0, 3.1)
``amask_secret``           ``airflow.sdk.log``             the sync one in a worker thread (< 3.3)
``aget_connection``        ``BaseHook``                    the sync one in a worker thread (3.0)
``serde``                  ``airflow.sdk.serde``           ``airflow.serialization.serde`` (< 3.2)
``import_string``          ``airflow.sdk.module_loading``  ``airflow.utils.module_loading`` (3.0)
``DagBag``                 ``airflow.dag_processing``      ``airflow.models.dagbag`` (< 3.2)
=========================  ==============================  ===============================

Behaviours no import can show: the ``task_state_store`` in the task context (3.3+; the operator
asks the context for it) and the triggerer calling ``BaseTrigger.on_kill()`` (3.3+, see
``has_trigger_on_kill``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # mypy checks against the newest Airflow; these are the names it knows
    from airflow.sdk import BaseHook, conf
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )
else:
    try:
        from airflow.sdk import conf
    except ImportError:  # 3.0, 3.1
        from airflow.configuration import conf

    try:
        from airflow.sdk.exceptions import (
            AirflowException,
            AirflowFailException,
            AirflowSensorTimeout,
            AirflowSkipException,
            TaskDeferred,
        )
    except ImportError:  # 3.0, 3.1: the task runner catches these classes, not look-alikes
        from airflow.exceptions import (
            AirflowException,
            AirflowFailException,
            AirflowSensorTimeout,
            AirflowSkipException,
            TaskDeferred,
        )

__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "BaseHook",
    "TaskDeferred",
    "aget_connection",
    "amask_secret",
    "conf",
    "mask_secret",
]

#: Names loaded on first use (module -> attribute), in the order they are tried.
_LAZY: dict[str, tuple[tuple[str, str], ...]] = {
    "BaseHook": (("airflow.sdk", "BaseHook"), ("airflow.hooks.base", "BaseHook")),
    "BaseTrigger": (("airflow.triggers.base", "BaseTrigger"),),
    "TriggerEvent": (("airflow.triggers.base", "TriggerEvent"),),
    "serialize": (("airflow.sdk.serde", "serialize"), ("airflow.serialization.serde", "serialize")),
    "deserialize": (("airflow.sdk.serde", "deserialize"), ("airflow.serialization.serde", "deserialize")),
    "import_string": (
        ("airflow.sdk.module_loading", "import_string"),
        ("airflow.utils.module_loading", "import_string"),
    ),
    "DagBag": (("airflow.dag_processing.dagbag", "DagBag"), ("airflow.models.dagbag", "DagBag")),
}


def __getattr__(name: str) -> Any:
    import importlib

    for module, attr in _LAZY.get(name, ()):
        try:
            value = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            continue
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def mask_secret(secret: str) -> None:
    """Keep ``secret`` out of every log line (imported on first use: the masker is not cheap)."""
    from airflow.sdk.log import mask_secret as mask

    mask(secret)


async def amask_secret(secret: str) -> None:
    """Mask a secret from a coroutine.

    In a triggerer the sync ``mask_secret`` talks to the supervisor through ``async_to_sync``, which
    refuses to run on the event loop's own thread; before 3.3 it is run in a worker thread instead.
    """
    import airflow.sdk.log as sdk_log

    amask = getattr(sdk_log, "amask_secret", None)
    if amask is not None:
        await amask(secret)
        return
    from asgiref.sync import sync_to_async

    await sync_to_async(mask_secret)(secret)


async def aget_connection(hook: Any, conn_id: str) -> Any:
    """The connection, looked up without blocking the event loop: ``aget_connection`` (3.1+), else
    the sync lookup in a worker thread (3.0, where it talks to the supervisor through ``async_to_sync``)."""
    aget = getattr(hook, "aget_connection", None)
    if aget is not None:
        return await aget(conn_id)
    from asgiref.sync import sync_to_async

    return await sync_to_async(hook.get_connection)(conn_id)


def has_trigger_on_kill() -> bool:
    """Whether the triggerer calls ``BaseTrigger.on_kill()`` (3.3+) when a deferred task is killed.

    A behaviour, not a name: older triggerers simply never call it. ``BaseTrigger`` declares
    ``on_kill`` in the same release that the triggerer starts calling it, so its presence tells.
    """
    return hasattr(__getattr__("BaseTrigger"), "on_kill")
