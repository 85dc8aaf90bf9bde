"""1,000 Zuora waits in a real ``airflow triggerer``: what the emulator sees, and what it costs.

``bench_triggers.py`` runs the triggers in a bare event loop; this runs them where users do. A
fresh SQLite metadata DB gets one DAG run whose ``--n`` sensor tasks are DEFERRED on
``ZuoraWorkflowInstanceTrigger`` rows (written through Airflow's own models, as a worker's
``defer()`` would leave them), then ``airflow triggerer`` (its supervisor and trigger-runner
processes) picks them up and polls the emulator, which runs in a thread of this process.

The triggers are the provider's own, subclassed only to note when each poll starts (a wall-clock
array, written out when the trigger ends at its ``end_time``) and when the runner process's full
garbage-collection passes run. Measured over the last ``--seconds`` before that end, once every
trigger has polled: token requests, polls made (of those asked), CPU per poll and RSS of the
triggerer's process tree (supervisor and trigger runner, sampled with psutil), lateness (the gap
between two polls of one trigger beyond the interval, as % of it), the full GC passes, and how many
of the late polls (over 10%) were due while one ran.

Usage: ``python benchmarks/bench_triggerer.py [--n 1000] [--interval 1] [--seconds 30]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
DAG_ID = "zuora_bench_triggerer"
WORKFLOW_ID = 7001
STARTUP_ALLOWANCE = 60.0  # for the triggerer to start and every trigger to poll once (11 s seen)

DAG_FILE = '''
"""A deferrable Zuora sensor mapped {n} times (bench_triggerer.py writes the trigger rows itself)."""
import pendulum
from airflow.sdk import dag

from airflow_provider_zuora.sensors.workflow import ZuoraWorkflowInstanceSensor


@dag(dag_id="{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
def bench():
    ZuoraWorkflowInstanceSensor.partial(task_id="wait", deferrable=True).expand(instance_id=list(range({n})))


bench()
'''

TIMED_TRIGGER = '''
"""The provider's trigger, noting when each poll starts (wall clock) and writing them when it ends.

