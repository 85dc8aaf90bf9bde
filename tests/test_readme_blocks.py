"""The README's generated tables: equal to what the runs wrote, and spliced in place of the old copy."""

from __future__ import annotations

import pytest

from tests import readme_blocks

RESULTS = """# Benchmark results

Written by `make bench` (`python benchmarks/run_all.py`) on 2026-12-01 15:26 UTC; wall time 15.2 min. Every.

## Machine

- 2 cores (AMD EPYC), 23.5 GiB of memory; Linux-6.18
- Python 3.11.7; Airflow 3.3.2 in the project's venv (and more)
- load average ...

## Targets

| benchmark | target | verdict | figures |
|---|---|---|---|
| `a` | one | met | 1 |
| `b` | two | **not met** | 2 |

| benchmark | seconds |
|---|---:|

## Import cost
"""


@pytest.mark.packaging  # about the repository (benchmarks/ is not in the sdist the matrix tests from)
def test_the_readme_shows_what_the_runs_wrote() -> None:
    readme = readme_blocks.README.read_text()
    assert readme_blocks.spliced(readme, readme_blocks.blocks()) == readme, (
        "README.md's Reliability or Performance table differs from docs/reliability.md or "
        "benchmarks/RESULTS.md: run `python -m tests.readme_blocks --write`"
    )


def test_bench_block_has_the_run_the_machine_the_count_and_the_targets_table() -> None:
    block = readme_blocks.bench_block(RESULTS)
    assert block.startswith(
        "Measured by `make bench` on 2026-12-01 15:26 UTC (15.2 min), 2 cores (AMD EPYC), "
        "23.5 GiB of memory, Python 3.11.7; Airflow 3.3.2. 1 of 2 targets met."
    )
    assert block.endswith("| `b` | two | **not met** | 2 |") and "seconds" not in block


def test_splicing_replaces_only_the_named_block_and_refuses_a_missing_one() -> None:
    readme = "a\n<!-- x:begin (do not edit) -->\nold\nlines\n<!-- x:end -->\nb\n"
    assert (
        readme_blocks.spliced(readme, {"x": "new"})
        == "a\n<!-- x:begin (do not edit) -->\nnew\n<!-- x:end -->\nb\n"
    )
    empty = "<!-- x:begin -->\n<!-- x:end -->"
    assert readme_blocks.spliced(empty, {"x": "t"}) == "<!-- x:begin -->\nt\n<!-- x:end -->"
    with pytest.raises(ValueError, match="no <!-- y:begin"):
        readme_blocks.spliced(readme, {"y": "new"})
