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
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WORKFLOW_ID = 7001
STARTUP_ALLOWANCE = 60.0  # for the triggerer to start and every trigger to poll once (11 s seen)

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


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="deferred tasks (default 1000)")
    parser.add_argument("--interval", type=float, default=1.0, help="poll interval, seconds (default 1)")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds (default 30)")
    args = parser.parse_args()

    from airflow_provider_zuora.testing import Phase, Workflow, ZuoraEmulator
    from tests.stack.triggerer import TriggererStack

    long_run = Workflow(id=WORKFLOW_ID, name="Long wait", timeline=[Phase("Processing", 36000.0)])
    with ZuoraEmulator(port=0, workflows=[long_run]) as emu, tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "timed_trigger.py").write_text(TIMED_TRIGGER)
        out = Path(tmp, "polls.jsonl")
        stack = TriggererStack(Path(tmp, "stack"), args.n, emu.airflow_env(), pythonpath=[Path(tmp)])
        t0 = time.monotonic()
        stack.prepare()
        ids = [str(emu.backend.run_workflow(WORKFLOW_ID, {})["id"]) for _ in range(args.n)]
        end_time = time.time() + STARTUP_ALLOWANCE + args.seconds + 3 * args.interval
        kwargs = {"poll_interval": args.interval, "end_time": end_time, "out": str(out)}
        stack.defer([("timed_trigger.TimedTrigger", {"instance_id": i, **kwargs}) for i in ids])
        print(f"set up in {time.monotonic() - t0:.0f} s: {args.n} task instances deferred")

        tokens_before = emu.backend.tokens_issued
        pid = stack.start()
        try:
            result = measure(emu, pid, ids, args, end_time, out, stack.log_path)
        finally:
            stack.stop()
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
