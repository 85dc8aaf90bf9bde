"""The recorder behind docs/reliability.md: what is exact, what is measured, and the figures' lines."""

from __future__ import annotations

import dataclasses
import datetime as dt

from tests.reliability import report


def recorder(**measured: object) -> report.Recorder:
    rec = report.Recorder()
    rec.fault_kinds, rec.paths = [("http-503", "503")], [("run", "the run call"), ("poke", "the sensor")]
    rec.not_applicable = {("http-503", "poke"): "not here"}
    case = report.FaultCase(
        kind="http-503", title="503", path="run", expected="started", outcome="started",
        instances_expected=1, instances_found=1, bound=3, requests=3, tokens=1, seconds=0.1,
    )  # fmt: skip
    rec.faults = [dataclasses.replace(case, **measured)]  # type: ignore[arg-type]
    rec.bad_inputs = [report.BadInput("bad", "workflow_id", "workflow_id is bad: fix it", 0, True)]
    return rec


def test_the_exact_part_holds_no_measured_figure() -> None:
    one = report.render(recorder(), when=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    two = report.render(
        recorder(requests=2, tokens=2, seconds=9.5, notes="slow"),
        when=dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc),
    )
    assert one != two
    assert report.exact_part(one) == report.exact_part(two) is not None
    assert "| run | 3 / 3 | 1 | 0.10 |" in one and "| run | 2 / 3 | 2 | 9.50 | slow |" in two
    assert "Measured on 2026-01-01 00:00 UTC" in one
    assert "| 503 | survived | n/a |" in one
    assert "| 1 | bad | `workflow_id` | workflow_id is bad: fix it | 0 |" in one


def test_a_case_over_its_bound_or_with_another_outcome_did_not_survive() -> None:
    assert not recorder(requests=4).faults[0].survived
    assert not recorder(outcome="failed").faults[0].survived
    assert "**FAILED**" in report.render(recorder(instances_found=2))


def test_a_figure_fills_its_placeholder_and_keeps_its_line_when_not_measured() -> None:
    placeholder = report.render(recorder())
    assert "| secrets found | not measured yet" in placeholder
    rec = recorder()
    rec.figures["secrets found"] = report.Figure("secrets found", 0)
    measured = report.render(rec)
    assert "| secrets found | 0 |" in measured
    assert "| secrets found | 0 |" in report.render(recorder(), previous=measured)  # kept from before
    assert report.exact_part(report.render(recorder(), previous=measured)) == report.exact_part(measured)
