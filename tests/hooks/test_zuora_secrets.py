"""Secrets (client secret, access tokens) never reach a log, an exception text or a repr."""

from __future__ import annotations

import json
import logging
from typing import Any
from unittest import mock

import pytest

from airflow_provider_zuora.exceptions import ZuoraApiError, ZuoraAuthError
from airflow_provider_zuora.hooks import zuora as zuora_module
from airflow_provider_zuora.hooks._transport import TOKENS
from airflow_provider_zuora.hooks.zuora import ZuoraHook

pytestmark = pytest.mark.integration


def test_a_full_flow_at_debug_level_leaks_no_secret(
    zuora_emulator: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    backend = zuora_emulator.backend
    secret = backend.config.client_secret
    TOKENS.clear()
    masked: list[str] = []
    monkeypatch.setattr(zuora_module, "mask_secret", masked.append)
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []

    hook = ZuoraHook(retry_max_wait=0.01)
    run = hook.run_workflow(396, {"accountId": "A1"}, idempotency_key="k-secret-test")  # token + run
    backend.expire_tokens()
    hook.get_workflow_instance(run["id"])  # 401, refresh, retry
    backend.inject_fault(method="GET", path="/workflows/396", status=503, count=1)
    hook.get_workflow(396)  # a retried 503
    backend.inject_fault(method="GET", path="/workflows/396", status=503, count=5)
    with pytest.raises(ZuoraApiError) as exhausted:
        ZuoraHook(max_attempts=2, retry_max_wait=0.01).get_workflow(396)
    errors.append(str(exhausted.value))
    bad = json.loads(zuora_emulator.airflow_conn_json())
    bad["password"] = "wrong-" + secret
    monkeypatch.setenv("AIRFLOW_CONN_ZUORA_BAD", json.dumps(bad))
    with pytest.raises(ZuoraAuthError) as refused:
        ZuoraHook("zuora_bad").get_workflow(396)
    errors.append(str(refused.value))
    ok, message = ZuoraHook("zuora_bad").test_connection()
    assert not ok
    errors.append(message)

    tokens = [t for t in masked if t not in (secret, bad["password"])]
    assert secret in masked and bad["password"] in masked
    assert len(tokens) == 2  # each token Zuora issued was registered with the masker
    out = capfd.readouterr()
    seen = "\n".join([caplog.text, out.out, out.err, repr(hook), repr(hook.config), *errors])
    assert "Zuora GET /workflows/396 -> 503" in caplog.text  # the debug lines were captured
    for value in [secret, bad["password"], *tokens]:
        assert value not in seen


def test_secrets_are_registered_with_airflows_masker(zuora_emulator: Any) -> None:
    TOKENS.clear()
    with mock.patch("airflow.sdk.log.mask_secret") as mask_secret:
        ZuoraHook().get_workflow(396)
    registered = [c.args[0] for c in mask_secret.call_args_list]
    assert zuora_emulator.backend.config.client_secret in registered
    assert len(registered) == 2  # the secret and the token
