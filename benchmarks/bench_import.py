"""What importing an operator and a sensor costs at DAG-parse time, on top of ``airflow.sdk``:
this provider's next to the dbt Cloud provider's and the http provider's, on every supported Airflow.

Per supported Airflow version, a benchmark venv (``_venvs.py``): that version's pin list, this
provider's wheel built from the checkout, ``apache-airflow-providers-dbt-cloud`` and
``apache-airflow-providers-http`` (resolved against the pin list; cached in
``~/.cache/airflow-provider-zuora/venvs/bench-<v>-<digest>``). Each probe is a fresh interpreter
(``python -I`` from an empty folder, so only the venv's installed packages are seen) that imports
``airflow.sdk``, then one case's two modules; the increment is timed in-process from ``airflow.sdk``
loaded to the case's modules loaded (``-X importtime`` is not used: it distorts), and its memory
is the growth of the process's peak RSS (``ru_maxrss``) over the same stretch. Every (version,
case) is probed once per round, rounds repeated (round-robin, the order rotated each round so no
case always follows another), after one warm-up round that is not counted; medians of ``--runs``.

Target: ours at most 5% of dbt Cloud's increment in the same run, on every version.

Usage: ``python benchmarks/bench_import.py [--runs 15] [--versions 3.3.2 ...] [--uv UV]
[--python PATH ...] [--json PATH]`` (``--python``: measure those interpreters as they are).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _report import Report, add_json_argument
from _venvs import COMPARED, bench_venv, build_wheel, default_uv, supported_versions

BASE = "from airflow.sdk import BaseOperator, BaseSensorOperator, dag, task"
CASES = {
    "zuora": "import airflow_provider_zuora.operators.workflow, airflow_provider_zuora.sensors.workflow",
    "dbt Cloud": "import airflow.providers.dbt.cloud.operators.dbt, airflow.providers.dbt.cloud.sensors.dbt",
    "http": "import airflow.providers.http.operators.http, airflow.providers.http.sensors.http",
}
LABELS = {
    "zuora": "this provider: operator + sensor",
    "dbt Cloud": "dbt Cloud: operator + sensor",
    "http": "http: operator + sensor",
}
DISTRIBUTIONS = {
    "zuora": "airflow-provider-zuora",
    "dbt Cloud": "apache-airflow-providers-dbt-cloud",
    "http": "apache-airflow-providers-http",
}
TARGET_SHARE = 0.05
CASE_HEADER = ["case", "version", "over airflow.sdk, ms", "share of dbt Cloud's",
               "peak RSS over airflow.sdk, MB", "requests", "aiohttp", "zuora hook"]  # fmt: skip
SUMMARY_HEADER = ["Airflow", "airflow.sdk ms", "zuora ms", "dbt Cloud ms", "http ms", "zuora / dbt Cloud",
                  "zuora MB", "dbt Cloud MB", "http MB", "dbt-cloud provider", "http provider"]  # fmt: skip
PROBE = (
    "import resource, sys, time\n"
    "def rss(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
    "t = time.perf_counter()\n" + BASE + "\n"
    "b = time.perf_counter(); m = rss()\n"
    "{code}\n"
    "e = time.perf_counter(); n = rss()\n"
    "import json\n"
    "print(json.dumps({{'base': b - t, 'inc': e - b, 'kb': n - m, 'requests': 'requests' in sys.modules,\n"
    "    'aiohttp': 'aiohttp' in sys.modules,\n"
    "    'zuora hook': 'airflow_provider_zuora.hooks.zuora' in sys.modules}}))\n"
)
INFO = (
    "import json, importlib.metadata as md, importlib.util as u\n"
    "def v(d):\n"
    "    try: return md.version(d)\n"
    "    except md.PackageNotFoundError: return None\n"
    "spec = u.find_spec('airflow_provider_zuora')\n"
    "print(json.dumps({'airflow': v('apache-airflow'), 'where': spec.origin if spec else None,\n"
    "    'versions': {k: v(d) for k, d in " + repr(DISTRIBUTIONS) + ".items()}}))\n"
)


def probe_env(home: Path) -> dict[str, str]:
    """The caller's environment without its Airflow settings; a throwaway AIRFLOW_HOME per venv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        }
    )
    home.mkdir(parents=True, exist_ok=True)
    return env


def run_python(python: str, code: str, cwd: str, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, cwd=cwd, env=env)
    if out.returncode:
        raise RuntimeError(f"{python} failed:\n{out.stderr[-3000:]}")
    row: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return row


