"""The fault matrix: every fault kind against every path that meets it, over real HTTP to the emulator.

Paths (no scheduler: each is driven as Airflow would drive it, in this process):

- ``run``: ``RunZuoraWorkflowOperator.execute`` up to the run call (``wait_for_completion=False``),
  as a task with ``retries=1``: a try that fails with a retryable error is followed by try 2 (a new
  process: no cached token, the same task state store), as Airflow would.
- ``wait``: the operator's wait in a worker (``wait_for_completion=True``), one try.
- ``poke``: the sensor in poke mode, on an instance the test started.
- ``reschedule``: the sensor in reschedule mode: each poke a fresh sensor in a fresh "process"
  (no cached token), until it stops asking to be rescheduled.
- ``trigger``: the trigger's async ``run()`` to its first event, then the sensor's
  ``execute_complete`` with it (what the deferred task does on resume).

The emulated clock stands still, and each poll that reaches the emulator's backend moves it on by
one second: a workflow's run advances with successful polls, not with wall time, so every path
needs a fixed number of polls and a fault changes only what it should. The hook's backoff base is
cut to 0.05 s (its logic is unchanged) and Retry-After values are 1-2 s: the file runs in well under
a minute. Each case asserts the outcome a user wants, the instances created (never two for one
task try) and a bound on the API requests (token calls included) from the emulator's log, then
records itself for ``docs/reliability.md`` (see ``report.py``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import fnmatch
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_provider_zuora import calls
from airflow_provider_zuora._compat import AirflowException, AirflowFailException, AirflowSensorTimeout
from airflow_provider_zuora.exceptions import ZuoraApiError, ZuoraError, ZuoraTransportError
from airflow_provider_zuora.hooks._transport import TOKENS
from airflow_provider_zuora.operators.workflow import RunZuoraWorkflowOperator
from airflow_provider_zuora.sensors.workflow import ZuoraWorkflowInstanceSensor
from airflow_provider_zuora.testing import TaskSpec, Workflow
from airflow_provider_zuora.triggers.workflow import ZuoraWorkflowInstanceTrigger
from tests.reliability import report
from tests.reliability._support import MemoryStore, task_context

pytestmark = pytest.mark.integration

STEADY, PENDING, UNKNOWN = 8801, 8802, 8803
UNKNOWN_STATUS = "Throttled"
TOKEN = "/oauth/token"
POLL = "/workflows/workflow_runs/*"
POLL_INTERVAL = 0.02
OUTAGE_TIMEOUT = 0.8  # the waits' own timeout in the outage case
OUTAGE_INTERVAL = 0.1
HTML = "<html><head><title>Sign in</title></head><body>Please sign in to continue.</body></html>"

PATHS = [
    ("run", "operator execute up to the run call (retries=1: try 2 after a retryable failure)"),
    ("wait", "the operator waiting in a worker (wait_for_completion=True)"),
    ("poke", "the sensor, mode=poke"),
    ("reschedule", "the sensor, mode=reschedule (each poke a fresh process)"),
    ("trigger", "the trigger's async run(), then the sensor's execute_complete"),
]
POLLS = ("wait", "poke", "reschedule", "trigger")
ALL = ("run", *POLLS)
#: API requests (token calls included) of each path with no fault: 3 polls see the run through.
BASE = {"run": 2, "wait": 5, "poke": 4, "reschedule": 6, "trigger": 4}
#: Token calls of each path with no fault (a rescheduled poke is a new process: a new token).
BASE_TOKENS = {"run": 1, "wait": 1, "poke": 1, "reschedule": 3, "trigger": 1}

STARTED = "started"
SUCCEEDED = "succeeded (Finished)"
FAILED_AT_ONCE = "failed at once, not retried"
TIMED_OUT = "timed out; instance stopped"


def workflows() -> list[Workflow]:
    tasks = [TaskSpec("Fetch", "Query"), TaskSpec("Push", "Callout")]
    return [
        Workflow(id=STEADY, name="Reliability: steady", timeline=[("Queued", 1.0), ("Processing", 2.0)],
                 tasks=tasks),
        Workflow(id=PENDING, name="Reliability: pending", tasks=tasks,
                 timeline=[("Queued", 1.0), ("Pending", 1.0), ("Processing", 1.0)]),
        Workflow(id=UNKNOWN, name="Reliability: unknown status", tasks=tasks,
                 timeline=[("Queued", 1.0), (UNKNOWN_STATUS, 1.0), ("Processing", 1.0)]),
    ]  # fmt: skip


# ================================================================== the rig
class Rig:
    """The emulator for one case: frozen clock moved by polls, request stamps, request triggers."""

    def __init__(self, emu: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.emu = emu
        self.backend = emu.backend
        self.monkeypatch = monkeypatch
        self.stamps: dict[int, float] = {}  # request seq -> time.monotonic() of its arrival
        self.wall: dict[int, float] = {}  # request seq -> time.time() of its arrival
        self.retry_at: float | None = None  # the instant an HTTP-date Retry-After names
        self.injected: list[Any] = []  # every fault injected, to check each one was met
        self.statuses: list[str] = []  # the run statuses polls were answered with
        self.triggers: list[tuple[str, str, int, Callable[[], Any]]] = []
        self.seen: dict[tuple[str, str], int] = {}
        self.string_ids = False
        self.workflow_id = STEADY
        for wf in workflows():
            self.backend.add_workflow(wf)
        self.backend.freeze_clock()
        self.conn()

        backend = self.backend
        log_request, run_state, run_workflow, inject_fault = (
            backend.log_request,
            backend.workflow_run_state,
            backend.run_workflow,
            backend.inject_fault,
        )

        def logged(record: Any) -> Any:
            out = log_request(record)
            self.stamps[record.seq], self.wall[record.seq] = time.monotonic(), time.time()
            for method, glob, n, action in self.triggers:
                if record.method == method and fnmatch.fnmatchcase(record.path, glob):
                    seen = self.seen[(method, glob)] = self.seen.get((method, glob), 0) + 1
                    if seen == n:
                        action()
            return out

        def state(run_id: Any) -> dict[str, Any]:
            backend.advance_clock(1.0)  # a poll that reaches the backend moves the run on
            answer = run_state(run_id)
            self.statuses.append(answer["status"])
            return self._ids(answer)

        def injected(**spec: Any) -> Any:
            fault = inject_fault(**spec)
            self.injected.append(fault)
            return fault

        def started(workflow_id: Any, body: Any) -> dict[str, Any]:
            return self._ids(run_workflow(workflow_id, body))

        monkeypatch.setattr(backend, "log_request", logged)
        monkeypatch.setattr(backend, "workflow_run_state", state)
        monkeypatch.setattr(backend, "run_workflow", started)
        monkeypatch.setattr(backend, "inject_fault", injected)

    def _ids(self, doc: dict[str, Any]) -> dict[str, Any]:
        if not self.string_ids:
            return doc
        return {**doc, "id": str(doc["id"]), "originalWorkflowId": str(doc["originalWorkflowId"])}

    def conn(self, **extra: Any) -> None:
        self.monkeypatch.setenv(
            "AIRFLOW_CONN_ZUORA_DEFAULT", self.emu.airflow_conn_json(**{"timeout": 5, **extra})
        )

    def wrong_secret(self) -> None:
        conn = json.loads(self.emu.airflow_conn_json(timeout=5))
        self.monkeypatch.setenv(
            "AIRFLOW_CONN_ZUORA_DEFAULT", json.dumps({**conn, "password": "not-the-secret"})
        )

    def on(self, method: str, glob: str, n: int, action: Callable[[], Any]) -> None:
        """Run ``action`` when the ``n``-th request matching arrives (before the gateway judges it)."""
        self.triggers.append((method, glob, n, action))

    def start(self) -> str:
        """An instance for the waits' paths, started directly in the backend (no request)."""
        return str(self.backend.run_workflow(self.workflow_id, {"accountId": "A-1"})["id"])

    @property
    def log(self) -> list[Any]:
        return self.backend.request_log

    def gap_after(self, status: int) -> tuple[float, float] | None:
        """Seconds from the first answer ``status`` to the next request on the same path, and the
        wall-clock time that answer's request arrived."""
        log = self.log
        for i, rec in enumerate(log):
            if rec.status == status and rec.outcome == "fault":
                later = [r for r in log[i + 1 :] if (r.method, r.path) == (rec.method, rec.path)]
                if later:
                    return self.stamps[later[0].seq] - self.stamps[rec.seq], self.wall[rec.seq]
        return None


