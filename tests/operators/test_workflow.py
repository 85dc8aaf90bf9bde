"""RunZuoraWorkflowOperator with a mocked hook: validation, XComs, retry-safety decisions."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from airflow_provider_zuora._compat import AirflowException, AirflowFailException
from airflow_provider_zuora.exceptions import ZuoraWaitTimeout
from airflow_provider_zuora.links import ZuoraWorkflowInstanceLink
from airflow_provider_zuora.operators._resume import STATE_KEY, TryIdentity
from airflow_provider_zuora.operators.workflow import (
    RunZuoraWorkflowOperator,
    coerce_parameters,
    default_track_id,
)
from tests.helpers import FakeStore, make_context, modules_added

RUNNING = {"id": 400, "name": "WF-396-00000003", "status": "Processing", "tasks": {"total": 2, "error": 0}}
FINISHED = {**RUNNING, "status": "Finished", "tasks": {"total": 2, "success": 2, "error": 0}}
FAILED = {**RUNNING, "status": "Finished", "tasks": {"total": 2, "success": 1, "error": 1}}
STOPPED = {**RUNNING, "status": "Stopped"}


def pushed(ctx: dict) -> dict[str, Any]:
    return {c.kwargs["key"]: c.kwargs["value"] for c in ctx["ti"].xcom_push.call_args_list}


@pytest.fixture
def hook(mocker: Any) -> mock.MagicMock:
    fake = mock.MagicMock(name="ZuoraHook")
    fake.run_workflow.return_value = {"id": 400, "name": "WF-396-00000003", "status": "Queued"}
    fake.ui_url.return_value = "https://www.zuora.com/workflows/instance/400"
    mocker.patch.object(RunZuoraWorkflowOperator, "hook", new_callable=mock.PropertyMock, return_value=fake)
    return fake


def op(**kwargs: Any) -> RunZuoraWorkflowOperator:
    kwargs.setdefault("task_id", "run")
    kwargs.setdefault("workflow_id", 396)
    return RunZuoraWorkflowOperator(**kwargs)


# ---------------------------------------------------------------- parse time
@pytest.mark.parametrize("key", ["controller", "action", "id", "user_email", "user_token", "format"])
def test_reserved_literal_key_fails_at_parse_time(key: str) -> None:
    with pytest.raises(ValueError, match=key):
        op(parameters={key: 1, "ok": 2})


def test_templated_values_are_not_judged_at_parse_time() -> None:
    task = op(parameters={"accountId": "{{ ti.xcom_pull('a') }}"})
    assert task.parameters == {"accountId": "{{ ti.xcom_pull('a') }}"}


@pytest.mark.parametrize(("field", "value"), [("poll_interval", 0), ("timeout", -1)])
def test_bad_wait_settings_fail_at_parse_time(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        op(**{field: value})


def test_template_fields_and_json_renderer() -> None:
    assert set(RunZuoraWorkflowOperator.template_fields) == {
        "workflow_id", "parameters", "idempotency_key", "track_id", "entity_ids", "org_ids", "zuora_conn_id",
    }  # fmt: skip
    assert RunZuoraWorkflowOperator.template_fields_renderers["parameters"] == "json"


def test_conn_id_is_rendered_per_dag_run() -> None:
    """Official providers template their conn ids: a DAG run picks its tenant from params."""
    task = op(zuora_conn_id="zuora_{{ params.tenant }}", workflow_id="{{ params.wf }}")
    task.render_template_fields({"params": {"tenant": "eu", "wf": "396"}})  # type: ignore[arg-type]
    assert (task.zuora_conn_id, task.workflow_id) == ("zuora_eu", "396")
    assert task.hook.zuora_conn_id == "zuora_eu"


# ---------------------------------------------------------------- parameters
def test_json_object_string_is_parsed_as_a_user_expects() -> None:
    assert coerce_parameters('{"accountId": "A1", "n": 2}') == {"accountId": "A1", "n": 2}


def test_python_repr_of_a_dict_is_parsed_too() -> None:
    """What Jinja renders a pulled dict to without native rendering."""
    assert coerce_parameters(str({"accountId": "A1", "ok": True})) == {"accountId": "A1", "ok": True}


def test_python_repr_is_read_as_a_literal_never_run() -> None:
    with pytest.raises(ValueError, match="render_template_as_native_obj"):
        coerce_parameters("{'a': __import__('os').getcwd()}")


def test_none_means_no_parameters() -> None:
    assert coerce_parameters(None) == {}


@pytest.mark.parametrize("value", ["not json", "[1, 2]", "['a']", 42])
def test_non_dict_parameters_explain_native_rendering(value: Any) -> None:
    with pytest.raises(ValueError, match="render_template_as_native_obj"):
        coerce_parameters(value)


def test_reserved_key_after_rendering_fails_without_retry_and_sends_nothing(hook: mock.MagicMock) -> None:
    task = op(parameters='{"id": 5}')
    with pytest.raises(AirflowFailException, match="'id'"):
        task.execute(make_context(FakeStore()))
    hook.run_workflow.assert_not_called()


def test_bad_track_id_fails_without_retry(hook: mock.MagicMock) -> None:
    with pytest.raises(AirflowFailException, match="track"):
        op(track_id="a:b").execute(make_context(FakeStore()))
    hook.run_workflow.assert_not_called()


# ---------------------------------------------------------------- track id
def test_default_track_id_is_valid_for_zuora_even_with_colons_and_plus() -> None:
    ctx = make_context(run_id="manual__2026-11-28T10:00:00.123456+00:00")
    track = default_track_id(ctx)  # type: ignore[arg-type]
    assert len(track) <= 64
    assert not set(track) & set(":;\"'")
    assert track.endswith(".1")
    assert "+00_00" in track


def test_default_track_id_keeps_the_tail_of_long_ids() -> None:
    ctx = make_context(run_id="scheduled__" + "x" * 100)
    ctx["ti"].dag_id = "d" * 80
    track = default_track_id(ctx)  # type: ignore[arg-type]
    assert len(track) == 64 and track.endswith("x.1")


# ---------------------------------------------------------------- submit
def test_first_run_persists_key_before_the_call_and_instance_after(hook: mock.MagicMock) -> None:
    store = FakeStore()
    seen_at_call: list[Any] = []
    hook.run_workflow.side_effect = lambda *a, **k: (
        seen_at_call.append(store.get(STATE_KEY))
        or {"id": 400, "name": "WF-396-00000003", "status": "Queued"}
    )
    ctx = make_context(store)
    result = op(parameters={"accountId": "A1"}).execute(ctx)

    key = hook.run_workflow.call_args.kwargs["idempotency_key"]
    assert key == TryIdentity.of(ctx, retries=0).key(396, 0)  # the key any later try can compute
    record = {"idempotency_key": key, "workflow_id": 396, "clear": 1, "run_number": 0}
    assert seen_at_call == [record]
    assert store.data[STATE_KEY] == {**record, "instance_id": 400}
    assert result["id"] == 400
    assert hook.run_workflow.call_args.args == (396, {"accountId": "A1"})
    hook.get_workflow_instance.assert_not_called()
    xcoms = pushed(ctx)
    assert xcoms["instance_id"] == 400
    assert xcoms[ZuoraWorkflowInstanceLink().xcom_key] == "https://www.zuora.com/workflows/instance/400"


def test_track_id_defaults_to_the_task_instance(hook: mock.MagicMock) -> None:
    op().execute(make_context(FakeStore()))
    assert hook.run_workflow.call_args.kwargs["track_id"].startswith("billing.run.manual__")


def test_user_idempotency_key_wins(hook: mock.MagicMock) -> None:
    store = FakeStore({STATE_KEY: {"idempotency_key": "old", "workflow_id": 396}})
    op(idempotency_key="mine-1").execute(make_context(store))
    assert hook.run_workflow.call_args.kwargs["idempotency_key"] == "mine-1"


def keys_sent(hook: mock.MagicMock) -> list[str]:
    return [c.kwargs["idempotency_key"] for c in hook.run_workflow.call_args_list]


# ---------------------------------------------------------------- retries without a task state store
def test_without_a_store_a_first_try_sends_one_run_call_and_no_lookup(hook: mock.MagicMock) -> None:
    ctx = make_context(None)
    op().execute(ctx)
    assert keys_sent(hook) == [TryIdentity.of(ctx, retries=0).key(396, 0)]
    hook.get_workflow_instance.assert_not_called()


@pytest.mark.parametrize("state", [RUNNING, FINISHED])
def test_without_a_store_a_retry_resends_the_first_key_and_reattaches(
    hook: mock.MagicMock, state: dict, capfd: pytest.CaptureFixture[str]
) -> None:
    """Try 1 died after its run call: try 2 computes the same key, Zuora replays instance 400."""
    hook.get_workflow_instance.return_value = state
    first = op(retries=1).execute(make_context(None, max_tries=1))
    result = op(retries=1).execute(make_context(None, try_number=2, max_tries=1))
    assert result == state and first["id"] == 400
    one, two = keys_sent(hook)
    assert one == two
    hook.get_workflow_instance.assert_called_once_with(400)
    assert "Reattaching to Zuora workflow instance 400" in capfd.readouterr().out


@pytest.mark.parametrize("failed", [FAILED, STOPPED])
def test_without_a_store_a_retry_after_a_failed_run_sends_the_next_key(
    hook: mock.MagicMock, failed: dict
) -> None:
    hook.get_workflow_instance.return_value = failed
    ctx = make_context(None, try_number=2, max_tries=1)
    op(retries=1).execute(ctx)
    ident = TryIdentity.of(ctx, retries=1)
    assert keys_sent(hook) == [ident.key(396, 0), ident.key(396, 1)]  # replayed the failed one, then new
    hook.get_workflow_instance.assert_called_once_with(400)


def test_without_a_store_try_3_walks_past_a_failed_run_to_the_running_one(hook: mock.MagicMock) -> None:
    hook.run_workflow.side_effect = [{"id": 400, "status": "Queued"}, {"id": 401, "status": "Queued"}]
    hook.get_workflow_instance.side_effect = [FAILED, {**RUNNING, "id": 401}]
    ctx = make_context(None, try_number=3, max_tries=2)
    result = op(retries=2).execute(ctx)
    assert result["id"] == 401
    ident = TryIdentity.of(ctx, retries=2)
    assert keys_sent(hook) == [ident.key(396, 0), ident.key(396, 1)]  # no third run call


def test_without_a_store_a_clear_starts_a_new_run_under_a_new_key(
    hook: mock.MagicMock, capfd: pytest.CaptureFixture[str]
) -> None:
    """Tries 1 and 2 ran (retries=1); a clear raised max_tries to 2 + 1: try 3 is the clear's first."""
    op(retries=1).execute(make_context(None, max_tries=1))
    hook.run_workflow.reset_mock()
    op(retries=1).execute(make_context(None, try_number=3, max_tries=3))
    (key,) = keys_sent(hook)
    assert key != TryIdentity.of(make_context(None, max_tries=1), retries=1).key(396, 0)
    hook.get_workflow_instance.assert_not_called()
    assert "Try 3 is the first of a clear: starting a new run" in capfd.readouterr().out


