# The two commands: `make demo` and `make test`. Both build .venv from nothing but Python.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
# Every tested Airflow release (each has a pin list in constraints/); the newest is the default.
AIRFLOW_VERSIONS := 3.0.6 3.1.8 3.2.2 3.3.2
AIRFLOW_DEFAULT := 3.3.2
AIRFLOW_OLDER := 3.0.6 3.1.8 3.2.2
PINS := constraints/airflow-$(AIRFLOW_DEFAULT)-py3.11.txt
STAMP := $(VENV)/.installed

# An isolated Airflow home inside the repo (git-ignored), never ~/airflow.
export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/example_dags
export AIRFLOW__CORE__UNIT_TEST_MODE := False

.PHONY: all install test lint typecheck pytest unit matrix demo bench dist pins clean \
	airflow airflow-prod airflow-stop browser reliability

all: test

$(STAMP): pyproject.toml $(PINS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/python -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"
	$(VENV)/bin/uv pip install --python $(PY) --compile-bytecode -q -c $(PINS) -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# Debian's chromium for the connection-form test in a real browser (tests/hooks/test_form_browser.py),
# installed when missing and this runs as root; otherwise that test fails under CI=true, skips elsewhere.
browser:
	@command -v chromium >/dev/null 2>&1 || { test "$$(id -u)" = 0 && command -v apt-get >/dev/null && \
	  { echo "Installing Debian's chromium for the browser test..."; \
	    export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q chromium chromium-driver >/dev/null || \
	    { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; }; }; } || \
	  echo "WARNING: chromium is missing and cannot be installed here: the browser test will not run."

# ZUORA_CHECK_RELIABILITY: fail when the exact figures of docs/reliability.md differ from the run's.
pytest: $(STAMP) browser
	ZUORA_CHECK_RELIABILITY=1 $(PY) -m pytest --durations=20

# The whole suite on the default Airflow (editable install), then the wheel on every older one.
test: lint typecheck pytest matrix

# The fast loop: mocked and emulator tests on the default Airflow (no DAG runs, no Airflow processes).
unit: $(STAMP)
	ZUORA_CHECK_RELIABILITY=1 $(PY) -m pytest -q -m "not dag and not stack and not packaging and not soak"

# Regenerate docs/reliability.md: the fault matrix, the bad inputs and the secrets sweep.
reliability: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests/reliability
	$(PY) -m tests.readme_blocks --write

# The built wheel on each older Airflow: providers get, the demo, the test suite (the tests that
# start Airflow's own processes on the oldest only; the newest runs them in `make pytest`).
matrix: $(STAMP)
	$(PY) .ci/matrix.py --uv $(VENV)/bin/uv --stack $(firstword $(AIRFLOW_OLDER)) $(AIRFLOW_OLDER)

demo: $(STAMP)
	$(PY) -m airflow_provider_zuora.testing.demo

# A running Airflow with the emulator and the example DAGs, for people (see tests/stack/up.py):
# the UI on 127.0.0.1:$(AIRFLOW_PORT); Ctrl-C or `make airflow-stop` stops it.
AIRFLOW_PORT ?= 8080
AIRFLOW_UP_HOME ?= $(CURDIR)/.airflow-up
airflow: $(STAMP)
	@$(PY) -m tests.stack.up --port $(AIRFLOW_PORT) --home $(AIRFLOW_UP_HOME)

# The same in production's topology: PostgreSQL, CeleryExecutor on Redis, 2 workers, 2 triggerers.
airflow-prod: $(STAMP)
	@$(PY) -m tests.stack.up --prod --port $(AIRFLOW_PORT) --home $(AIRFLOW_UP_HOME)

airflow-stop: $(STAMP)
	@$(PY) -m tests.stack.up --stop --home $(AIRFLOW_UP_HOME)

# Every benchmark, side by side in one run; writes benchmarks/RESULTS.md (benchmarks/run_all.py).
# BENCH_ARGS: say --only bench_import, or --quick (both write to a temporary file, not RESULTS.md).
BENCH_ARGS ?=
bench: $(STAMP)
	$(PY) benchmarks/run_all.py --uv $(VENV)/bin/uv $(BENCH_ARGS)
	$(PY) -m tests.readme_blocks --write

# The sdist, then the wheel built from it (as pip would), checked as PyPI would render them.
dist: $(STAMP)
	rm -rf dist
	$(PY) -m build --installer uv --outdir dist .
	$(PY) -m twine check --strict dist/*

# Rebuild every pin list from a fresh resolve (preferring today's pins; see constraints/pins.py).
pins: $(STAMP)
	$(PY) constraints/pins.py $(VENV)/bin/uv $(AIRFLOW_VERSIONS)

clean:
	rm -rf $(VENV) .airflow .airflow-up .matrix dist .pytest_cache .mypy_cache .ruff_cache
