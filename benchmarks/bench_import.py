"""What importing the provider costs at DAG-parse time, on top of ``airflow.sdk``.

Each case runs in a fresh interpreter (``python -X importtime`` is not used: it distorts), the
cases taken in turn (round-robin) so that noise hits them alike; the table shows the median wall
time over N runs and the modules each case pulls in. One table per interpreter: this one, and
each ``make matrix`` venv under ``.matrix/`` (the wheel on an older Airflow), or those given.
Usage: python benchmarks/bench_import.py [--runs 15] [--python PATH ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BASE = "from airflow.sdk import BaseOperator, BaseSensorOperator, dag, task"
CASES = {
    "airflow.sdk (a DAG file)": BASE,
    "+ operator + sensor": BASE
    + "; import airflow_provider_zuora.operators.workflow, airflow_provider_zuora.sensors.workflow",
    "+ provider metadata": BASE + "; import airflow_provider_zuora.get_provider_info",
}
PROBE = (
    "import sys, time; t = time.perf_counter(); {code}; d = time.perf_counter() - t; "
    "import json; print(json.dumps({{'s': d, 'requests': 'requests' in sys.modules, "
    "'httpx': 'httpx' in sys.modules, 'hook': 'airflow_provider_zuora.hooks.zuora' in sys.modules}}))"
)


def probe(python: str, code: str, cwd: str) -> dict[str, float | bool]:
    """One fresh interpreter (isolated: the installed package, never the checkout's source)."""
    out = subprocess.run(
        [python, "-I", "-c", PROBE.format(code=code)], capture_output=True, text=True, check=True, cwd=cwd
    )
    row: dict[str, float | bool] = json.loads(out.stdout.strip().splitlines()[-1])
    return row


def measure(python: str, runs: int) -> dict[str, tuple[float, dict[str, float | bool]]]:
    times: dict[str, list[float]] = {name: [] for name in CASES}
    flags: dict[str, dict[str, float | bool]] = {}
    with tempfile.TemporaryDirectory() as cwd:
        for _ in range(runs):
            for name, code in CASES.items():  # round-robin
                row = probe(python, code, cwd)
                times[name].append(float(row.pop("s")))
                flags[name] = row
    return {name: (statistics.median(times[name]), flags[name]) for name in CASES}


def airflow_version(python: str) -> str:
    code = "from importlib.metadata import version; print(version('apache-airflow'))"
    return subprocess.run(
        [python, "-I", "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--python", action="append", help="interpreters to measure (default: see above)")
    args = parser.parse_args()
    matrix = sorted(
        str(p) for p in (Path(__file__).resolve().parents[1] / ".matrix").glob("*/venv/bin/python")
    )
    pythons = args.python or [sys.executable, *matrix]
    yes = {True: "yes", False: "no"}
    for python in pythons:
        rows = measure(python, args.runs)
        base = rows["airflow.sdk (a DAG file)"][0]
        print(
            f"\nImport cost on Airflow {airflow_version(python)}, median of {args.runs} fresh interpreters "
            f"each (Python {sys.version.split()[0]})"
        )
        print(f"| {'case':<26} | {'median ms':>9} | {'over sdk ms':>11} | requests | httpx | hook |")
        print(f"|{'-' * 28}|{'-' * 10}:|{'-' * 12}:|----------|-------|------|")
        for name, (median, flags) in rows.items():
            extra = (median - base) * 1000
            print(
                f"| {name:<26} | {median * 1000:>9.0f} | {extra:>11.0f} | {yes[bool(flags['requests'])]:<8} "
                f"| {yes[bool(flags['httpx'])]:<5} | {yes[bool(flags['hook'])]:<4} |"
            )


if __name__ == "__main__":
    main()
