"""The Airflow under test, for the few Airflow bugs no feature test can detect (each use says which)."""

from __future__ import annotations

from importlib.metadata import version

AIRFLOW_VERSION = tuple(int(part) for part in version("apache-airflow").split(".")[:2])
AIRFLOW_3_0 = AIRFLOW_VERSION < (3, 1)
