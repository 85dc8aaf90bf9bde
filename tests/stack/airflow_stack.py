"""A small real Airflow for tests that need task processes: migrated DB, api-server, LocalExecutor.

``dag.test(use_executor=True)`` sends each task to the LocalExecutor, whose supervisor runs it in
a process of its own that talks to the execution API of a real ``airflow api-server``. So a test
can SIGKILL a task process and watch Airflow retry it. Everything lives in a temporary
AIRFLOW_HOME; DAG files come from ``tests/dags``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
RUNNER = Path(__file__).with_name("run_dag.py")
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(deadline: float, check: Callable[[], T], every: float = 0.5) -> T:
    """``check()``'s first truthy answer before ``deadline`` (``time.monotonic()``), else its last."""
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(every)


def client_pids(port: int) -> list[int]:
    """The processes (not this one) holding an open connection to ``port`` on loopback: the task
    processes, triggerers... talking to the emulator."""
    import psutil

    return sorted(
        {
            int(c.pid)
            for c in psutil.net_connections(kind="tcp")
            if c.raddr
            and c.raddr.port == port
            and c.pid
            and c.pid != os.getpid()
            and c.status == "ESTABLISHED"
        }
    )


def client_pid(port: int) -> int | None:
    """One of :func:`client_pids` (the task process, when it is the only client), or None."""
    pids = client_pids(port)
    return pids[0] if pids else None


def parse_cli_json(stdout: str) -> Any:
    """The JSON an ``airflow ... -o json`` command printed, after any log lines before it (3.0's CLI
    prints some starting with ``[`` too, so the JSON is the last line that parses)."""
    for line in reversed(stdout.splitlines()):
        if line[:1] in "[{":
            try:
                return json.loads(line)
            except ValueError:
                continue
    raise ValueError(f"no JSON in the command's output: {stdout[-500:]!r}")


class AirflowStack:
    """An api-server on loopback over a fresh SQLite metadata DB in ``home``."""

    def __init__(self, home: Path, extra_env: dict[str, str] | None = None, *, port: int = 0) -> None:
        self.home = home
        self.port = port or free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "tests" / "dags"),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
                "AIRFLOW__CORE__PARALLELISM": "2",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "PYTHONPATH": str(REPO),
            }
        )
        env.update(extra_env or {})
        self.env = env
        self._components: list[subprocess.Popen[bytes]] = []

    def run(self, *cmd: str, timeout: float = 120) -> str:
        """Run ``cmd`` in this stack's environment; its stdout (raises on a non-zero exit)."""
        out = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout)
        if out.returncode:
            tail = f"{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
            raise RuntimeError(f"{' '.join(cmd[:3])} failed:\n{tail}")
        return out.stdout

    def cli(self, *args: str) -> str:
        """``airflow <args>``; its stdout."""
        return self.run(AIRFLOW, *args)

    def cli_json(self, *args: str) -> Any:
        """``airflow <args> -o json``, parsed."""
        return parse_cli_json(self.cli(*args, "-o", "json"))

    def start_component(self, *args: str, log_name: str | None = None) -> subprocess.Popen[bytes]:
        """Start ``airflow <args>`` (api-server, scheduler, triggerer...), logged to
        ``<log_name or args[0]>.log``."""
        with open(self.home / f"{log_name or args[0]}.log", "wb") as log:
            proc = subprocess.Popen([AIRFLOW, *args], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self._components.append(proc)
        return proc

    def exited(self) -> list[str]:
        """The commands of the components that have exited."""
        return [" ".join(map(str, p.args[1:3])) for p in self._components if p.poll() is not None]

    def log(self, name: str) -> str:
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, timeout: float = 120) -> None:
        """Migrate the DB and start the api-server; return once it answers its health check."""
        self.cli("db", "migrate")
        server = self.start_component("api-server", "--host", "127.0.0.1", "--port", str(self.port))
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}/api/v2/monitor/health"
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"api-server exited: {self.log('api-server')[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError("api-server did not become healthy")

    def stop(self) -> None:
        """Stop every process this stack started (SIGTERM, then SIGKILL after 30 s)."""
        for proc in self._components:
            proc.send_signal(signal.SIGTERM)
        for proc in self._components:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        self._components = []

    def start_dag(
        self, dag_file: str, dag_id: str, conf: dict[str, Any], env: dict[str, str]
    ) -> subprocess.Popen[str]:
        """Run one DAG run through the LocalExecutor in a child process (see run_dag.py)."""
        return subprocess.Popen(
            [sys.executable, str(RUNNER), str(REPO / "tests" / "dags" / dag_file), dag_id, json.dumps(conf)],
            env={**self.env, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )


def result_of(proc: subprocess.Popen[str], timeout: float = 240) -> tuple[dict[str, Any], str]:
    """The JSON summary run_dag.py prints last, and the whole output (for assertion messages)."""
    out, _ = proc.communicate(timeout=timeout)
    for line in reversed(out.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :]), out
    raise AssertionError(f"run_dag.py printed no result (exit {proc.returncode}):\n{out[-5000:]}")