def test_durable_false_starts_a_run_per_try_and_says_so(
    hook: mock.MagicMock, capfd: pytest.CaptureFixture[str]
) -> None:
    op(retries=1, durable=False).execute(make_context(FakeStore(), max_tries=1))
    op(retries=1, durable=False).execute(make_context(FakeStore(), try_number=2, max_tries=1))
    one, two = keys_sent(hook)
    assert one != two and one.startswith("airflow-")
    hook.get_workflow_instance.assert_not_called()
    assert "durable=False: try 2 starts its own Zuora run" in capfd.readouterr().out


def test_durable_comes_from_default_args() -> None:
    assert op(default_args={"durable": False}).durable is False
    assert op().durable is True


# ---------------------------------------------------------------- retries with a task state store
def test_retry_after_crash_before_instance_was_recorded_replays_the_same_key(hook: mock.MagicMock) -> None:
    store = FakeStore({STATE_KEY: {"idempotency_key": "airflow-first", "workflow_id": 396}})
    op().execute(make_context(store))
    assert hook.run_workflow.call_args.kwargs["idempotency_key"] == "airflow-first"
    assert store.data[STATE_KEY]["instance_id"] == 400


def test_retry_with_a_changed_workflow_id_does_not_reuse_the_key(hook: mock.MagicMock) -> None:
    store = FakeStore({STATE_KEY: {"idempotency_key": "airflow-first", "workflow_id": 111}})
    op().execute(make_context(store))
    assert hook.run_workflow.call_args.kwargs["idempotency_key"] != "airflow-first"