@pytest.fixture
def rig(zuora_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Rig:
    TOKENS.clear()  # a token from an earlier test would cost a 401, or hide a token call
    monkeypatch.setattr(calls, "BASE_WAIT", 0.05)  # the backoff's base, not its logic
    return Rig(zuora_emulator, monkeypatch)


# ================================================================== the fault kinds
@dataclass(frozen=True)
class Kind:
    """A fault: how to inject it per path, what a user wants from each path, the requests it may add."""

    id: str
    title: str
    paths: tuple[str, ...]
    inject: Callable[[Rig, str], None]
    expected: dict[str, str]
    extra: dict[str, int]  # API requests it may add over BASE, per path
    instances: dict[str, int] = field(default_factory=dict)  # expected instances (default 1)
    n_a: str = ""  # why the other paths are left out
    wait_timeout: float | None = None  # the waits' own timeout (outage)
    retry_after: float | None = None  # the least gap a Retry-After asks for
    xfail: dict[str, str] = field(default_factory=dict)  # path -> known bug


def target(path: str) -> tuple[str, str]:
    """What a fault hits on ``path``: the run call, or a poll."""
    return ("POST", f"/workflows/{STEADY}/run") if path == "run" else ("GET", POLL)


def each(value: Any, paths: tuple[str, ...] = ALL) -> dict[str, Any]:
    return dict.fromkeys(paths, value)


def ok(extra: int = 1) -> tuple[dict[str, str], dict[str, int]]:
    return {"run": STARTED, **each(SUCCEEDED, POLLS)}, each(extra)


def simple(status: int | None = None, *, run_when: str = "before", **spec: Any) -> Callable[[Rig, str], None]:
    """One fault on the first run call (at stage ``run_when``) or the first poll."""

    def inject(rig: Rig, path: str) -> None:
        method, glob = target(path)
        when = run_when if path == "run" else "before"
        rig.backend.inject_fault(method=method, path=glob, status=status, when=when, count=1, **spec)

    return inject


def inject_retry_after_date(rig: Rig, path: str) -> None:
    """``Retry-After: <HTTP-date>`` 1 to 2 s ahead (whole seconds: the format has no fractions)."""
    rig.retry_at = float(math.ceil(time.time() + 1))
    date = email.utils.format_datetime(
        dt.datetime.fromtimestamp(rig.retry_at, tz=dt.timezone.utc), usegmt=True
    )
    method, glob = target(path)
    rig.backend.inject_fault(
        method=method, path=glob, status=429, body_shape="reasons", headers={"Retry-After": date}
    )


def inject_outage(rig: Rig, path: str) -> None:
    rig.conn(max_attempts=2)
    method, glob = target(path)
    rig.backend.inject_fault(method=method, path=glob, status=503, count=None)


def inject_read_timeout(rig: Rig, path: str) -> None:
    rig.conn(timeout=1.0)
    method, glob = target(path)  # the run call: Zuora creates the run, its answer comes too late
    rig.backend.inject_fault(method=method, path=glob, delay=1.5, when="after" if path == "run" else "before")


def inject_slow(rig: Rig, path: str) -> None:
    rig.conn(timeout=2.0)
    method, glob = target(path)
    rig.backend.inject_fault(method=method, path=glob, delay=0.3)


def inject_token_expiry(rig: Rig, path: str) -> None:
    method, glob = target(path)
    rig.on(method, glob, 1 if path == "run" else 2, rig.backend.expire_tokens)


def inject_refused(rig: Rig, path: str) -> None:
    if path == "run":
        rig.wrong_secret()
        return

    def revoke() -> None:  # mid-wait: the token dies and the credentials are refused from now on
        rig.backend.expire_tokens()
        rig.backend.inject_fault(
            method="POST", path=TOKEN, status=401, body_shape="message", message="Authentication error",
            count=None,
        )  # fmt: skip

    rig.on("GET", POLL, 2, revoke)


def inject_token_passing_401(rig: Rig, path: str) -> None:
    rig.backend.inject_fault(
        method="POST", path=TOKEN, status=401, body_shape="message", message="Failed to get user info"
    )


def inject_key_in_progress(rig: Rig, path: str) -> None:
    """The run call is slow at Zuora (the key stays in progress 2 s) and the read timeout is 1 s:
    the hook's own retry of the keyed call meets its first request still in progress (409)."""
    rig.conn(timeout=1.0)
    rig.backend.inject_fault(method="POST", path=f"/workflows/{STEADY}/run", when="during", delay=2.0)


def inject_workflow(workflow_id: int) -> Callable[[Rig, str], None]:
    def inject(rig: Rig, path: str) -> None:
        rig.workflow_id = workflow_id

    return inject


def inject_string_ids(rig: Rig, path: str) -> None:
    rig.string_ids = True


RUN_TRY_2 = "try 1 failed ({}), try 2 started"
_ok_expected, _ok_extra = ok()

KINDS: list[Kind] = [
    Kind("http-429", "429, no Retry-After", ALL,
         simple(429, body_shape="reasons"), _ok_expected, _ok_extra),
    Kind("http-429-retry-after", "429, Retry-After: 1 (seconds)", ALL,
         simple(429, body_shape="reasons", retry_after=1), _ok_expected, _ok_extra, retry_after=1.0),
    Kind("http-429-retry-after-date", "429, Retry-After as an HTTP-date (1-2 s ahead)", ALL,
         inject_retry_after_date, _ok_expected, _ok_extra, retry_after=1.0),
    Kind("http-500", "500 Internal Server Error", ALL, simple(500), _ok_expected, _ok_extra),
    Kind("http-502", "502 Bad Gateway (an HTML page)", ALL,
         simple(502, body_shape="raw"), _ok_expected, _ok_extra),
    Kind("http-503", "503 Service Unavailable", ALL, simple(503), _ok_expected, _ok_extra),
    Kind("http-504", "504 Gateway Timeout", ALL, simple(504, body_shape="empty"), _ok_expected, _ok_extra),
    Kind("outage", "503 on every try (an outage; max_attempts=2)", ALL, inject_outage,
         {"run": "failed on both tries (ZuoraApiError 503)", **each(TIMED_OUT, POLLS)},
         {"run": 4, "wait": 24, "poke": 22, "reschedule": 40, "trigger": 24},
         instances={"run": 0}, wait_timeout=OUTAGE_TIMEOUT),
    Kind("drop", "connection dropped, no answer", ALL, simple(drop=True), _ok_expected, _ok_extra),
    Kind("drop-after-run", "connection dropped after Zuora created the run", ("run",),
         simple(drop=True, run_when="after"), {"run": STARTED}, {"run": 1},
         n_a="a poll changes nothing at Zuora: a dropped poll is the 'connection dropped' case"),
    Kind("read-timeout", "read timeout (answer after 1.5 s, timeout 1 s)", ALL,
         inject_read_timeout, _ok_expected, _ok_extra),
    Kind("slow", "slow answer under the timeout (0.3 s, timeout 2 s)", ALL,
         inject_slow, _ok_expected, each(0)),
    Kind("token-expired", "token expires mid-wait (401, then one refresh)", ALL,
         inject_token_expiry, _ok_expected, each(2)),
    Kind("token-401-passing", "token call 401 'Failed to get user info' (the gateway's passing one)", ALL,
         inject_token_passing_401, _ok_expected, _ok_extra),
    Kind("refused-credentials", "credentials refused (run: wrong secret; waits: revoked mid-wait)", ALL,
         inject_refused, {"run": FAILED_AT_ONCE, **each(FAILED_AT_ONCE, POLLS)},
         {"run": -1, **each(1, POLLS)}, instances={"run": 0}),
    Kind("http-403", "403 Forbidden (permission taken away)", ALL,
         simple(403, body={"code": 50000040, "message": "You have no permission to access workflow runs"}),
         each(FAILED_AT_ONCE), each(0), instances={"run": 0}),
    Kind("non-json", "200 with an HTML body (a proxy's page)", ALL,
         simple(200, body=HTML, run_when="after"),
         {"run": RUN_TRY_2.format("ZuoraApiError 200"), **each(FAILED_AT_ONCE, POLLS)},
         {"run": 2, **each(0, POLLS)}),
    Kind("empty-200", "200 with an empty body", ALL,
         simple(200, body_shape="empty", run_when="after"),
         {"run": RUN_TRY_2.format("ZuoraApiError 200"), **each(FAILED_AT_ONCE, POLLS)},
         {"run": 2, **each(0, POLLS)}),
    Kind("truncated-gzip", "gzip body cut short", ALL,
         simple(truncate_gzip=True, run_when="after"), _ok_expected, _ok_extra),
    Kind("key-in-progress", "409: idempotency key still in progress (read timeout 1 s, Zuora takes 2 s)",
         ("run",), inject_key_in_progress, {"run": STARTED}, {"run": 7},
         n_a="polls carry no Idempotency-Key"),
    Kind("http-404-poll", "404 on a poll (the run is gone)", POLLS,
         simple(404, message="Cannot find a workflow run with id provided."), each(FAILED_AT_ONCE, POLLS),
         each(0, POLLS), n_a="a 404 on the run call is an unknown workflow: see the bad inputs"),
    Kind("pending", "Pending on the way (approval)", POLLS, inject_workflow(PENDING),
         each(SUCCEEDED, POLLS), each(0, POLLS), n_a="the run call answers Queued or Processing"),
    Kind("unknown-status", f"an unknown status string ({UNKNOWN_STATUS!r}) on the way", POLLS,
         inject_workflow(UNKNOWN), each(SUCCEEDED, POLLS), each(0, POLLS),
         n_a="the run call answers Queued or Processing"),
    Kind("string-ids", "ids as strings (Zuora's answers and the task's arguments)", ALL,
         inject_string_ids, _ok_expected, each(0)),
]  # fmt: skip

report.declare_matrix(
    [(k.id, k.title) for k in KINDS],
    PATHS,
    {(k.id, p): k.n_a for k in KINDS for p, _ in PATHS if p not in k.paths},
)
PATH_ORDER = {p: i for i, (p, _) in enumerate(PATHS)}


def cases() -> list[Any]:
    out = []
    for kind in KINDS:
        for path in kind.paths:
            marks = []
            if path in kind.xfail:
                marks.append(pytest.mark.xfail(strict=True, reason=kind.xfail[path]))
            out.append(pytest.param(kind, path, id=f"{kind.id}-{path}", marks=marks))
    return out


# ================================================================== driving the paths
def error_label(err: BaseException) -> str:
    status = getattr(err, "status_code", None)
    return f"{type(err).__name__}{f' {status}' if status is not None else ''}"


@dataclass
class Result:
    outcome: str
    error: BaseException | None = None
    tries: list[int] = field(default_factory=list)  # instances each try created


def drive_run(rig: Rig, kind: Kind) -> Result:
    store, tries, first_error = MemoryStore(), [], None
    workflow_id: int | str = str(STEADY) if rig.string_ids else STEADY
    for try_number in (1, 2):
        if try_number == 2:
            TOKENS.clear()  # a retry runs in a new process
        before = rig.backend.instance_count(STEADY)
        task = RunZuoraWorkflowOperator(
            task_id="zuora", workflow_id=workflow_id, parameters={"accountId": "A-1"}, retries=1
        )
        try:
            state = task.execute(task_context(store, try_number))
        except AirflowFailException as err:
            tries.append(rig.backend.instance_count(STEADY) - before)
            return Result(FAILED_AT_ONCE, err, tries)
        except Exception as err:
            tries.append(rig.backend.instance_count(STEADY) - before)
            if try_number == 1:
                first_error = err
                continue
            same = first_error is not None and error_label(first_error) == error_label(err)
            return Result(
                f"failed on both tries ({error_label(err)})" if same else f"failed ({err!r})", err, tries
            )
        tries.append(rig.backend.instance_count(STEADY) - before)
        assert str(state["id"]).isdigit()
        assert isinstance(state["id"], str) is rig.string_ids
        if first_error is None:
            return Result(STARTED, None, tries)
        return Result(RUN_TRY_2.format(error_label(first_error)), first_error, tries)
    raise AssertionError("unreachable")


def wait_outcome(rig: Rig, instance_id: str | None, call: Callable[[], Any]) -> Result:
    """Run a wait; ``instance_id`` None: the one instance the call itself started."""
    try:
        final = call()
    except (AirflowSensorTimeout, AirflowException) as err:
        if isinstance(err, AirflowFailException):
            return Result(FAILED_AT_ONCE, err)
        if "Timed out" in str(err):
            instance_id = instance_id or str(rig.backend.instances[-1]["id"])
            status = (rig.backend.get_instance(instance_id) or {}).get("status")
            stopped = status in ("Stopping", "Stopped") and "it was stopped" in str(err)
            return Result(TIMED_OUT if stopped else f"timed out; instance {status}", err)
        return Result(f"error ({error_label(err)})", err)
    except Exception as err:
        return Result(f"error ({error_label(err)})", err)
    if isinstance(final, dict) and final.get("status") == "Finished":
        assert str(final["id"]) == (instance_id or str(rig.backend.instances[-1]["id"]))
        return Result(SUCCEEDED)
    return Result(f"ended with {final!r:.80}")


def drive_wait(rig: Rig, kind: Kind) -> Result:
    workflow_id: int | str = str(rig.workflow_id) if rig.string_ids else rig.workflow_id
    task = RunZuoraWorkflowOperator(
        task_id="zuora",
        workflow_id=workflow_id,
        parameters={"accountId": "A-1"},
        wait_for_completion=True,
        poll_interval=OUTAGE_INTERVAL if kind.wait_timeout else POLL_INTERVAL,
        timeout=kind.wait_timeout,
    )
    result = wait_outcome(rig, None, lambda: task.execute(task_context(MemoryStore())))
    result.tries = [rig.backend.instance_count(rig.workflow_id)]
    return result


def sensor(rig: Rig, kind: Kind, instance_id: str, **kwargs: Any) -> ZuoraWorkflowInstanceSensor:
    return ZuoraWorkflowInstanceSensor(
        task_id="wait",
        instance_id=instance_id if rig.string_ids else int(instance_id),
        poke_interval=OUTAGE_INTERVAL if kind.wait_timeout else POLL_INTERVAL,
        timeout=kind.wait_timeout or 20,
        **kwargs,
    )


def drive_poke(rig: Rig, kind: Kind) -> Result:
    instance_id = rig.start()
    task = sensor(rig, kind, instance_id, mode="poke")
    return wait_outcome(rig, instance_id, lambda: task.execute(task_context()))


def drive_reschedule(rig: Rig, kind: Kind) -> Result:
    from airflow.exceptions import AirflowRescheduleException

    instance_id = rig.start()
    first: list[Any] = []

    def pokes() -> Any:
        for _ in range(200):  # a bound far above any case's pokes
            TOKENS.clear()  # each poke is a new process
            task = sensor(rig, kind, instance_id, mode="reschedule")
            ctx = task_context(get_first_reschedule_date=lambda _ctx: first[0] if first else None)
            try:
                return task.execute(ctx)
            except AirflowRescheduleException as resched:
                if not first:
                    first.append(dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=0.001))
                time.sleep(
                    max(0.0, (resched.reschedule_date - dt.datetime.now(dt.timezone.utc)).total_seconds())
                )
        raise AssertionError("the sensor never stopped asking to be rescheduled")

    return wait_outcome(rig, instance_id, pokes)


