"""The README's "Testing your DAGs offline" example, the way a DAG author meets it.

The built wheel (the same build as tests/test_packaging.py) in a fresh venv (Airflow and pytest
from the pin list; the venv is cached by a digest of the pin list, the wheel reinstalled each
time), an empty project folder holding exactly the README's code blocks (each block's first
line names its file), then ``pytest`` run there with a fresh HOME and TMPDIR and no
``AIRFLOW_*`` variable. The README cannot drift from what works.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO, build_dists
from tests.testing.venv_cache import VenvBuildError, cached_venv, install_into, python_of

pytestmark = pytest.mark.packaging

PINS = REPO / "constraints" / "airflow-3.3.2-py3.11.txt"
SECTION = "## Testing your DAGs offline"
EXAMPLE_FILES = {"pytest.ini", "conftest.py", "dags/billing.py", "test_billing.py"}


def readme_example(readme: Path = REPO / "README.md") -> dict[str, str]:
    """The example project in the README's section: ``{path: content}``, one per fenced block
    whose first line is ``# <path>`` (the file's content is the whole block, that line included)."""
    text = readme.read_text()
    start = text.index(SECTION + "\n")
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end != -1 else len(text)]
    files: dict[str, str] = {}
    for block in re.findall(r"^```[a-z]*\n(.*?)^```$", section, flags=re.S | re.M):
        first = block.splitlines()[0] if block else ""
        named = re.fullmatch(r"# ([\w./-]+\.(?:py|ini|toml|cfg))", first)
        if named:
            assert named[1] not in files, f"two README blocks for {named[1]}"
            files[named[1]] = block
    return files


def test_the_readme_example_is_the_whole_project() -> None:
    files = readme_example()
    assert set(files) == EXAMPLE_FILES
    assert "zuora_airflow_home = throwaway" in files["pytest.ini"]
    assert "RunZuoraWorkflowOperator" in files["dags/billing.py"]
    assert "airflow_provider_zuora.testing.pytest_plugin" in files["conftest.py"]
    assert "zuora_airflow_db" in files["test_billing.py"] and "dag.test()" in files["test_billing.py"]


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with Airflow and pytest from the pin list (cached), the wheel just built installed."""
    wheel = build_dists(tmp_path_factory).wheel
    reqs = ["-c", str(PINS), "apache-airflow", "pytest"]
    try:
        venv = cached_venv("readme-example-airflow-3.3.2", PINS.read_bytes(), reqs)
        # The wheel with its dependencies resolved against the pin list (all already there), and
        # reinstalled: the cached venv never keeps an earlier build.
        install_into(venv, ["-c", str(PINS), "--reinstall-package", "airflow-provider-zuora", str(wheel)])
    except VenvBuildError as exc:
        pytest.fail(f"could not build the venv for the README example: {exc}", pytrace=False)
    return venv


def test_readme_example_passes_in_a_fresh_project_with_the_wheel(wheel_venv: Path, tmp_path: Path) -> None:
    project, home, tmp = tmp_path / "billing-project", tmp_path / "home", tmp_path / "tmp"
    for folder in (project, home, tmp):
        folder.mkdir()
    for name, content in readme_example().items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(content)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "PYTEST", "VIRTUAL_ENV", "PYTHONPATH", "_AIRFLOW"))
    }
    env.update(
        HOME=str(home),  # a stray ~/airflow would land here, and is checked for below
        TMPDIR=str(tmp),  # the throwaway AIRFLOW_HOME is made (and removed) in here
        PATH=f"{wheel_venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
    )

    where = subprocess.run(
        [str(python_of(wheel_venv)), "-c", "import airflow_provider_zuora.testing as t; print(t.__file__)"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    assert "site-packages" in where and not where.startswith(str(REPO)), where  # the wheel, not the checkout

    proc = subprocess.run(
        [str(wheel_venv / "bin" / "pytest")],  # what the author types, in the project folder
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-8000:]
    assert re.search(r"\b1 passed\b", proc.stdout), out[-4000:]
    assert not (home / "airflow").exists(), "the example touched ~/airflow"
    assert not list(tmp.glob("zuora-airflow-home-*")), "the throwaway AIRFLOW_HOME was left behind"
    assert sorted(p.name for p in project.iterdir() if p.name not in {".pytest_cache", "__pycache__"}) == [
        "conftest.py",
        "dags",
        "pytest.ini",
        "test_billing.py",
    ]  # nothing written into the project either (no airflow.cfg, no airflow.db)
