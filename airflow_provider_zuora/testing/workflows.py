"""What an emulated workflow is and how its runs unfold: the spec, and no I/O.

A :class:`Workflow` is a definition (id, name, status, triggers, input parameters) plus a
scripted outcome: a timeline of non-terminal statuses with durations, a final result
(``success``, ``errors`` or ``stopped``) and the tasks a run goes through. Specs come from
Python (``Workflow(id=396, name=..., tasks=[TaskSpec(...)])``) or from JSON
(:func:`load_workflows`; the format is the dataclass fields, see ``sample_workflows.json``).
Bad specs raise ``ValueError`` naming the field.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Where the default workflow set lives (loaded when an emulator is given no workflows).
SAMPLE_WORKFLOWS_FILE = Path(__file__).with_name("sample_workflows.json")

WORKFLOW_STATUSES = ("Active", "Inactive")
RESULTS = ("success", "errors", "stopped")
#: Statuses a run reaches only through its result or a stop call, never through the timeline.
TERMINAL_OR_STOPPING = frozenset({"Finished", "Stopped", "Stopping"})


def _check_keys(data: Mapping[str, Any], cls: type, where: str) -> None:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a JSON object, got {type(data).__name__}")
    allowed = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; allowed: {sorted(allowed)}")


@dataclass(frozen=True)
class Parameter:
    """An input parameter of the workflow's callout trigger (a key of the run body)."""

    name: str
    required: bool = False
    datatype: str = "Text"
    #: Zuora names a parameter ``<object>-<field>`` in its 406 message ("Workflow-Message").
    object: str = "Workflow"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"parameter name must be a non-empty string, got {self.name!r}")

    @classmethod
    def from_value(cls, value: Parameter | str | Mapping[str, Any], where: str = "parameter") -> Parameter:
        if isinstance(value, Parameter):
            return value
        if isinstance(value, str):
            return cls(name=value)
        _check_keys(value, cls, where)
        return cls(**value)


@dataclass(frozen=True)
class TaskSpec:
    """A task of the workflow. A task with ``error`` set ends in ``Error``; ``repeat`` makes n copies."""

    name: str
    action_type: str = "Custom"
    error: str | None = None
    error_class: str | None = None
    error_details: Any = None
    #: Expand into this many tasks named "<name> 1" .. "<name> n" (for big task lists).
    repeat: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"task name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.repeat, int) or self.repeat < 1:
            raise ValueError(f"task {self.name!r}: repeat must be an integer >= 1, got {self.repeat!r}")

    @property
    def fails(self) -> bool:
        return self.error is not None

    @classmethod
    def from_value(cls, value: TaskSpec | Mapping[str, Any], where: str = "task") -> TaskSpec:
        if isinstance(value, TaskSpec):
            return value
        _check_keys(value, cls, where)
        return cls(**value)


@dataclass(frozen=True)
class Phase:
    """One stretch of a run's timeline: ``status`` for ``seconds``. Tasks progress only in ``Processing``."""

    status: str
    seconds: float

    def __post_init__(self) -> None:
        if not isinstance(self.status, str) or not self.status:
            raise ValueError(f"phase status must be a non-empty string, got {self.status!r}")
        if self.status in TERMINAL_OR_STOPPING:
            raise ValueError(
                f"phase status {self.status!r} is not allowed in a timeline: "
                "end states come from 'result' (or a stop call)"
            )
        if not isinstance(self.seconds, (int, float)) or self.seconds < 0:
            raise ValueError(f"phase {self.status!r}: seconds must be a number >= 0, got {self.seconds!r}")

    @classmethod
    def from_value(cls, value: Phase | Mapping[str, Any] | Sequence[Any], where: str = "phase") -> Phase:
        if isinstance(value, Phase):
            return value
        if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
            return cls(status=value[0], seconds=value[1])
        _check_keys(value, cls, where)  # type: ignore[arg-type]
        return cls(**value)  # type: ignore[arg-type]


