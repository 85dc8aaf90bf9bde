"""``make bench``: run every benchmark, then write ``benchmarks/RESULTS.md``.

Each ``bench_*.py`` runs as a child process, its output shown as it comes, with ``--json PATH``:
the tables, notes and target verdicts it printed, collected here. ``RESULTS.md`` gets the date,
the machine (cores, CPU, memory, Python, Airflow), a summary of every target (met, or the figures
showing why not), then each benchmark's tables. ``--quick`` is a smoke test of the same pipeline
(fewer runs, smaller loads, the newest Airflow only for the import table: a couple of minutes);
its figures are not the benchmark's, so it writes to a temporary file unless ``--out`` is given
(as ``--only`` does: ``RESULTS.md`` holds whole runs only).

Exit status: 0 when every benchmark ran (targets not met are reported, not an error; ``--strict``
makes them one), 1 when one failed to run.

Usage: ``python benchmarks/run_all.py [--quick] [--only NAME ...] [--uv UV] [--out PATH] [--strict]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

from _report import markdown_table
from _venvs import default_uv, supported_versions

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def steps(uv: str, quick: bool) -> list[tuple[str, list[str]]]:
    """(script, arguments) in running order: the import table first, on a machine still quiet."""
    newest = supported_versions()[-1]
    if quick:
        return [
            ("bench_import", ["--runs", "2", "--versions", newest, "--uv", uv]),
            ("bench_calls", ["--runs", "10"]),
            ("bench_latency", ["--samples", "3", "--interval", "1"]),
            ("bench_emulator", ["--requests", "500", "--runs", "1", "--concurrency", "8"]),
            ("bench_triggers", ["--n", "200", "--seconds", "4", "--intervals", "1", "5"]),
            ("bench_triggerer", ["--n", "100", "--seconds", "8", "--intervals", "1", "5", "--startup", "30"]),
        ]
    return [
        ("bench_import", ["--runs", "15", "--uv", uv]),
        ("bench_calls", ["--runs", "100"]),
        ("bench_latency", ["--samples", "10", "--interval", "2"]),
        ("bench_emulator", ["--requests", "3000", "--runs", "5", "--concurrency", "1", "8", "32"]),
        ("bench_triggers", ["--n", "1000", "--seconds", "20", "--intervals", "1", "5"]),
        ("bench_triggerer", ["--n", "1000", "--seconds", "30", "--intervals", "1", "5"]),
    ]


def machine() -> dict[str, str]:
    cpu, mem = "?", "?"
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
        kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if "MemTotal" in line
        )
        mem = f"{kb / 2**20:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    return {
        "cores": str(os.cpu_count()),
        "CPU": cpu,
        "memory": mem,
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "Airflow": importlib.metadata.version("apache-airflow"),
        "load": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy since boot (all cores, every process)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """CPU seconds of this process's descendants that have ended (every benchmark's processes)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_step(name: str, args: list[str], json_path: Path) -> tuple[int, list[str]]:
    """Run one script, echoing its output with a prefix; its exit status and last lines."""
    cmd = [sys.executable, str(HERE / f"{name}.py"), *args, "--json", str(json_path)]
    tail: deque[str] = deque(maxlen=40)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(f"  {line}", end="", flush=True)
            tail.append(line.rstrip("\n"))
    return proc.returncode, list(tail)


