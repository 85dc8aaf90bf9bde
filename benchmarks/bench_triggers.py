"""1,000 deferred waits in one triggerer event loop, against the floor of bare httpx GETs.

The emulator runs in this (parent) process; each measured phase runs in a fresh child process so
its CPU and memory are its own:

- ``floor``: one ``httpx.AsyncClient``, one token fetched up front, 1,000 coroutines each GETting
  ``/workflows/workflow_runs/{id}`` every second (same spread of first polls as the triggers).
- ``lanes``: the hook's own transport (``hooks/_lanes.py``, one-connection httpcore pools) making
  the same GETs with no hook or trigger code: what any client on a maintained HTTP library costs.
- ``triggers``: 1,000 ``ZuoraWorkflowInstanceTrigger.run()`` tasks in one event loop, as a
  triggerer would run them (then ``cleanup()``), through ``ZuoraHook``'s async methods.

Measured per phase over the steady-state window (after a warm-up): token requests (emulator
count), CPU per poll (process CPU time / polls), peak RSS growth over the phase's start (after
imports), lateness (poll-to-poll gap of each waiter minus the interval, as % of it), and the
garbage collector's full passes in the window (each stops the whole loop). Last, one full pass
is timed in an idle process holding a real triggerer's imports: the pause no loop there escapes.
Targets, for the triggers' loop: at one poll per second per wait, lateness p99 <= 1%;
at one poll per 5 s, no poll over 10% late; CPU per poll <= 0.2x the floor's; peak RSS growth for
the thousand < 15 MB (each at every interval run); and one token request for the thousand.
Both phases import the same modules (a triggerer has them loaded), so the heap the garbage
collector walks in a full pass is the same size; ``--gc-freeze`` takes that start-up heap out of
the collector's passes, to show what those passes cost in lateness.

Usage: ``python benchmarks/bench_triggers.py [--n 1000] [--seconds 20] [--intervals 1 5] [--gc-freeze]
[--json PATH]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import zlib
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _measure import gaps, lateness, watch_full_gc
from _report import Report, add_json_argument

REPO = Path(__file__).resolve().parent.parent
WARMUP = 3.0
WORKFLOW_ID = 7001


# ---------------------------------------------------------------- child side
class Window:
    """The measured stretch: polls and CPU between ``start`` and ``end`` (monotonic clock)."""

    def __init__(self, start: float, end: float) -> None:
        self.start, self.end = start, end
        self.starts: dict[str, list[float]] = defaultdict(list)
        self.cpu = [0.0, 0.0]
        self.gc_pauses: list[float] = []

    def poll(self, instance_id: str) -> None:
        self.starts[instance_id].append(time.monotonic())

    async def measure_cpu(self) -> None:
        await asyncio.sleep(self.start - time.monotonic())
        self.cpu[0] = time.process_time()
        await asyncio.sleep(self.end - time.monotonic())
        self.cpu[1] = time.process_time()

    def watch_gc(self) -> None:
        """Time the garbage collector's full passes that start inside the window."""

        def record(start: float, seconds: float) -> None:
            if self.start <= start < self.end:
                self.gc_pauses.append(seconds)

        watch_full_gc(record, clock=time.monotonic)

    def polls(self) -> int:
        return sum(self.start <= t < self.end for times in self.starts.values() for t in times)

    def lateness(self, interval: float) -> dict[str, float]:
        """How late each poll of a waiter came after the one before (see ``_measure.lateness``)."""
        return lateness(gaps(self.starts.values(), self.start, self.end), interval)


async def _rss_sampler(peak: list[int], stop: asyncio.Event) -> None:
    import psutil

    proc = psutil.Process()
    while not stop.is_set():
        peak[0] = max(peak[0], proc.memory_info().rss)
        await asyncio.sleep(0.25)


def _offset(instance_id: str, interval: float) -> float:
    """The triggers' own spread of first polls (and here, of last polls too)."""
    return interval * (zlib.crc32(instance_id.encode()) % 1000) / 1000


async def _on_schedule(
    args: argparse.Namespace, ids: list[str], win: Window, get: Callable[[str], Awaitable[None]]
) -> None:
    """Each id's GET (``get``) every interval, first polls spread as the triggers spread theirs."""

    async def waiter(instance_id: str) -> None:
        next_poll = time.monotonic() + _offset(instance_id, args.interval)
        stop_at = win.end + args.interval + _offset(instance_id, args.interval)
        while next_poll < stop_at:
            await asyncio.sleep(max(0.0, next_poll - time.monotonic()))
            next_poll = max(next_poll + args.interval, time.monotonic())
            win.poll(instance_id)
            await get(f"/workflows/workflow_runs/{instance_id}")

    await asyncio.gather(*(waiter(i) for i in ids))