@dataclass
class Workflow:
    """An emulated workflow definition and the scripted outcome of each of its runs.

    Without ``timeline``, a run is ``Queued`` for ``queued_seconds`` then ``Processing`` for
    ``processing_seconds`` (split around a ``Pending`` stretch of ``pending_seconds`` when that
    is > 0). Then it ends by ``result``: ``success`` (``Finished``, all tasks succeed), ``errors``
    (``Finished`` with the tasks that have ``error`` in ``Error``) or ``stopped`` (``Stopping``
    for ``stopping_seconds`` then ``Stopped``, after ``stopped_after`` tasks, default half).
    """

    id: int
    name: str = ""
    description: str = ""
    status: str = "Active"
    callout_trigger: bool = True
    ondemand_trigger: bool = True
    scheduled_trigger: bool = False
    parameters: list[Parameter] = field(default_factory=list)
    tasks: list[TaskSpec] = field(default_factory=list)
    timeline: list[Phase] | None = None
    queued_seconds: float = 0.3
    processing_seconds: float = 1.5
    pending_seconds: float = 0.0
    result: str = "success"
    stopping_seconds: float = 0.5
    stopped_after: int | None = None
    #: Version label shown in the definition (``active_version.version``).
    version: str = "1.0.0"

    def __post_init__(self) -> None:
        try:
            self.id = int(self.id)
        except (TypeError, ValueError):
            raise ValueError(f"workflow id must be an integer, got {self.id!r}") from None
        if self.id <= 0:
            raise ValueError(f"workflow id must be > 0, got {self.id}")
        where = f"workflow {self.id}"
        self.name = self.name or f"Workflow {self.id}"
        if self.status not in WORKFLOW_STATUSES:
            raise ValueError(f"{where}: status must be one of {WORKFLOW_STATUSES}, got {self.status!r}")
        if self.result not in RESULTS:
            raise ValueError(f"{where}: result must be one of {RESULTS}, got {self.result!r}")
        self.parameters = [Parameter.from_value(p, f"{where}: parameters") for p in self.parameters]
        names = [p.name for p in self.parameters]
        if len(set(names)) != len(names):
            raise ValueError(f"{where}: parameters: duplicate names in {names}")
        self.tasks = self._expand([TaskSpec.from_value(t, f"{where}: tasks") for t in self.tasks])
        if self.timeline is not None:
            self.timeline = [Phase.from_value(p, f"{where}: timeline") for p in self.timeline]
        for name in ("queued_seconds", "processing_seconds", "pending_seconds", "stopping_seconds"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{where}: {name} must be a number >= 0, got {value!r}")
        failing = sum(t.fails for t in self.tasks)
        if self.result == "errors" and not failing:
            raise ValueError(f"{where}: result 'errors' needs at least one task with 'error' set")
        if self.result == "success" and failing:
            raise ValueError(
                f"{where}: result 'success' but {failing} task(s) have 'error' set; use 'errors'"
            )
        if self.stopped_after is not None:
            if self.result != "stopped":
                raise ValueError(f"{where}: stopped_after is only meaningful with result 'stopped'")
            if not 0 <= self.stopped_after <= len(self.tasks):
                raise ValueError(f"{where}: stopped_after must be within 0..{len(self.tasks)}")

    @staticmethod
    def _expand(tasks: list[TaskSpec]) -> list[TaskSpec]:
        out: list[TaskSpec] = []
        for task in tasks:
            if task.repeat == 1:
                out.append(task)
            else:
                out.extend(
                    dataclasses.replace(task, name=f"{task.name} {n}", repeat=1)
                    for n in range(1, task.repeat + 1)
                )
        return out

    @property
    def required_parameters(self) -> list[Parameter]:
        return [p for p in self.parameters if p.required]

    def phases(self) -> list[Phase]:
        """The non-terminal timeline of every run of this workflow."""
        if self.timeline is not None:
            return list(self.timeline)
        phases = [Phase("Queued", self.queued_seconds)]
        if self.pending_seconds > 0:
            half = self.processing_seconds / 2
            phases += [
                Phase("Processing", half),
                Phase("Pending", self.pending_seconds),
                Phase("Processing", half),
            ]
        else:
            phases.append(Phase("Processing", self.processing_seconds))
        return phases

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Workflow:
        """Build from a JSON object whose keys are this dataclass's fields."""
        _check_keys(data, cls, f"workflow {data.get('id', '?') if isinstance(data, Mapping) else '?'}")
        if "id" not in data:
            raise ValueError("workflow: 'id' is required")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (round-trips through :meth:`from_dict`)."""
        return dataclasses.asdict(self)


def workflows_from_json(data: Any, source: str = "workflows") -> list[Workflow]:
    """Workflows from parsed JSON: a list, or an object with a ``workflows`` list."""
    if isinstance(data, Mapping):
        if set(data) != {"workflows"}:
            raise ValueError(f"{source}: expected a list or {{'workflows': [...]}}, got keys {sorted(data)}")
        data = data["workflows"]
    if not isinstance(data, list):
        raise ValueError(f"{source}: 'workflows' must be a list, got {type(data).__name__}")
    workflows = [Workflow.from_dict(item) for item in data]
    ids = [w.id for w in workflows]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"{source}: duplicate workflow ids {dupes}")
    return workflows


def load_workflows(path: str | Path) -> list[Workflow]:
    """Read workflows from a JSON file (see ``sample_workflows.json`` for the format)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from None
    return workflows_from_json(data, str(path))


def sample_workflows() -> list[Workflow]:
    """The default workflow set (``sample_workflows.json``): one workflow per behaviour worth testing."""
    return load_workflows(SAMPLE_WORKFLOWS_FILE)


def coerce_workflows(items: Iterable[Workflow | Mapping[str, Any]]) -> list[Workflow]:
    """Workflows from a mix of :class:`Workflow` objects and JSON-style dicts."""
    return [w if isinstance(w, Workflow) else Workflow.from_dict(w) for w in items]
