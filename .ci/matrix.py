"""``make matrix``: the provider as users get it (the built wheel) on each older Airflow release.

For each version: a venv with that Airflow from its pin list (kept between runs, and between
clones, while the pin list and ``pyproject.toml`` are unchanged: see ``venv_for``), the wheel installed into
it (not editable), then ``airflow providers get``, the demo (the example DAG end to end against
the emulator) and the test suite, run from the unpacked sdist with the package directory removed,
so every import of ``airflow_provider_zuora`` is the installed wheel. The tests that start real
Airflow components (``-m stack``) run on the versions in ``--stack``. One summary line per
version, and a table at the end; exit status 1 if any step failed.

Usage: ``python .ci/matrix.py --uv UV [--stack 3.0.6] VERSION [VERSION ...]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "constraints"))
from pins import TEST_EXTRAS  # noqa: E402 (the pin lists' own script: one list of test extras)

WORK = REPO / ".matrix"
VENVS = Path(
    os.environ.get("ZUORA_MATRIX_VENVS", Path.home() / ".cache" / "airflow-provider-zuora" / "venvs")
)


def sh(
    cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None, log: Path | None = None
) -> str:
    """Run ``cmd``; its output (also written to ``log``); raise with the tail when it fails."""
    out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    text = out.stdout + out.stderr
    if log is not None:
        log.write_text(text)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... exited {out.returncode}:\n{text[-4000:]}")
    return text


def build(uv: str) -> tuple[Path, Path]:
    """The sdist, and the wheel built from it (as pip builds it), in ``.matrix/dist``."""
    dist = WORK / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    sh([sys.executable, "-m", "build", "--installer", "uv", "--outdir", str(dist), str(REPO)])
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    return sdist, wheel


def venv_for(uv: str, version: str, pins: Path) -> Path:
    """A venv with this Airflow and the test extras, made once per pin list and ``pyproject.toml``
    and kept in ``VENVS`` (outside the checkout, so a fresh clone with the same inputs reuses it);
    ``.matrix/<version>/venv`` links to it."""
    inputs = pins.read_bytes() + (REPO / "pyproject.toml").read_bytes() + repr(TEST_EXTRAS).encode()
    digest = hashlib.sha256(inputs).hexdigest()
    venv = VENVS / f"airflow-{version}-{digest[:16]}"
    link = WORK / version / "venv"
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink() if link.is_symlink() else shutil.rmtree(link)
    link.symlink_to(venv)
    stamp = venv / ".inputs"
    if stamp.exists() and stamp.read_text() == digest:
        return venv
    for stale in VENVS.glob(f"airflow-{version}-*"):  # venvs of earlier inputs
        shutil.rmtree(stale, ignore_errors=True)
    sh([sys.executable, "-m", "venv", str(venv)])
    python = str(venv / "bin" / "python")
    # Everything the wheel needs, from the pin list, plus its test extras.
    extras = TEST_EXTRAS.get(version, [])
    sh([uv, "pip", "install", "--python", python, "--compile-bytecode", "-q", "-c", str(pins),
        f"apache-airflow=={version}", f"{REPO}[test]", *extras])  # fmt: skip
    sh([uv, "pip", "uninstall", "--python", python, "-q", "airflow-provider-zuora"])
    stamp.write_text(digest)
    return venv


def source_tree(sdist: Path, version: str) -> Path:
    """The unpacked sdist (tests, example DAGs, pyproject) without the package itself."""
    src = WORK / version / "src"
    shutil.rmtree(src, ignore_errors=True)
    with tarfile.open(sdist) as tar:
        tar.extractall(WORK / version / "unpacked", filter="data")
    (top,) = (WORK / version / "unpacked").iterdir()
    shutil.move(str(top), src)
    shutil.rmtree(WORK / version / "unpacked")
    shutil.rmtree(src / "airflow_provider_zuora")
    return src


def check(uv: str, version: str, sdist: Path, wheel: Path, stack: bool) -> dict[str, str]:
    started = time.monotonic()
    pins = REPO / "constraints" / f"airflow-{version}-py3.11.txt"
    venv = venv_for(uv, version, pins)
    python = str(venv / "bin" / "python")
    sh([uv, "pip", "install", "--python", python, "--compile-bytecode", "-q", "--no-deps",
        "--reinstall-package", "airflow-provider-zuora", str(wheel)])  # fmt: skip
    src = source_tree(sdist, version)
    home = WORK / version / "home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(src / "example_dags"),
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    result = {"version": version}
    probe = "import airflow_provider_zuora as p, airflow; print('WHERE', p.__file__, airflow.__version__)"
    found = sh([python, "-c", probe], env=env, cwd=src).splitlines()
    where = next(line for line in found if line.startswith("WHERE ")).split()
    if "site-packages" not in where[-2] or where[-1] != version:
        raise RuntimeError(f"not the wheel on Airflow {version}: {where}")
    got = sh(
        [str(venv / "bin" / "airflow"), "providers", "get", "airflow-provider-zuora", "-o", "json"], env=env
    )
    result["providers get"] = "ok" if '"airflow-provider-zuora"' in got else "missing"
    demo = sh([python, "-m", "airflow_provider_zuora.testing.demo"], env=env, cwd=src, log=home / "demo.out")
    result["demo"] = "ok" if "Demo succeeded." in demo else "failed"
    marks = "not packaging and not production and not soak" + ("" if stack else " and not stack")
    pytest = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", marks]
    out = subprocess.run(pytest, env=env, cwd=src, capture_output=True, text=True)
    (home / "pytest.out").write_text(out.stdout + out.stderr)
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    summary = next(
        (line.strip("= ") for line in reversed(lines) if re.search(r"\d+ (passed|failed)", line)), "?"
    )
    result["tests"] = ("" if out.returncode == 0 else "FAILED: ") + summary
    result["stack tests"] = "yes" if stack else "no (oldest and newest only)"
    result["minutes"] = f"{(time.monotonic() - started) / 60:.1f}"
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uv", required=True)
    parser.add_argument("--stack", action="append", default=[], help="versions that also run -m stack")
    parser.add_argument("versions", nargs="+")
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    sdist, wheel = build(args.uv)
    print(f"built {sdist.name} and {wheel.name}", flush=True)  # noqa: T201
    results, ok = [], True
    for version in args.versions:
        try:
            result = check(args.uv, version, sdist, wheel, version in args.stack)
        except RuntimeError as err:
            result = {"version": version, "tests": f"FAILED: {err}"}
        failed = result.get("tests", "").startswith("FAILED")
        failed = failed or result.get("providers get") != "ok" or result.get("demo") != "ok"
        ok = ok and not failed
        print(f"Airflow {version}: " + json.dumps(result), flush=True)  # noqa: T201
        results.append(result)
    keys = ["version", "providers get", "demo", "tests", "stack tests", "minutes"]
    print("\n| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))  # noqa: T201
    for r in results:
        print("| " + " | ".join(str(r.get(k, "-")).replace("|", "/") for k in keys) + " |")  # noqa: T201
    print(f"\nwheel logs: {WORK}/<version>/home/ (demo.out, pytest.out)")  # noqa: T201
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