def _token_form() -> dict[str, str]:
    conn = json.loads(os.environ["AIRFLOW_CONN_ZUORA_DEFAULT"])
    return {"client_id": conn["login"], "client_secret": conn["password"], "grant_type": "client_credentials"}


async def _floor(args: argparse.Namespace, ids: list[str], win: Window) -> None:
    import httpx

    limits = httpx.Limits(max_connections=40, max_keepalive_connections=40)  # as the hook's pool
    async with httpx.AsyncClient(base_url=args.base_url, limits=limits) as client:
        token = (await client.post("/oauth/token", data=_token_form())).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        async def get(path: str) -> None:
            response = await client.get(path, headers=headers)
            response.raise_for_status()
            response.json()

        await _on_schedule(args, ids, win, get)


async def _lanes(args: argparse.Namespace, ids: list[str], win: Window) -> None:
    """The transport alone: the hook's own lanes (httpcore), the same GETs, no hook or trigger."""
    from airflow_provider_zuora.hooks._lanes import LaneClient
    from airflow_provider_zuora.hooks._transport import MAX_CONCURRENT_REQUESTS

    client = LaneClient(args.base_url, MAX_CONCURRENT_REQUESTS, {"Accept-Encoding": "gzip"})
    try:
        answer = await client.request(
            "POST", "/oauth/token", data=_token_form(), timeout=60.0, connect_timeout=10.0
        )
        headers = {"Authorization": f"Bearer {json.loads(answer.text)['access_token']}"}

        async def get(path: str) -> None:
            got = await client.request("GET", path, headers=headers, timeout=60.0, connect_timeout=10.0)
            if got.status != 200:
                raise SystemExit(f"GET {path}: {got.status}")
            json.loads(got.text)

        await _on_schedule(args, ids, win, get)
    finally:
        await client.aclose()


async def _triggers(args: argparse.Namespace, ids: list[str], win: Window) -> None:
    from airflow_provider_zuora.hooks.zuora import ZuoraHook
    from airflow_provider_zuora.triggers.workflow import ZuoraWorkflowInstanceTrigger

    original = ZuoraHook.aget_workflow_instance

    async def recorded(self: Any, instance_id: Any) -> Any:
        win.poll(str(instance_id))
        return await original(self, instance_id)

    ZuoraHook.aget_workflow_instance = recorded  # type: ignore[method-assign]
    wall_end = time.time() + (win.end - time.monotonic()) + args.interval
    triggers = [
        ZuoraWorkflowInstanceTrigger(
            instance_id=i, poll_interval=args.interval, end_time=wall_end + _offset(i, args.interval)
        )
        for i in ids
    ]

    async def run_one(trigger: ZuoraWorkflowInstanceTrigger) -> str:
        try:
            async for event in trigger.run():
                return str(event.payload["status"])
            return "none"
        finally:
            await trigger.cleanup()

    results = await asyncio.gather(*(run_one(t) for t in triggers))
    if set(results) != {"timeout"}:
        raise SystemExit(f"unexpected trigger events: {sorted(set(results))}")


def child(args: argparse.Namespace) -> None:
    import psutil

    ids = Path(args.ids).read_text().split()
    # Both phases import the same modules, as a triggerer has them loaded: start-up is not the
    # thousand waits' memory, and the heap the garbage collector walks is the same size in both.
    import httpx  # noqa: F401

    import airflow_provider_zuora.hooks.zuora
    import airflow_provider_zuora.triggers.workflow  # noqa: F401

    if args.gc_freeze:  # diagnosis: keep the start-up heap out of the collector's full passes
        gc.freeze()
    base_rss = psutil.Process().memory_info().rss
    start = time.monotonic() + WARMUP
    win = Window(start, start + args.seconds)
    peak = [base_rss]
    win.watch_gc()

    async def main() -> None:
        stop = asyncio.Event()
        sampler = asyncio.create_task(_rss_sampler(peak, stop))
        cpu = asyncio.create_task(win.measure_cpu())
        await {"floor": _floor, "lanes": _lanes, "triggers": _triggers}[args.phase](args, ids, win)
        await cpu
        stop.set()
        await sampler

    asyncio.run(main())
    print(
        json.dumps(
            {
                "polls": win.polls(),
                "cpu_s": win.cpu[1] - win.cpu[0],
                "rss_growth_mb": (peak[0] - base_rss) / 2**20,
                **win.lateness(args.interval),
                "gc_full": len(win.gc_pauses),
                "gc_full_max_ms": max(win.gc_pauses, default=0.0) * 1e3,
            }
        )
    )


