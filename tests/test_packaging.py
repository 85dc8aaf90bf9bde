"""The sdist and wheel as users get them: built once with ``python -m build``, then inspected.

The wheel is built from the sdist (``python -m build``'s default, and what pip does with an sdist),
so a file missing from the sdist shows up as a file missing from the wheel too.
"""

from __future__ import annotations

import email.parser
import email.policy
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.message import Message
from pathlib import PurePosixPath

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

import airflow_provider_zuora
from airflow_provider_zuora.get_provider_info import get_provider_info
from tests.helpers import REPO, Dists, build_dists

pytestmark = pytest.mark.packaging

PACKAGE = "airflow_provider_zuora"
DIST_INFO = f"{PACKAGE}-{airflow_provider_zuora.__version__}.dist-info"
URL = "https://github.com/airflow-provider-zuora/airflow-provider-zuora"


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    return build_dists(tmp_path_factory)


def _wheel_names(dists: Dists) -> set[str]:
    with zipfile.ZipFile(dists.wheel) as zf:
        return {name for name in zf.namelist() if not name.endswith("/")}


def _wheel_text(dists: Dists, name: str) -> str:
    with zipfile.ZipFile(dists.wheel) as zf:
        return zf.read(f"{DIST_INFO}/{name}").decode()


def _sdist_names(dists: Dists) -> set[str]:
    """Member paths without the ``name-version/`` root directory."""
    with tarfile.open(dists.sdist) as tf:
        names = {PurePosixPath(m.name) for m in tf.getmembers() if m.isfile()}
    roots = {name.parts[0] for name in names}
    assert roots == {f"{PACKAGE}-{airflow_provider_zuora.__version__}"}, roots
    return {str(PurePosixPath(*name.parts[1:])) for name in names}


def _metadata(dists: Dists) -> Message:
    return email.parser.Parser(policy=email.policy.compat32).parsestr(_wheel_text(dists, "METADATA"))


def _git_files(*paths: str) -> set[str]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout: no list of tracked files to compare with")
    out = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--", *paths],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # Files deleted in the work tree but not yet in the index are not shipped, rightly.
    return {name for name in out.split("\0") if name and (REPO / name).is_file()}


def test_twine_check_strict_passes_on_sdist_and_wheel(dists: Dists) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(dists.sdist), str(dists.wheel)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PASSED") == 2, proc.stdout


def test_file_names_carry_the_package_version(dists: Dists) -> None:
    version = airflow_provider_zuora.__version__
    assert dists.sdist.name == f"{PACKAGE}-{version}.tar.gz"
    assert dists.wheel.name == f"{PACKAGE}-{version}-py3-none-any.whl"


def test_wheel_holds_every_tracked_package_file(dists: Dists) -> None:
    tracked = _git_files(PACKAGE)
    assert {
        f"{PACKAGE}/py.typed",
        f"{PACKAGE}/testing/sample_workflows.json",
        f"{PACKAGE}/testing/pytest_plugin.py",
    } <= tracked
    missing = tracked - _wheel_names(dists)
    assert not missing, sorted(missing)


def test_wheel_holds_nothing_but_the_package_and_its_dist_info(dists: Dists) -> None:
    names = _wheel_names(dists)
    outside = {n for n in names if not n.startswith((f"{PACKAGE}/", f"{DIST_INFO}/"))}
    assert not outside, sorted(outside)
    junk = {n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyo"))}
    assert not junk, sorted(junk)


def test_metadata_version_requirements_urls_and_classifiers(dists: Dists) -> None:
    meta = _metadata(dists)
    assert meta["Name"] == "airflow-provider-zuora"
    assert meta["Version"] == airflow_provider_zuora.__version__
    assert get_provider_info()["versions"] == [meta["Version"]]
    assert meta["Requires-Python"] == ">=3.11"
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta["Description-Content-Type"] == "text/markdown"

    requires = [Requirement(r) for r in meta.get_all("Requires-Dist") or []]
    base = {r.name: r.specifier for r in requires if r.marker is None}
    assert base["apache-airflow"] == SpecifierSet(">=3.0.6,<3.4"), base
    assert base["asgiref"] == SpecifierSet(">=3.7"), base
    test_extra = {r.name: r.specifier for r in requires if r.marker and r.marker.evaluate({"extra": "test"})}
    assert test_extra["build"] == SpecifierSet(">=1.2"), test_extra
    assert test_extra["twine"] == SpecifierSet(">=5"), test_extra

    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    assert urls == {
        "Homepage": URL,
        "Documentation": f"{URL}#readme",
        "Changelog": f"{URL}/blob/main/CHANGELOG.md",
        "Issues": f"{URL}/issues",
    }

    classifiers = set(meta.get_all("Classifier") or [])
    assert {
        "Framework :: Apache Airflow",
        "Framework :: Apache Airflow :: Provider",
        "Programming Language :: Python :: 3.11",
        "Typing :: Typed",
        "Development Status :: 4 - Beta",
    } <= classifiers
    # The SPDX License-Expression is the licence; PEP 639 deprecates License classifiers beside it.
    assert not {c for c in classifiers if c.startswith("License ::")}
    # Only the tested Python.
    assert {c for c in classifiers if c.startswith("Programming Language :: Python ::")} == {
        "Programming Language :: Python :: 3.11"
    }


def test_entry_points_register_the_provider_and_no_pytest_plugin(dists: Dists) -> None:
    lines = [line.strip() for line in _wheel_text(dists, "entry_points.txt").splitlines() if line.strip()]
    assert lines == [
        "[apache_airflow_provider]",
        "provider_info = airflow_provider_zuora.get_provider_info:get_provider_info",
    ]


def test_sdist_holds_project_files_package_tests_and_example_dags(dists: Dists) -> None:
    names = _sdist_names(dists)
    assert {"pyproject.toml", "README.md", "CHANGELOG.md", "PKG-INFO"} <= names
    tracked = _git_files(PACKAGE, "tests", "example_dags", "docs")
    missing = tracked - names
    assert not missing, sorted(missing)
    unwanted = {
        n
        for n in names
        if n.split("/")[0] in {".airflow", ".git", "benchmarks", "constraints", "dist", "build"}
        or n.split("/")[0].startswith(".venv")
        or "__pycache__" in n
        or n.endswith(".pyc")
    }
    assert not unwanted, sorted(unwanted)
