"""The operator's extra link: found from the class, an instance and a mapped operator, and by its old path."""

from __future__ import annotations

import pytest
from airflow.sdk import DAG

from airflow_provider_zuora.links import ZuoraWorkflowInstanceLink
from airflow_provider_zuora.operators import workflow
from airflow_provider_zuora.operators.workflow import RunZuoraWorkflowOperator


def test_the_link_is_one_instance_seen_from_the_class_and_every_operator() -> None:
    with DAG("links", schedule=None):
        op = RunZuoraWorkflowOperator(task_id="run", workflow_id=396)
        mapped = RunZuoraWorkflowOperator.partial(task_id="runs").expand(workflow_id=[1, 2])
    (from_class,) = RunZuoraWorkflowOperator.operator_extra_links
    assert isinstance(from_class, ZuoraWorkflowInstanceLink) and from_class.name == "Zuora workflow run"
    assert op.operator_extra_links == (from_class,)
    assert list(mapped.operator_extra_links) == [from_class]  # MappedOperator reads it off the class
    assert {link.name: link for link in op.operator_extra_links} == {"Zuora workflow run": from_class}


def test_the_old_import_path_still_resolves_for_dags_serialized_before() -> None:
    assert workflow.ZuoraWorkflowInstanceLink is ZuoraWorkflowInstanceLink
    with pytest.raises(AttributeError, match="NoSuchName"):
        workflow.NoSuchName  # noqa: B018
