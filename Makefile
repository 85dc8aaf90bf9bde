# The two commands: `make demo` and `make test`. Both build .venv from nothing but Python.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
PINS := constraints/airflow-3.3.2-py3.11.txt
STAMP := $(VENV)/.installed

# An isolated Airflow home inside the repo (git-ignored), never ~/airflow.
export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/example_dags
export AIRFLOW__CORE__UNIT_TEST_MODE := False

.PHONY: all install test lint typecheck pytest demo bench dist pins clean

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

pytest: $(STAMP)
	$(PY) -m pytest

test: lint typecheck pytest

demo: $(STAMP)
	$(PY) -m airflow_provider_zuora.testing.demo

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# The sdist, then the wheel built from it (as pip would), checked as PyPI would render them.
dist: $(STAMP)
	rm -rf dist
	$(PY) -m build --installer uv --outdir dist .
	$(PY) -m twine check --strict dist/*

# Rebuild the pin list from a fresh resolve of the current pyproject.
pins:
	rm -rf .venv-pins && $(PYTHON) -m venv .venv-pins && .venv-pins/bin/pip install -q "uv==$(UV_VERSION)"
	.venv-pins/bin/uv pip install --python .venv-pins/bin/python -q 'apache-airflow==3.3.2' -e '.[test]'
	{ echo "# Pin list for apache-airflow 3.3.2 on Python 3.11, made from a working resolve (uv pip freeze)."; \
	  echo "# Every install in this repo uses it (see Makefile). Regenerate with: make pins"; \
	  .venv-pins/bin/uv pip freeze --python .venv-pins/bin/python --exclude-editable | grep -vE '^(pip|setuptools|uv)=='; } > $(PINS)
	rm -rf .venv-pins

clean:
	rm -rf $(VENV) .airflow .pytest_cache .mypy_cache .ruff_cache
