"""Helpers shared by test modules (test modules never import each other's)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

if TYPE_CHECKING:
    import pytest

REPO = Path(__file__).resolve().parent.parent


def modules_added(imports: str, *, after: str = "", roots: tuple[str, ...] = ()) -> list[str]:
    """The modules that ``imports`` adds to a fresh interpreter that has already run ``after``,
    kept to those whose top-level package (or any dotted part, for ``.name`` roots) is in ``roots``."""
    code = (
        f"import sys, json; {after or 'pass'}; before = set(sys.modules); {imports}; "
        f"roots = {roots!r}; added = set(sys.modules) - before; "
        "print(json.dumps(sorted(m for m in added if m.split('.')[0] in roots "
        "or any(r.startswith('.') and r in m for r in roots))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


# ------------------------------------------------------------------ a fake sync hook for the waiters
FAILED_TASKS = [
    {"id": 1, "name": "Export", "action_type": "Export", "status": "Success"},
    {"id": 2, "name": "Callout", "action_type": "Callout", "status": "Error", "error": "HTTP 500",
     "error_details": "upstream down"},
    {"id": 3, "name": "Notify", "action_type": "Email", "status": "Error", "error": "bad address"},
]  # fmt: skip


def state(status: str, errors: int = 0, ident: int = 400) -> dict[str, Any]:
    return {
        "id": ident,
        "name": "WF-1-00000001",
        "status": status,
        "tasks": {"total": 3, "success": 3 - errors, "error": errors},
    }


class FakeHook:
    """Answers from a script: each item is a state dict or an exception to raise."""

    def __init__(self, *answers: Any, tasks: Any = (), stop: Any = None) -> None:
        self.answers: Iterator[Any] = iter(answers)
        self.tasks = tasks
        self.stop = stop
        self.calls: list[tuple[str, str]] = []

    def get_workflow_instance(self, instance_id: str) -> dict[str, Any]:
        self.calls.append(("get", instance_id))
        answer = next(self.answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def get_workflow_instance_tasks(self, instance_id: str) -> list[dict[str, Any]]:
        self.calls.append(("tasks", instance_id))
        if isinstance(self.tasks, Exception):
            raise self.tasks
        return list(self.tasks)

    def stop_workflow_instance(self, instance_id: str) -> dict[str, Any]:
        self.calls.append(("stop", instance_id))
        if isinstance(self.stop, Exception):
            raise self.stop
        return {"success": True}


# ------------------------------------------------------------------ the operator's task context
class FakeStore:
    """The task state store's get/set, in memory, recording every write."""

    def __init__(self, initial: dict[str, Any] | None = None) -> None:
        self.data = dict(initial or {})
        self.writes: list[tuple[str, Any]] = []

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(json.dumps(self.data[key])) if key in self.data else default

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        self.data[key] = value
        self.writes.append((key, json.loads(json.dumps(value))))


def make_context(
    store: FakeStore | None = None,
    *,
    run_id: str = "manual__2026-11-28T10:00:00+00:00",
    try_number: int = 1,
    max_tries: int = 0,
) -> dict:
    """A task context; ``max_tries`` as Airflow keeps it (retries, plus try_number at each clear)."""
    ti = mock.MagicMock(
        dag_id="billing",
        task_id="run",
        run_id=run_id,
        try_number=try_number,
        max_tries=max_tries,
        map_index=-1,
    )
    ctx: dict[str, Any] = {"ti": ti}
    if store is not None:
        ctx["task_state_store"] = store
    return ctx


# ------------------------------------------------------------------ emulator workflows for the wait tests
# Workflows with short, scripted timelines (seconds of real time). Shared with the sensor's DAG tests.
CALLOUT_DETAILS = "POST https://billing.example/charge answered 500"


def emulator_workflows() -> list[Any]:
    from airflow_provider_zuora.testing import TaskSpec, Workflow

    callout = TaskSpec(
        "Callout", "Callout", error="HTTP 500", error_class="CalloutError", error_details=CALLOUT_DETAILS
    )
    return [
        Workflow(id=8101, name="Quick success", queued_seconds=0.5, processing_seconds=2.0,
                 tasks=[TaskSpec("Export", "Export"), TaskSpec("Notify", "Email")]),
        Workflow(id=8102, name="Waits on approval", tasks=[TaskSpec("Approve", "Approval"), TaskSpec("Bill")],
                 timeline=[("Queued", 0.2), ("Processing", 0.3), ("Pending", 12.0), ("Processing", 0.3)]),
        Workflow(id=8103, name="Task errors", queued_seconds=0.1, processing_seconds=0.5, result="errors",
                 tasks=[TaskSpec("Export", "Export"), callout]),
        Workflow(id=8104, name="Gets stopped", queued_seconds=0.1, processing_seconds=0.6, result="stopped",
                 stopping_seconds=0.3, tasks=[TaskSpec("A"), TaskSpec("B")]),
        Workflow(id=8105, name="Runs for an hour", timeline=[("Processing", 3600.0)]),
    ]  # fmt: skip


# ------------------------------------------------------------------ the sdist and wheel, built once
@dataclass(frozen=True)
class Dists:
    sdist: Path
    wheel: Path


_BUILT: list[Dists] = []


def build_dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    """The sdist and wheel, built once per pytest session (tests/test_packaging.py inspects
    them, tests/testing/test_plugin_from_wheel.py installs the wheel: one build for both)."""
    if _BUILT:
        return _BUILT[0]
    out = tmp_path_factory.mktemp("dist")
    cmd = [sys.executable, "-m", "build", "--outdir", str(out)]
    if importlib.util.find_spec("uv") is not None or shutil.which("uv"):
        cmd += ["--installer", "uv"]  # the isolated build envs in about a second, not pip's ten
    proc = subprocess.run([*cmd, str(REPO)], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    _BUILT.append(Dists(sdist=sdist, wheel=wheel))
    return _BUILT[0]
