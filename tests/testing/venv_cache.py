"""Venvs the tests build once and keep outside the checkout, keyed by a digest of what went in.

Like ``.ci/matrix.py``: in ``~/.cache/airflow-provider-zuora/venvs`` (``$ZUORA_MATRIX_VENVS``
to move it), named ``<name>-<digest>``; a venv whose ``.inputs`` stamp holds the digest is
complete and reused (a fresh clone with the same inputs reuses it too). Built in place, under a
lock, so two pytest processes never build the same one at once; venvs of earlier inputs are
removed. With uv (``uv venv`` + ``uv pip install --compile-bytecode``) when it is installed, else
``python -m venv`` and pip.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

VENVS = Path(
    os.environ.get("ZUORA_MATRIX_VENVS", Path.home() / ".cache" / "airflow-provider-zuora" / "venvs")
)


class VenvBuildError(RuntimeError):
    """A venv could not be built (typically: the package index is not reachable)."""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> None:
    """Under CI a test whose venv cannot be built fails; elsewhere it is skipped, saying why."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(f"SKIPPED, NOT TESTED: {reason}")


def find_uv() -> str | None:
    if importlib.util.find_spec("uv") is not None:
        from uv import find_uv_bin

        try:
            return str(find_uv_bin())
        except FileNotFoundError:
            pass
    return shutil.which("uv")


def _run(cmd: Sequence[str], timeout: float) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    try:
        proc = subprocess.run(
            list(cmd), capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        raise VenvBuildError(f"{' '.join(cmd[:4])} ... timed out after {timeout:.0f} s") from None
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise VenvBuildError(f"{' '.join(cmd[:5])} ... exited {proc.returncode}:\n{tail}")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def cached_venv(name: str, inputs: bytes, install_args: Sequence[str], timeout: float = 600) -> Path:
    """The venv ``<name>-<digest>`` with ``pip install <install_args>`` done in it; built if missing.

    ``inputs`` is everything the result depends on besides the interpreter (a requirements file's
    text, a pin list): the digest covers it, this Python's version and its base installation.
    Raises :class:`VenvBuildError` when the build fails (a half-built venv is removed).
    """
    key = inputs + f"\0{sys.version}\0{sys.base_prefix}\0{list(install_args)}".encode()
    digest = hashlib.sha256(key).hexdigest()[:16]
    venv = VENVS / f"{name}-{digest}"
    stamp = venv / ".inputs"
    with _locked(VENVS / f".{name}.lock"):
        if stamp.is_file() and stamp.read_text() == digest and python_of(venv).exists():
            return venv
        for stale in VENVS.glob(f"{name}-*"):  # earlier inputs, or a build that was killed
            shutil.rmtree(stale, ignore_errors=True)
        uv = find_uv()
        try:
            if uv:
                _run([uv, "venv", "-q", "--python", sys.executable, str(venv)], timeout=120)
                _run(
                    [uv, "pip", "install", "-q", "--compile-bytecode", "--python", str(python_of(venv)),
                     *install_args],
                    timeout=timeout,
                )  # fmt: skip
            else:
                _run([sys.executable, "-m", "venv", str(venv)], timeout=120)
                _run(
                    [str(python_of(venv)), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                     *install_args],
                    timeout=timeout,
                )  # fmt: skip
        except VenvBuildError:
            shutil.rmtree(venv, ignore_errors=True)
            raise
        stamp.write_text(digest)
    return venv


def install_into(venv: Path, install_args: Sequence[str], timeout: float = 600) -> None:
    """``pip install <install_args>`` into an existing venv (uv when it is installed)."""
    uv = find_uv()
    if uv:
        cmd = [uv, "pip", "install", "-q", "--compile-bytecode", "--python", str(python_of(venv))]
    else:
        cmd = [str(python_of(venv)), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run([*cmd, *install_args], timeout=timeout)
