"""Run the Zuora emulator: in a background thread (:class:`ZuoraEmulator`) or from the command line.

::

    python -m airflow_provider_zuora.testing.emulator --port 8080 --workflows my_workflows.json

binds 127.0.0.1 (``--host`` to change it), prints the ``AIRFLOW_CONN_ZUORA_DEFAULT`` value to
use, and serves until Ctrl+C or SIGTERM (then exits 0). In Python::

    with ZuoraEmulator() as emu:          # port 0: a free port
        os.environ["AIRFLOW_CONN_ZUORA_DEFAULT"] = emu.airflow_conn_json()
        ...
        assert emu.backend.run_count(396) == 1
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode

from airflow_provider_zuora.testing.backend import ZuoraBackend
from airflow_provider_zuora.testing.client import EmulatorClient
from airflow_provider_zuora.testing.settings import Settings, add_setting_options, settings_from_options
from airflow_provider_zuora.testing.workflows import Workflow, load_workflows

DEFAULT_CONN_ID = "zuora_default"


def _tracking_protocol(registry: dict[Any, Any]) -> type:
    """uvicorn's HTTP protocol, remembering each connection's transport so a fault can drop it."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol
    from uvicorn.protocols.utils import get_remote_addr

    class TrackingProtocol(AutoHTTPProtocol):  # type: ignore[valid-type,misc]
        def connection_made(self, transport: Any) -> None:
            self._emulator_peer = get_remote_addr(transport)
            registry[self._emulator_peer] = transport
            super().connection_made(transport)

        def connection_lost(self, exc: Exception | None) -> None:
            registry.pop(getattr(self, "_emulator_peer", None), None)
            super().connection_lost(exc)

    return TrackingProtocol


