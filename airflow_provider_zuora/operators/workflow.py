"""RunZuoraWorkflowOperator: run a Zuora workflow, retry-safely, and optionally wait for it.

Retry-safety: every run call carries an ``Idempotency-Key`` that a retry of the same clear can
compute again, so Zuora replays the run an earlier try started instead of starting a second one;
a user's clear starts a fresh run. See :mod:`airflow_provider_zuora.operators._resume`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_provider_zuora import api
from airflow_provider_zuora._compat import AirflowFailException, conf
from airflow_provider_zuora.exceptions import (
    ZuoraApiError,
    ZuoraAuthError,
    ZuoraConfigError,
    ZuoraWaitTimeout,
)

if TYPE_CHECKING:  # _resume, status and waiting load at run time: a DAG file's import stays cheap
    from airflow.sdk import BaseOperatorLink, Context

    from airflow_provider_zuora.hooks.zuora import ZuoraHook

#: Answers to a run call that no retry can change (409 "key in progress" is not one of them).
_PERMANENT_RUN_ERRORS = frozenset({400, 403, 404, 406, 422})
#: XCom key of the instance id, pushed as soon as the run call returns.
XCOM_INSTANCE_ID = "instance_id"


class _ExtraLinks:
    """``operator_extra_links``, made on first access from the class or an instance (a mapped
    operator reads it from the class): the link's module stays out of a DAG file's import."""

    def __init__(self) -> None:
        self._links: tuple[BaseOperatorLink, ...] | None = None

    def __get__(self, obj: object, owner: type | None = None) -> tuple[BaseOperatorLink, ...]:
        if self._links is None:
            from airflow_provider_zuora.links import ZuoraWorkflowInstanceLink

            self._links = (ZuoraWorkflowInstanceLink(),)
        return self._links


def __getattr__(name: str) -> Any:
    """``ZuoraWorkflowInstanceLink`` used to live here: DAGs serialized before still name it so."""
    if name == "ZuoraWorkflowInstanceLink":
        from airflow_provider_zuora.links import ZuoraWorkflowInstanceLink

        return ZuoraWorkflowInstanceLink
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def default_track_id(context: Context) -> str:
    """A ``Zuora-Track-Id`` that ties a Zuora request back to this task instance.

    ``dag.task.run_id.try``, with characters Zuora refuses (``: ; " '``, non-ASCII) replaced by ``_``
    and cut to 64 characters (keeping the end, where the try number and the run id's time are).
    """
    ti = context["ti"]
    map_part = f".{ti.map_index}" if getattr(ti, "map_index", -1) not in (-1, None) else ""
    raw = f"{ti.dag_id}.{ti.task_id}{map_part}.{ti.run_id}.{ti.try_number}"
    clean = "".join(c if 32 <= ord(c) < 127 and c not in ":;\"'" else "_" for c in raw)
    return clean[-64:]


def coerce_parameters(value: Any) -> dict[str, Any]:
    """Turn the rendered ``parameters`` into the dict Zuora takes, or explain what is wrong.

    Without ``render_template_as_native_obj``, Jinja renders ``{{ ti.xcom_pull(...) }}`` of a dict
    to a string: a JSON object, or the dict's Python repr. Both are parsed back, as a user would
    expect (``ast.literal_eval`` reads literals only, never runs code).
    """
    if value is None:
        return {}
    if isinstance(value, str):
        value = _parse_object_string(value)
    if not isinstance(value, Mapping):
        raise ZuoraConfigError(
            f"parameters must be a dict of workflow input parameters, got {type(value).__name__}. "
            "Jinja renders to strings unless render_template_as_native_obj=True is set on the DAG."
        )
    return api.validate_parameters(dict(value))


def check_workflow_id(value: Any) -> str:
    """A workflow id as Zuora has them, a positive whole number (int or digits), or what to do."""
    text = api.normalize_id(value, "workflow_id")
    if isinstance(value, int) or text.isdigit():
        return text
    raise ZuoraConfigError(
        f"workflow_id {value!r:.80} is not a number: set it to the numeric id of the workflow to run "
        "(Zuora's workflow list, GET /workflows, shows each one's id)"
    )


def refusal_hint(err: ZuoraApiError) -> str | None:
    """What to do about a run call Zuora refused for good, naming the field to fix (or None)."""
    text = str(err.message).lower()
    if isinstance(err, ZuoraAuthError):
        return None  # the hook's message names the connection and the fields to check
    if err.status_code == 400 and "callout" in text:
        return "turn on the Callout trigger in the workflow's settings in Zuora, or set another workflow_id"
    if err.status_code == 400 and "inactive" in text:
        return "activate the workflow in Zuora, or set workflow_id to an active workflow"
    if err.status_code == 403:
        return "give the connection's OAuth client the Workflow Run Access permission in Zuora"
    if err.status_code == 404:
        return "check workflow_id: no workflow has this id in the tenant the connection points at"
    if err.status_code == 406:
        return "add the workflow's required input parameters Zuora names to parameters"
    if err.status_code == 422:
        return "set another idempotency_key: this one was used for another request"
    return "check workflow_id and parameters against the workflow's definition in Zuora"


def with_hint(err: ZuoraApiError) -> str:
    """The error's text with what to do about it after Zuora's words, before the request ids."""
    hint = refusal_hint(err)
    text = str(err)
    if not hint:
        return text
    head, sep, ids = text.partition(" | ")
    return f"{head.rstrip('.')}. What to do: {hint}{sep}{ids}"


def _parse_object_string(text: str) -> Any:
    import ast

    for parse in (json.loads, ast.literal_eval):
        try:
            parsed = parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(parsed, Mapping):
            return parsed
    raise ZuoraConfigError(
        f"parameters rendered to a string that is not a dict: {text[:80]!r}. Pass a dict or an "
        "XComArg, or set render_template_as_native_obj=True on the DAG so Jinja gives Python objects."
    )


class RunZuoraWorkflowOperator(BaseOperator):
    """Run a Zuora workflow with parameters (often from upstream XComs); optionally wait for it.

    :param workflow_id: the workflow to run (int or str).
    :param parameters: the workflow's input parameters: a dict (values may be XComArgs or Jinja),
        a whole XComArg, or a Jinja string rendering to a JSON object.
    :param idempotency_key: a fixed ``Idempotency-Key`` (one run per key, whatever the retries or
        clears); by default one is derived per run of the task instance's current clear.
    :param durable: a retry reattaches to the run an earlier try started (the default; Airflow
        3.3's name for it). ``False``: every try starts its own run, under its own key.
    :param track_id: ``Zuora-Track-Id``; by default ``dag.task.run_id.try`` (sanitised).
    :param wait_for_completion: wait until the instance is ``Finished`` or ``Stopped``.
    :param poll_interval: seconds between status checks while waiting.
    :param timeout: seconds to wait at most; then the instance is stopped and the task fails.
    :param fail_on_task_errors: fail when the instance finished with failed tasks.
    :param deferrable: wait in the triggerer instead of a worker slot.
    """

    template_fields: Sequence[str] = (
        "workflow_id",
        "parameters",
        "idempotency_key",
        "track_id",
        "entity_ids",
        "org_ids",
        "zuora_conn_id",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"parameters": "json"}
    operator_extra_links = _ExtraLinks()
    ui_color = "#e6f1f2"

    def __init__(
        self,
        *,
        workflow_id: int | str,
        parameters: Any = None,
        zuora_conn_id: str = "zuora_default",
        idempotency_key: str | None = None,
        track_id: str | None = None,
        entity_ids: str | None = None,
        org_ids: str | None = None,
        wait_for_completion: bool = False,
        poll_interval: float = 30,
        timeout: float | None = None,
        fail_on_task_errors: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        durable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(parameters, Mapping):
            # Literal keys are known at parse time: a reserved one fails the DAG import.
            api.validate_parameter_keys(parameters)
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be > 0 seconds, got {poll_interval!r}")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds or None, got {timeout!r}")
        self.workflow_id = workflow_id
        self.parameters = parameters
        self.zuora_conn_id = zuora_conn_id
        self.idempotency_key = idempotency_key
        self.track_id = track_id
        self.entity_ids = entity_ids
        self.org_ids = org_ids
        self.wait_for_completion = wait_for_completion
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.fail_on_task_errors = fail_on_task_errors
        self.deferrable = deferrable
        self.durable = durable
        self.instance_id: str | int | None = None

    @cached_property
    def hook(self) -> ZuoraHook:
        """The connection's hook, made on first use (the hook module loads only then)."""
        from airflow_provider_zuora.hooks.zuora import ZuoraHook

        return ZuoraHook(zuora_conn_id=self.zuora_conn_id)

    # ---------------------------------------------------------------- run
    def execute(self, context: Context) -> Any:
        try:
            check_workflow_id(self.workflow_id)
            parameters = coerce_parameters(self.parameters)
            track_id = self.track_id or default_track_id(context)
            api.validate_track_id(track_id)
            if self.idempotency_key is not None:
                api.validate_idempotency_key(self.idempotency_key)
            self.hook.config  # noqa: B018 - the connection's own checks (host, scheme, credentials' fields)
        except (ZuoraConfigError, ValueError) as err:
            # Bad input will not get better on a retry; nothing was sent.
            raise AirflowFailException(str(err)) from err

        state = self._start_or_find(context, parameters, track_id)
        instance_id = state["id"]
        self.instance_id = instance_id
        context["ti"].xcom_push(key=XCOM_INSTANCE_ID, value=instance_id)
        url = self.hook.ui_url(instance_id)
        if url:
            (link,) = self.operator_extra_links
            context["ti"].xcom_push(key=link.xcom_key, value=url)
        if not self.wait_for_completion:
            return state
        return self._wait(context, state)

    def _start_or_find(self, context: Context, parameters: dict[str, Any], track_id: str) -> dict[str, Any]:
        """The instance this try waits on: one an earlier try of this clear started, or a new run."""
        from airflow_provider_zuora.operators._resume import RunFinder, TryIdentity

        def send(key: str, *, resent: bool) -> dict[str, Any]:
            return self._send(key, parameters, track_id, resent=resent)

        ident = TryIdentity.of(context, retries=self.retries or 0)
        if self.idempotency_key is not None:  # the user's key: one run per key, replayed by Zuora
            return send(self.idempotency_key, resent=ident.try_number > 1)
        if not self.durable:
            self.log.warning(
                "durable=False: try %d starts its own Zuora run; a retry after a crash starts another",
                ident.try_number,
            )
            return send(ident.own_key(self.workflow_id), resent=False)
        finder = RunFinder(self.hook, self.log, self.workflow_id, send, self.fail_on_task_errors)
        return finder.instance_for(context, ident)

    def _send(self, key: str, parameters: dict[str, Any], track_id: str, *, resent: bool) -> dict[str, Any]:
        """The run call under ``key`` (the hook waits out a key still in progress at Zuora)."""
        from airflow_provider_zuora.calls import is_run_id_conflict
        from airflow_provider_zuora.status import describe_instance

        try:
            state = self.hook.run_workflow(
                self.workflow_id,
                parameters,
                idempotency_key=key,
                track_id=track_id,
                entity_ids=self.entity_ids,
                org_ids=self.org_ids,
            )
        except ZuoraApiError as err:
            if isinstance(err, ZuoraAuthError) or err.status_code in _PERMANENT_RUN_ERRORS:
                # Unknown workflow, callout off, missing parameters, no permission: no retry can help.
                raise AirflowFailException(
                    f"Zuora refused to run workflow {self.workflow_id}: {with_hint(err)}"
                ) from err
            if is_run_id_conflict(err):
                raise ZuoraApiError(
                    409,
                    f"workflow_id {self.workflow_id} is the id of a workflow run (instance), not of a "
                    "workflow: set workflow_id to the workflow's own id (the run's originalWorkflowId). "
                    f"Zuora said: {err.message}",
                    request_id=err.request_id,
                    track_id=err.track_id,
                    body=err.body,
                ) from err
            raise  # 429/5xx after the hook's tries, or a key in progress for too long: Airflow retries
        self.log.info(
            "%s Zuora workflow %s: %s, status %s, track id %s",
            "Resent the run call of" if resent else "Started",
            self.workflow_id,
            describe_instance(state),
            state.get("status"),
            track_id,
        )
        return state

    # ---------------------------------------------------------------- wait
    def _wait(self, context: Context, state: dict[str, Any]) -> Any:
        from airflow_provider_zuora import waiting
        from airflow_provider_zuora.waiter import DONE, TIMED_OUT, Waiter

        instance_id = str(state["id"])
        if self.deferrable:
            final = waiting.final_state_before_deferring(
                self.hook,
                instance_id,
                fail_on_task_errors=self.fail_on_task_errors,
                log=self.log,
                conn_id=self.zuora_conn_id,
            )
            if final is not None:  # already done: never defer
                return final
            self._defer(instance_id)
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        waiter = Waiter(
            instance_id,
            fail_on_task_errors=self.fail_on_task_errors,
            conn_id=self.zuora_conn_id,
            deadline=deadline,
        )
        while True:
            decision = waiting.poll_once(self.hook, waiter, self.log, now=time.monotonic())
            if decision.action == DONE and decision.outcome is not None and decision.state is not None:
                return waiting.final_state_or_raise(self.hook, decision.outcome, decision.state, log=self.log)
            if decision.action == TIMED_OUT:
                message = waiting.stop_after_timeout(
                    self.hook,
                    instance_id,
                    status=waiter.last_status,
                    timeout=self.timeout,
                    stop=True,
                    log=self.log,
                )
                raise ZuoraWaitTimeout(message)  # as the deferred wait's timeout raises
            time.sleep(self.poll_interval)

    def _defer(self, instance_id: str) -> None:
        from datetime import timedelta

        from airflow_provider_zuora.triggers.workflow import ZuoraWorkflowInstanceTrigger

        end_time = None if self.timeout is None else time.time() + self.timeout
        self.defer(
            trigger=ZuoraWorkflowInstanceTrigger(
                instance_id=instance_id,
                zuora_conn_id=self.zuora_conn_id,
                poll_interval=self.poll_interval,
                end_time=end_time,
                fail_on_task_errors=self.fail_on_task_errors,
            ),
            method_name="execute_complete",
            # A safety net past the trigger's own end time, which it reports as a timeout event.
            timeout=None if self.timeout is None else timedelta(seconds=self.timeout + 60),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger: the same verdicts and messages as the waiting in a worker."""
        from airflow_provider_zuora import waiting

        self.instance_id = event.get("instance_id", self.instance_id)
        return waiting.resume_from_event(
            event, hook_factory=lambda: self.hook, log=self.log, timeout=self.timeout
        )

    def _stop(self, instance_id: str | int, *, why: str) -> None:
        try:
            self.hook.stop_workflow_instance(instance_id)
            self.log.warning("Stopped Zuora workflow instance %s: %s", instance_id, why)
        except Exception as err:  # best effort: the caller is failing or being killed anyway
            self.log.error("Could not stop Zuora workflow instance %s (%s): %s", instance_id, why, err)

    def on_kill(self) -> None:
        """Stop the instance when the task is killed (best effort, logged)."""
        if self.instance_id is not None:
            self._stop(self.instance_id, why="the Airflow task was killed")
