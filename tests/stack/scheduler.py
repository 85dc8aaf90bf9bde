"""A whole Airflow on loopback for the proofs that need a real scheduler: retries, clears, kills.

api-server, dag-processor, scheduler (LocalExecutor: each task in a supervised process of its
own) and, if asked, a triggerer, over a fresh SQLite DB, DAG files from ``tests/dags``. The test
drives it the way a user does, through the REST API: trigger a DAG run, clear task instances (as
the UI's Clear button does), read states. ``dag.test()`` cannot stand in here: Airflow 3.0's
``dag.test(use_executor=True)`` marks a killed task successful ("not found in serialized_dag").
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.stack.airflow_stack import AirflowStack, wait_for

FINISHED = {"success", "failed"}


class SchedulerStack(AirflowStack):
    """``start()`` brings up every component; then ``trigger``, ``clear``, ``wait_run`` and ``tis``."""

    def __init__(
        self,
        home: Path,
        extra_env: dict[str, str] | None = None,
        *,
        triggerer: bool = False,
        port: int = 0,
        login: tuple[str, str] | None = None,
    ) -> None:
        """``login``: a user and password of the simple auth manager for the REST API; without it,
        every request is an admin's (``simple_auth_manager_all_admins``)."""
        settings = {
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",  # a token without a password
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_SEC": "1",
            # a worker that died is found within seconds, not Airflow's default 5 minutes
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "10",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
        }
        if login:
            settings["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "False"
        super().__init__(home, {**settings, **(extra_env or {})}, port=port)
        self.login = login
        self.with_triggerer = triggerer
        self._token: str | None = None

    def start(self, timeout: float = 180) -> None:
        super().start(timeout)
        self.start_component("dag-processor")
        self.start_component("scheduler", "--skip-serve-logs")  # a log server would listen beyond loopback
        if self.with_triggerer:
            self.start_component("triggerer", "--skip-serve-logs")

    # ---------------------------------------------------------------- REST API
    def api(self, method: str, path: str, body: Any = None) -> Any:
        """One call to the api-server's public REST API (``/api/v2``), as the UI makes it."""
        if self._token is None:
            self._token = self.token()
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v2{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"},
        )
        for attempt in range(1, 4):
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 (http on loopback)
                    raw = resp.read()
                return json.loads(raw) if raw else None
            except urllib.error.HTTPError as err:
                detail = err.read()[:2000]
                # SQLite lets one writer at a time: under load the api-server's write can lose to
                # the scheduler's and answer 500 "Database error" (rolled back, so safe to resend).
                if err.code == 500 and b"Database error" in detail and attempt < 3:
                    time.sleep(1.0)
                    continue
                raise AssertionError(f"{method} {path} -> {err.code}: {detail!r}") from None
        raise AssertionError("unreachable")

    def token(self) -> str:
        """A REST API token: the login's, or (all admins) anyone's."""
        url = f"http://127.0.0.1:{self.port}/auth/token"
        req = urllib.request.Request(url)
        if self.login:
            user, password = self.login
            body = json.dumps({"username": user, "password": password}).encode()
            req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 (http on loopback)
            return str(json.loads(resp.read())["access_token"])

    def wait_parsed(self, dag_id: str, timeout: float = 240) -> None:
        """Wait until the dag-processor has parsed ``dag_id``; unpause it."""

        def known() -> bool:
            dags = self.api("GET", "/dags?limit=1000")["dags"]
            return any(d["dag_id"] == dag_id for d in dags)

        assert wait_for(time.monotonic() + timeout, known, every=1), self.log("dag-processor")[-3000:]
        self.api("PATCH", f"/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        """A new manual DAG run; its run id."""
        run = self.api("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})
        return str(run["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 240) -> str:
        """The DAG run's final state (success or failed); fails the test if it does not finish."""

        def done() -> str | None:
            state = self.run_state(dag_id, run_id)
            return state if state in FINISHED else None

        state = wait_for(time.monotonic() + timeout, done, every=1)
        assert state, f"DAG run {run_id} did not finish:\n{self.log('scheduler')[-4000:]}"
        return state

    def tis(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        """Task id -> {state, try_number} of the run's task instances."""
        found = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {t["task_id"]: {"state": t["state"], "try_number": t["try_number"]} for t in found}

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run, mapped ones included (the API pages by 100)."""
        found: list[dict[str, Any]] = []
        while True:
            path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100&offset={len(found)}"
            page = self.api("GET", path)
            found += page["task_instances"]
            if not page["task_instances"] or len(found) >= page["total_entries"]:
                return found

    def clear(
        self, dag_id: str, run_id: str, task_ids: list[str] | None = None, *, include_downstream: bool = False
    ) -> None:
        """Clear task instances (all of the run's without ``task_ids``), as the UI's Clear does."""
        body: dict[str, Any] = {"dry_run": False, "dag_run_id": run_id, "only_failed": False}
        if task_ids is not None:
            body["task_ids"] = task_ids
        if include_downstream:
            body["include_downstream"] = True
        self.api("POST", f"/dags/{dag_id}/clearTaskInstances", body)

    def task_log(self, dag_id: str, run_id: str, task_id: str, attempt: int | None = None) -> str:
        """A task's log files (every try's, or one ``attempt``'s), trigger logs included."""
        base = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        pattern = "*.log" if attempt is None else f"attempt={attempt}*.log"
        return "\n".join(p.read_text(errors="replace") for p in sorted(base.rglob(pattern)))
