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
    "airflow.sdk (a DAG file)": "pass",
    "+ operator + sensor": "import airflow_provider_zuora.operators.workflow, "
    "airflow_provider_zuora.sensors.workflow",
    "+ provider metadata": "import airflow_provider_zuora.get_provider_info",
}
# The base import and the case's own imports are timed apart, in the same fresh interpreter: the
# increment is what the case adds once airflow.sdk is loaded, without the base's +-100 ms of noise.
PROBE = (
    "import sys, time; t = time.perf_counter(); " + BASE + "; b = time.perf_counter(); {code}; "
    "e = time.perf_counter(); import json; print(json.dumps({{'s': e - t, 'inc': e - b, "
    "'requests': 'requests' in sys.modules, 'httpx': 'httpx' in sys.modules, "
    "'hook': 'airflow_provider_zuora.hooks.zuora' in sys.modules}}))"
)


def probe(python: str, code: str, cwd: str) -> dict[str, float | bool]:
    """One fresh interpreter (isolated: the installed package, never the checkout's source)."""
    out = subprocess.run(
        [python, "-I", "-c", PROBE.format(code=code)], capture_output=True, text=True, check=True, cwd=cwd
    )
    row: dict[str, float | bool] = json.loads(out.stdout.strip().splitlines()[-1])
    return row


def measure(python: str, runs: int) -> dict[str, tuple[float, float, dict[str, float | bool]]]:
    """Per case: the median whole time, the median increment over the base, the module flags."""
    times: dict[str, list[float]] = {name: [] for name in CASES}
    incs: dict[str, list[float]] = {name: [] for name in CASES}
    flags: dict[str, dict[str, float | bool]] = {}
    with tempfile.TemporaryDirectory() as cwd:
        for _ in range(runs):
            for name, code in CASES.items():  # round-robin
                row = probe(python, code, cwd)
                times[name].append(float(row.pop("s")))
                incs[name].append(float(row.pop("inc")))
                flags[name] = row
    return {
        name: (statistics.median(times[name]), statistics.median(incs[name]), flags[name]) for name in CASES
    }


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
        print(
            f"\nImport cost on Airflow {airflow_version(python)}, median of {args.runs} fresh interpreters "
            f"each (Python {sys.version.split()[0]}); target: operator + sensor under 20 ms over airflow.sdk"
        )
        print(f"| {'case':<26} | {'whole ms':>8} | {'over sdk ms':>11} | requests | httpx | hook |")
        print(f"|{'-' * 28}|{'-' * 9}:|{'-' * 12}:|----------|-------|------|")
        for name, (whole, inc, flags) in rows.items():
            widths = (("requests", 8), ("httpx", 5), ("hook", 4))
            mods = " | ".join(f"{yes[bool(flags[k])]:<{w}}" for k, w in widths)
            print(f"| {name:<26} | {whole * 1000:>8.0f} | {inc * 1000:>11.1f} | {mods} |")


if __name__ == "__main__":
    main()