def drive_trigger(rig: Rig, kind: Kind) -> Result:
    instance_id = rig.start()
    end_time = time.time() + kind.wait_timeout if kind.wait_timeout else None

    async def first_event() -> dict[str, Any]:
        trigger = ZuoraWorkflowInstanceTrigger(
            instance_id=instance_id,
            poll_interval=OUTAGE_INTERVAL if kind.wait_timeout else POLL_INTERVAL,
            end_time=end_time,
        )
        try:
            async for event in trigger.run():
                return event.payload
            raise AssertionError("the trigger ended without an event")
        finally:
            await trigger.cleanup()

    event = asyncio.run(asyncio.wait_for(first_event(), 30))
    task = sensor(rig, kind, instance_id, deferrable=True)
    return wait_outcome(rig, instance_id, lambda: task.execute_complete(task_context(), event))


DRIVERS = {
    "run": drive_run,
    "wait": drive_wait,
    "poke": drive_poke,
    "reschedule": drive_reschedule,
    "trigger": drive_trigger,
}


# ================================================================== the matrix
@pytest.mark.parametrize(("kind", "path"), cases())
def test_fault(rig: Rig, kind: Kind, path: str) -> None:
    kind.inject(rig, path)
    started = time.monotonic()
    result = DRIVERS[path](rig, kind)
    seconds = time.monotonic() - started

    log = rig.log
    tokens = sum(r.path == TOKEN for r in log)
    bound = 1 if kind.extra[path] < 0 else BASE[path] + kind.extra[path]
    expected_instances = kind.instances.get(path, 1)
    found = rig.backend.instance_count(rig.workflow_id)
    notes = []
    measured = rig.gap_after(429) if kind.retry_after else None
    gap, asked = (None, None) if measured is None else (measured[0], kind.retry_after)
    if measured is not None and rig.retry_at is not None:  # an HTTP-date: the wait it asks for, from then
        asked = rig.retry_at - measured[1]
    if gap is not None:
        notes.append(f"next try {gap:.2f} s after the 429 (Retry-After asked for {asked:.2f} s)")
    if kind.id == "token-expired":
        notes.append(f"{sum(r.status == 401 for r in log)} x 401, {tokens} token calls")
    if result.error is not None and result.outcome != kind.expected[path]:
        notes.append(f"{result.error!s:.200}")
    report.fault_case(
        kind=kind.id,
        title=kind.title,
        path=path,
        expected=kind.expected[path],
        outcome=result.outcome,
        instances_expected=expected_instances,
        instances_found=found,
        bound=bound,
        requests=len(log),
        tokens=tokens,
        seconds=seconds,
        order=(KINDS.index(kind), PATH_ORDER[path]),
        notes="; ".join(notes),
        known_bug=kind.xfail.get(path, ""),
    )

    assert result.outcome == kind.expected[path], f"{result.outcome}: {result.error!r}"
    assert found == expected_instances
    assert all(n <= 1 for n in result.tries), f"two instances for one try: {result.tries}"
    assert len(log) <= bound, [(r.method, r.path, r.status, r.outcome) for r in log]
    if kind.retry_after:
        assert gap is not None and asked is not None and asked > 0.5, (gap, asked)
        assert gap >= asked - 0.02, (
            f"Retry-After not honoured: next try after {gap:.3f} s, asked {asked:.3f} s"
        )
    if kind.id == "token-expired":
        assert sum(r.status == 401 for r in log) == 1
        assert tokens == BASE_TOKENS[path] + 1  # exactly one refresh
    assert all(fault.hits >= 1 for fault in rig.injected), "a fault was never met"
    if kind.id == "slow":
        assert len(log) == BASE[path]  # not one retry
    if kind.id == "pending":
        assert "Pending" in rig.statuses
    if kind.id == "unknown-status":
        assert UNKNOWN_STATUS in rig.statuses
    if kind.id == "refused-credentials":
        assert sum(r.path == TOKEN and r.status == 401 for r in log) == 1  # asked once, never looped
    check_message(kind, path, result)


def check_message(kind: Kind, path: str, result: Result) -> None:
    """The failures say what happened, in the user's terms."""
    text = str(result.error) if result.error is not None else ""
    fragments = {
        "refused-credentials": "refused the OAuth client credentials of connection 'zuora_default'",
        "http-403": "(403)" if path != "run" else "Zuora API error 403",
        "http-404-poll": "was not found (404)",
        "non-json": "not JSON",
        "empty-200": "an empty body, not a workflow run",
        "outage": "503" if path == "run" else "Timed out after 0.8 s",
    }
    if kind.id in fragments and kind.expected[path] != STARTED:
        assert fragments[kind.id] in text, text
    if kind.id == "refused-credentials":
        assert "not-the-secret" not in text


def test_transport_errors_are_what_the_hook_retries() -> None:
    """The premise of the 'dropped' and 'read timeout' rows: no answer is retryable, always."""
    assert ZuoraTransportError("x").retryable and not ZuoraApiError(404, "x").retryable
    assert issubclass(ZuoraTransportError, ZuoraError)
