"""What every ``bench_*.py`` shares with ``run_all.py``: markdown tables, target verdicts, a JSON result.

A script makes one ``Report``, prints its tables and verdicts through it (so a run alone shows
the same as ``make bench``) and ends with ``report.finish(args.json)``: with ``--json PATH`` the
tables, notes and verdicts are also written there for ``run_all.py`` to put in ``RESULTS.md``.
The exit status is 0 when every target was met, 1 when one was not (the figures say why).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any


def add_json_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", metavar="PATH", help="also write the tables and verdicts there (run_all.py)"
    )


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[int] = ()) -> str:
    """A markdown table, padded to line up in a terminal too; ``right``: columns aligned right."""
    cells = [[str(c) for c in header], *[[str(c).replace("|", "/") for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        padded = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 1) + (":" if i in right else "-") for i, w in enumerate(widths)) + "|"
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


class Report:
    """One script's tables, notes and target verdicts."""

    def __init__(self, name: str, title: str) -> None:
        self.name, self.title = name, title
        self.started = time.monotonic()
        self.notes: list[str] = []
        self.tables: list[dict[str, str]] = []
        self.targets: list[dict[str, Any]] = []

    def note(self, text: str, *, show: bool = True) -> None:
        """A line of method or context (how it was measured, what a figure means)."""
        self.notes.append(text)
        if show:
            print(text, flush=True)

    def table(
        self, caption: str, header: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[int] = ()
    ) -> None:
        text = markdown_table(header, rows, right)
        self.tables.append({"caption": caption, "markdown": text})
        print(f"\n{caption}\n{text}", flush=True)

    def target(self, what: str, met: bool, figures: str) -> bool:
        """Print ``target <what>: met (<figures>)`` or ``target <what>: not met: <figures>``."""
        self.targets.append({"what": what, "met": bool(met), "figures": figures})
        verdict = f"met ({figures})" if met else f"not met: {figures}"
        print(f"target {what}: {verdict}", flush=True)
        return met

    def finish(self, json_path: str | None) -> int:
        seconds = time.monotonic() - self.started
        if json_path:
            doc = {
                "name": self.name,
                "title": self.title,
                "notes": self.notes,
                "tables": self.tables,
                "targets": self.targets,
                "seconds": seconds,
            }
            Path(json_path).write_text(json.dumps(doc, indent=1))
        missed = [t["what"] for t in self.targets if not t["met"]]
        tail = f"; not met: {'; '.join(missed)}" if missed else ""
        met = len(self.targets) - len(missed)
        print(f"\n{self.name}: {met} of {len(self.targets)} targets met in {seconds:.0f} s{tail}", flush=True)
        return 1 if missed else 0


def pct(x: float, digits: int = 1) -> str:
    return f"{x:.{digits}%}"


@contextlib.contextmanager
def logs_to(path: Path) -> Iterator[None]:
    """The operator and sensor log a few lines per run (Airflow's structlog, straight to the file
    descriptors): send fds 1 and 2 to ``path`` meanwhile; progress lines go to the real stdout."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
