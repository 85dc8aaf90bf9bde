"""Token and API requests per run, counted from the emulator's request log.

The emulator runs in a thread of this process; the provider's own classes send the requests, and
only the emulator's log counts them (the direct ``backend.run_workflow`` calls that start the
instances a sensor waits on are not HTTP requests, so they are not in it).

- 100 runs through ``RunZuoraWorkflowOperator.execute`` in one process (``wait_for_completion=False``;
  a task context stub: a task instance with ``xcom_push`` and a task state store, as Airflow 3.3
  hands one), back to back; then 100 more spread over 2.5 token lifetimes.
- One 60-second instance (``processing_seconds=60``, after the emulator's 0.3 s ``Queued``) waited on
  at the default intervals by the sync operator (``wait_for_completion=True``, 30 s), the sensor in
  poke and in reschedule mode (60 s) and the trigger, as the deferrable operator (30 s) and the
  deferrable sensor (60 s) defer it.

No run waits real time. The waiting code's clock is virtual: ``time.sleep`` / ``asyncio.sleep`` in
the modules that wait (the operator, ``BaseSensorOperator``, the trigger) and the clocks they and
the token cache read are replaced, for the run only, by a clock whose sleeps move the emulator's
clock (``backend.advance_clock``) by as much, at once; the emulator's clock is frozen otherwise, so
the instance ends, and tokens age, on the polls' timeline alone, exactly at the default intervals
(a child process's start-up takes no emulated time). The requests are real HTTP.
Each Airflow process is a process of its own where Airflow makes one: a reschedule-mode poke runs
in a fresh interpreter (``--poke-child``: a task try is a new process); a deferred task's trigger
runs in a fresh event loop with the process-wide token cache emptied first (what a triggerer
process starts with), and its resume likewise.

Targets: one token request per token lifetime per process; exactly one status GET per
poll, and no other request per poll.

Usage: ``python benchmarks/bench_calls.py [--runs 100] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from _report import Report, add_json_argument, logs_to

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WF_QUICK, WF_LONG = 8001, 8060
LONG_QUEUED, LONG_PROCESSING = 0.3, 60.0
STATUS_PATH = "/workflows/workflow_runs/"
HEADER = ["scenario", "poll interval", "token requests", "run POSTs", "polls", "schedule", "status GETs",
          "other requests", "note"]  # fmt: skip


# ---------------------------------------------------------------- the virtual clock
class VirtualClock:
    """Real time plus an offset that sleeps add to at once, kept equal to the emulator's offset."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.offset = 0.0
        self.slept: list[float] = []

    def advance(self, seconds: float) -> None:
        if seconds > 0:
            self.offset += seconds
            self.backend.advance_clock(seconds)

    def elapsed_since(self, start_offset: float) -> float:
        return self.offset - start_offset


class _TimeModule:
    """What a module sees as ``time``: the real one, but virtual ``sleep``, ``monotonic``, ``time``."""

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock

    def sleep(self, seconds: float) -> None:
        self._clock.slept.append(seconds)
        self._clock.advance(seconds)

    def monotonic(self) -> float:
        return time.monotonic() + self._clock.offset

    def time(self) -> float:
        return time.time() + self._clock.offset

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


class _LoopView:
    """The running loop, its ``time()`` moved by the virtual offset."""

    def __init__(self, loop: asyncio.AbstractEventLoop, clock: VirtualClock) -> None:
        self._loop, self._clock = loop, clock

    def time(self) -> float:
        return self._loop.time() + self._clock.offset

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)


class _AsyncioModule:
    """What the trigger module sees as ``asyncio``: virtual ``sleep`` and loop time, the rest real."""

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock

    def get_running_loop(self) -> _LoopView:
        return _LoopView(asyncio.get_running_loop(), self._clock)

    async def sleep(self, delay: float, result: Any = None) -> Any:
        self._clock.slept.append(delay)
        self._clock.advance(delay)
        await asyncio.sleep(0)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)


WAITING_MODULES = [
    "airflow_provider_zuora.operators.workflow",
    "airflow_provider_zuora.sensors.workflow",
    "airflow_provider_zuora.triggers.workflow",
    "airflow_provider_zuora.hooks._transport",  # the token cache's expiry
    "airflow.sdk.bases.sensor",  # BaseSensorOperator's poke loop
]