@pytest.mark.parametrize("state", [RUNNING, FINISHED])
def test_retry_reattaches_to_a_running_or_succeeded_instance(hook: mock.MagicMock, state: dict) -> None:
    store = FakeStore({STATE_KEY: {"idempotency_key": "k1", "workflow_id": 396, "instance_id": 400}})
    hook.get_workflow_instance.return_value = state
    ctx = make_context(store)
    result = op().execute(ctx)
    hook.run_workflow.assert_not_called()
    hook.get_workflow_instance.assert_called_once_with(400)
    assert result == state
    assert pushed(ctx)["instance_id"] == 400


@pytest.mark.parametrize("state", [FAILED, STOPPED])
def test_retry_after_a_failed_instance_runs_afresh_under_a_new_key(hook: mock.MagicMock, state: dict) -> None:
    store = FakeStore({STATE_KEY: {"idempotency_key": "k1", "workflow_id": 396, "instance_id": 399}})
    hook.get_workflow_instance.return_value = state
    op().execute(make_context(store))
    hook.run_workflow.assert_called_once()
    new_key = hook.run_workflow.call_args.kwargs["idempotency_key"]
    assert new_key != "k1"
    assert store.data[STATE_KEY] == {
        "idempotency_key": new_key, "workflow_id": 396, "clear": 1, "run_number": 1, "instance_id": 400,
    }  # fmt: skip