# ---------------------------------------------------------------- parent side
def run_scenario(
    emu: Any, ids_file: Path, n: int, interval: float, seconds: float, gc_freeze: bool = False
) -> dict[str, dict[str, Any]]:
    rows = {}
    env = {**os.environ, **emu.airflow_env()}
    for phase in ("floor", "lanes", "triggers"):
        tokens_before = emu.backend.tokens_issued
        cmd = [sys.executable, __file__, "--phase", phase, "--base-url", emu.base_url, "--ids", str(ids_file),
               "--n", str(n), "--seconds", str(seconds), "--interval", str(interval)]  # fmt: skip
        cmd += ["--gc-freeze"] if gc_freeze else []
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
        if out.returncode:
            raise SystemExit(f"{phase} failed:\n{out.stderr[-4000:]}")
        rows[phase] = json.loads(out.stdout.strip().splitlines()[-1])
        rows[phase]["tokens"] = emu.backend.tokens_issued - tokens_before
    return rows


def idle_full_pass() -> tuple[int, float]:
    """Objects tracked, and the median full GC pass (ms), in an idle process with a triggerer's imports."""
    code = (
        "import gc, statistics, time\n"
        "import airflow.jobs.triggerer_job_runner, airflow_provider_zuora.triggers.workflow\n"
        "import airflow_provider_zuora.hooks.zuora\n"
        "gc.collect()\n"
        "times = []\n"
        "for _ in range(5):\n"
        "    t = time.perf_counter(); gc.collect(); times.append(time.perf_counter() - t)\n"
        "print(len(gc.get_objects()), statistics.median(times) * 1e3)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    objects, ms = out.stdout.split()[-2:]
    return int(objects), float(ms)


def parent(args: argparse.Namespace) -> int:
    from airflow_provider_zuora.testing import Phase, Workflow, ZuoraEmulator

    report = Report("bench_triggers", f"{args.n:,} trigger waits in one event loop vs a bare httpx loop")
    report.note(
        "The emulator runs in the parent process; each phase in a fresh child that has imported the same "
        "modules. floor: one httpx.AsyncClient (pool of 40), one token, the same GETs on the same schedule; "
        "lanes: the hook's own transport (one-connection httpcore pools) making the same GETs, with no hook "
        f"or trigger code; triggers: {args.n:,} ZuoraWorkflowInstanceTrigger.run() in one event loop. "
        "CPU per poll: process "
        "CPU over the measured window / polls made in it; lateness: each gap between two polls of one "
        "waiter beyond the interval, as a share of it; RSS: peak growth over the child's start "
        "(after its imports)."
    )
    long_run = Workflow(id=WORKFLOW_ID, name="Long wait", timeline=[Phase("Processing", 3600.0)])
    with ZuoraEmulator(port=0, workflows=[long_run]) as emu, tempfile.TemporaryDirectory() as tmp:
        ids = [str(emu.backend.run_workflow(WORKFLOW_ID, {})["id"]) for _ in range(args.n)]
        ids_file = Path(tmp, "ids.txt")
        ids_file.write_text("\n".join(ids))
        for interval in args.intervals:
            print(f"interval {interval:g} s: floor, then triggers ({args.seconds:g} s each)...", flush=True)
            rows = run_scenario(emu, ids_file, args.n, interval, args.seconds, args.gc_freeze)
            _table(report, args.n, interval, args.seconds, rows, args.gc_freeze)
            _targets(report, args.n, interval, rows)
    objects, ms = idle_full_pass()
    report.table(
        "One full GC pass in an idle process with a triggerer's imports (airflow.jobs.triggerer_job_runner "
        "and this provider): the pause no loop there escapes",
        ["objects tracked", "full pass, ms (median of 5)"],
        [[f"{objects:,}", f"{ms:.0f}"]],
        right=(0, 1),
    )
    return report.finish(args.json)


CPU_RATIO, RSS_MB, P99_AT_1S = 0.2, 15.0, 0.01


def _targets(report: Report, n: int, interval: float, rows: dict[str, dict[str, Any]]) -> None:
    floor, trig = rows["floor"], rows["triggers"]
    at = f"1 poll per {interval:g} s"
    if interval == 1:
        report.target(
            f"{at}: the loop's lateness p99 <= {P99_AT_1S:.0%}",
            trig["late_p99"] <= P99_AT_1S,
            f"p99 {trig['late_p99']:.2%}, max {trig['late_max']:.1%}, {trig['late_over_10']:.2%} over 10%",
        )
    if interval == 5:
        report.target(
            f"{at}: no poll over 10% late in the loop",
            trig["late_over_10"] == 0,
            f"{trig['late_over_10']:.2%} over 10%, max {trig['late_max']:.1%}",
        )
    us = {k: v["cpu_s"] / max(v["polls"], 1) * 1e6 for k, v in rows.items()}
    ratio = us["triggers"] / us["floor"]
    report.target(
        f"{at}: CPU per poll <= {CPU_RATIO:g}x the bare httpx floor",
        ratio <= CPU_RATIO,
        f"{us['triggers']:.0f} us vs the floor's {us['floor']:.0f} us = {ratio:.2f}x "
        f"(the floor made {floor['polls'] / max(trig['polls'], 1):.0%} as many polls); the transport "
        f"alone (the hook's httpcore lanes, no hook, no trigger) costs {us['lanes']:.0f} us = "
        f"{us['lanes'] / us['floor']:.2f}x, so the hook and trigger add "
        f"{us['triggers'] - us['lanes']:.0f} us",
    )
    report.target(
        f"{at}: peak RSS growth for the {n:,} < {RSS_MB:g} MB",
        trig["rss_growth_mb"] < RSS_MB,
        f"{trig['rss_growth_mb']:.1f} MB",
    )
    report.target(f"{at}: one token request for the {n:,}", trig["tokens"] == 1, f"{trig['tokens']}")


def _table(
    report: Report, n: int, interval: float, seconds: float, rows: dict[str, dict[str, Any]], frozen: bool
) -> None:
    floor, lanes, trig = rows["floor"], rows["lanes"], rows["triggers"]
    asked = n / interval * seconds
    us = {k: v["cpu_s"] / max(v["polls"], 1) * 1e6 for k, v in rows.items()}
    frozen_note = ", gc.freeze() after imports" if frozen else ""
    p99 = f"<= {P99_AT_1S:.0%}" if interval == 1 else ""
    over = "0" if interval == 5 else ""
    three = (floor, lanes, trig)
    passes = [f"{v['gc_full']} ({v['gc_full_max_ms']:.0f} ms)" for v in three]
    table = [
        ["token requests", *(v["tokens"] for v in three), "", "1"],
        ["polls done (of asked)", *(f"{v['polls'] / asked:.0%}" for v in three), "", ""],
        ["CPU per poll (us)", *(f"{us[k]:.0f}" for k in ("floor", "lanes", "triggers")),
         f"{us['triggers'] / us['floor']:.2f}x", f"<= {CPU_RATIO:g}x"],
        ["peak RSS growth (MB)", *(f"{v['rss_growth_mb']:.1f}" for v in three), "", f"< {RSS_MB:g}"],
        ["lateness median", *(f"{v['late_median']:.1%}" for v in three), "", ""],
        ["lateness p99", f"{floor['late_p99']:.1%}", f"{lanes['late_p99']:.1%}", f"{trig['late_p99']:.2%}",
         "", p99],
        ["lateness max", *(f"{v['late_max']:.1%}" for v in three), "", ""],
        ["polls over 10% late", *(f"{v['late_over_10']:.2%}" for v in three), "", over],
        ["full GC passes (longest)", *passes, "", ""],
    ]  # fmt: skip
    report.table(
        f"{n} waiters, one poll per {interval:g} s each ({n / interval:g} polls/s asked), "
        f"{seconds:g} s measured after {WARMUP:g} s warm-up{frozen_note}",
        [
            "measure",
            "floor (bare httpx)",
            "lanes (transport alone)",
            "triggers",
            "ratio",
            "target (triggers)",
        ],
        table,
        right=(1, 2, 3, 4),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="concurrent waiters (default 1000)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per phase")
    parser.add_argument(
        "--intervals", type=float, nargs="+", default=[1.0, 5.0], help="poll intervals to run (default: 1 5)"
    )
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() after the imports in both phases (to see what full garbage collections cost)",
    )
    add_json_argument(parser)
    parser.add_argument("--phase", choices=["floor", "lanes", "triggers"], help=argparse.SUPPRESS)
    parser.add_argument("--interval", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--ids", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        child(args)
        return 0
    return parent(args)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