class ZuoraEmulator:
    """A Zuora Workflow API emulator served by uvicorn on ``host:port`` (``port=0``: a free port).

    ``workflows`` (``Workflow`` objects or JSON-style dicts) or ``workflows_file`` set the
    workflows; with neither, the sample set (``sample_workflows.json``) is loaded. ``settings``
    and keywords (``client_id``, ``rate_limit``, ...: the fields of :class:`~.settings.Settings`)
    set it up. The state lives in :attr:`backend`, usable in-process while the server runs.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        workflows: Iterable[Workflow | Mapping[str, Any]] | None = None,
        workflows_file: str | Path | None = None,
        *,
        log_level: str = "warning",
        settings: Settings | None = None,
        **changes: Any,
    ) -> None:
        if workflows is not None and workflows_file is not None:
            raise ValueError("give workflows or workflows_file, not both")
        if workflows_file is not None:
            workflows = load_workflows(workflows_file)
        self.backend = ZuoraBackend(workflows, settings=settings, **changes)
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self.log_level = log_level
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        where = self.base_url if self._port is not None else "not started"
        return f"ZuoraEmulator({where}, workflows={[w.id for w in self.backend.workflows]})"

    # ---- addresses and connections ----
    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the emulator is not started: call start() first")
        return self._port

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def client_id(self) -> str:
        return self.backend.config.client_id

    def airflow_conn_json(self, conn_id: str = DEFAULT_CONN_ID, **extra: Any) -> str:
        """The JSON value for ``AIRFLOW_CONN_<CONN_ID>``: host = base URL, login/password = client creds.

        ``conn_id`` only names the variable (see :meth:`airflow_env`); ``extra`` becomes the extras.
        """
        doc: dict[str, Any] = {
            "conn_type": "zuora",
            "host": self.base_url,
            "login": self.backend.config.client_id,
            "password": self.backend.config.client_secret,
        }
        if extra:
            doc["extra"] = extra
        return json.dumps(doc)

    def airflow_conn_uri(self, **extra: Any) -> str:
        """The same connection as an Airflow URI (``zuora://http://id:secret@127.0.0.1%3A54321``)."""
        cfg = self.backend.config
        scheme, rest = self.base_url.split("://", 1)
        uri = f"zuora://{scheme}://{quote(cfg.client_id, safe='')}:{quote(cfg.client_secret, safe='')}@"
        uri += quote(rest, safe="")
        if extra:
            uri += "/?" + urlencode({"__extra__": json.dumps(extra)})
        return uri

    def airflow_env(self, conn_id: str = DEFAULT_CONN_ID, **extra: Any) -> dict[str, str]:
        """``{"AIRFLOW_CONN_ZUORA_DEFAULT": <json>}``: merge into a subprocess's environment."""
        return {f"AIRFLOW_CONN_{conn_id.upper()}": self.airflow_conn_json(conn_id, **extra)}

    def client(self) -> EmulatorClient:
        """An HTTP control client for this emulator (what another process would use)."""
        return EmulatorClient(self.base_url)

    # ---- serving ----
    def _bind(self) -> socket.socket:
        """Bind the listening socket now (so :attr:`port` is known before serving)."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._requested_port))
        except OSError as exc:
            sock.close()
            raise OSError(f"cannot bind the emulator to {self.host}:{self._requested_port}: {exc}") from None
        sock.listen(1024)
        sock.setblocking(False)
        self._port = int(sock.getsockname()[1])
        return sock

    def _make_server(self) -> Any:
        import uvicorn

        from airflow_provider_zuora.testing.app import create_app

        transports: dict[Any, Any] = {}
        config = uvicorn.Config(
            create_app(self.backend, transports),
            http=_tracking_protocol(transports),
            loop="auto",
            lifespan="off",
            access_log=False,
            log_config=None,
            log_level=self.log_level,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=1,
            server_header=False,
        )
        return uvicorn.Server(config)

    def start(self, timeout: float = 15.0) -> ZuoraEmulator:
        """Serve in a daemon thread; returns once the server accepts connections."""
        if self._thread is not None:
            raise RuntimeError("the emulator is already running")
        sock = self._bind()
        self._server = self._make_server()
        thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"zuora-emulator-{self._port}",
            daemon=True,
        )
        self._thread = thread
        thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self._server.should_exit = True
                thread.join(2)
                sock.close()
                self._thread = None
                raise RuntimeError(f"the emulator did not start on {self.host}:{self._port}")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread (in-flight requests get ~1 s to finish)."""
        thread, server = self._thread, self._server
        if thread is None:
            return
        server.should_exit = True
        thread.join(timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(2)
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> ZuoraEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Serve until SIGINT or SIGTERM (the CLI), then stop cleanly. Call from the main thread."""
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            if not self.running:
                self.start()
            while not stop.wait(0.5) and self.running:
                pass
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m airflow_provider_zuora.testing.emulator",
        description="Serve a local emulator of the Zuora Workflow API (for tests and demos only).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: loopback only)")
    p.add_argument("--port", type=int, default=8080, help="port (0: pick a free one; default 8080)")
    p.add_argument(
        "--workflows", metavar="FILE", help="workflows JSON file (default: the bundled sample set)"
    )
    add_setting_options(p)
    p.add_argument(
        "--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"]
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        emu = ZuoraEmulator(
            host=args.host,
            port=args.port,
            workflows_file=args.workflows,
            log_level=args.log_level,
            **settings_from_options(args),
        )
        emu.start()
    except (OSError, ValueError, RuntimeError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    listing = ", ".join(f"{w.id} {w.name!r}" for w in emu.backend.workflows)
    sys.stdout.write(
        f"Zuora emulator listening on {emu.base_url}\n"
        f"Workflows: {listing}\n"
        f"Airflow connection:\n  export AIRFLOW_CONN_ZUORA_DEFAULT='{emu.airflow_conn_json()}'\n"
        f"Controls: {emu.base_url}/_emulator/state (Ctrl+C to stop)\n"
    )
    sys.stdout.flush()
    emu.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