@contextlib.contextmanager
def virtual_time(clock: VirtualClock) -> Iterator[None]:
    saved: list[tuple[Any, str, Any]] = []
    for name in WAITING_MODULES:
        module = importlib.import_module(name)
        for attr, fake in (("time", _TimeModule(clock)), ("asyncio", _AsyncioModule(clock))):
            if attr in vars(module) and (attr == "time" or name.endswith("triggers.workflow")):
                saved.append((module, attr, getattr(module, attr)))
                setattr(module, attr, fake)
    try:
        yield
    finally:
        for module, attr, real in saved:
            setattr(module, attr, real)


# ---------------------------------------------------------------- a task context stub
class StubTI:
    """The task instance attributes the operator and sensor read, and ``xcom_push``."""

    def __init__(self, run_id: str, first_reschedule: dt.datetime | None = None) -> None:
        self.dag_id, self.task_id, self.run_id = "bench_calls", "task", run_id
        self.try_number, self.max_tries, self.map_index = 1, 0, -1
        self.xcoms: dict[str, Any] = {}
        self.first_reschedule = first_reschedule

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value

    def get_first_reschedule_date(self, context: Any) -> dt.datetime | None:
        return self.first_reschedule


class StubStore:
    """The task state store's ``get``/``set`` (Airflow 3.3), in memory."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        self.data[key] = value


def context(run_id: str, first_reschedule: dt.datetime | None = None) -> Any:
    return {"ti": StubTI(run_id, first_reschedule), "task_state_store": StubStore()}


# ---------------------------------------------------------------- counting
class PollCounter:
    """How many times the waiting code asked the hook for the instance (its polls)."""

    def __init__(self) -> None:
        from airflow_provider_zuora.hooks.zuora import ZuoraHook

        self.count = 0
        sync, asyn = ZuoraHook.get_workflow_instance, ZuoraHook.aget_workflow_instance
        counter = self

        def get(self: Any, *args: Any, **kwargs: Any) -> Any:
            counter.count += 1
            return sync(self, *args, **kwargs)

        async def aget(self: Any, *args: Any, **kwargs: Any) -> Any:
            counter.count += 1
            return await asyn(self, *args, **kwargs)

        ZuoraHook.get_workflow_instance = get  # type: ignore[method-assign]
        ZuoraHook.aget_workflow_instance = aget  # type: ignore[method-assign]

    def take(self) -> int:
        n, self.count = self.count, 0
        return n


def tally(backend: Any) -> dict[str, Any]:
    """The requests logged since the last ``clear_request_log()``, by kind."""
    out: dict[str, Any] = {"tokens": 0, "runs": 0, "gets": 0, "other": [], "not_ok": 0}
    for r in backend.request_log:
        if r.method == "POST" and r.path == "/oauth/token":
            out["tokens"] += 1
        elif r.method == "POST" and r.path.startswith("/workflows/") and r.path.endswith("/run"):
            out["runs"] += 1
        elif r.method == "GET" and r.path.startswith(STATUS_PATH) and "/" not in r.path[len(STATUS_PATH) :]:
            out["gets"] += 1
        else:
            out["other"].append(f"{r.method} {r.path} {r.status}")
        out["not_ok"] += r.status != 200
    backend.clear_request_log()
    return out


def scheduled_polls(duration: float, interval: float, first: float = 0.0) -> int:
    """Polls at ``first``, ``first + interval``, ... up to the first one at or after ``duration``."""
    return max(0, math.ceil((duration - first) / interval)) + 1


def fresh_process_state() -> None:
    """What a new Airflow process starts with: no cached token (async clients are per event loop)."""
    from airflow_provider_zuora.hooks._transport import TOKENS

    TOKENS.clear()


def is_named(exc: BaseException, name: str) -> bool:
    return any(k.__name__ == name for k in type(exc).__mro__)


# ---------------------------------------------------------------- scenarios
class Bench:
    def __init__(self, emu: Any, clock: VirtualClock, polls: PollCounter) -> None:
        self.emu, self.backend, self.clock, self.polls = emu, emu.backend, clock, polls
        self.rows: list[dict[str, Any]] = []

    def record(self, scenario: str, interval: str, phases: list[tuple[str, dict[str, Any], int]],
               schedule: int | None, token_limit: int = 1, note: str = "") -> None:  # fmt: skip
        """``phases``: (process, tally, polls made there); one row per scenario."""
        self.rows.append(
            {
                "scenario": scenario,
                "interval": interval,
                "processes": [(p, t["tokens"]) for p, t, _ in phases],
                "tokens": sum(t["tokens"] for _, t, _ in phases),
                "token_limit": token_limit,
                "runs": sum(t["runs"] for _, t, _ in phases),
                "polls": sum(n for _, _, n in phases),
                "schedule": schedule,
                "gets": sum(t["gets"] for _, t, _ in phases),
                "other": [o for _, t, _ in phases for o in t["other"]],
                "not_ok": sum(t["not_ok"] for _, t, _ in phases),
                "note": note,
            }
        )

    def start_long(self) -> str:
        return str(self.backend.run_workflow(WF_LONG, {})["id"])

    def operator_runs(self, n: int, spread: float = 0.0) -> None:
        from airflow_provider_zuora.operators.workflow import RunZuoraWorkflowOperator

        fresh_process_state()
        self.polls.take()
        gap = spread / max(n - 1, 1)
        with virtual_time(self.clock):
            for i in range(n):
                if i and gap:
                    self.clock.advance(gap)
                op = RunZuoraWorkflowOperator(task_id="run", workflow_id=WF_QUICK, parameters={"n": i})
                op.execute(context(f"manual__bench_{len(self.rows)}_{i}"))
        t = tally(self.backend)
        if spread:
            from airflow_provider_zuora import api

            reuse = api.token_lifetime(max(int(self.backend.config.token_lifetime) - 1, 0))
            limit = int(spread // reuse) + 1
            self.record(f"{n} runs over {spread / 3600:g} h (token lifetime 1 h)", "-",
                        [("worker", t, self.polls.take())], None, limit,
                        f"token reused for {reuse:.0f} s: {limit} tokens for {spread:.0f} s")  # fmt: skip
        else:
            self.record(f"{n} runs back to back", "-", [("worker", t, self.polls.take())], None)

    def operator_sync(self) -> None:
        from airflow_provider_zuora.operators.workflow import RunZuoraWorkflowOperator

        fresh_process_state()
        op = RunZuoraWorkflowOperator(task_id="run", workflow_id=WF_LONG, wait_for_completion=True)
        with virtual_time(self.clock):
            state = op.execute(context("manual__sync"))
        assert state["status"] == "Finished", state
        duration = LONG_QUEUED + LONG_PROCESSING
        self.record("operator, wait_for_completion (sync)", f"{op.poll_interval:g} s",
                    [("worker", tally(self.backend), self.polls.take())],
                    scheduled_polls(duration, op.poll_interval))  # fmt: skip

    def sensor_poke(self) -> None:
        from airflow_provider_zuora.sensors.workflow import ZuoraWorkflowInstanceSensor

        fresh_process_state()
        instance = self.start_long()
        sensor = ZuoraWorkflowInstanceSensor(task_id="wait", instance_id=instance)
        with virtual_time(self.clock):
            state = sensor.execute(context("manual__poke"))
        assert state["status"] == "Finished", state
        self.record("sensor, poke mode", f"{sensor.poke_interval:g} s",
                    [("worker", tally(self.backend), self.polls.take())],
                    scheduled_polls(LONG_QUEUED + LONG_PROCESSING, sensor.poke_interval))  # fmt: skip

    def sensor_reschedule(self) -> None:
        """Each poke a task try of its own: a fresh interpreter (``--poke-child``), as on a worker."""
        instance = self.start_long()
        first = dt.datetime.now(dt.timezone.utc)
        env = {**os.environ, **self.emu.airflow_env(), "PYTHONPATH": str(REPO)}
        phases: list[tuple[str, dict[str, Any], int]] = []
        interval = 0.0
        for poke in range(1, 20):
            cmd = [sys.executable, __file__, "--poke-child", instance, "--first", first.isoformat()]
            out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
            if out.returncode:
                raise SystemExit(f"reschedule poke {poke} failed:\n{out.stderr[-3000:]}")
            answer = json.loads(out.stdout.strip().splitlines()[-1])
            phases.append((f"try {poke}", tally(self.backend), int(answer["polls"])))
            interval = float(answer["interval"])
            if answer.get("done"):
                break
            # The scheduler starts the next try at the reschedule date.
            self.clock.advance(float(answer["reschedule_in"]))
        self.record("sensor, reschedule mode (a process per poke)", f"{interval:g} s", phases,
                    scheduled_polls(LONG_QUEUED + LONG_PROCESSING, interval))  # fmt: skip

    def _trigger(self, trigger: Any) -> dict[str, Any]:
        async def run() -> dict[str, Any]:
            try:
                async for event in trigger.run():
                    return dict(event.payload)
                raise AssertionError("the trigger ended without an event")
            finally:
                await trigger.cleanup()

        fresh_process_state()  # the triggerer is a process of its own
        with virtual_time(self.clock):
            return asyncio.run(run())

    def deferred(self, which: str) -> None:
        from airflow_provider_zuora.operators.workflow import RunZuoraWorkflowOperator
        from airflow_provider_zuora.sensors.workflow import ZuoraWorkflowInstanceSensor

        fresh_process_state()
        task: Any
        if which == "operator":
            task = RunZuoraWorkflowOperator(
                task_id="run", workflow_id=WF_LONG, wait_for_completion=True, deferrable=True
            )
            label, interval = "trigger, as the deferrable operator defers it", task.poll_interval
        else:
            task = ZuoraWorkflowInstanceSensor(task_id="wait", instance_id=self.start_long(), deferrable=True)
            label, interval = "trigger, as the deferrable sensor defers it", task.poke_interval
        ctx = context(f"manual__deferred_{which}")
        start = self.clock.offset
        trigger = None
        try:
            with virtual_time(self.clock):
                task.execute(ctx)
        except BaseException as exc:  # TaskDeferred is a BaseException on some Airflow versions
            if not is_named(exc, "TaskDeferred"):
                raise
            trigger = exc.trigger  # type: ignore[attr-defined]
        if trigger is None:
            raise AssertionError("the task did not defer")
        worker = (tally(self.backend), self.polls.take())
        first_delay = trigger._first_delay()
        since_check = self.clock.elapsed_since(start)
        event = self._trigger(trigger)
        triggerer = (tally(self.backend), self.polls.take())
        assert event["status"] == "success", event
        fresh_process_state()  # the resumed task is a new try process
        state = task.execute_complete(ctx, event)
        assert state["status"] == "Finished", state
        resumed = (tally(self.backend), self.polls.take())
        # The check before deferring is one poll; the trigger's polls start after its spread delay.
        left = LONG_QUEUED + LONG_PROCESSING - since_check
        schedule = 1 + scheduled_polls(left, trigger.poll_interval, first_delay)
        self.record(label, f"{interval:g} s",
                    [("worker", *worker), ("triggerer", *triggerer), ("worker (resume)", *resumed)],
                    schedule, note=f"first trigger poll {first_delay:.1f} s after deferring")  # fmt: skip


def poke_child(instance: str, first: str) -> None:
    """One reschedule-mode try of the sensor: poke once, say when to come back (or that it is done)."""
    from airflow_provider_zuora.sensors.workflow import ZuoraWorkflowInstanceSensor

    polls = PollCounter()
    sensor = ZuoraWorkflowInstanceSensor(task_id="wait", instance_id=instance, mode="reschedule")
    ctx = context("manual__reschedule", dt.datetime.fromisoformat(first))
    try:
        sensor.execute(ctx)
    except BaseException as exc:
        if not is_named(exc, "AirflowRescheduleException"):
            raise
        wait = (exc.reschedule_date - dt.datetime.now(dt.timezone.utc)).total_seconds()  # type: ignore[attr-defined]
        print(json.dumps({"polls": polls.count, "reschedule_in": wait, "interval": sensor.poke_interval}))
        return
    print(json.dumps({"polls": polls.count, "done": True, "interval": sensor.poke_interval}))


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="operator runs in one process (default 100)")
    parser.add_argument("--poke-child", metavar="INSTANCE", help=argparse.SUPPRESS)
    parser.add_argument("--first", help=argparse.SUPPRESS)
    add_json_argument(parser)
    args = parser.parse_args()
    if args.poke_child:
        poke_child(args.poke_child, args.first)
        return 0

    from airflow_provider_zuora.testing import Phase, Workflow, ZuoraEmulator

    report = Report("bench_calls", "API calls per run: token and API requests, from the emulator's log")
    workflows = [
        Workflow(id=WF_QUICK, name="Quick", timeline=[Phase("Processing", 1.0)]),
        Workflow(
            id=WF_LONG, name="Sixty seconds", queued_seconds=LONG_QUEUED, processing_seconds=LONG_PROCESSING
        ),
    ]
    with ZuoraEmulator(port=0, workflows=workflows) as emu:
        os.environ.update(emu.airflow_env())
        emu.backend.freeze_clock()  # from here on it moves only with the waiters' (virtual) sleeps
        bench = Bench(emu, VirtualClock(emu.backend), PollCounter())
        steps: list[tuple[str, Callable[[], None]]] = [
            (f"{args.runs} operator runs", lambda: bench.operator_runs(args.runs)),
            (f"{args.runs} runs over 2.5 token lifetimes", lambda: bench.operator_runs(args.runs, 9000.0)),
            ("sync operator wait", bench.operator_sync),
            ("sensor, poke", bench.sensor_poke),
            ("sensor, reschedule", bench.sensor_reschedule),
            ("deferrable operator", lambda: bench.deferred("operator")),
            ("deferrable sensor", lambda: bench.deferred("sensor")),
        ]  # fmt: skip
        log = Path(tempfile.gettempdir(), f"bench_calls-{os.getpid()}.log")
        print(f"the operator's and sensor's own log lines: {log}", flush=True)
        for label, step in steps:
            t0 = time.monotonic()
            try:
                with logs_to(log):
                    step()
            except BaseException:
                print(f"  {label}: FAILED; the log ends:\n{log.read_text()[-3000:]}", flush=True)
                raise
            print(f"  {label}: done in {time.monotonic() - t0:.1f} s", flush=True)
        rows = bench.rows

    report.note(
        "Counted from the emulator's request log. No real waiting: the waiting code's sleeps move a "
        "virtual clock and the emulator's clock together (see the script's docstring); a reschedule "
        "poke runs in a fresh interpreter; a trigger runs in a fresh event loop with the token cache "
        "emptied, as a triggerer process starts. 'polls' are the waiter's calls for the instance's "
        "state; 'schedule' is how many polls the interval gives for the instance's 60.3 s "
        "(0.3 s Queued, 60 s Processing), counting the check a deferrable task makes before deferring."
    )
    table = []
    for r in rows:
        per_process = ", ".join(f"{p}: {n}" for p, n in r["processes"]) if len(r["processes"]) > 1 else ""
        tokens = f"{r['tokens']}" + (f" ({per_process})" if per_process else "")
        other = str(len(r["other"])) + (f" ({', '.join(r['other'][:3])})" if r["other"] else "")
        schedule = "-" if r["schedule"] is None else r["schedule"]
        table.append([r["scenario"], r["interval"], tokens, r["runs"], r["polls"], schedule, r["gets"], other,
                      r["note"]])  # fmt: skip
    report.table(
        "Requests per scenario (emulator's log)",
        HEADER,
        table,
        right=(3, 4, 5, 6),
    )
    over = []
    for r in rows:
        worst = max(n for _, n in r["processes"])
        if worst > r["token_limit"]:
            over.append(f"{r['scenario']}: {worst} in one process (at most {r['token_limit']})")
    within_one = [n for r in rows for _, n in r["processes"] if r["token_limit"] == 1]
    spread = [r for r in rows if r["token_limit"] > 1]
    report.target(
        "one token request per token lifetime per process",
        not over,
        "; ".join(over)
        or f"every process within one lifetime made at most {max(within_one)}; "
        + "; ".join(f"{r['scenario']}: {r['tokens']} (at most {r['token_limit']})" for r in spread),
    )
    waits = [r for r in rows if r["schedule"] is not None]
    bad = [
        f"{r['scenario']}: {r['gets']} GETs for {r['polls']} polls (schedule {r['schedule']}), "
        f"{len(r['other'])} other, {r['not_ok']} not 200"
        for r in waits
        if not (r["gets"] == r["polls"] == r["schedule"] and not r["other"] and not r["not_ok"])
    ]
    runs_bad = [r for r in rows if r["schedule"] is None and (r["gets"] or r["other"] or r["not_ok"])]
    bad += [f"{r['scenario']}: {r['gets']} GETs, other {r['other'][:3]}" for r in runs_bad]
    report.target(
        "exactly one GET per poll, nothing else per poll",
        not bad,
        "; ".join(bad)
        or ", ".join(f"{r['scenario']}: {r['gets']} GETs = {r['polls']} polls" for r in waits)
        + "; no other request, every answer 200",
    )
    return report.finish(args.json)


if __name__ == "__main__":
    sys.exit(main())
