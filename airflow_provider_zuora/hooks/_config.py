"""A ``zuora`` connection read into a checked :class:`ZuoraConfig` (no I/O, no HTTP library).

Extras are read under both ``name`` and ``extra__zuora__name`` (Airflow's form may store either).
Every error names the connection and what to fix; none ever contains the client secret.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_zuora.environments import ENVIRONMENTS, environment_host
from airflow_provider_zuora.exceptions import ZuoraConfigError

DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_ATTEMPTS = 5
#: The link to a run in Zuora's UI. UNVERIFIED: Zuora does not document this URL; override it
#: with the connection extra ``ui_url_template`` ({host} = the UI host with scheme, {instance_id}).
DEFAULT_UI_URL_TEMPLATE = "{host}/workflows/instances/{instance_id}"


def is_loopback(host: str | None) -> bool:
    """``localhost`` or a loopback IP: the only hosts plain ``http://`` is accepted for."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ZuoraConfig:
    """What a hook needs from its connection. The secret never shows in a repr."""

    conn_id: str
    base_url: str
    client_id: str
    client_secret: str = field(repr=False)
    entity_ids: str | None = None
    org_ids: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    ui_url_template: str | None = None

    @cached_property  # once per config, not per request (a frozen dataclass keeps a __dict__)
    def token_key(self) -> tuple[str, str]:
        """Tokens are shared per (base URL, client id); a digest of the secret keeps a wrong or
        rotated secret from borrowing a token fetched with the right one."""
        digest = hashlib.sha256(self.client_secret.encode()).hexdigest()[:16]
        return (self.base_url, f"{self.client_id}#{digest}")

    @property
    def pool_key(self) -> tuple[str, str]:
        """Async connection pools (and their concurrency bound) are per (base URL, client id)."""
        return (self.base_url, self.client_id)

    def with_overrides(self, *, timeout: float | None, max_attempts: int | None) -> ZuoraConfig:
        """The hook's constructor arguments win over the connection's extras."""
        return dataclasses.replace(
            self,
            timeout=self.timeout if timeout is None else float(timeout),
            max_attempts=self.max_attempts if max_attempts is None else int(max_attempts),
        )

    def ui_url(self, instance_id: int | str) -> str:
        """The run's page in Zuora's UI; raises ``KeyError``/``ValueError`` for a broken template.

        Placeholders: ``{host}`` (the REST host's web counterpart: ``rest.`` dropped, the bare
        ``zuora.com`` as ``www.zuora.com``), ``{base_url}`` (the REST base URL), ``{instance_id}``.
        """
        parts = urlsplit(self.base_url)
        netloc = parts.netloc
        if not is_loopback(parts.hostname):
            host = (parts.hostname or "").removeprefix("rest.")
            host = "www.zuora.com" if host == "zuora.com" else host
            netloc = host + (f":{parts.port}" if parts.port else "")
        web = f"{parts.scheme}://{netloc}"
        template = self.ui_url_template or DEFAULT_UI_URL_TEMPLATE
        return template.format(host=web, base_url=self.base_url, instance_id=instance_id)


def check_number(name: str, value: float | None, *, minimum: float, integer: bool = False) -> None:
    """A hook argument: None (use the connection's) or a number >= ``minimum``."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= minimum:
        raise ZuoraConfigError(f"{name} must be a number >= {minimum:g}, got {value!r}")
    if integer and value != int(value):
        raise ZuoraConfigError(f"{name} must be a whole number, got {value!r}")


def _extra(extras: Mapping[str, Any], name: str) -> Any:
    value = extras.get(name)
    if value in (None, ""):
        value = extras.get(f"extra__zuora__{name}")
    return None if value in (None, "") else value


def _number(extras: Mapping[str, Any], name: str, default: float, conn_id: str) -> float:
    value = _extra(extras, name)
    if value is None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ZuoraConfigError(
            f"Connection {conn_id!r}: extra {name!r} must be a number, got {value!r}"
        ) from None
    if not number > 0 or number == float("inf"):
        raise ZuoraConfigError(f"Connection {conn_id!r}: extra {name!r} must be > 0, got {value!r}")
    return number


def resolve_base_url(conn_id: str, host: str | None, schema: str | None, port: int | None, env: Any) -> str:
    """The REST base URL: the host (scheme required; http only on loopback), else the environment."""
    host = (host or "").strip()
    if host:
        if "://" not in host:
            if schema not in ("http", "https"):
                raise ZuoraConfigError(
                    f"Connection {conn_id!r}: REST endpoint {host!r} needs a scheme, e.g. https://{host}"
                )
            host = f"{schema}://{host}"
        parts = urlsplit(host)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ZuoraConfigError(f"Connection {conn_id!r}: REST endpoint {host!r} is not an http(s) URL")
        if parts.username is not None or parts.password is not None:
            raise ZuoraConfigError(  # never echo the URL: it holds a credential
                f"Connection {conn_id!r}: the REST endpoint must not carry a user name or password; "
                "put the OAuth Client ID and Secret in the login and password fields"
            )
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ZuoraConfigError(
                f"Connection {conn_id!r}: REST endpoint {host!r} uses http://, which would send the client "
                "secret in cleartext; use https:// (http is accepted only for loopback addresses)"
            )
        netloc = parts.netloc if parts.port or not port else f"{parts.netloc}:{port}"
        return f"{parts.scheme}://{netloc}{parts.path}".rstrip("/")
    if env:
        found = environment_host(str(env))
        if found is None:
            raise ZuoraConfigError(
                f"Connection {conn_id!r}: unknown environment {env!r}; use one of: {', '.join(ENVIRONMENTS)}"
            )
        return found
    raise ZuoraConfigError(
        f"Connection {conn_id!r} has neither a REST endpoint (host) nor an environment extra: set one"
    )


def config_from_connection(conn: Any, extras: Mapping[str, Any] | None = None) -> ZuoraConfig:
    """Read and check a ``zuora`` connection; raise ``ZuoraConfigError`` naming what is wrong.

    ``extras`` is the decoded extra (async callers decode it with ``aextra_dejson``); by default
    ``conn.extra_dejson``.
    """
    conn_id = conn.conn_id or "?"
    if extras is None:
        extras = conn.extra_dejson or {}
    if not conn.login or not conn.password:
        raise ZuoraConfigError(f"Connection {conn_id!r} needs the OAuth Client ID (login) and Client Secret")
    base_url = resolve_base_url(conn_id, conn.host, conn.schema, conn.port, _extra(extras, "environment"))
    attempts = _number(extras, "max_attempts", DEFAULT_MAX_ATTEMPTS, conn_id)
    if attempts != int(attempts):
        raise ZuoraConfigError(f"Connection {conn_id!r}: extra 'max_attempts' must be a whole number")
    template = _extra(extras, "ui_url_template")
    return ZuoraConfig(
        conn_id=conn_id,
        base_url=base_url,
        client_id=str(conn.login),
        client_secret=str(conn.password),
        entity_ids=_extra(extras, "entity_ids"),
        org_ids=_extra(extras, "org_ids"),
        timeout=_number(extras, "timeout", DEFAULT_TIMEOUT, conn_id),
        max_attempts=int(attempts),
        ui_url_template=None if template is None else str(template),
    )
