"""Rebuild the pin lists (``make pins``): one per tested Airflow release, for Python 3.11.

Each list is ``uv pip compile`` of this project's dependencies and test extras with that
``apache-airflow`` release, preferring the versions already in the list (so a rebuild moves only
what has to move) and forcing the few packages whose newest releases break that Airflow. Why each
forced pin is there:

- fastapi / cadwyn / svcs: a fresh resolve of 3.0 and 3.2 picks fastapi 0.165, cadwyn 9 and
  svcs 26, under which their api-server and ``dag.test()`` fail ("TITerminalStatePayload needs a
  discriminator field"; "Input should be a valid dictionary" from the execution API).
- starlette: the one that goes with 3.0's fastapi.
- pyjwt: 3.0's token signer passes a non-string issuer, which PyJWT 2.11+ refuses ("Issuer (iss)
  must be a string"): every api-server request with ``simple_auth_manager_all_admins`` fails.

Usage: ``python constraints/pins.py UV [VERSION ...]`` (default: every version below).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PYTHON = "3.11"
FORCED: dict[str, list[str]] = {
    "3.0.6": ["fastapi==0.117.1", "cadwyn==5.4.6", "svcs==25.1.0", "starlette==0.48.0", "pyjwt==2.10.1"],
    "3.1.8": [],
    "3.2.2": ["fastapi==0.136.3", "cadwyn==7.0.0", "svcs==25.1.0"],
    "3.3.2": [],
}
#: Packages the matrix installs beside Airflow for tests of an optional path (also pinned here):
#: Airflow 3.0 shows the hook's connection-form fields only when wtforms is installed.
TEST_EXTRAS: dict[str, list[str]] = {"3.0.6": ["wtforms"]}
HEADER = """\
# Pin list for apache-airflow {version} on Python {python}: uv pip compile of this project's
# dependencies and test extras (made and checked by `make pins`; see constraints/pins.py for the
# few pins forced on purpose). The tests install with it: `make test`, `make matrix`.
"""


def pin_file(version: str) -> Path:
    return HERE / f"airflow-{version}-py{PYTHON}.txt"


def compile_pins(uv: str, version: str) -> None:
    out = pin_file(version)
    with tempfile.TemporaryDirectory() as tmp:
        extra = Path(tmp) / "airflow.in"
        wanted = [f"apache-airflow=={version}", *FORCED[version], *TEST_EXTRAS.get(version, [])]
        extra.write_text("\n".join(wanted) + "\n")
        compiled = Path(tmp) / "pins.txt"
        if out.exists():  # uv prefers the versions already in its output file
            compiled.write_text(out.read_text())
        subprocess.run(
            [uv, "pip", "compile", "-q", "--python-version", PYTHON, "--no-header", "--no-annotate",
             "--extra", "test", str(REPO / "pyproject.toml"), str(extra), "-o", str(compiled)],
            check=True,
        )  # fmt: skip
        pins = [line for line in compiled.read_text().splitlines() if line and not line.startswith("#")]
    out.write_text(HEADER.format(version=version, python=PYTHON) + "\n".join(pins) + "\n")
    print(f"{out.relative_to(REPO)}: {len(pins)} pins")  # noqa: T201


def main() -> None:
    uv, *versions = sys.argv[1:]
    for version in versions or list(FORCED):
        compile_pins(uv, version)


if __name__ == "__main__":
    main()
