"""1,000 deferred waits in one triggerer event loop, against the floor of bare httpx GETs.

The emulator runs in this (parent) process; each measured phase runs in a fresh child process so
its CPU and memory are its own:

- ``floor``: one ``httpx.AsyncClient``, one token fetched up front, 1,000 coroutines each GETting
  ``/workflows/workflow_runs/{id}`` every second (same spread of first polls as the triggers).
- ``triggers``: 1,000 ``ZuoraWorkflowInstanceTrigger.run()`` tasks in one event loop, as a
  triggerer would run them (then ``cleanup()``), through ``ZuoraHook``'s async methods.

Measured per phase over the steady-state window (after a warm-up): token requests (emulator
count), CPU per poll (process CPU time / polls), peak RSS growth over the phase's start (after
imports), and lateness (poll-to-poll gap of each waiter minus the interval, as % of it).
Targets (issue 5): one token; CPU per poll <= 1.5x the floor; < 50 MB; polls <= 10% late.

Usage: ``python benchmarks/bench_triggers.py [--n 1000] [--seconds 20] [--interval 1]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WARMUP = 3.0
WORKFLOW_ID = 7001


# ---------------------------------------------------------------- child side
class Recorder:
    """Poll start times per instance, and the CPU/poll count at the end of the warm-up."""

    def __init__(self, warmup_until: float) -> None:
        self.starts: dict[str, list[float]] = defaultdict(list)
        self.polls_after_warmup = 0
        self.warmup_until = warmup_until
        self.cpu_at_warmup: float | None = None

    def poll(self, instance_id: str) -> None:
        now = time.monotonic()
        self.starts[instance_id].append(now)
        if now >= self.warmup_until:
            if self.cpu_at_warmup is None:
                self.cpu_at_warmup = time.process_time()
            self.polls_after_warmup += 1


async def _rss_sampler(peak: list[int], stop: asyncio.Event) -> None:
    import psutil

    proc = psutil.Process()
    while not stop.is_set():
        peak[0] = max(peak[0], proc.memory_info().rss)
        await asyncio.sleep(0.25)


def _offset(instance_id: str, interval: float) -> float:
    return interval * (zlib.crc32(instance_id.encode()) % 1000) / 1000


async def _floor(args: argparse.Namespace, ids: list[str], rec: Recorder, end: float) -> None:
    import httpx

    conn = json.loads(args.conn)
    async with httpx.AsyncClient(base_url=args.base_url, limits=httpx.Limits(max_connections=100)) as client:
        token = (
            await client.post(
                "/oauth/token",
                data={"client_id": conn["login"], "client_secret": conn["password"], "grant_type": "client_credentials"},
            )
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        loop = asyncio.get_running_loop()

        async def waiter(instance_id: str) -> None:
            next_poll = loop.time() + _offset(instance_id, args.interval)
            while True:
                await asyncio.sleep(max(0.0, next_poll - loop.time()))
                next_poll = max(next_poll + args.interval, loop.time())
                if time.time() >= end:
                    return
                rec.poll(instance_id)
                response = await client.get(f"/workflows/workflow_runs/{instance_id}", headers=headers)
                response.raise_for_status()
                response.json()

        await asyncio.gather(*(waiter(i) for i in ids))


async def _triggers(args: argparse.Namespace, ids: list[str], rec: Recorder, end: float) -> None:
    from airflow_provider_zuora.hooks.zuora import ZuoraHook
    from airflow_provider_zuora.triggers.workflow import ZuoraWorkflowInstanceTrigger

    original = ZuoraHook.aget_workflow_instance

    async def recorded(self: Any, instance_id: Any) -> Any:
        rec.poll(str(instance_id))
        return await original(self, instance_id)

    ZuoraHook.aget_workflow_instance = recorded  # type: ignore[method-assign]
    triggers = [
        ZuoraWorkflowInstanceTrigger(instance_id=i, poll_interval=args.interval, end_time=end) for i in ids
    ]

    async def run_one(trigger: ZuoraWorkflowInstanceTrigger) -> str:
        try:
            async for event in trigger.run():
                return str(event.payload["status"])
            return "none"
        finally:
            await trigger.cleanup()

    results = await asyncio.gather(*(run_one(t) for t in triggers))
    bad = [r for r in results if r != "timeout"]
    if bad:
        raise SystemExit(f"unexpected trigger events: {sorted(set(bad))}")


def child(args: argparse.Namespace) -> None:
    import psutil

    os.environ["AIRFLOW_CONN_ZUORA_DEFAULT"] = args.conn
    ids = Path(args.ids).read_text().split()
    if args.phase == "triggers":  # imports count as start-up, not as the thousand waits' memory
        import airflow_provider_zuora.hooks.zuora  # noqa: F401
        import airflow_provider_zuora.triggers.workflow  # noqa: F401
    else:
        import httpx  # noqa: F401
    base_rss = psutil.Process().memory_info().rss
    start = time.monotonic()
    rec = Recorder(warmup_until=start + WARMUP)
    end = time.time() + args.seconds
    peak = [base_rss]

    async def main() -> None:
        stop = asyncio.Event()
        sampler = asyncio.create_task(_rss_sampler(peak, stop))
        await (_floor if args.phase == "floor" else _triggers)(args, ids, rec, end)
        stop.set()
        await sampler

    asyncio.run(main())
    cpu = time.process_time() - (rec.cpu_at_warmup or 0.0)
    lateness = [
        max(0.0, b - a - args.interval) / args.interval
        for times in rec.starts.values()
        for a, b in zip(times, times[1:])
        if a >= start + WARMUP
    ]
    print(
        json.dumps(
            {
                "polls": rec.polls_after_warmup,
                "cpu_s": cpu,
                "rss_growth_mb": (peak[0] - base_rss) / 2**20,
                "late_median": statistics.median(lateness) if lateness else 0.0,
                "late_p99": sorted(lateness)[int(0.99 * (len(lateness) - 1))] if lateness else 0.0,
                "late_max": max(lateness, default=0.0),
            }
        )
    )


# ---------------------------------------------------------------- parent side
def parent(args: argparse.Namespace) -> None:
    from airflow_provider_zuora.testing import Workflow, ZuoraEmulator

    long_run = Workflow(id=WORKFLOW_ID, name="Long wait", timeline=[("Processing", 3600.0)])
    with ZuoraEmulator(port=0, workflows=[long_run]) as emu:
        ids = [str(emu.backend.run_workflow(WORKFLOW_ID, {})["id"]) for _ in range(args.n)]
        ids_file = REPO / ".airflow" / "bench_trigger_ids.txt"
        ids_file.parent.mkdir(exist_ok=True)
        ids_file.write_text("\n".join(ids))
        rows = {}
        for phase in ("floor", "triggers"):
            tokens_before = emu.backend.tokens_issued
            out = subprocess.run(
                [sys.executable, __file__, "--phase", phase, "--base-url", emu.base_url,
                 "--conn", emu.airflow_conn_json(), "--ids", str(ids_file),
                 "--seconds", str(args.seconds), "--interval", str(args.interval)],
                capture_output=True, text=True, cwd=REPO,
            )  # fmt: skip
            if out.returncode:
                raise SystemExit(f"{phase} failed:\n{out.stderr[-4000:]}")
            rows[phase] = json.loads(out.stdout.strip().splitlines()[-1])
            rows[phase]["tokens"] = emu.backend.tokens_issued - tokens_before
    _table(args, rows)


def _table(args: argparse.Namespace, rows: dict[str, dict[str, Any]]) -> None:
    floor, trig = rows["floor"], rows["triggers"]
    per_poll = {k: v["cpu_s"] / max(v["polls"], 1) * 1e6 for k, v in rows.items()}
    print(f"{args.n} waiters, one poll per {args.interval:g} s each, {args.seconds:g} s ({WARMUP:g} s warm-up)")
    print(f"| {'measure':<28} | {'floor (bare httpx)':>18} | {'triggers':>10} | {'ratio':>6} | target |")
    print(f"|{'-' * 30}|{'-' * 20}:|{'-' * 11}:|{'-' * 7}:|--------|")
    print(f"| {'token requests':<28} | {floor['tokens']:>18} | {trig['tokens']:>10} | {'':>6} | 1 |")
    print(f"| {'polls measured':<28} | {floor['polls']:>18} | {trig['polls']:>10} | {'':>6} | |")
    ratio = per_poll["triggers"] / per_poll["floor"]
    print(
        f"| {'CPU per poll (us)':<28} | {per_poll['floor']:>18.0f} | {per_poll['triggers']:>10.0f} "
        f"| {ratio:>5.2f}x | <= 1.5x |"
    )
    print(
        f"| {'peak RSS growth (MB)':<28} | {floor['rss_growth_mb']:>18.1f} | {trig['rss_growth_mb']:>10.1f} "
        f"| {'':>6} | < 50 |"
    )
    for key, label in (("late_median", "lateness median (%)"), ("late_p99", "lateness p99 (%)"),
                       ("late_max", "lateness max (%)")):  # fmt: skip
        print(f"| {label:<28} | {floor[key] * 100:>18.1f} | {trig[key] * 100:>10.1f} | {'':>6} | <= 10 |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--phase", choices=["floor", "triggers"])
    parser.add_argument("--base-url")
    parser.add_argument("--conn")
    parser.add_argument("--ids")
    args = parser.parse_args()
    if args.phase:
        child(args)
    else:
        parent(args)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
