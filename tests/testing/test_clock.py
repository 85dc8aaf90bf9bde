"""The emulated clock: real time plus an offset, frozen or running; Zuora's timestamp format."""

from __future__ import annotations

import time

import pytest

from airflow_provider_zuora.testing.clock import Clock, zuora_time


def test_the_clock_follows_real_time_until_moved():
    clock = Clock()
    assert abs(clock.now() - time.time()) < 1 and not clock.frozen and clock.offset == 0


def test_freeze_holds_time_and_unfreeze_resumes_from_there():
    clock = Clock()
    frozen = clock.freeze()
    assert clock.now() == frozen and clock.frozen
    assert clock.advance(10) == pytest.approx(frozen + 10)
    resumed = clock.unfreeze()
    assert resumed == pytest.approx(frozen + 10, abs=0.5) and not clock.frozen


@pytest.mark.parametrize("seconds", [-1, float("nan"), "10"])
def test_the_clock_only_moves_forward(seconds):
    with pytest.raises(ValueError, match="seconds must be a number >= 0"):
        Clock().advance(seconds)


def test_reset_goes_back_to_real_time():
    clock = Clock()
    clock.freeze()
    clock.advance(3600)
    clock.reset()
    assert not clock.frozen and clock.offset == 0


def test_zuora_time_format():
    assert zuora_time(1_800_000_000.0) == "2027-01-15 08:00:00 UTC"
