"""The emulator's settings, defined once: the backend, ``ZuoraEmulator`` and the command line all read them.

Each field of :class:`Settings` carries its default and a help string; the CLI's options are
generated from the fields (:func:`add_setting_options`), ``ZuoraEmulator(**settings)`` and
``ZuoraBackend(**settings)`` take them as keywords, and ``configure()`` (also
``POST /_emulator/config``) changes them at run time.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

#: The default OAuth client, shaped as Zuora's are so that clients that validate them accept it
#: (Zuora's own SDK, ``zuora-sdk``, wants a 36-character client id and a secret of at most 42).
DEFAULT_CLIENT_ID = "00000000-0000-4000-8000-000000000001"
DEFAULT_CLIENT_SECRET = "emulator-client-secret"


def _setting(default: Any, help: str, *, cli: bool = True, runtime: bool = True, secret: bool = False) -> Any:
    """A settings field. ``cli``: an option of the command line; ``runtime``: ``configure()`` may change
    it; ``secret``: kept out of ``repr`` and of the settings the control route answers with."""
    return field(default=default, repr=not secret, metadata={"help": help, "cli": cli, "runtime": runtime})


@dataclass
class Settings:
    """What a test may tune: credentials, token lifetime, limits, retention."""

    client_id: str = _setting(DEFAULT_CLIENT_ID, "OAuth client id the token endpoint accepts")
    client_secret: str = _setting(DEFAULT_CLIENT_SECRET, "OAuth client secret it accepts", secret=True)
    token_lifetime: float = _setting(3600, "token lifetime in seconds")
    rate_limit: int | None = _setting(None, "API requests per minute before 429 (default: unlimited)")
    token_rate_limit: int | None = _setting(None, "token requests per minute before 429")
    concurrency_limit: int | None = _setting(None, "concurrent API requests before 429")
    rate_window: float = _setting(
        60, "length of a rate-limit window in seconds (Zuora's is a minute; load tests shorten it)", cli=False
    )
    idempotency_ttl: float = _setting(24 * 3600, "seconds an Idempotency-Key's answer is kept", cli=False)
    retention_days: float = _setting(30, "days a run can be read after it was created", cli=False)
    request_log_size: int = _setting(
        10_000, "requests the request log keeps (the newest)", cli=False, runtime=False
    )

    def update(self, **changes: Any) -> Settings:
        """Change run-time settings in place; an unknown (or fixed) name raises ValueError."""
        runtime = {f.name for f in dataclasses.fields(self) if f.metadata["runtime"]}
        for name in changes:
            if name not in runtime:
                raise ValueError(f"unknown emulator setting {name!r}")
        for name, value in changes.items():
            setattr(self, name, value)
        return self

    def public(self) -> dict[str, Any]:
        """The run-time settings without secrets, as ``POST /_emulator/config`` answers."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.repr and f.metadata["runtime"]
        }


def _option_type(hint: Any) -> type:
    """``int`` for ``int | None``, ``str`` for ``str``: what argparse converts an option's value with."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    return typing.cast(type, hint)


def cli_fields() -> list[dataclasses.Field[Any]]:
    """The settings that are command-line options, in their order."""
    return [f for f in dataclasses.fields(Settings) if f.metadata["cli"]]


def add_setting_options(parser: argparse.ArgumentParser) -> None:
    """One ``--name`` option per command-line setting (``client_id`` becomes ``--client-id``)."""
    hints = typing.get_type_hints(Settings)
    for f in cli_fields():
        parser.add_argument(
            "--" + f.name.replace("_", "-"),
            type=_option_type(hints[f.name]),
            default=f.default,
            help=f.metadata["help"],
        )


def settings_from_options(args: argparse.Namespace) -> dict[str, Any]:
    """The settings parsed by :func:`add_setting_options`, as keywords for ``ZuoraEmulator``."""
    return {f.name: getattr(args, f.name) for f in cli_fields()}
