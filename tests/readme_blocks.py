"""The README's Reliability and Performance tables, copied from the files the runs write.

``docs/reliability.md`` is written by the tests in ``tests/reliability/`` and
``benchmarks/RESULTS.md`` by ``make bench``; the README shows their summaries between
``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` markers, never typed by hand. ``make reliability``
and ``make bench`` refresh them (``python -m tests.readme_blocks --write``);
``tests/test_readme_blocks.py`` fails when the README's copy differs from the files'.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
RELIABILITY = REPO / "docs" / "reliability.md"
RESULTS = REPO / "benchmarks" / "RESULTS.md"


def _section(text: str, heading: str) -> str:
    """The body of the ``## heading`` section (up to the next ``##`` heading or marker)."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |^<!-- |\Z)", text, re.S | re.M)
    if match is None:
        raise ValueError(f"no '## {heading}' section")
    return match.group(1).strip()


def reliability_block(reliability: str) -> str:
    """The summary of ``docs/reliability.md``: the exact figures ``make test`` checks."""
    return (
        "Generated from [docs/reliability.md](docs/reliability.md) (the fault matrix, the bad inputs "
        "and the secrets sweep, per case):\n\n" + _section(reliability, "Summary")
    )


def bench_block(results: str) -> str:
    """When and where ``make bench`` ran, and its verdict on every target."""
    written = re.search(r"^Written by .*? on (.+?); wall time ([\d.]+ \w+)", results, re.M)
    if written is None:
        raise ValueError("benchmarks/RESULTS.md has no 'Written by ... on DATE; wall time T.' line")
    # "- 2 cores (CPU), N GiB of memory; Linux-...", "- Python 3.11.7; Airflow 3.3.2 in the project's ..."
    cores, python = _section(results, "Machine").splitlines()[:2]
    targets = _section(results, "Targets").split("\n\n")[0]
    verdicts = re.findall(r"^\|[^|]+\|[^|]+\| (met|\*\*not met\*\*) +\|", targets, re.M)
    met = verdicts.count("met")
    machine_text = f"{cores.lstrip('- ').split('; ')[0]}, {python.lstrip('- ').split(' in the project')[0]}"
    return (
        f"Measured by `make bench` on {written.group(1)} ({written.group(2)}), {machine_text}. "
        f"{met} of {len(verdicts)} targets met. Every table, with medians and ratios side by side: "
        "[benchmarks/RESULTS.md](benchmarks/RESULTS.md).\n\n" + targets
    )


def blocks() -> dict[str, str]:
    return {
        "reliability": reliability_block(RELIABILITY.read_text()),
        "bench": bench_block(RESULTS.read_text()),
    }


def spliced(readme: str, found: dict[str, str]) -> str:
    """``readme`` with each ``NAME`` block replaced by ``found[NAME]``."""
    for name, body in found.items():
        pattern = re.compile(rf"(<!-- {name}:begin[^>]*-->\n)(?:.*?\n)?(<!-- {name}:end -->)", re.S)
        if not pattern.search(readme):
            raise ValueError(f"README.md has no <!-- {name}:begin --> ... <!-- {name}:end --> block")
        readme = pattern.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), readme)
    return readme


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite README.md (default: check it)")
    args = parser.parse_args(argv)
    current = README.read_text()
    wanted = spliced(current, blocks())
    if args.write:
        README.write_text(wanted)
        return 0
    if wanted != current:
        sys.stderr.write("README.md's generated tables are stale: `python -m tests.readme_blocks --write`\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
