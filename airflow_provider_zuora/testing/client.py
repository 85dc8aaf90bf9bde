"""Drive an emulator running in another process (the CLI, a demo) through its ``/_emulator`` routes.

Stdlib only (urllib), so a test or a DAG can use it without extra dependencies::

    emu = EmulatorClient("http://127.0.0.1:8080")
    emu.inject_fault(method="POST", path="/workflows/396/run", status=503, count=2)
    emu.advance_clock(3600)
    assert emu.instance_count(396) == 1
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from airflow_provider_zuora.testing.gateway import CONTROL_PREFIX
from airflow_provider_zuora.testing.workflows import Workflow


class EmulatorClientError(RuntimeError):
    """A control call failed: the emulator's status and message."""


class EmulatorClient:
    """The backend's controls over HTTP. ``base_url`` is the emulator's, e.g. ``http://127.0.0.1:8080``."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"EmulatorClient({self.base_url!r})"

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        req = urllib.request.Request(  # noqa: S310 - the URL is the emulator's, http on loopback
            self.base_url + CONTROL_PREFIX + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data is not None else {},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            raise EmulatorClientError(f"{method} {path}: HTTP {exc.code}: {detail}") from None

    def state(self, log: bool = True) -> dict[str, Any]:
        """Run counts and runs (``instance_counts``, ``instances``), tokens issued, pending faults and
        (``log``) the request log."""
        return self._call("GET", "/state" + ("" if log else "?log=false"))

    def instance_count(self, workflow_id: int | str) -> int:
        return int(self.state(log=False)["instance_counts"].get(str(workflow_id), 0))

    @property
    def tokens_issued(self) -> int:
        return int(self.state(log=False)["tokens_issued"])

    def get_instance(self, run_id: int | str) -> dict[str, Any]:
        """A run's state, its ``parameters`` and ``task_list``."""
        return self._call("GET", f"/instances/{run_id}")

    def request_log(self, method: str | None = None, path: str | None = None) -> list[dict[str, Any]]:
        """Logged requests, optionally filtered by method and path glob."""
        from urllib.parse import urlencode

        query = urlencode({k: v for k, v in (("method", method), ("path", path)) if v})
        return self._call("GET", "/requests" + (f"?{query}" if query else ""))

    def clear_request_log(self) -> None:
        self._call("DELETE", "/requests")

    def inject_fault(self, **spec: Any) -> dict[str, Any]:
        """The fault's fields (see :class:`~.faults.Fault`); the emulator checks them (400 on a bad one)."""
        return self._call("POST", "/faults", spec)

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def advance_clock(self, seconds: float) -> float:
        """Move the emulated clock forward; returns the new emulated time (epoch seconds)."""
        return float(self._call("POST", "/clock", {"advance": seconds})["now"])

    def freeze_clock(self, frozen: bool = True) -> float:
        """Stop (or, with ``False``, restart) the emulated clock."""
        return float(self._call("POST", "/clock", {"freeze": frozen})["now"])

    def expire_tokens(self) -> int:
        return int(self._call("POST", "/expire-tokens")["expired"])

    def add_workflow(self, workflow: Workflow | dict[str, Any]) -> dict[str, Any]:
        spec = workflow.to_dict() if isinstance(workflow, Workflow) else workflow
        return self._call("POST", "/workflows", spec)

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change ``rate_limit``, ``token_lifetime``, ``concurrency_limit``, ... at run time."""
        return self._call("POST", "/config", settings)

    def reset(self) -> None:
        """Back to the initial workflows, with no runs, tokens, faults or log."""
        self._call("POST", "/reset")
