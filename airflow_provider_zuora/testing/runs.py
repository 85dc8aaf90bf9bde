"""A workflow run (the API's "instance") and what it looks like at any moment: a pure function of time.

A run never changes state by itself: its status, task statuses and counts are computed from
the workflow's timeline, the run's creation time, an optional stop time and "now" (the
emulated clock). So moving the clock moves every run, and the task counts in the run's state
always agree with the task list, by construction.

Task progress: tasks run one after another, only while the run is ``Processing``; during a
``Pending`` stretch the current task is ``Pending``. After a stop, the run is ``Stopping`` for
the workflow's ``stopping_seconds``, then ``Stopped``, and unfinished tasks become ``Stopped``.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_zuora.testing.clock import zuora_time
from airflow_provider_zuora.testing.workflows import Phase, Workflow

PROCESSING = "Processing"
PENDING = "Pending"
QUEUED = "Queued"
FINISHED = "Finished"
STOPPING = "Stopping"
STOPPED = "Stopped"
TASK_COUNT_KEYS = ("queued", "processing", "pending", "stopped", "success", "error")


def iso_time(t: float) -> str:
    """ISO 8601 in UTC with milliseconds, as task times are given: ``2019-09-19T18:25:33.120Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1000):03d}Z"


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


@dataclass
class Run:
    """One run of a workflow. Times are emulated epoch seconds; ``stop_at`` is relative to ``created``."""

    id: int
    name: str
    workflow: Workflow
    created: float
    parameters: dict[str, Any]
    task_id_base: int
    definition_task_base: int
    stop_at: float | None = None
    _phases: list[Phase] = field(init=False, repr=False)
    _starts: list[float] = field(init=False, repr=False)
    _end: float = field(init=False, repr=False)
    _processing_total: float = field(init=False, repr=False)
    _rate: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._phases = [p for p in self.workflow.phases() if p.seconds > 0]
        self._starts = []
        t = 0.0
        for phase in self._phases:
            self._starts.append(t)
            t += phase.seconds
        self._end = t
        self._processing_total = sum(p.seconds for p in self._phases if p.status == PROCESSING)
        n = len(self.workflow.tasks)
        self._rate = float(n)
        if self.workflow.result == "stopped":
            # Scripted stop at the end of the timeline, with `stopped_after` tasks done by then.
            self.stop_at = self._end
            done = self.workflow.stopped_after if self.workflow.stopped_after is not None else n // 2
            self._rate = done + 0.5

    # ---- time arithmetic (all in seconds since `created`) ----
    def _phase_status(self, e: float) -> str:
        """Timeline status at elapsed ``e`` (the last phase's once past the end)."""
        for start, phase in zip(self._starts, self._phases, strict=True):
            if e < start + phase.seconds:
                return phase.status
        return self._phases[-1].status if self._phases else PROCESSING

    def _processing_elapsed(self, e: float) -> float:
        return sum(
            min(max(e - start, 0.0), phase.seconds)
            for start, phase in zip(self._starts, self._phases, strict=True)
            if phase.status == PROCESSING
        )

    def _wall_for_processing(self, pt: float) -> float:
        """The elapsed time at which ``pt`` seconds of processing have been done."""
        acc = 0.0
        for start, phase in zip(self._starts, self._phases, strict=True):
            if phase.status != PROCESSING:
                continue
            if pt <= acc + phase.seconds:
                return start + max(pt - acc, 0.0)
            acc += phase.seconds
        return self._end

    def elapsed(self, now: float) -> float:
        return max(now - self.created, 0.0)

    def status_at(self, now: float) -> str:
        e = self.elapsed(now)
        if self.stop_at is not None and e >= self.stop_at:
            return STOPPING if e < self.stop_at + self.workflow.stopping_seconds else STOPPED
        if e >= self._end:
            return FINISHED
        return self._phase_status(e)

    def is_terminal(self, now: float) -> bool:
        return self.status_at(now) in (FINISHED, STOPPED)

    def request_stop(self, now: float) -> bool:
        """Stop the run at ``now``; False (nothing changes) when it already ended or is stopping."""
        if self.status_at(now) in (FINISHED, STOPPED, STOPPING):
            return False
        self.stop_at = self.elapsed(now)
        return True

    # ---- views ----
    def tasks_at(self, now: float) -> list[dict[str, Any]]:
        """Every task of the run as ``GET /workflows/tasks`` returns it, at ``now``."""
        specs = self.workflow.tasks
        n = len(specs)
        e = self.elapsed(now)
        status = self.status_at(now)
        frozen = min(e, self.stop_at) if self.stop_at is not None else e
        pe = self._processing_elapsed(frozen)
        total = self._processing_total
        if status == FINISHED:
            done = n
        elif total > 0:
            done = min(n, math.floor(pe * self._rate / total + 1e-9))
        else:
            done = 0
        # What the current task is doing (or was doing when the stop came).
        moment = frozen if status not in (STOPPING, STOPPED) else min(frozen, max(self._end - 1e-9, 0.0))
        phase = self._phase_status(moment)
        current = phase if phase in (PROCESSING, PENDING) else QUEUED
        stopped_time = (
            self.created + self.stop_at + self.workflow.stopping_seconds if self.stop_at is not None else 0
        )
        step = total / self._rate if self._rate else 0.0
        out: list[dict[str, Any]] = []
        for i, spec in enumerate(specs):
            start = end = None
            if i < done:
                task_status = "Error" if spec.fails else "Success"
                if total > 0:
                    start = self.created + self._wall_for_processing(i * step)
                    end = self.created + self._wall_for_processing((i + 1) * step)
                else:
                    start = end = self.created + self._end
            elif i == done:
                task_status = STOPPED if status == STOPPED else current
                if current != QUEUED:
                    start = self.created + min(self._wall_for_processing(i * step), frozen)
                if status == STOPPED:
                    end = stopped_time
            else:
                task_status = STOPPED if status == STOPPED else QUEUED
                if status == STOPPED:
                    end = stopped_time
            failed = task_status == "Error"
            out.append(
                {
                    "id": self.task_id_base + i,
                    "name": spec.name,
                    "action_type": spec.action_type,
                    "status": task_status,
                    "start_time": iso_time(start) if start is not None else None,
                    "end_time": iso_time(end) if end is not None else None,
                    "instance": True,
                    "workflow_id": self.id,
                    "original_workflow_id": self.workflow.id,
                    "original_task_id": self.definition_task_base + i,
                    "error": spec.error if failed else None,
                    "error_class": spec.error_class if failed else None,
                    "error_details": spec.error_details if failed else None,
                    "tags": [],
                }
            )
        return out

    def task_counts(self, tasks: list[dict[str, Any]]) -> dict[str, int]:
        counts = Counter(t["status"].lower() for t in tasks)
        return {"total": len(tasks), **{k: counts.get(k, 0) for k in TASK_COUNT_KEYS}}

    def _changed_at(self, e: float, status: str) -> float:
        if status == STOPPED:
            return self.stop_at + self.workflow.stopping_seconds  # type: ignore[operator]
        if status == STOPPING:
            return self.stop_at  # type: ignore[return-value]
        if status == FINISHED:
            return self._end
        start = 0.0
        for s in self._starts:
            if s <= e:
                start = s
        return start

    def summary(self, now: float) -> dict[str, Any]:
        """The body ``POST /workflows/{id}/run`` answers with."""
        e = self.elapsed(now)
        status = self.status_at(now)
        return {
            "createdAt": zuora_time(self.created),
            "id": self.id,
            "name": self.name,
            "originalWorkflowId": self.workflow.id,
            "status": status,
            "type": "Workflow::Instance",
            "updatedAt": zuora_time(self.created + self._changed_at(e, status)),
        }

    def state(self, now: float, tasks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The body ``GET /workflows/workflow_runs/{id}`` answers with."""
        e = self.elapsed(now)
        status = self.status_at(now)
        if tasks is None:
            tasks = self.tasks_at(now)
        finished = self.created + self._changed_at(e, status) if status in (FINISHED, STOPPED) else None
        frozen = min(e, self.stop_at) if self.stop_at is not None else e
        return {
            "id": self.id,
            "name": self.name,
            "originalWorkflowId": self.workflow.id,
            "type": "Workflow::Instance",
            "status": status,
            "tasks": self.task_counts(tasks),
            "runTime": round((finished - self.created) if finished is not None else e, 6),
            "cpuTime": _hms(self._processing_elapsed(frozen)),
            "finishedAt": zuora_time(finished) if finished is not None else None,
            "createdAt": zuora_time(self.created),
            "updatedAt": zuora_time(self.created + self._changed_at(e, status)),
            "messages": {},
        }
