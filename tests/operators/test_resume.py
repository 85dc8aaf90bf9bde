"""The key scheme behind retry-safety: which clear a try belongs to, and the keys it can recompute."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_zuora.operators._resume import RunRecord, TryIdentity


def ident(try_number: int = 1, max_tries: int = 0, retries: int = 0, **ids: Any) -> TryIdentity:
    fields = {"dag_id": "billing", "run_id": "manual__1", "task_id": "run", "map_index": -1, **ids}
    ti = SimpleNamespace(**fields, try_number=try_number, max_tries=max_tries)
    return TryIdentity.of({"ti": ti}, retries=retries)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("try_number", "max_tries", "retries", "first_try"),
    [
        (1, 0, 0, 1),  # a first try without retries
        (1, 2, 2, 1),  # a first try with retries=2
        (3, 2, 2, 1),  # its last automatic retry: same clear
        (4, 5, 2, 4),  # cleared after try 3 (max_tries = 3 + 2): try 4 starts the new clear
        (5, 5, 2, 4),  # and its retry stays in it
        (2, 1, 0, 2),  # retries=0, cleared after try 1 (max_tries = 1 + 0)
        (2, 0, 0, 1),  # a clear of a running task leaves max_tries alone: the same clear
        (1, 9, 0, 1),  # never after this try
    ],
)
def test_first_try_of_the_clear_is_airflows_own_formula(
    try_number: int, max_tries: int, retries: int, first_try: int
) -> None:
    assert ident(try_number, max_tries, retries).first_try == first_try


def test_an_automatic_retry_computes_the_same_keys_a_clear_does_not() -> None:
    try_1, try_2 = ident(1, 1, 1), ident(2, 1, 1)
    cleared = ident(3, 3, 1)
    assert try_1.key(396, 0) == try_2.key(396, 0)
    assert try_2.tries_before == 1 and cleared.tries_before == 0
    assert cleared.key(396, 0) not in {try_1.key(396, 0), try_1.key(396, 1)}


@pytest.mark.parametrize(
    "other",
    [
        {"dag_id": "other"},
        {"run_id": "manual__2"},
        {"task_id": "other"},
        {"map_index": 3},
    ],
)
def test_keys_differ_for_every_other_task_instance(other: dict[str, Any]) -> None:
    assert ident().key(396, 0) != ident(**other).key(396, 0)


def test_keys_differ_per_workflow_and_run_number_and_fit_zuoras_limit() -> None:
    keys = {ident().key(396, 0), ident().key(397, 0), ident().key(396, 1), ident().key("396", 1)}
    assert len(keys) == 3  # "396" and 396 are one workflow
    assert all(k.startswith("airflow-") and len(k) <= 255 for k in keys)


def test_own_key_is_per_try() -> None:
    assert ident(1, 1, 1).own_key(396) != ident(2, 1, 1).own_key(396)
    assert ident(2, 1, 1).own_key(396) == ident(2, 1, 1).own_key(396)


def test_missing_or_odd_ti_fields_fall_back_to_a_first_try() -> None:
    ti = SimpleNamespace(dag_id="d", run_id="r", task_id="t", try_number=object(), max_tries=None)
    found = TryIdentity.of({"ti": ti}, retries=0)  # type: ignore[arg-type]
    assert (found.try_number, found.first_try, found.map_index) == (1, 1, -1)


def test_a_record_without_a_store_saves_nothing() -> None:
    record = RunRecord.load({})  # type: ignore[arg-type]
    record.save_key("k", 396, ident(), 0)
    record.save_instance(400)
    assert record.store is None and not record.is_from_an_earlier_clear(ident(3, 3, 1))
