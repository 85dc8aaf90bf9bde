"""What importing the provider costs at DAG-parse time, on top of ``airflow.sdk``.

Each case runs in a fresh interpreter (``python -X importtime`` is not used: it distorts);
the table shows the median wall time over N runs and the modules each case pulls in.
Usage: python benchmarks/bench_import.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

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


def measure(code: str, runs: int) -> tuple[float, dict[str, bool]]:
    times, flags = [], {}
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", PROBE.format(code=code)], capture_output=True, text=True, check=True
        )
        row = json.loads(out.stdout.strip().splitlines()[-1])
        times.append(row.pop("s"))
        flags = row
    return statistics.median(times), flags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    rows = {name: measure(code, args.runs) for name, code in CASES.items()}
    base = rows["airflow.sdk (a DAG file)"][0]
    print(f"Import cost, median of {args.runs} fresh interpreters each (Python {sys.version.split()[0]})")
    print(f"| {'case':<26} | {'median ms':>9} | {'over sdk ms':>11} | requests | httpx | hook |")
    print(f"|{'-' * 28}|{'-' * 10}:|{'-' * 12}:|----------|-------|------|")
    for name, (median, flags) in rows.items():
        extra = (median - base) * 1000
        yes = {True: "yes", False: "no"}
        print(
            f"| {name:<26} | {median * 1000:>9.0f} | {extra:>11.0f} | {yes[flags['requests']]:<8} "
            f"| {yes[flags['httpx']]:<5} | {yes[flags['hook']]:<4} |"
        )


if __name__ == "__main__":
    main()
