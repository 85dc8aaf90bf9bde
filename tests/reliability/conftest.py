"""Write (or check) ``docs/reliability.md`` once the reliability tests have all run.

The document is regenerated only when the modules it is made of (``REQUIRED``) were collected,
none of their tests was deselected, each one ran and none failed: a partial run (``-k``, one file,
``-x`` stopping early, a failure) leaves the committed file alone. With ``ZUORA_CHECK_RELIABILITY=1``
the session compares the exact part of what it would write with the committed file instead, and
fails (exit status 1) when they differ.

Other modules here add summary figures when they run (the secrets sweep, a ``stack`` test that
``make unit`` deselects: ``report.figure("secrets found", n)``). A figure not recorded in this
session keeps its line from the committed file, so a run without that module neither loses it nor
differs from it. See ``report.py`` for the recorder API.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import pytest

from tests.reliability import report

HERE = Path(__file__).resolve().parent
DOC = HERE.parent.parent / "docs" / "reliability.md"
CHECK_ENV = "ZUORA_CHECK_RELIABILITY"
REGENERATE = "run `make reliability` to regenerate it"
#: The modules docs/reliability.md is made of: all of each must have run for it to be written.
REQUIRED = ("test_fault_matrix.py", "test_bad_inputs.py")

_collected: dict[str, Path] = {}  # nodeid -> module path
_deselected: set[str] = set()
_passed: set[str] = set()
_failed: set[str] = set()


def _ours(path: Path) -> bool:
    path = path.resolve()
    return path.parent == HERE and path.name in REQUIRED


def pytest_itemcollected(item: pytest.Item) -> None:
    if _ours(item.path):
        _collected[item.nodeid] = item.path.resolve()


def pytest_deselected(items: list[pytest.Item]) -> None:
    _deselected.update(item.nodeid for item in items if _ours(item.path))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid not in _collected:
        return
    if report.failed:
        _failed.add(report.nodeid)
    elif report.when == "call" or (report.when == "setup" and report.skipped):
        _passed.add(report.nodeid)  # passed, xfailed or skipped: it ran to its end


def _incomplete() -> str | None:
    """Why this session cannot speak for the whole folder, or None when it can."""
    modules = {HERE / name for name in REQUIRED}
    missing = sorted(p.name for p in modules - set(_collected.values()))
    if missing:
        return f"not collected: {', '.join(missing)}"
    if _deselected:
        return f"{len(_deselected)} test(s) deselected"
    if _failed:
        return f"{len(_failed)} test(s) failed"
    not_run = set(_collected) - _deselected - _passed
    if not_run:
        return f"{len(not_run)} test(s) did not run"
    return None


def _say(session: pytest.Session, line: str, **markup: Any) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        if not getattr(session, "_zuora_said", False):
            reporter.write_line("")  # off the progress line
            session._zuora_said = True  # type: ignore[attr-defined]
        reporter.write_line(line, **markup)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _collected:
        return
    why = _incomplete()
    if why is not None:
        _say(session, f"docs/reliability.md neither written nor checked: {why}", yellow=True)
        return
    committed = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    text = report.render(previous=committed)
    if os.environ.get(CHECK_ENV) == "1":
        old, new = report.exact_part(committed), report.exact_part(text)
        if old == new:
            _say(session, "docs/reliability.md: the exact part matches this run", green=True)
            return
        diff = list(
            difflib.unified_diff(
                (old or "").splitlines(),
                (new or "").splitlines(),
                "docs/reliability.md (committed)",
                "this run",
                lineterm="",
                n=1,
            )
        )
        shown = diff[:60] + ([f"... and {len(diff) - 60} more diff lines"] if len(diff) > 60 else [])
        what = "has no exact part" if old is None else "differs from what this run measured"
        _say(session, f"docs/reliability.md {what} ({CHECK_ENV}=1): {REGENERATE}", red=True, bold=True)
        for line in shown:
            _say(session, line)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return
    DOC.write_text(text, encoding="utf-8")
    _say(session, f"wrote {DOC.relative_to(HERE.parent.parent)}", green=True)
