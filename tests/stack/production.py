"""Airflow as it runs in production, on loopback: PostgreSQL, the CeleryExecutor, two of everything.

The metadata DB is a database of its own on the machine's PostgreSQL (127.0.0.1:5432), made for
this stack and dropped by ``stop()``. Tasks go through Redis (127.0.0.1:6379) to Celery workers on
a queue named for this stack, so two stacks on one Redis never take each other's tasks. Workers
and triggerers are started by name (``worker-1``, ``triggerer-2``) and can be SIGKILLed with their
whole process tree, the way a machine dies. Used by ``tests/operators/test_workflow_celery.py``
and ``make airflow-prod`` (``tests/stack/up.py``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from contextlib import closing, suppress
from pathlib import Path
from typing import Any

import psutil

from tests.stack.airflow_stack import wait_for
from tests.stack.scheduler import SchedulerStack

POSTGRES = "postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/0"

# What the production topology needs beyond SchedulerStack's settings (reported in the README).
SETTINGS = {
    "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
    "AIRFLOW__CORE__PARALLELISM": "16",
    "AIRFLOW__CELERY__BROKER_URL": REDIS,
    "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
    # A triggerer that stopped heartbeating is taken over after 6 s instead of 30.
    "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "6",
}


def services_missing() -> str:
    """What this topology needs and cannot reach ('' when PostgreSQL, Redis and the packages are there)."""
    import importlib.util
    import socket

    missing = [
        name
        for name, port in (("PostgreSQL", 5432), ("Redis", 6379))
        if socket.socket().connect_ex(("127.0.0.1", port)) != 0
    ]
    missing += [m for m in ("psycopg2", "airflow.providers.celery") if importlib.util.find_spec(m) is None]
    return ", ".join(missing)


def require_services(what: str) -> None:
    """Fail (under ``CI=true``) or skip loudly when ``what`` cannot have the services it needs."""
    missing = services_missing()
    if not missing:
        return
    import pytest

    message = f"{what} needs {missing} on loopback"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(f"SKIPPED LOUDLY: {message}")


def _admin() -> Any:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    conn.autocommit = True
    return conn


def create_database(name: str) -> str:
    """A fresh PostgreSQL database ``name`` (dropped first if left over); its SQLAlchemy URL."""
    with closing(_admin()) as conn, conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg2://{POSTGRES}/{name}"


def drop_database(name: str) -> None:
    with closing(_admin()) as conn, conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def kill_tree(proc: psutil.Process) -> None:
    """SIGKILL ``proc`` and every process under it at once (a machine dying, not a shutdown)."""
    family = [proc, *proc.children(recursive=True)]
    for p in family:
        with suppress(psutil.NoSuchProcess):
            p.send_signal(signal.SIGKILL)
    psutil.wait_procs(family, timeout=10)


class ProductionStack(SchedulerStack):
    """api-server, dag-processor, scheduler, ``workers`` Celery workers and ``triggerers`` triggerers."""

    def __init__(
        self,
        home: Path,
        extra_env: dict[str, str] | None = None,
        *,
        workers: int = 2,
        triggerers: int = 2,
        database: str | None = None,
        port: int = 0,
        login: tuple[str, str] | None = None,
    ) -> None:
        self.database = database or f"zuora_airflow_{uuid.uuid4().hex[:12]}"
        self.queue = f"zuora-{uuid.uuid4().hex[:12]}"
        url = create_database(self.database)
        settings = {
            **SETTINGS,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + url,
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
        }
        super().__init__(home, {**settings, **(extra_env or {})}, port=port, login=login)
        self.n_workers, self.n_triggerers = workers, triggerers
        self.named: dict[str, subprocess.Popen[bytes]] = {}
        self.triggerer_jobs: dict[str, int] = {}  # triggerer name -> its Job id in the DB

    def start(self, timeout: float = 240) -> None:
        """Every component; each triggerer's Job id is known (started one at a time) on return."""
        super().start(timeout)
        for n in range(1, self.n_workers + 1):
            self.start_worker(f"worker-{n}")
        for n in range(1, self.n_triggerers + 1):
            self.start_triggerer(f"triggerer-{n}", timeout)
        for name in self.named:
            if name.startswith("worker-"):
                self.wait_worker_ready(name, timeout)

    def start_named(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        proc = self.start_component(*args, log_name=name)
        self.named[name] = proc
        return proc

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        # No log server (it would listen beyond loopback, and two would fight over one port).
        return self.start_named(
            name, "celery", "worker", "--queues", self.queue, "--celery-hostname", f"{name}@%h",
            "--skip-serve-logs",
        )  # fmt: skip

    def wait_worker_ready(self, name: str, timeout: float = 120) -> None:
        proc = self.named[name]
        wait_for(time.monotonic() + timeout, lambda: " ready." in self.log(name) or proc.poll() is not None)
        assert proc.poll() is None and " ready." in self.log(name), (
            f"{name} did not start:\n{self.log(name)[-3000:]}"
        )

    def start_triggerer(self, name: str, timeout: float = 120) -> int:
        """Start a triggerer and wait for its Job row; its Job id (what ``trigger.triggerer_id`` holds)."""
        known = set(self.triggerer_jobs.values())
        self.start_named(name, "triggerer", "--skip-serve-logs")

        def new_job() -> int | None:
            rows = self.sql(
                "SELECT id FROM job WHERE job_type = 'TriggererJob' AND state = 'running' ORDER BY id"
            )
            fresh = [r[0] for r in rows if r[0] not in known]
            return fresh[0] if fresh else None

        proc = self.named[name]
        wait_for(time.monotonic() + timeout, lambda: new_job() or proc.poll() is not None, every=0.5)
        job = new_job() if proc.poll() is None else None
        assert job, f"{name} did not register:\n{self.log(name)[-3000:]}"
        self.triggerer_jobs[name] = job
        return job

    def kill(self, name: str) -> None:
        """SIGKILL component ``name`` and all its children (task processes, trigger runner)."""
        kill_tree(psutil.Process(self.named[name].pid))

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        """Rows of one read-only query on this stack's metadata DB."""
        import psycopg2

        with closing(psycopg2.connect(host="127.0.0.1", user="postgres", dbname=self.database)) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(query, args)
                return list(cur.fetchall())

    def triggers_by_triggerer(self) -> dict[str | None, int]:
        """Triggerer name (None: unassigned) -> how many trigger rows it holds."""
        names = {job: name for name, job in self.triggerer_jobs.items()}
        rows = self.sql("SELECT triggerer_id, count(*) FROM trigger GROUP BY triggerer_id")
        return {names.get(job, None if job is None else f"job {job}"): int(n) for job, n in rows}

    def component_of(self, pid: int) -> str | None:
        """The name of the component whose process tree holds ``pid`` (say, a task process)."""
        with suppress(psutil.NoSuchProcess):
            for ancestor in psutil.Process(pid).parents():
                for name, proc in self.named.items():
                    if proc.pid == ancestor.pid:
                        return name
        return None

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self.named = {}
            drop_database(self.database)
