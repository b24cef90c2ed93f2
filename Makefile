# Every target sets up .venv when missing (idempotent and quick once done).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
BASE_STAMP := $(VENV)/.stamp-base
DEV_STAMP := $(VENV)/.stamp-dev
PYTEST := $(PY) -m pytest
AIRFLOW_VENV := .venv-airflow
AIRFLOW_PY := $(AIRFLOW_VENV)/bin/python
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.stamp
# The JVM jar cache (jvm/pom.xml's sets); pinpipe reads the same PINPIPE_JARS_DIR.
JARS_DIR ?= $(or $(PINPIPE_JARS_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/pinpipe/jars)

.PHONY: help venv venv-dev os-packages jars demo test test-fast test-chaos bench lint format airflow-test clean

help:
	@echo "make demo       set up .venv and run the whole pipeline on embedded defaults"
	@echo "make test       set up everything the tests need (OS packages as root, .venv, jars) and run every test"
	@echo "make jars       copy the JVM jars of jvm/pom.xml into $(JARS_DIR) (once; quick when done)"
	@echo "make test-fast  the quick inner-loop tests (no slow or server-starting ones)"
	@echo "make test-chaos the Kafka chaos tests alone"
	@echo "make airflow-test  the DAGs under real Airflow 3, in its own .venv-airflow"
	@echo "make bench      run bench/ and refresh docs/PERFORMANCE.md"
	@echo "make lint       ruff check + format check, mypy, the dead-code check (vulture)"

# Installs compile bytecode up front: where PYTHONDONTWRITEBYTECODE is set (CI machines, containers)
# Python would otherwise recompile every module of every process it starts — measured: `pinpipe
# --help` 0.61 -> 0.27 s, importing pyspark + duckdb + fastapi + deltalake 1.94 -> 0.72 s.
UV_INSTALL = $(UV) pip install -q --compile-bytecode

$(UV):
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check uv

$(BASE_STAMP): pyproject.toml | $(UV)
	$(UV_INSTALL) -p $(PY) -e .
	@touch $@

$(DEV_STAMP): pyproject.toml | $(UV)
	$(UV_INSTALL) -p $(PY) -e '.[dev,spark]'
	@touch $@ $(BASE_STAMP)

venv: $(BASE_STAMP)
venv-dev: $(DEV_STAMP)

demo: $(BASE_STAMP)
	$(VENV)/bin/pinpipe demo $(ARGS)

os-packages:
	@bash .ci/os-packages.sh

jars:
	@python3 jvm/fetch.py --dir "$(JARS_DIR)"

test: os-packages jars $(DEV_STAMP)
	$(MAKE) lint
	PINPIPE_JARS_DIR="$(JARS_DIR)" $(PYTEST) --durations=40
	$(MAKE) airflow-test

# The Kafka chaos tests alone (they are also part of `test`).
test-chaos: jars $(DEV_STAMP)
	PINPIPE_JARS_DIR="$(JARS_DIR)" $(PYTEST) -m kafka_chaos

test-fast: $(DEV_STAMP)
	$(PYTEST) -m "not slow and not services and not spark" -q

# Airflow lives in its own venv (it caps fastapi below pinpipe's pin); its tests drive pinpipe's .venv.
$(AIRFLOW_STAMP): requirements-airflow.txt | $(UV)
	@test -x $(AIRFLOW_PY) || $(UV) venv -q $(AIRFLOW_VENV) -p $(PYTHON)
	$(UV_INSTALL) -p $(AIRFLOW_PY) -r requirements-airflow.txt
	@touch $@

airflow-test: $(AIRFLOW_STAMP) $(BASE_STAMP)
	$(AIRFLOW_PY) -m pytest tests/airflow -p no:cacheprovider --confcutdir=tests/airflow \
		--override-ini addopts="-ra --strict-markers" --override-ini timeout=1500

bench: jars $(DEV_STAMP)
	PINPIPE_JARS_DIR="$(JARS_DIR)" $(PY) bench/run.py $(ARGS)

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check src tests bench dags
	$(VENV)/bin/ruff format --check src tests bench dags
	$(VENV)/bin/mypy
	$(VENV)/bin/vulture

format: $(DEV_STAMP)
	$(VENV)/bin/ruff check --fix src tests bench dags
	$(VENV)/bin/ruff format src tests bench dags

clean:
	rm -rf .pinpipe .pytest_cache bench/results/*.tmp