def earlier_clear(hook: mock.MagicMock, earlier: dict) -> tuple[FakeStore, dict]:
    """A store holding instance 400 from clear 1; the task was cleared after try 1 (retries=0)."""
    store = FakeStore(
        {STATE_KEY: {"idempotency_key": "k1", "workflow_id": 396, "clear": 1, "instance_id": 400}}
    )
    hook.get_workflow_instance.return_value = earlier
    hook.run_workflow.return_value = {"id": 401, "status": "Queued"}
    return store, make_context(store, try_number=2, max_tries=1)


@pytest.mark.parametrize("earlier", [FINISHED, FAILED, STOPPED])
def test_a_record_from_an_earlier_clear_is_neither_reattached_nor_replayed(
    hook: mock.MagicMock, capfd: pytest.CaptureFixture[str], earlier: dict
) -> None:
    store, ctx = earlier_clear(hook, earlier)
    assert op().execute(ctx)["id"] == 401
    (key,) = keys_sent(hook)
    assert key == TryIdentity.of(ctx, retries=0).key(396, 0) != "k1"
    assert store.data[STATE_KEY]["clear"] == 2 and store.data[STATE_KEY]["instance_id"] == 401
    hook.stop_workflow_instance.assert_not_called()
    assert "Cleared since instance 400 ran: starting a new run" in capfd.readouterr().out


def test_a_run_of_an_earlier_clear_still_going_is_stopped_before_the_new_one(
    hook: mock.MagicMock, capfd: pytest.CaptureFixture[str]
) -> None:
    """Airflow stops a deferred task's run only on 3.3, and only once its trigger runs: the clear's
    first try makes sure the old run does not go on beside the new one."""
    calls = mock.Mock()
    hook.stop_workflow_instance.side_effect = lambda *a: calls.stop(*a)
    hook.run_workflow.side_effect = lambda *a, **k: (calls.run(), {"id": 401, "status": "Queued"})[1]
    _, ctx = earlier_clear(hook, RUNNING)
    assert op().execute(ctx)["id"] == 401
    assert [name for name, _, _ in calls.mock_calls] == ["stop", "run"]
    assert "Cleared since instance 400 ran, which is still Processing: stopping it" in capfd.readouterr().out


def test_a_run_of_an_earlier_clear_that_cannot_be_stopped_fails_the_try_without_a_second_run(
    hook: mock.MagicMock,
) -> None:
    from airflow_provider_zuora.exceptions import ZuoraApiError

    store, ctx = earlier_clear(hook, RUNNING)
    hook.stop_workflow_instance.side_effect = ZuoraApiError(503, "unavailable")
    with pytest.raises(AirflowException, match=r"Could not stop Zuora workflow instance 400.*clear the task"):
        op().execute(ctx)
    hook.run_workflow.assert_not_called()
    assert store.data[STATE_KEY]["clear"] == 1  # the next try of this clear tries the stop again


def test_a_record_written_before_clears_were_recorded_counts_as_this_clear(hook: mock.MagicMock) -> None:
    store = FakeStore({STATE_KEY: {"idempotency_key": "k1", "workflow_id": 396, "instance_id": 400}})
    hook.get_workflow_instance.return_value = RUNNING
    op().execute(make_context(store, try_number=2, max_tries=1))
    hook.run_workflow.assert_not_called()  # safe side: reattached, no second run


# ---------------------------------------------------------------- stop
def test_on_kill_stops_the_instance(hook: mock.MagicMock) -> None:
    task = op()
    task.execute(make_context(FakeStore()))
    task.on_kill()
    hook.stop_workflow_instance.assert_called_once_with(400)


def test_on_kill_before_any_run_does_nothing(hook: mock.MagicMock) -> None:
    op().on_kill()
    hook.stop_workflow_instance.assert_not_called()


