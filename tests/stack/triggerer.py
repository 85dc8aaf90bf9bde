"""A real ``airflow triggerer`` over a fresh SQLite metadata DB, running Zuora triggers.

The DB gets one DAG run of a deferrable ``ZuoraWorkflowInstanceSensor`` mapped ``n`` times; its
task instances are set DEFERRED on trigger rows written through Airflow's own models
(``Trigger.from_object``, as ``defer()`` leaves them), so no scheduler or worker is needed to get
there. Then ``airflow triggerer`` (supervisor and trigger-runner processes) runs them. Everything
that needs Airflow's DB runs in a child process with this home's environment
(``python tests/stack/triggerer.py defer|mark|read``): the caller's own Airflow config is untouched.
Used by ``tests/triggers/test_workflow_triggerer.py`` and ``benchmarks/bench_triggerer.py``.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.stack.airflow_stack import AirflowStack

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "zuora_triggerer_stack"
TRIGGER = "airflow_provider_zuora.triggers.workflow.ZuoraWorkflowInstanceTrigger"

DAG_FILE = '''
"""A deferrable Zuora sensor mapped {n} times (tests/stack/triggerer.py writes the trigger rows)."""
import pendulum
from airflow.sdk import dag

from airflow_provider_zuora.sensors.workflow import ZuoraWorkflowInstanceSensor


@dag(dag_id="{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
def stack():
    ZuoraWorkflowInstanceSensor.partial(task_id="wait", deferrable=True).expand(instance_id=list(range({n})))


stack()
'''


class TriggererStack:
    """A home directory with a migrated DB and the mapped DAG; ``start()`` runs the triggerer."""

    def __init__(self, home: Path, n: int, env: dict[str, str], pythonpath: Sequence[Path] = ()) -> None:
        self.home, self.n = home, n
        dags = home / "dags"
        dags.mkdir(parents=True, exist_ok=True)
        (dags / "stack_dag.py").write_text(textwrap.dedent(DAG_FILE.format(n=n, dag_id=DAG_ID)))
        (home / "airflow").mkdir(exist_ok=True)
        settings = {
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__TRIGGERER__CAPACITY": str(max(n, 1)),
            "PYTHONPATH": os.pathsep.join(str(p) for p in [REPO, *pythonpath]),
        }
        self.airflow = AirflowStack(home / "airflow", {**env, **settings})  # no api-server needed
        self.env = self.airflow.env
        self.log_path = self.airflow.home / "triggerer.log"

    def _child(self, *args: str) -> str:
        return self.airflow.run(sys.executable, __file__, *args)

    def prepare(self) -> None:
        """Migrate the DB and serialize the DAG into it."""
        self.airflow.cli("db", "migrate")
        self.airflow.cli("dags", "reserialize")

    def defer(self, triggers: list[tuple[str, dict[str, Any]]]) -> None:
        """Create the DAG run; map index ``i`` is DEFERRED on ``triggers[i]`` (classpath, kwargs)."""
        spec = self.home / "triggers.json"
        spec.write_text(json.dumps(triggers))
        self._child("defer", str(spec))

    def mark(self, map_index: int, state: str) -> None:
        """Set one task instance's state, as a user marking it does (then its trigger is dropped)."""
        self._child("mark", str(map_index), state)

    def task_instances(self) -> list[dict[str, Any]]:
        """Each mapped task instance's state, next method and next kwargs (the trigger's event)."""
        return list(json.loads(self._child("read").splitlines()[-1]))

    def start(self) -> int:
        """Start ``airflow triggerer`` (no log server: it would listen beyond loopback); returns its pid."""
        return self.airflow.start_component("triggerer", "--skip-serve-logs").pid

    def stop(self) -> None:
        self.airflow.stop()

    def logs(self) -> str:
        """The triggerer's own output and every trigger log file it wrote."""
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.airflow.home.rglob("*.log")))


# ---------------------------------------------------------------- child side (this home's Airflow)
def _defer(spec: Path) -> None:
    import importlib

    import pendulum
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    triggers = json.loads(spec.read_text())
    with create_session() as session:
        dag = SerializedDagModel.get_dag(DAG_ID, session=session)
        if dag is None:
            raise SystemExit(f"DAG {DAG_ID} is not in the metadata DB")
        run = dag.create_dagrun(
            run_id="stack",
            run_after=pendulum.now("UTC"),
            run_type=DagRunType.MANUAL,
            triggered_by=DagRunTriggeredByType.TEST,
            state=DagRunState.RUNNING,
            session=session,
        )
        tis = {ti.map_index: ti for ti in run.get_task_instances(session=session)}
        if len(tis) != len(triggers):
            raise SystemExit(f"{len(tis)} mapped task instances for {len(triggers)} triggers")
        for i, (classpath, kwargs) in enumerate(triggers):
            module, _, name = classpath.rpartition(".")
            row = Trigger.from_object(getattr(importlib.import_module(module), name)(**kwargs))
            session.add(row)
            session.flush()
            tis[i].state = TaskInstanceState.DEFERRED
            tis[i].trigger_id = row.id
            tis[i].next_method = "execute_complete"
        session.commit()


def _mark(map_index: int, state: str) -> None:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        where = (TaskInstance.dag_id == DAG_ID, TaskInstance.map_index == map_index)
        session.execute(update(TaskInstance).where(*where).values(state=state))


def _read() -> None:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(select(TaskInstance).where(TaskInstance.dag_id == DAG_ID)).all()
        out = [
            {
                "map_index": ti.map_index,
                "state": ti.state,
                "next_method": ti.next_method,
                "next_kwargs": ti.next_kwargs,
            }
            for ti in sorted(rows, key=lambda ti: ti.map_index)
        ]
    sys.stdout.write(json.dumps(out, default=str) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    if sys.argv[1] == "defer":
        _defer(Path(sys.argv[2]))
    elif sys.argv[1] == "mark":
        _mark(int(sys.argv[2]), sys.argv[3])
    else:
        _read()
