"""Every example DAG parses cleanly: no import errors, no warnings."""

from __future__ import annotations

import warnings

from tests.conftest import REPO


def _is_ours(warning_line: str) -> bool:
    """A captured DagBag warning (``path:line: Category: message``) raised from this repo's files."""
    return warning_line.startswith(str(REPO)) and "site-packages" not in warning_line.split(":", 1)[0]


def test_example_dags_parse_without_errors_or_warnings() -> None:
    from airflow_provider_zuora._compat import DagBag

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = DagBag(dag_folder=str(REPO / "example_dags"))
    assert bag.import_errors == {}
    # Warnings raised from our files (Airflow 3.0's own modules warn about each other on first use).
    assert {path: w for path, ws in bag.captured_warnings.items() for w in ws if _is_ours(w)} == {}
    ours = [
        w for w in caught if "airflow_provider_zuora" in str(w.filename) or "example_dags" in str(w.filename)
    ]
    assert ours == []
    assert set(bag.dags) == {"example_zuora_workflow", "example_zuora_mapped"}
    run = bag.dags["example_zuora_workflow"].get_task("run_workflow")
    assert run.parameters is not None
    assert run.upstream_task_ids == {"build_parameters"}
    wait = bag.dags["example_zuora_workflow"].get_task("wait_for_workflow")
    assert wait.upstream_task_ids == {"run_workflow"}
