"""``make airflow`` / ``make airflow-prod``: a running Airflow with the Zuora emulator, for people.

Starts the emulator (sample workflows) on loopback, then Airflow in an isolated home
(``.airflow-up/``): api-server, dag-processor, scheduler and triggerer over SQLite with the
LocalExecutor, or with ``--prod`` the production topology of ``tests/stack/production.py``
(PostgreSQL, CeleryExecutor on Redis, two workers, two triggerers). The example DAGs are loaded
and unpaused, and ``zuora_default`` points at the emulator. Prints the UI address, the login and
how to stop; runs until Ctrl-C, SIGTERM or ``python -m tests.stack.up --stop`` (``make
airflow-stop``), and then stops everything it started.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from tests.stack.airflow_stack import REPO
from tests.stack.scheduler import SchedulerStack

HOME = REPO / ".airflow-up"
EXAMPLE_DAGS = ("example_zuora_workflow", "example_zuora_mapped")
USER = "admin"


def _say(line: str = "") -> None:
    print(line, flush=True)  # noqa: T201 - a command-line program


def _pid_file(home: Path) -> Path:
    return home / "up.pid"


def stop(home: Path, timeout: float = 90) -> int:
    """Ask a running ``up`` in ``home`` to stop, and wait until it has."""
    try:
        pid = int(_pid_file(home).read_text())
        os.kill(pid, signal.SIGTERM)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        _say(f"No Airflow from `make airflow` is running in {home}.")
        return 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            _say("Stopped.")
            return 0
        time.sleep(0.5)
    _say(f"Process {pid} did not stop within {timeout:.0f} s.")
    return 1


def make_stack(home: Path, prod: bool, port: int, password: str) -> SchedulerStack:
    env = {"AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags")}
    login = (USER, password)
    if prod:
        from tests.stack.production import ProductionStack

        database = "zuora_airflow_up_" + hashlib.sha1(str(home).encode()).hexdigest()[:8]  # noqa: S324
        return ProductionStack(home, env, database=database, port=port, login=login)
    return SchedulerStack(home, env, triggerer=True, port=port, login=login)


def up(home: Path, prod: bool, port: int) -> int:
    from airflow_provider_zuora.testing import ZuoraEmulator
    from airflow_provider_zuora.testing.emulator import DEFAULT_CONN_ID

    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    password = secrets.token_urlsafe(9)
    # The simple auth manager keeps the password it finds here (it generates one only if none).
    (home / "simple_auth_manager_passwords.json.generated").write_text(json.dumps({USER: password}))
    started = time.monotonic()
    stopping: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with ZuoraEmulator() as emulator:
        stack = make_stack(home, prod, port, password)
        try:
            _say(f"Starting Airflow in {home} (logs: <component>.log there)...")
            stack.start()
            stack.cli("connections", "add", DEFAULT_CONN_ID, "--conn-uri", emulator.airflow_conn_uri())
            for dag_id in EXAMPLE_DAGS:
                stack.wait_parsed(dag_id)
            _pid_file(home).write_text(str(os.getpid()))
            topology = (
                "PostgreSQL, CeleryExecutor on Redis, 2 workers, 2 triggerers"
                if prod
                else "SQLite, LocalExecutor, 1 triggerer"
            )
            _say(f"Airflow is up in {time.monotonic() - started:.0f} s ({topology}).")
            _say(f"  UI:        http://127.0.0.1:{stack.port}   login: {USER} / {password}")
            _say(f"  Emulator:  {emulator.base_url}   (connection {DEFAULT_CONN_ID}, sample workflows)")
            _say(f"  DAGs:      {', '.join(EXAMPLE_DAGS)} (unpaused; trigger them from the UI)")
            _say("  Stop:      Ctrl-C here, or `make airflow-stop` from another shell")
            while not stopping:
                dead = stack.exited()
                if dead:
                    _say(f"Stopping: {', '.join(dead)} exited (see its log in {home}).")
                    return 1
                time.sleep(1)
            return 0
        finally:
            _say("Stopping Airflow...")
            stack.stop()
            _pid_file(home).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.stack.up", description=__doc__.split("\n")[0])
    parser.add_argument("--prod", action="store_true", help="PostgreSQL + Celery + 2 triggerers")
    parser.add_argument("--port", type=int, default=8080, help="the UI's port on 127.0.0.1")
    parser.add_argument("--home", type=Path, default=HOME, help="AIRFLOW_HOME (wiped at start)")
    parser.add_argument("--stop", action="store_true", help="stop the Airflow running in --home")
    args = parser.parse_args(argv)
    home = args.home.resolve()
    return stop(home) if args.stop else up(home, args.prod, args.port)


if __name__ == "__main__":
    sys.exit(main())
