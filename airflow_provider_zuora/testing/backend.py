"""The Zuora Workflow service the emulator serves: workflows and their runs, with no HTTP.

Like a moto service's ``models.py``: :class:`ZuoraBackend` has one method per API action
(``run_workflow``, ``get_workflow_run``, ``stop_workflow_run``, ``list_workflow_tasks``,
``get_workflow_definition``, ``list_workflows``), callable in-process, that the routes of
:mod:`.app` map onto; they raise the named errors of :mod:`.errors`. What every request needs
whatever the API (settings, clock, tokens, idempotency, limits, faults, the request log) comes
from :class:`~.core.EmulatorCore`. Zuora's API calls a run an "instance"; here it is a run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_zuora.testing import errors
from airflow_provider_zuora.testing.clock import zuora_time
from airflow_provider_zuora.testing.core import EmulatorCore, renamed
from airflow_provider_zuora.testing.runs import Run
from airflow_provider_zuora.testing.settings import Settings
from airflow_provider_zuora.testing.workflows import Workflow, coerce_workflows, sample_workflows

#: Top-level run-body keys Zuora reserves.
RESERVED_KEYS = ("controller", "action", "id", "user_email", "user_token", "format")
MAX_WORKFLOWS_PAGE = 50
MAX_TASKS_PAGE = 100
DEFAULT_PAGE_LENGTH = 20
#: First run id; workflow and run ids share one id space, as in Zuora.
FIRST_RUN_ID = 1000


def parse_id(value: int | str) -> int | None:
    """An id from a path or query (``396`` or ``"396"``); None when it is not a positive integer."""
    if isinstance(value, int):
        return value if value > 0 else None
    text = str(value).strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


class ZuoraBackend(EmulatorCore):
    """In-memory Zuora tenant: see the module docstring. Thread-safe.

    ``workflows``: ``Workflow`` objects or JSON-style dicts (default: the sample set);
    ``settings`` and keywords: :class:`~.settings.Settings` fields (``rate_limit=5``, ...).
    """

    def __init__(
        self,
        workflows: Iterable[Workflow | Mapping[str, Any]] | None = None,
        *,
        settings: Settings | None = None,
        **changes: Any,
    ) -> None:
        super().__init__(dataclasses.replace(settings or Settings(), **changes))
        self._initial = sample_workflows() if workflows is None else coerce_workflows(workflows)
        self._reset_service()

    def __repr__(self) -> str:
        return f"ZuoraBackend(workflows={len(self._workflows)}, runs={len(self._runs)})"

    def reset(self, workflows: Iterable[Workflow | Mapping[str, Any]] | None = None) -> None:
        """Back to a fresh tenant: initial settings and (or given) workflows; no runs, tokens, faults or log;
        the clock back at real time."""
        with self._lock:
            if workflows is not None:
                self._initial = coerce_workflows(workflows)
            super().reset()
            self._reset_service()

    def _reset_service(self) -> None:
        self._workflows: dict[int, Workflow] = {}
        self._workflow_added: dict[int, float] = {}
        self._definition_task_base: dict[int, int] = {}
        self._runs: dict[int, Run] = {}
        self._run_counts: dict[int, int] = {}
        self._next_id = FIRST_RUN_ID
        self._next_task_id = 10_000
        for wf in self._initial:
            self.add_workflow(wf)

    # ---- workflows ----
    def add_workflow(self, workflow: Workflow | Mapping[str, Any]) -> Workflow:
        """Add (or replace, same id) a workflow definition. Existing runs keep the spec they started with."""
        wf = workflow if isinstance(workflow, Workflow) else Workflow.from_dict(workflow)
        with self._lock:
            if wf.id in self._runs:
                raise ValueError(f"workflow id {wf.id} is already the id of an instance")
            self._workflows[wf.id] = wf
            self._workflow_added.setdefault(wf.id, self.now())
            self._definition_task_base[wf.id] = self._next_task_id
            self._next_task_id += max(len(wf.tasks), 1)
            self._run_counts.setdefault(wf.id, 0)
            self._next_id = max(self._next_id, wf.id + 1)
            return wf

    def get_workflow(self, workflow_id: int | str) -> Workflow | None:
        """The workflow's spec (a :class:`Workflow`), or None."""
        ident = parse_id(workflow_id)
        with self._lock:
            return self._workflows.get(ident) if ident is not None else None

    @property
    def workflows(self) -> list[Workflow]:
        with self._lock:
            return list(self._workflows.values())

    def workflow_definition(self, wf: Workflow) -> dict[str, Any]:
        """A workflow as ``GET /workflows/{id}`` answers."""
        added = zuora_time(self._workflow_added.get(wf.id, self.now()))
        active = {"id": wf.id, "type": "Workflow::Setup", "version": wf.version, "status": "Active"}
        return {
            "id": wf.id,
            "name": wf.name,
            "description": wf.description,
            "type": "Workflow::Setup",
            "status": wf.status,
            "version": wf.version,
            "active_version": active if wf.status == "Active" else None,
            "calloutTrigger": wf.callout_trigger,
            "ondemandTrigger": wf.ondemand_trigger,
            "scheduledTrigger": wf.scheduled_trigger,
            "priority": "Medium",
            "interval": None,
            "timezone": "UTC",
            "parameters": [
                {"name": p.name, "required": p.required, "datatype": p.datatype, "object": p.object}
                for p in wf.parameters
            ],
            "createdAt": added,
            "updatedAt": added,
        }

    def get_workflow_definition(self, workflow_id: int | str) -> dict[str, Any]:
        """``GET /workflows/{id}``."""
        with self._lock:
            wf = self.get_workflow(workflow_id)
            if wf is None:
                raise errors.WorkflowNotFound(workflow_id)
            return self.workflow_definition(wf)

    def list_workflows(
        self, page: int = 1, page_length: int = DEFAULT_PAGE_LENGTH, name: str | None = None
    ) -> tuple[list[dict[str, Any]], bool]:
        """``GET /workflows``: one page of definitions (``name``: case-insensitive substring) and whether
        more follow."""
        _check_page(page, page_length, MAX_WORKFLOWS_PAGE)
        with self._lock:
            items = sorted(self._workflows.values(), key=lambda w: w.id)
            if name:
                items = [w for w in items if name.lower() in w.name.lower()]
            start = (page - 1) * page_length
            chunk = items[start : start + page_length]
            return [self.workflow_definition(w) for w in chunk], start + page_length < len(items)

    # ---- runs ----
    def _runnable(self, ident: int | None, workflow_id: int | str, body: Any) -> tuple[Workflow, dict]:
        """The workflow to run and its run body, checked in the order Zuora checks them."""
        if ident in self._runs:
            run = self._runs[ident]
            raise errors.WorkflowIsARun(run.name, run.id)
        wf = self._workflows.get(ident) if ident is not None else None
        if wf is None:
            raise errors.WorkflowNotFound(workflow_id)
        if wf.status != "Active":
            raise errors.WorkflowInactive(wf.id, wf.name)
        if not wf.callout_trigger:
            raise errors.CalloutDisabled()
        body = {} if body is None else body
        if not isinstance(body, dict):
            raise errors.BodyNotAnObject(body)
        reserved = [k for k in RESERVED_KEYS if k in body]
        if reserved:
            raise errors.ReservedKeys(reserved, RESERVED_KEYS)
        missing = [p for p in wf.required_parameters if body.get(p.name) in (None, "")]
        if missing:
            raise errors.MissingParameters(missing, body)
        return wf, body

    def run_workflow(self, workflow_id: int | str, body: Any) -> dict[str, Any]:
        """``POST /workflows/{id}/run``: validate as Zuora does, create a run, return its summary."""
        ident = parse_id(workflow_id)
        with self._lock:
            now = self.now()
            wf, body = self._runnable(ident, workflow_id, body)
            run_id = self._next_id
            self._next_id += 1
            seq = self._run_counts.get(wf.id, 0) + 1
            self._run_counts[wf.id] = seq
            run = Run(
                id=run_id,
                name=f"WF-{wf.id}-{seq:08d}",
                workflow=wf,
                created=now,
                parameters=dict(body),
                task_id_base=self._next_task_id,
                definition_task_base=self._definition_task_base[wf.id],
            )
            self._next_task_id += max(len(wf.tasks), 1)
            self._runs[run_id] = run
            return run.summary(now)

    def _find_run(self, run_id: int | str) -> Run | None:
        """A run the API still shows (within ``retention_days``)."""
        ident = parse_id(run_id)
        run = self._runs.get(ident) if ident is not None else None
        if run is not None and self.now() - run.created > self.config.retention_days * 86400:
            return None
        return run

    def get_workflow_run(self, run_id: int | str) -> dict[str, Any]:
        """``GET /workflows/workflow_runs/{id}``."""
        with self._lock:
            run = self._find_run(run_id)
            if run is None:
                raise errors.RunNotFound(run_id)
            return run.state(self.now())

    def stop_workflow_run(self, run_id: int | str) -> dict[str, Any]:
        """``PUT /workflows/workflow_runs/{id}/stop``: Stopping, then Stopped. An ended run stays as it is."""
        with self._lock:
            run = self._find_run(run_id)
            if run is None:
                raise errors.RunNotFound()
            run.request_stop(self.now())
            return {"success": True}

    def list_workflow_tasks(
        self,
        workflow_id: int | str | None,
        run_tasks: bool,
        page: int = 1,
        page_length: int = DEFAULT_PAGE_LENGTH,
    ) -> tuple[list[dict[str, Any]], bool]:
        """``GET /workflows/tasks``: a run's tasks (``run_tasks``, the API's ``instance=true``; then
        ``workflow_id`` is the run id) or a workflow definition's; one page, and whether more follow."""
        _check_page(page, page_length, MAX_TASKS_PAGE)
        if workflow_id is None or workflow_id == "":
            raise errors.WorkflowIdRequired()
        with self._lock:
            run = self._find_run(workflow_id)
            wf = self.get_workflow(workflow_id)
            if run_tasks and run is not None:
                tasks = run.tasks_at(self.now())
            elif not run_tasks and wf is not None:
                base = self._definition_task_base[wf.id]
                tasks = [
                    {"id": base + i, "name": t.name, "action_type": t.action_type, "instance": False,
                     "workflow_id": wf.id, "status": None, "tags": []}
                    for i, t in enumerate(wf.tasks)
                ]  # fmt: skip
            else:
                tasks = []
        start = (page - 1) * page_length
        return tasks[start : start + page_length], start + page_length < len(tasks)

    # ---- runs, for tests ----
    def run_count(self, workflow_id: int | str) -> int:
        """How many runs a workflow has had (0 for unknown ids)."""
        ident = parse_id(workflow_id)
        with self._lock:
            return self._run_counts.get(ident, 0) if ident is not None else 0

    def get_run(self, run_id: int | str) -> dict[str, Any] | None:
        """A run's state as the API shows it now, plus ``parameters`` (its run body); None if unknown."""
        with self._lock:
            run = self._runs.get(parse_id(run_id) or 0)
            if run is None:
                return None
            return {**run.state(self.now()), "parameters": dict(run.parameters)}

    def get_run_tasks(self, run_id: int | str) -> list[dict[str, Any]]:
        """Every task of a run as the API shows it now; [] if unknown."""
        with self._lock:
            run = self._runs.get(parse_id(run_id) or 0)
            return run.tasks_at(self.now()) if run is not None else []

    @property
    def runs(self) -> list[dict[str, Any]]:
        """Every run (see :meth:`get_run`), oldest first."""
        with self._lock:
            return [self.get_run(i) for i in sorted(self._runs)]  # type: ignore[misc]

    def _service_state(self) -> dict[str, Any]:
        return {
            "workflows": sorted(self._workflows),
            "instance_counts": {str(k): v for k, v in sorted(self._run_counts.items())},
            "instances": self.runs,
        }

    # ---- the names these had before (tests and docs use them) ----
    instance_count = renamed("run_count")
    get_instance = renamed("get_run")
    get_instance_tasks = renamed("get_run_tasks")
    instances = renamed("runs")
    workflow_run_state = renamed("get_workflow_run")


def _check_page(page: int, page_length: int, maximum: int) -> None:
    if not isinstance(page, int) or page < 1:
        raise errors.InvalidQueryParameter(f"page must be an integer >= 1, got {page!r}")
    if not isinstance(page_length, int) or not 1 <= page_length <= maximum:
        raise errors.InvalidQueryParameter(
            f"page_length must be an integer between 1 and {maximum}, got {page_length!r}"
        )