def write_results(
    out: Path, info: dict[str, str], results: list[dict[str, Any]], wall: float, quick: bool
) -> None:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` (`python benchmarks/run_all.py`) on {now}"
        + (", **quick mode: a smoke test, not the benchmark's figures**" if quick else "")
        + f"; wall time {wall / 60:.1f} min. Every figure below is from this one run.",
        "",
        "## Machine",
        "",
        f"- {info['cores']} cores ({info['CPU']}), {info['memory']} of memory; {info['OS']}",
        f"- Python {info['Python']}; Airflow {info['Airflow']} in the project's venv (the import table "
        "also covers every supported Airflow, each in a benchmark venv of its own)",
        f"- load average (1 / 5 / 15 min) at the start: {info['load']}; at the end: {info['load_end']} "
        "(anything else running on the machine shares its cores with the benchmarks)",
        "",
        "## Targets",
        "",
    ]
    rows = []
    for r in results:
        if r.get("failed"):
            rows.append([f"`{r['script']}`", "(the script)", "**did not run**", r["failed"]])
        for t in r.get("targets", []):
            rows.append([f"`{r['script']}`", t["what"], "met" if t["met"] else "**not met**", t["figures"]])
    lines += [markdown_table(["benchmark", "target", "verdict", "figures"], rows), ""]
    timing = []
    for r in results:
        got = r.get("targets", [])
        met = f"{sum(t['met'] for t in got)} of {len(got)}"
        timing.append([f"`{r['script']}`", f"{r.get('seconds', 0):.0f}", f"{r['others']:.0%}", met])
    header = ["benchmark", "seconds", "CPU used by other processes meanwhile", "targets met"]
    lines += [markdown_table(header, timing, right=(1, 2)), ""]
    lines += [
        "The third column is the machine's busy CPU time during that benchmark, less the benchmark's own "
        "processes', as a share of all cores over its wall time: what else running on the machine took "
        "from it (lateness and latency figures suffer first).",
        "",
    ]
    for r in results:
        lines += [
            f"## {r.get('title', r['script'])}",
            "",
            f"`benchmarks/{r['script']}.py {' '.join(r['args'])}`",
        ]
        lines.append("")
        if r.get("failed"):
            lines += ["**Did not run:** " + r["failed"], "", "```", *r.get("tail", []), "```", ""]
            continue
        for note in r.get("notes", []):
            lines += [note.strip(), ""]
        for table in r.get("tables", []):
            lines += [f"**{table['caption'].strip()}**", "", table["markdown"], ""]
        for t in r.get("targets", []):
            verdict = f"met ({t['figures']})" if t["met"] else f"**not met**: {t['figures']}"
            lines.append(f"- {t['what']}: {verdict}")
        lines.append("")
    out.write_text("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke test of the whole pipeline")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="these scripts only (e.g. bench_calls)")
    parser.add_argument("--uv", help="uv for the import benchmark's venvs (default: beside this Python)")
    parser.add_argument("--out", help="where to write the results (default benchmarks/RESULTS.md)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is not met")
    args = parser.parse_args()
    uv = args.uv or default_uv()
    plan = [s for s in steps(uv, args.quick) if not args.only or s[0] in args.only]
    if args.only and len(plan) != len(args.only):
        raise SystemExit(f"unknown benchmark in {args.only}; known: {[s[0] for s in steps(uv, False)]}")
    if args.out:
        out = Path(args.out)
    elif args.quick or args.only:  # RESULTS.md holds full runs only: every figure from one run
        out = Path(tempfile.gettempdir(), f"zuora-bench-RESULTS-{'quick' if args.quick else 'only'}.md")
    else:
        out = HERE / "RESULTS.md"
    info = machine()
    print(f"{len(plan)} benchmarks{' (quick)' if args.quick else ''}; results to {out}", flush=True)
    where = f"{info['cores']} cores, {info['CPU']}, Python {info['Python']}, Airflow {info['Airflow']}"
    print(f"machine: {where}, load {info['load']}", flush=True)
    started = time.monotonic()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, script_args) in enumerate(plan, 1):
            elapsed = (time.monotonic() - started) / 60
            load = os.getloadavg()[0]
            print(f"\n== [{i}/{len(plan)}] {name} {' '.join(script_args)} (at {elapsed:.1f} min, "
                  f"load {load:.2f})", flush=True)  # fmt: skip
            t0, busy0, ours0 = time.monotonic(), machine_busy(), children_cpu()
            path = Path(tmp, f"{name}.json")
            code, tail = run_step(name, script_args, path)
            seconds = time.monotonic() - t0
            # What else ran meanwhile: the machine's busy CPU time less the benchmark's own.
            others = max(0.0, (machine_busy() - busy0) - (children_cpu() - ours0))
            others_share = others / (seconds * (os.cpu_count() or 1))
            print(f"   other processes used {others:.0f} CPU-s meanwhile ({others_share:.0%} of the machine)")
            if path.exists():
                result = json.loads(path.read_text())
                met = sum(t["met"] for t in result["targets"])
                print(f"== [{i}/{len(plan)}] {name}: {met} of {len(result['targets'])} targets met, "
                      f"{seconds:.0f} s", flush=True)  # fmt: skip
            else:
                result = {"failed": f"exit status {code}", "tail": tail}
                print(
                    f"== [{i}/{len(plan)}] {name}: FAILED (exit status {code}), {seconds:.0f} s", flush=True
                )
            result.update({"script": name, "args": script_args, "seconds": seconds, "others": others_share})
            results.append(result)
    wall = time.monotonic() - started
    info["load_end"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    write_results(out, info, results, wall, args.quick)
    failed = [r["script"] for r in results if r.get("failed")]
    missed = [f"{r['script']}: {t['what']}" for r in results for t in r.get("targets", []) if not t["met"]]
    print(f"\nwall time {wall / 60:.1f} min; wrote {out}", flush=True)
    for m in missed:
        print(f"not met: {m}", flush=True)
    if failed:
        print(f"did not run: {', '.join(failed)}", flush=True)
    return 1 if failed or (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