def measure(
    targets: list[dict[str, Any]], runs: int, cwd: str, progress: bool = True
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Probe every (interpreter, case) once per round, for a warm-up round and ``runs`` rounds."""
    pairs = [(t["label"], case) for t in targets for case in t["cases"]]
    by_label = {t["label"]: t for t in targets}
    samples: dict[tuple[str, str], list[dict[str, Any]]] = {p: [] for p in pairs}
    for round_no in range(runs + 1):
        shift = round_no % len(pairs)
        for label, case in pairs[shift:] + pairs[:shift]:
            t = by_label[label]
            row = run_python(t["python"], PROBE.format(code=CASES[case]), cwd, t["env"])
            if round_no:  # round 0 warms the page cache and is not counted
                samples[(label, case)].append(row)
        if progress:
            print(f"  round {round_no}/{runs}{' (warm-up)' if round_no == 0 else ''} done", flush=True)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="counted rounds (median over them; default 15)")
    parser.add_argument("--versions", nargs="+", help="Airflow versions (default: every pin list)")
    parser.add_argument("--uv", help="uv to make the venvs with (default: beside this Python, or on PATH)")
    parser.add_argument("--python", action="append", help="measure these interpreters instead, as they are")
    add_json_argument(parser)
    args = parser.parse_args()
    report = Report("bench_import", "Import cost: operator + sensor over airflow.sdk, side by side")

    with tempfile.TemporaryDirectory() as tmp:
        if args.python:
            pythons = [(Path(p).parent.parent.name, p) for p in args.python]
        else:
            uv = args.uv or default_uv()
            wheel = build_wheel(uv, Path(tmp, "dist"))
            print(f"built {wheel.name} from the checkout", flush=True)
            pythons = []
            for version in args.versions or supported_versions():
                venv = bench_venv(uv, version, wheel)
                pythons.append((venv.name, str(venv / "bin" / "python")))
        targets = []
        for label, python in pythons:
            env = probe_env(Path(tmp, "home", label))
            info = run_python(python, INFO, tmp, env)
            cases = [c for c in CASES if info["versions"].get(c)]
            if "zuora" in cases and "site-packages" not in str(info["where"]):
                if not args.python:  # the benchmark venvs hold the wheel, never the checkout's source
                    raise SystemExit(f"{python}: airflow_provider_zuora is not the wheel: {info['where']}")
                print(f"{python}: airflow_provider_zuora is not installed as a wheel: {info['where']}")
            targets.append({"label": label, "python": python, "env": env, "info": info, "cases": cases})
            print(f"{label}: Airflow {info['airflow']}, " + ", ".join(
                f"{DISTRIBUTIONS[c]} {info['versions'][c]}" for c in cases), flush=True)  # fmt: skip
        n_probes = (args.runs + 1) * sum(len(t["cases"]) for t in targets)
        print(f"{n_probes} fresh interpreters, round-robin...", flush=True)
        samples = measure(targets, args.runs, tmp)

    report.note(
        f"Median of {args.runs} fresh interpreters per case (round-robin over every venv and case, order "
        f"rotated each round, one warm-up round not counted); Python {platform.python_version()}, "
        f"{os.cpu_count()} cores. 'over airflow.sdk' is timed in-process from "
        "`from airflow.sdk import BaseOperator, BaseSensorOperator, dag, task` done to the case's two "
        "modules imported; 'peak RSS' is the growth of ru_maxrss (peak resident set) over the same stretch. "
        f"Compared providers installed only in the benchmark venvs: {', '.join(COMPARED)}."
    )
    summary = []
    for t in targets:
        info, label = t["info"], t["label"]
        med = {
            c: {k: statistics.median(float(r[k]) for r in samples[(label, c)]) for k in ("base", "inc", "kb")}
            for c in t["cases"]
        }
        flags = {c: samples[(label, c)][-1] for c in t["cases"]}
        dbt = med.get("dbt Cloud", {}).get("inc")
        rows = []
        for c in t["cases"]:
            ratio = f"{med[c]['inc'] / dbt:.1%}" if dbt else "-"
            yes = ["yes" if flags[c][k] else "no" for k in ("requests", "aiohttp", "zuora hook")]
            rows.append([LABELS[c], info["versions"][c], f"{med[c]['inc'] * 1e3:.1f}", ratio,
                         f"{med[c]['kb'] / 1024:.1f}", *yes])  # fmt: skip
        base_ms = statistics.median(float(r["base"]) for c in t["cases"] for r in samples[(label, c)]) * 1e3
        report.table(
            f"Airflow {info['airflow']} ({label}): airflow.sdk itself {base_ms:.0f} ms, then:",
            CASE_HEADER,
            rows,
            right=(2, 3, 4),
        )
        if "zuora" in med and dbt:
            ours = med["zuora"]["inc"]
            report.target(
                f"Airflow {info['airflow']}: ours <= {TARGET_SHARE:.0%} of dbt Cloud's increment",
                ours <= TARGET_SHARE * dbt,
                f"ours {ours * 1e3:.1f} ms = {ours / dbt:.1%} of dbt Cloud's {dbt * 1e3:.1f} ms",
            )
        elif "zuora" in med:
            report.target(f"Airflow {info['airflow']}: ours vs dbt Cloud", False, "dbt Cloud not installed")

        def cell(c: str, key: str, scale: float, fmt: str, med: dict[str, dict[str, float]] = med) -> str:
            return format(med[c][key] * scale, fmt) if c in med else "-"

        share = f"{med['zuora']['inc'] / dbt:.1%}" if dbt and "zuora" in med else "-"
        ms = [cell(c, "inc", 1e3, ".1f") for c in CASES]
        mb = [cell(c, "kb", 1 / 1024, ".1f") for c in CASES]
        versions = [info["versions"].get(c) or "-" for c in ("dbt Cloud", "http")]
        summary.append([info["airflow"], f"{base_ms:.0f}", *ms, share, *mb, *versions])
    report.table(
        f"Summary: increment over airflow.sdk (median ms of {args.runs}) and peak RSS growth (MB)",
        SUMMARY_HEADER,
        summary,
        right=tuple(range(1, 9)),
    )
    return report.finish(args.json)


if __name__ == "__main__":
    sys.exit(main())
