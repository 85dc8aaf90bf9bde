"""``make demo``: the example DAG end to end against the bundled emulator, then a short summary.

Starts the emulator (sample workflows) on a free loopback port, points ``zuora_default`` at it,
migrates the metadata DB, runs ``airflow dags test example_zuora_workflow`` (full log in
``$AIRFLOW_HOME/demo-dags-test.log``), prints what happened, stops the emulator. Exit code 0 only
when the DAG run succeeded and the emulator saw exactly one workflow run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

DAG_ID = "example_zuora_workflow"
WORKFLOW_ID = 396


def _airflow() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def _say(line: str = "") -> None:
    print(line, flush=True)  # noqa: T201 - this is a command-line program


def _dag_run_state(log_text: str) -> str:
    found = re.findall(r"DagRun Finished: .*?state=(\w+)", log_text)
    return found[-1] if found else "unknown"


def _summary_line(log_text: str) -> str | None:
    found = re.findall(r"(WF-\d+-\d+ \(instance \d+\) \w+: \d+/\d+ tasks succeeded)", log_text)
    return found[-1] if found else None


def run_demo(home: Path) -> int:
    """Run the demo with Airflow state in ``home``; return the process exit code."""
    from airflow_provider_zuora.testing import ZuoraEmulator

    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    env.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(Path.cwd() / "example_dags"))
    with ZuoraEmulator(port=0) as emu:
        env.update(emu.airflow_env())
        _say(f"Zuora emulator on {emu.base_url} (sample workflows), connection zuora_default -> it")
        _say("Migrating the Airflow metadata DB ...")
        subprocess.run([_airflow(), "db", "migrate"], env=env, check=True, capture_output=True)
        log_path = home / "demo-dags-test.log"
        _say(f"airflow dags test {DAG_ID} (workflow {WORKFLOW_ID}); full log: {log_path}")
        with log_path.open("w") as log:
            proc = subprocess.run(
                [_airflow(), "dags", "test", DAG_ID, "--conf", json.dumps({"workflow_id": WORKFLOW_ID})],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
            )
        text = log_path.read_text(errors="replace")
        state = _dag_run_state(text)
        instances = [i for i in emu.backend.runs if str(i.get("originalWorkflowId")) == str(WORKFLOW_ID)]
        _print_summary(state, instances, emu, _summary_line(text))
    ok = proc.returncode == 0 and state == "success" and len(instances) == 1
    _say("Demo " + ("succeeded." if ok else f"FAILED (airflow exit {proc.returncode}); see {log_path}"))
    return 0 if ok else 1


def _print_summary(state: str, instances: list[dict[str, Any]], emu: Any, line: str | None) -> None:
    _say()
    _say(f"DAG run {DAG_ID}: {state}")
    for inst in instances:
        tasks = emu.backend.get_run_tasks(inst["id"])
        _say(
            f"Workflow {inst.get('originalWorkflowId')} -> instance {inst['id']} ({inst.get('name')}): "
            f"{inst.get('status')}"
        )
        for task in tasks:
            _say(f"  task {task.get('name')!r} [{task.get('action_type')}]: {task.get('status')}")
    if line:
        _say(f"Downstream task reported: {line}")
    runs, tokens = len(instances), emu.backend.tokens_issued
    _say(f"Emulator: {runs} run(s) of workflow {WORKFLOW_ID}, {tokens} token(s) issued")
    _say()


def main() -> int:
    # A home of its own: the test suite's metadata DB (in AIRFLOW_HOME) configures other DAG bundles.
    home = Path(os.environ.get("AIRFLOW_HOME") or Path.cwd() / ".airflow") / "demo"
    return run_demo(home)


if __name__ == "__main__":
    raise SystemExit(main())
