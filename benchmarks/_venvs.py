"""Benchmark venvs: each supported Airflow from its pin list, this provider's wheel, and the
providers it is compared with (installed here only, never as this project's dependencies).

``bench_venv(uv, version, wheel)`` gives ``~/.cache/airflow-provider-zuora/venvs/bench-<v>-<digest>``
(the cache ``make matrix`` keeps its venvs in, see ``.ci/matrix.py``, whose ``sh`` and ``VENVS``
are used here): made once per pin list, ``pyproject.toml``, the list of compared providers and
the interpreter; the wheel built from the checkout by ``build_wheel`` is reinstalled into it on
every run (no dependencies: those are the venv's), so the figures are of the working tree.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
#: Installed beside the provider in the benchmark venvs only; versions resolved against the pin
#: list (constraints), so each is the newest release that goes with that Airflow.
COMPARED = ["apache-airflow-providers-dbt-cloud", "apache-airflow-providers-http"]


def _matrix() -> ModuleType:
    """``.ci/matrix.py`` as a module (it is a script in a folder that is not a package)."""
    if "_zuora_matrix" in sys.modules:
        return sys.modules["_zuora_matrix"]
    spec = importlib.util.spec_from_file_location("_zuora_matrix", REPO / ".ci" / "matrix.py")
    if spec is None or spec.loader is None:
        raise RuntimeError("cannot load .ci/matrix.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["_zuora_matrix"] = module
    spec.loader.exec_module(module)
    return module


def venvs_dir() -> Path:
    return Path(_matrix().VENVS)


def sh(cmd: list[str]) -> str:
    return str(_matrix().sh(cmd))


def supported_versions() -> list[str]:
    """Every Airflow with a pin list in ``constraints/``, oldest first."""
    found = [p.name.split("-")[1] for p in (REPO / "constraints").glob("airflow-*-py3.11.txt")]
    return sorted(found, key=lambda v: tuple(int(x) for x in v.split(".")))


def default_uv() -> str:
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.exists() else shutil.which("uv")
    if not found:
        raise SystemExit("uv not found: pass --uv (make bench passes .venv/bin/uv)")
    return found


def build_wheel(uv: str, out: Path) -> Path:
    """The provider's wheel, built from the checkout as it is now, into ``out``."""
    subprocess.run([uv, "build", "-q", "--wheel", "--out-dir", str(out), str(REPO)], check=True)
    (wheel,) = out.glob("airflow_provider_zuora-*.whl")
    return wheel


def bench_venv(uv: str, version: str, wheel: Path, log: bool = True) -> Path:
    """The benchmark venv of ``version`` (made if missing or stale), with ``wheel`` installed."""
    pins = REPO / "constraints" / f"airflow-{version}-py3.11.txt"
    inputs = b"\0".join(
        [
            pins.read_bytes(),
            (REPO / "pyproject.toml").read_bytes(),
            repr(COMPARED).encode(),
            sys.version.encode(),
        ]
    )
    digest = hashlib.sha256(inputs).hexdigest()[:16]
    cache = venvs_dir()
    venv = cache / f"bench-{version}-{digest}"
    python = str(venv / "bin" / "python")
    stamp = venv / ".inputs"
    if stamp.exists() and stamp.read_text() == digest:
        sh([uv, "pip", "install", "--python", python, "--compile-bytecode", "-q", "--no-deps",
            "--reinstall-package", "airflow-provider-zuora", str(wheel)])  # fmt: skip
        return venv
    if log:
        print(f"making {venv} (Airflow {version}, the wheel, {', '.join(COMPARED)})", flush=True)
    for stale in cache.glob(f"bench-{version}-*"):  # venvs of earlier inputs
        shutil.rmtree(stale, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    sh([sys.executable, "-m", "venv", str(venv)])
    sh([uv, "pip", "install", "--python", python, "--compile-bytecode", "-q", "-c", str(pins),
        f"apache-airflow=={version}", str(wheel), *COMPARED])  # fmt: skip
    stamp.write_text(digest)
    return venv
