"""Detection latency: from the emulator finishing an instance to the waiter noticing it.

Real time here (a latency cannot be taken on a virtual clock): the emulator runs in a thread of
this process on its own clock (real time, no offset), and each sample is an instance of a workflow
that is ``Processing`` for a random 0.5 to 0.5 + 2 x ``--interval`` seconds, so it ends at a random
point of the poll cycle. The instance ends at ``created + that`` on the emulator's clock
(``created`` taken just before the run call: if anything, latencies are overstated by the call's
own time); the waiter notices when its wait returns: the sensor's ``poke`` returning done (poke
mode), the trigger yielding its event (deferrable mode: the trigger the deferrable sensor defers
on, run in an event loop as a triggerer would), the sync operator's ``execute`` returning.
Samples of one mode run at once (poke-mode sensors and operators in threads, triggers in one
loop), at a poll interval of ``--interval`` (default 2 s; the defaults, 30 and 60 s, would take
minutes per sample, and the bound scales with the interval).

Target: at most one poll interval plus 200 ms, every sample.

Usage: ``python benchmarks/bench_latency.py [--samples 10] [--interval 2] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _report import Report, add_json_argument, logs_to

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SLACK = 0.2
FIRST_WORKFLOW = 9100


def _context(run_id: str) -> Any:
    from bench_calls import context

    return context(run_id)


class Sample:
    def __init__(self, workflow_id: int, seconds: float) -> None:
        self.workflow_id, self.seconds = workflow_id, seconds
        self.finish = 0.0
        self.noticed: float | None = None

    @property
    def latency(self) -> float:
        if self.noticed is None:
            raise RuntimeError(f"workflow {self.workflow_id}: never noticed")
        return self.noticed - self.finish


def sensor_poke(emu: Any, samples: list[Sample], interval: float) -> None:
    from airflow_provider_zuora.sensors.workflow import ZuoraWorkflowInstanceSensor

    def wait(sample: Sample, instance: str) -> None:
        sensor = ZuoraWorkflowInstanceSensor(task_id="wait", instance_id=instance, poke_interval=interval)
        poke = sensor.poke

        def timed(context: Any) -> Any:
            done = poke(context)
            if done:
                sample.noticed = time.time()
            return done

        sensor.poke = timed  # type: ignore[method-assign]
        sensor.execute(_context(f"manual__poke_{instance}"))

    threads = []
    for s in samples:
        s.finish = emu.backend.now() + s.seconds
        instance = str(emu.backend.run_workflow(s.workflow_id, {})["id"])
        threads.append(threading.Thread(target=wait, args=(s, instance)))
        threads[-1].start()
    for t in threads:
        t.join()


def operator_sync(emu: Any, samples: list[Sample], interval: float) -> None:
    from airflow_provider_zuora.operators.workflow import RunZuoraWorkflowOperator

    def run(sample: Sample) -> None:
        op = RunZuoraWorkflowOperator(
            task_id="run", workflow_id=sample.workflow_id, wait_for_completion=True, poll_interval=interval
        )
        sample.finish = emu.backend.now() + sample.seconds  # the run call creates it right after
        op.execute(_context(f"manual__sync_{sample.workflow_id}"))
        sample.noticed = time.time()

    threads = [threading.Thread(target=run, args=(s,)) for s in samples]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def sensor_deferred(emu: Any, samples: list[Sample], interval: float) -> None:
    from bench_calls import is_named

    from airflow_provider_zuora.sensors.workflow import ZuoraWorkflowInstanceSensor

    triggers = []
    for s in samples:
        s.finish = emu.backend.now() + s.seconds
        instance = str(emu.backend.run_workflow(s.workflow_id, {})["id"])
        sensor = ZuoraWorkflowInstanceSensor(
            task_id="wait", instance_id=instance, poke_interval=interval, deferrable=True
        )
        try:
            sensor.execute(_context(f"manual__deferred_{instance}"))
        except BaseException as exc:
            if not is_named(exc, "TaskDeferred"):
                raise
            triggers.append((s, exc.trigger))  # type: ignore[attr-defined]
    if len(triggers) != len(samples):
        raise RuntimeError("a deferrable sensor did not defer")

    async def run_one(sample: Sample, trigger: Any) -> None:
        try:
            async for event in trigger.run():
                sample.noticed = time.time()
                if event.payload["status"] != "success":
                    raise RuntimeError(f"unexpected event {event.payload}")
                return
        finally:
            await trigger.cleanup()

    async def run_all() -> None:
        await asyncio.gather(*(run_one(s, t) for s, t in triggers))

    asyncio.run(run_all())


MODES = [
    ("sensor, poke mode", sensor_poke),
    ("sensor, deferrable mode (the trigger)", sensor_deferred),
    ("operator, wait_for_completion (sync)", operator_sync),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--samples", type=int, default=10, help="samples per mode (default 10)")
    parser.add_argument("--interval", type=float, default=2.0, help="poll interval, seconds (default 2)")
    parser.add_argument("--seed", type=int, default=13)
    add_json_argument(parser)
    args = parser.parse_args()

    from airflow_provider_zuora.testing import Phase, Workflow, ZuoraEmulator

    report = Report("bench_latency", "Detection latency: instance finished to waiter noticing")
    rng = random.Random(args.seed)
    plan: list[tuple[str, Any, list[Sample]]] = []
    workflows = []
    wid = FIRST_WORKFLOW
    for label, fn in MODES:
        samples = []
        for _ in range(args.samples):
            seconds = 0.5 + rng.uniform(0, 2 * args.interval)
            workflows.append(Workflow(id=wid, name=f"Latency {wid}", timeline=[Phase("Processing", seconds)]))
            samples.append(Sample(wid, seconds))
            wid += 1
        plan.append((label, fn, samples))

    with ZuoraEmulator(port=0, workflows=workflows) as emu:
        os.environ.update(emu.airflow_env())
        log = Path(tempfile.gettempdir(), f"bench_latency-{os.getpid()}.log")
        print(f"the operator's and sensor's own log lines: {log}", flush=True)
        for label, fn, samples in plan:
            t0 = time.monotonic()
            with logs_to(log):
                fn(emu, samples, args.interval)
            print(f"  {label}: {len(samples)} samples in {time.monotonic() - t0:.1f} s", flush=True)

    bound = args.interval + SLACK
    report.note(
        f"{args.samples} samples per mode at a poll interval of {args.interval:g} s; each instance ends "
        f"at a random point of the poll cycle (Processing 0.5 to {0.5 + 2 * args.interval:g} s). "
        "Latency: the waiter noticing (poke returns done / the trigger yields its event / execute returns) "
        "minus the instance's end on the emulator's clock (the same clock as the waiter's here)."
    )
    rows, verdicts = [], []
    for label, _, samples in plan:
        lat = sorted(s.latency for s in samples)
        med = statistics.median(lat)
        rows.append([label, f"{args.interval:g} s", len(lat), f"{med * 1e3:.0f}", f"{lat[0] * 1e3:.0f}",
                     f"{lat[-1] * 1e3:.0f}", f"{bound * 1e3:.0f}"])  # fmt: skip
        figures = (
            f"median {med * 1e3:.0f} ms, max {lat[-1] * 1e3:.0f} ms (bound {bound * 1e3:.0f} ms), "
            f"{len(lat)} samples"
        )
        what = f"{label}: latency <= poll interval + {SLACK * 1e3:.0f} ms"
        verdicts.append((what, lat[-1] <= bound, figures))
    report.table(
        "Detection latency (ms): instance finished to the waiter noticing",
        ["mode", "poll interval", "samples", "median", "min", "max", "bound"],
        rows,
        right=(2, 3, 4, 5, 6),
    )
    for what, met, figures in verdicts:
        report.target(what, met, figures)
    return report.finish(args.json)


if __name__ == "__main__":
    sys.exit(main())
