"""``make airflow`` and ``make airflow-prod`` as a person uses them: start, log in, run the example
DAG through the REST API, ``make airflow-stop``; nothing they started is left running.

Each runs in a home of its own (``AIRFLOW_UP_HOME``) on a free port, so a developer's own
``make airflow`` is never touched. Newest Airflow only (the sdist has no Makefile).
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.stack.airflow_stack import REPO, free_port, wait_for
from tests.stack.production import require_services
from tests.stack.scheduler import SchedulerStack

pytestmark = [pytest.mark.integration, pytest.mark.stack, pytest.mark.production]
BANNER = re.compile(r"UI:\s+(http://127\.0\.0\.1:\d+)\s+login: (\w+) / (\S+)")


def _env() -> dict[str, str]:
    """The caller's environment without Airflow's settings or the enclosing make's flags."""
    drop = ("AIRFLOW", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


@pytest.mark.parametrize("target", ["airflow", "airflow-prod"])
def test_make_airflow_runs_the_example_dag_and_stops_cleanly(target: str, tmp_path: Path) -> None:
    if target == "airflow-prod":
        require_services("make airflow-prod")
    home, port = tmp_path / "home", free_port()
    make = ["make", "--no-print-directory", f"AIRFLOW_PORT={port}", f"AIRFLOW_UP_HOME={home}"]
    proc = subprocess.Popen(
        [*make, target], cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    started = time.monotonic()
    try:
        ready = wait_for(
            time.monotonic() + 400, lambda: any("Stop:" in x for x in lines) or proc.poll() is not None
        )
        output = "".join(lines)
        assert ready and proc.poll() is None, output
        url, user, password = BANNER.search(output).groups()  # type: ignore[union-attr]
        assert url == f"http://127.0.0.1:{port}" and "make airflow-stop" in output
        up_seconds = time.monotonic() - started
        family = psutil.Process(proc.pid).children(recursive=True)

        with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 (the UI on loopback)
            assert resp.status == 200 and b"<html" in resp.read().lower()
        client = SchedulerStack(home, port=port, login=(user, password))  # the running one, not a new one
        conn = client.api("GET", "/connections/zuora_default")
        assert conn["conn_type"] == "zuora" and conn["host"].startswith("http://127.0.0.1:")
        run_id = client.trigger("example_zuora_workflow", {})
        assert client.wait_run("example_zuora_workflow", run_id, timeout=300) == "success"
        ran_seconds = time.monotonic() - started - up_seconds
    finally:
        stopped = subprocess.run(
            [*make, "airflow-stop"], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=120
        )
        try:
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert stopped.returncode == 0 and "Stopped." in stopped.stdout, stopped.stdout + stopped.stderr
    assert proc.returncode == 0, "".join(lines)[-3000:]
    left = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not left, [p.cmdline()[:4] for p in left]
    print(f"\nmake {target}: up in {up_seconds:.0f} s, example DAG run in {ran_seconds:.0f} s")  # noqa: T201