For the diagnosis, this process's full garbage-collection passes are noted too (start, seconds).
"""
import gc
import json
import time
from array import array

from airflow_provider_zuora.triggers.workflow import ZuoraWorkflowInstanceTrigger

GC_PASSES = []
_began = [0.0]


def _note_gc(phase, info):
    if info["generation"] == 2:
        if phase == "start":
            _began[0] = time.time()
        else:
            GC_PASSES.append((_began[0], time.time() - _began[0]))


gc.callbacks.append(_note_gc)


class TimedTrigger(ZuoraWorkflowInstanceTrigger):
    def __init__(self, *, out: str, **kwargs):
        super().__init__(**kwargs)
        self.out = out

    def serialize(self):
        return f"{__name__}.TimedTrigger", {**super().serialize()[1], "out": self.out}

    async def run(self):
        times = array("d")
        original = self.hook.aget_workflow_instance

        async def timed(instance_id):
            times.append(time.time())
            return await original(instance_id)

        self.hook.aget_workflow_instance = timed
        try:
            async for event in super().run():
                yield event
        finally:
            with open(self.out, "a") as f:
                f.write(json.dumps([self.instance_id, list(times)]) + "\\n")
            with open(self.out + ".gc", "w") as f:
                json.dump(GC_PASSES, f)
'''


# ---------------------------------------------------------------- setup (runs with AIRFLOW_HOME set)
def setup(ids: list[str], interval: float, end_time: float, out: str) -> None:
    """One DAG run whose tasks are DEFERRED on a Zuora trigger each, as ``defer()`` leaves them."""
    import pendulum
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType
    from timed_trigger import TimedTrigger  # written beside the DAGs, on PYTHONPATH

    now = pendulum.now("UTC")
    with create_session() as session:
        dag = SerializedDagModel.get_dag(DAG_ID, session=session)
        if dag is None:
            raise SystemExit(f"DAG {DAG_ID} is not in the metadata DB")
        run = dag.create_dagrun(
            run_id="bench",
            run_after=now,
            run_type=DagRunType.MANUAL,
            triggered_by=DagRunTriggeredByType.TEST,
            state=DagRunState.RUNNING,
            session=session,
        )
        tis = {ti.map_index: ti for ti in run.get_task_instances(session=session)}
        if len(tis) != len(ids):
            raise SystemExit(f"expected {len(ids)} mapped task instances, found {sorted(tis)[:5]}...")
        for i, instance_id in enumerate(ids):
            trigger = Trigger.from_object(
                TimedTrigger(instance_id=instance_id, poll_interval=interval, end_time=end_time, out=out)
            )
            session.add(trigger)
            session.flush()
            ti = tis[i]
            ti.state = TaskInstanceState.DEFERRED
            ti.trigger_id = trigger.id
            ti.next_method = "execute_complete"
        session.commit()
    print(f"deferred {len(ids)} task instances")


# ---------------------------------------------------------------- parent
def _tree(pid: int) -> list[Any]:
    import psutil

    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _cpu(procs: list[Any]) -> float:
    import psutil

    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            continue
    return total


def _rss(procs: list[Any]) -> int:
    import psutil

    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total


def _airflow(env: dict[str, str], *args: str) -> None:
    out = subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"airflow {' '.join(args)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="deferred tasks (default 1000)")
    parser.add_argument("--interval", type=float, default=1.0, help="poll interval, seconds (default 1)")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds (default 30)")
    parser.add_argument("--setup", nargs=3, help=argparse.SUPPRESS)  # ids file, end time, out file
    args = parser.parse_args()
    if args.setup:
        ids_file, end_time, out = args.setup
        setup(Path(ids_file).read_text().split(), args.interval, float(end_time), out)
        return

    from airflow_provider_zuora.testing import Phase, Workflow, ZuoraEmulator

    long_run = Workflow(id=WORKFLOW_ID, name="Long wait", timeline=[Phase("Processing", 36000.0)])
    with ZuoraEmulator(port=0, workflows=[long_run]) as emu, tempfile.TemporaryDirectory() as tmp:
        home, dags, out = Path(tmp, "home"), Path(tmp, "dags"), Path(tmp, "polls.jsonl")
        dags.mkdir()
        (dags / "bench_dag.py").write_text(textwrap.dedent(DAG_FILE.format(n=args.n, dag_id=DAG_ID)))
        Path(tmp, "timed_trigger.py").write_text(TIMED_TRIGGER)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(emu.airflow_env())
        env.update(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
                "AIRFLOW__TRIGGERER__CAPACITY": str(args.n),
                "PYTHONPATH": os.pathsep.join([str(REPO), tmp]),
            }
        )
        t0 = time.monotonic()
        _airflow(env, "db", "migrate")
        _airflow(env, "dags", "reserialize")
        ids = [str(emu.backend.run_workflow(WORKFLOW_ID, {})["id"]) for _ in range(args.n)]
        ids_file = Path(tmp, "ids.txt")
        ids_file.write_text("\n".join(ids))
        end_time = time.time() + STARTUP_ALLOWANCE + args.seconds + 3 * args.interval
        setup_cmd = [sys.executable, __file__, "--interval", str(args.interval),
                     "--setup", str(ids_file), str(end_time), str(out)]  # fmt: skip
        done = subprocess.run(setup_cmd, env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"setup failed:\n{done.stderr[-4000:]}")
        print(f"set up in {time.monotonic() - t0:.0f} s: {done.stdout.strip().splitlines()[-1]}")

        tokens_before = emu.backend.tokens_issued
        log_path = Path(tmp, "triggerer.log")
        with open(log_path, "wb") as log:
            triggerer = subprocess.Popen([AIRFLOW, "triggerer", "--skip-serve-logs"], env=env, stdout=log,
                                         stderr=subprocess.STDOUT)  # fmt: skip
            try:
                result = measure(emu, triggerer.pid, ids, args, end_time, out, log_path)
            finally:
                triggerer.send_signal(signal.SIGTERM)
                try:
                    triggerer.wait(30)
                except subprocess.TimeoutExpired:
                    triggerer.kill()
        result["tokens"] = emu.backend.tokens_issued - tokens_before
        report(args, result)


def _fail(message: str, log: Path) -> SystemExit:
    return SystemExit(f"{message}; the triggerer's log ends:\n{log.read_text()[-4000:]}")


def measure(
    emu: Any, pid: int, ids: list[str], args: argparse.Namespace, end_time: float, out: Path, log: Path
) -> dict[str, Any]:
    """Wait until every trigger has polled, measure until just before ``end_time``, read the polls."""
    prefix, started = "/workflows/workflow_runs/", time.time()
    while True:
        seen = {r.path[len(prefix) :] for r in emu.backend.requests("GET", prefix + "*")}
        if set(ids) <= seen:
            break
        if time.time() > end_time - args.seconds - args.interval:
            raise _fail(f"only {len(seen & set(ids))} of {len(ids)} triggers polled in time", log)
        time.sleep(0.5)
    print(f"every trigger polled {time.time() - started:.0f} s after the triggerer started")
    time.sleep(2 * args.interval)  # past the first round (its token wait)
    time.sleep(max(0.0, end_time - args.interval - args.seconds - time.time()))  # the last --seconds
    procs = _tree(pid)
    start_wall, cpu0 = time.time(), _cpu(procs)
    rss_peak = 0
    while time.time() < end_time - args.interval:
        rss_peak = max(rss_peak, _rss(procs))
        time.sleep(0.25)
    cpu1, end_wall = _cpu(procs), time.time()
    while len(out.read_text().splitlines() if out.exists() else []) < len(ids):
        if time.time() > end_time + 60:
            raise _fail("the triggers did not all end", log)
        time.sleep(0.5)
    times = [json.loads(line)[1] for line in out.read_text().splitlines()]
    passes = [(a, d) for a, d in json.loads(Path(f"{out}.gc").read_text()) if start_wall <= a < end_wall]
    polls = sum(start_wall <= t < end_wall for ts in times for t in ts)
    late = sorted(
        max(0.0, b - a - args.interval) / args.interval
        for ts in times
        for a, b in itertools.pairwise(ts)
        if start_wall <= a < end_wall - args.interval
    )
    late_polls = [
        (a + args.interval, b)
        for ts in times
        for a, b in itertools.pairwise(ts)
        if start_wall <= a < end_wall - args.interval and b - a > 1.1 * args.interval
    ]
    in_gc = sum(any(g < b and due < g + d for g, d in passes) for due, b in late_polls)
    return {
        "gc_full": len(passes),
        "gc_full_max_ms": max((d for _, d in passes), default=0.0) * 1e3,
        "late_in_gc": in_gc / max(len(late_polls), 1),
        "seconds": end_wall - start_wall,
        "polls": polls,
        "asked": len(ids) / args.interval * (end_wall - start_wall),
        "cpu_per_poll_us": (cpu1 - cpu0) / max(polls, 1) * 1e6,
        "cpu_share": (cpu1 - cpu0) / (end_wall - start_wall),
        "rss_mb": rss_peak / 2**20,
        "processes": len(procs),
        "late_median": statistics.median(late) if late else 0.0,
        "late_p99": late[int(0.99 * (len(late) - 1))] if late else 0.0,
        "late_max": late[-1] if late else 0.0,
        "late_over_10": sum(x > 0.10 for x in late) / max(len(late), 1),
    }


def report(args: argparse.Namespace, r: dict[str, Any]) -> None:
    print(f"\n{args.n} deferred tasks in one `airflow triggerer`, one poll per {args.interval:g} s each "
          f"({args.n / args.interval:g} polls/s asked), {r['seconds']:.0f} s measured")  # fmt: skip
    rows = [
        ("token requests", f"{r['tokens']}"),
        ("polls made (of asked)", f"{r['polls'] / r['asked']:.0%}"),
        ("CPU per poll, triggerer tree", f"{r['cpu_per_poll_us']:.0f} us ({r['cpu_share']:.0%} of a core)"),
        ("RSS, triggerer tree", f"{r['rss_mb']:.0f} MB ({r['processes']} processes)"),
        (
            "lateness median / p99 / max",
            f"{r['late_median']:.1%} / {r['late_p99']:.1%} / {r['late_max']:.1%}",
        ),
        ("polls over 10% late", f"{r['late_over_10']:.2%}"),
        ("full GC passes (longest)", f"{r['gc_full']} ({r['gc_full_max_ms']:.0f} ms)"),
        ("late polls waiting out a GC pass", f"{r['late_in_gc']:.0%}"),
    ]
    print(f"| {'measure':<32} | {'figure':<30} |")
    print(f"|{'-' * 34}|{'-' * 32}|")
    for label, figure in rows:
        print(f"| {label:<32} | {figure:<30} |")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
