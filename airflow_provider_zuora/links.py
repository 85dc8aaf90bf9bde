"""The operator's extra link to the workflow run in Zuora's UI.

A module of its own because ``BaseOperatorLink`` is not loaded by ``airflow.sdk``: the operator
builds its links on first access (``operator_extra_links``), so a DAG file's import does not pay
for this module; serializing a DAG, which reads the links, loads it anyway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey


class ZuoraWorkflowInstanceLink(BaseOperatorLink):
    """Operator extra link to the workflow run in Zuora's UI (URL pattern: see the connection extras)."""

    name = "Zuora workflow run"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        url = XCom.get_value(ti_key=ti_key, key=self.xcom_key)
        return url if isinstance(url, str) else ""
