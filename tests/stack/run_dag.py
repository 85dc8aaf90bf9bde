"""Child process: one DAG run through the configured executor; prints ``RESULT {json}`` last."""

from __future__ import annotations

import json
import sys


def main() -> None:
    from airflow_provider_zuora._compat import DagBag

    path, dag_id, conf = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    bag = DagBag(dag_folder=path)
    if bag.import_errors:
        raise SystemExit(f"import errors: {bag.import_errors}")
    run = bag.dags[dag_id].test(use_executor=True, run_conf=conf)
    tis = {
        ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]": {
            "state": str(ti.state),
            "try_number": ti.try_number,
        }
        for ti in run.get_task_instances()
    }
    print("RESULT " + json.dumps({"state": str(run.state), "run_id": run.run_id, "tis": tis}))  # noqa: T201


if __name__ == "__main__":
    main()
