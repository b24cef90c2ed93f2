# Every target sets up .venv when missing (idempotent and quick once done).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
BASE_STAMP := $(VENV)/.stamp-base
DEV_STAMP := $(VENV)/.stamp-dev
PYTEST := $(PY) -m pytest

.PHONY: help venv venv-dev demo test test-fast bench lint format airflow-test clean

help:
	@echo "make demo       set up .venv and run the whole pipeline on embedded defaults"
	@echo "make test       set up .venv (with dev + spark extras) and run every test"
	@echo "make test-fast  the quick inner-loop tests (no slow or server-starting ones)"
	@echo "make bench      run bench/ and refresh docs/PERFORMANCE.md"
	@echo "make lint       ruff check + format check"

$(UV):
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check uv

$(BASE_STAMP): pyproject.toml | $(UV)
	$(UV) pip install -q -p $(PY) -e .
	@touch $@

$(DEV_STAMP): pyproject.toml | $(UV)
	$(UV) pip install -q -p $(PY) -e '.[dev,spark]'
	@touch $@ $(BASE_STAMP)

venv: $(BASE_STAMP)
venv-dev: $(DEV_STAMP)

demo: $(BASE_STAMP)
	$(VENV)/bin/pinpipe demo $(ARGS)

test: $(DEV_STAMP)
	$(PYTEST)

test-fast: $(DEV_STAMP)
	$(PYTEST) -m "not slow and not services and not spark" -q

bench: $(DEV_STAMP)
	$(PY) bench/run.py $(ARGS)

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

format: $(DEV_STAMP)
	$(VENV)/bin/ruff check --fix src tests bench
	$(VENV)/bin/ruff format src tests bench

clean:
	rm -rf .pinpipe .pytest_cache bench/results/*.tmp
