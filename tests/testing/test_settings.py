"""Settings defined once: defaults, help, run-time changes, and the command-line options made from them."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from airflow_provider_zuora.testing.emulator import ZuoraEmulator
from airflow_provider_zuora.testing.settings import (
    Settings,
    add_setting_options,
    cli_fields,
    settings_from_options,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_setting_options(parser)
    return parser


def test_every_setting_has_a_help_string():
    assert all(f.metadata["help"] for f in dataclasses.fields(Settings))


def test_each_command_line_setting_is_an_option_with_its_default_and_help():
    options = {a.dest: a for a in _parser()._actions if a.dest != "help"}
    assert list(options) == [f.name for f in cli_fields()]
    for f in cli_fields():
        option = options[f.name]
        assert option.option_strings == ["--" + f.name.replace("_", "-")]
        assert (option.default, option.help) == (f.default, f.metadata["help"])


def test_options_round_trip_to_settings():
    args = _parser().parse_args(["--client-id", "me", "--token-lifetime", "10", "--rate-limit", "5"])
    expected = Settings(client_id="me", token_lifetime=10.0, rate_limit=5)
    assert Settings(**settings_from_options(args)) == expected
    assert Settings(**settings_from_options(_parser().parse_args([]))) == Settings()
    with pytest.raises(SystemExit):
        _parser().parse_args(["--rate-limit", "many"])


def test_update_changes_run_time_settings_and_refuses_the_rest():
    settings = Settings()
    assert settings.update(rate_limit=3, rate_window=5) is settings and settings.rate_limit == 3
    with pytest.raises(ValueError, match="unknown emulator setting 'speed'"):
        settings.update(speed=2)
    with pytest.raises(ValueError, match="unknown emulator setting 'request_log_size'"):
        settings.update(request_log_size=5)  # fixed when the emulator is made


def test_public_settings_leave_out_the_secret_and_the_fixed_ones():
    public = Settings().public()
    assert "client_secret" not in public and "request_log_size" not in public
    assert list(public)[:2] == ["client_id", "token_lifetime"]
    assert "emulator-client-secret" not in repr(Settings())


def test_the_emulator_takes_every_setting_as_a_keyword():
    values = {"rate_window": 5, "idempotency_ttl": 60, "retention_days": 1, "request_log_size": 10}
    emu = ZuoraEmulator(workflows=[], **values)
    assert {name: getattr(emu.backend.config, name) for name in values} == values
    assert ZuoraEmulator(workflows=[], settings=Settings(rate_limit=2)).backend.config.rate_limit == 2
    with pytest.raises(TypeError):
        ZuoraEmulator(workflows=[], colour="red")
