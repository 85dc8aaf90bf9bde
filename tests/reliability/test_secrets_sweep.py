"""Secrets sweep: the example DAGs under a real Airflow at DEBUG, then every place a secret could land.

The emulator has a client secret made for this test and issues short-lived tokens (so several are
refreshed mid-run). A scheduler, dag-processor, api-server and triggerer run both example DAGs
(one run succeeds, one fails with task errors, the sensor deferred to the triggerer). Then the
client secret and every token the emulator issued are searched for in: every file under the
Airflow home (component logs, task logs, trigger logs), every row of every table of the metadata
DB (rendered template fields, XComs, the trigger rows read while the sensor was deferred, task
instances, the audit log), the ``repr`` and exception texts of the hook, operator and trigger,
and the emulator's own request log and server log. Expected: 0 occurrences.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.reliability import report
from tests.stack.airflow_stack import wait_for
from tests.stack.scheduler import SchedulerStack

pytestmark = [pytest.mark.integration, pytest.mark.dag, pytest.mark.stack]
EXAMPLE, MAPPED = "example_zuora_workflow", "example_zuora_mapped"
LONG = 3964  # workflow 396 running 12 s: the sensor finds it running and defers


class _Capture(logging.Handler):
    """Every record the emulator's server logs, formatted (what it would print)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def _db_text(db: Path) -> dict[str, str]:
    """Table name -> every row of it as text."""
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: "\n".join(map(repr, conn.execute(f'SELECT * FROM "{t}"'))) for t in tables}  # noqa: S608


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from airflow_provider_zuora.testing import ZuoraEmulator

    secret = "sweep-" + secrets.token_urlsafe(24)
    capture = _Capture()
    server_loggers = [logging.getLogger(n) for n in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    for lg in server_loggers:
        lg.addHandler(capture)
    emu = ZuoraEmulator(client_secret=secret, token_lifetime=5, log_level="debug")
    with emu:
        backend = emu.backend
        backend.add_workflow(dataclasses.replace(backend.get_workflow(396), id=LONG, processing_seconds=12))
        env = {
            **emu.airflow_env(),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "DEBUG",
        }
        stack = SchedulerStack(tmp_path_factory.mktemp("secrets-sweep"), env, triggerer=True)
        stack.start()
        try:
            for dag_id in (EXAMPLE, MAPPED):
                stack.wait_parsed(dag_id)
            ok = stack.trigger(EXAMPLE, {"workflow_id": LONG})

            def trigger_rows() -> str | None:
                rows = _db_text(stack.home / "airflow.db")["trigger"]
                return rows or None

            deferred = wait_for(time.monotonic() + 240, trigger_rows, every=0.5)
            assert deferred, stack.log("scheduler")[-3000:]
            failing = stack.trigger(EXAMPLE, {"workflow_id": 397})  # fails with task errors
            mapped = stack.trigger(MAPPED, {})
            states = {
                "ok": stack.wait_run(EXAMPLE, ok, timeout=300),
                "failing": stack.wait_run(EXAMPLE, failing, timeout=300),
                "mapped": stack.wait_run(MAPPED, mapped, timeout=300),
            }
        finally:
            stack.stop()
        tokens = list(backend._tokens)
        request_log = json.dumps([r.to_dict() for r in backend.request_log])
        state = json.dumps(backend.state())
    for lg in server_loggers:
        lg.removeHandler(capture)
    yield {
        "secret": secret,
        "tokens": tokens,
        "states": states,
        "home": stack.home,
        "trigger_rows": deferred,
        "emulator": {"request log": request_log, "state": state, "server log": "\n".join(capture.lines)},
    }


PLACES = {
    "files": "every file of the Airflow home (component, task and trigger logs, at DEBUG)",
    "db": "every row of every metadata DB table (rendered fields, XComs, trigger rows, audit log)",
    "emulator": "the emulator's request log, state and server log",
    "objects": "repr() of hook, operator, trigger and serialized trigger; the refused-credentials error",
}
_found_in: dict[str, int] = {}


@pytest.fixture(scope="module", autouse=True)
def record_the_sweep() -> Iterator[None]:
    """Once every place was searched: the figure for docs/reliability.md."""
    yield
    if set(_found_in) == set(PLACES):
        places = "; ".join(PLACES.values())
        report.figure(
            "secrets found", f"{sum(_found_in.values())} (client secret and every token issued, in: {places})"
        )


def _found(needles: list[str], haystacks: dict[str, str], place: str) -> list[tuple[str, str]]:
    found = [(where, n[:6] + "...") for where, text in haystacks.items() for n in needles if n in text]
    _found_in[place] = _found_in.get(place, 0) + len(found)
    return found


def test_the_runs_did_what_the_sweep_needs(swept: dict[str, Any]) -> None:
    assert swept["states"] == {"ok": "success", "failing": "failed", "mapped": "success"}
    assert len(swept["tokens"]) >= 2  # refreshed mid-run: more than one token to look for
    assert "ZuoraWorkflowInstanceTrigger" in swept["trigger_rows"]


def test_no_file_in_the_airflow_home_holds_a_secret(swept: dict[str, Any]) -> None:
    home: Path = swept["home"]
    files = {str(p.relative_to(home)): p.read_text(errors="replace") for p in home.rglob("*") if p.is_file()}
    logs = [f for f in files if f.endswith(".log")]
    assert any(".trigger." in f for f in logs) and any("attempt=" in f for f in logs)
    assert sum('"level":"debug"' in files[f] for f in logs) > 3  # the task logs are at DEBUG
    files.pop("airflow.db", None)  # swept table by table below
    assert not _found([swept["secret"], *swept["tokens"]], files, "files")


def test_no_row_of_the_metadata_db_holds_a_secret(swept: dict[str, Any]) -> None:
    tables = _db_text(swept["home"] / "airflow.db")
    assert tables["rendered_task_instance_fields"] and tables["xcom"]  # there was something to search
    tables["trigger (while deferred)"] = swept["trigger_rows"]
    assert not _found([swept["secret"], *swept["tokens"]], tables, "db")


def test_the_emulator_logs_no_secret(swept: dict[str, Any]) -> None:
    assert swept["emulator"]["server log"]  # the server logged at DEBUG
    assert not _found([swept["secret"], *swept["tokens"]], swept["emulator"], "emulator")


def test_repr_and_errors_of_hook_operator_and_trigger_hold_no_secret(zuora_emulator: Any) -> None:
    from airflow_provider_zuora.exceptions import ZuoraAuthError
    from airflow_provider_zuora.hooks.zuora import ZuoraHook
    from airflow_provider_zuora.operators.workflow import RunZuoraWorkflowOperator
    from airflow_provider_zuora.triggers.workflow import ZuoraWorkflowInstanceTrigger

    backend = zuora_emulator.backend
    secret = backend.config.client_secret
    hook = ZuoraHook()
    assert hook.get_workflow(396)["id"]  # a token fetched and used
    (token,) = backend._tokens
    trigger = ZuoraWorkflowInstanceTrigger(instance_id="1")
    texts = {
        "hook": f"{hook!r} {hook.config!r} {vars(hook)!r}",
        "operator": repr(RunZuoraWorkflowOperator(task_id="t", workflow_id=396)),
        "trigger": repr(trigger),
        "trigger.serialize()": repr(trigger.serialize()),
    }
    backend.configure(client_secret=secret + "-rotated")  # our secret is refused from now on
    backend.expire_tokens()
    with pytest.raises(ZuoraAuthError) as refused:
        ZuoraHook().get_workflow(396)
    texts["refused credentials"] = f"{refused.value} {refused.value!r} {refused.value.args!r}"
    assert "Client Secret" in texts["refused credentials"]  # it says what to check
    assert not _found([secret, token], texts, "objects")