def test_on_kill_logs_a_failed_stop_instead_of_raising(
    hook: mock.MagicMock, capfd: pytest.CaptureFixture[str]
) -> None:
    task = op()
    task.execute(make_context(FakeStore()))
    hook.stop_workflow_instance.side_effect = AirflowException("boom")
    task.on_kill()
    assert "Could not stop Zuora workflow instance 400" in capfd.readouterr().out


def test_wait_timeout_stops_the_instance_then_fails(hook: mock.MagicMock, mocker: Any) -> None:
    hook.get_workflow_instance.return_value = RUNNING
    mocker.patch("airflow_provider_zuora.operators.workflow.time.sleep")
    clock = iter([0.0, 5.0, 11.0, 20.0])
    mocker.patch("airflow_provider_zuora.operators.workflow.time.monotonic", side_effect=lambda: next(clock))
    # The same exception as the deferred wait's timeout (ZuoraWaitTimeout, an AirflowException).
    with pytest.raises(ZuoraWaitTimeout, match=r"Timed out after 10 s .* it was stopped"):
        op(wait_for_completion=True, timeout=10, poll_interval=1).execute(make_context(FakeStore()))
    hook.stop_workflow_instance.assert_called_once_with("400")


@pytest.mark.parametrize("status", [400, 403, 404, 406, 422])
def test_permanent_run_errors_fail_without_retry(hook: mock.MagicMock, status: int) -> None:
    from airflow_provider_zuora.exceptions import ZuoraApiError

    hook.run_workflow.side_effect = ZuoraApiError(status, "Callout mode is not turned on")
    with pytest.raises(AirflowFailException, match=r"Zuora refused to run workflow 396.*Callout mode"):
        op().execute(make_context(FakeStore()))


@pytest.mark.parametrize("status", [429, 503])
def test_other_run_errors_are_left_to_airflow_retries(hook: mock.MagicMock, status: int) -> None:
    from airflow_provider_zuora.exceptions import ZuoraApiError

    hook.run_workflow.side_effect = ZuoraApiError(status, "busy")
    with pytest.raises(ZuoraApiError):
        op().execute(make_context(FakeStore()))


def test_a_key_still_in_progress_after_the_hooks_wait_is_left_to_airflow_retries(
    hook: mock.MagicMock,
) -> None:
    # The hook resends a key in progress for two minutes (tests/hooks/test_zuora.py); after
    # that the 409 fails the try as a transient error would, never as a refusal.
    from airflow_provider_zuora.exceptions import ZuoraApiError

    store = FakeStore({STATE_KEY: {"idempotency_key": "airflow-first", "workflow_id": 396}})
    hook.run_workflow.side_effect = ZuoraApiError(409, "key in progress")
    with pytest.raises(ZuoraApiError, match="409") as info:
        op().execute(make_context(store))
    assert not isinstance(info.value, AirflowFailException)
    assert [c.kwargs["idempotency_key"] for c in hook.run_workflow.call_args_list] == ["airflow-first"]


def test_a_409_on_a_first_try_is_not_waited_for(hook: mock.MagicMock) -> None:
    from airflow_provider_zuora.exceptions import ZuoraApiError

    hook.run_workflow.side_effect = ZuoraApiError(409, "Workflow WF-1 with Id 399 is an instance/run.")
    with pytest.raises(ZuoraApiError):
        op().execute(make_context(FakeStore()))
    assert hook.run_workflow.call_count == 1


def test_a_dag_file_importing_operator_and_sensor_loads_no_run_time_module() -> None:
    # Parse-time cost: the run-time machinery (resume keys, verdicts, waiting, hooks, HTTP) loads
    # only when a task runs; a DAG file gets validation and the exceptions, nothing more.
    added = modules_added(
        "import airflow_provider_zuora.operators.workflow, airflow_provider_zuora.sensors.workflow",
        # The package itself first: some Airflows' provider discovery has loaded it with airflow.sdk.
        after="import airflow.sdk, airflow_provider_zuora",
        roots=("airflow_provider_zuora", "requests", "tenacity"),
    )
    assert sorted(added) == [
        "airflow_provider_zuora._compat",
        "airflow_provider_zuora.api",
        "airflow_provider_zuora.exceptions",
        "airflow_provider_zuora.operators",
        "airflow_provider_zuora.operators.workflow",
        "airflow_provider_zuora.sensors",
        "airflow_provider_zuora.sensors.workflow",
    ]
