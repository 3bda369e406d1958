# Ratedesk: `make run` (demo on SQLite) and `make test` (the whole suite; PostgreSQL when DATABASE_URL is set).
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Find a Python 3.12+ interpreter: python3.13, python3.12, or one under `pyenv root`.
PYTHON ?= $(shell \
  for p in python3.13 python3.12; do \
    if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then \
      command -v $$p; exit 0; fi; done; \
  root=$$(pyenv root 2>/dev/null); \
  if [ -n "$$root" ]; then \
    for p in $$(ls -d $$root/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV); do \
      if $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then echo $$p; exit 0; fi; done; fi)

VENV := .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never
# The demo and dev server run on the development settings, explicitly (serving processes default to production).
DEV := DJANGO_SETTINGS_MODULE=config.settings.dev
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help install run serve static migrate seed test test-fast lint mypy bench soak worker beat check-python clean screenshots

help:
	@echo "make run     - install, migrate SQLite, seed demo data, serve on http://$(HOST):$(PORT)"
	@echo "make test    - the whole test suite (PostgreSQL when DATABASE_URL is set)"
	@echo "make lint    - ruff (lint + format check), import-linter (app boundaries), mypy (pure modules)"
	@echo "make bench   - performance figures (PostgreSQL from DATABASE_URL)"
	@echo "make screenshots - the README's screenshots (docs/screenshots/), from the browser tests"
	@echo "make soak    - production shape under load with faults (SOAK_ARGS=\"--rate 6000 --seconds 60 --kill-worker-at 20\")"
	@echo "make worker  - a Celery worker (needs CELERY_BROKER_URL), make beat - the scheduler"

check-python:
	@if [ -z "$(PYTHON)" ]; then \
	  echo "Ratedesk needs Python 3.12 or newer and none was found." >&2; \
	  echo "Install one: 'apt-get install python3.12', or 'pyenv install 3.12', or set PYTHON=/path/to/python3.12." >&2; \
	  exit 1; fi

.tools/bin/uv: | check-python
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv

$(VENV)/.installed: pyproject.toml uv.lock | check-python $(if $(findstring .tools,$(UV)),.tools/bin/uv)
	$(UV) sync --frozen --python "$(PYTHON)"
	@touch $@

install: $(VENV)/.installed

migrate: install
	$(DEV) $(PY) manage.py migrate --noinput

seed: migrate
	$(DEV) $(PY) manage.py seed_demo

static: install
	$(DEV) $(PY) manage.py collectstatic --noinput --verbosity 0

run: seed static
	$(DEV) $(PY) manage.py demo_users --url http://$(HOST):$(PORT)/
	$(DEV) $(PY) manage.py runserver $(HOST):$(PORT)

serve: install static
	$(DEV) $(PY) manage.py runserver $(HOST):$(PORT)

test: install
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# Pure modules checked by mypy (no ORM inside): pricing, periods, money, the rating package's steps.
MYPY_FILES ?= apps/catalog/pricing.py apps/contracts/periods.py apps/core/money.py apps/core/locks.py apps/usage/rating/

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(MAKE) --no-print-directory mypy

mypy: install
	$(VENV)/bin/mypy $(MYPY_FILES)

test-fast: install
	$(VENV)/bin/pytest -m "not e2e" -x $(PYTEST_ARGS)

bench: install
	$(PY) -m benchmarks $(BENCH_ARGS)

worker: install
	$(VENV)/bin/celery -A config worker -l info

beat: install
	$(VENV)/bin/celery -A config beat -l info

clean:
	rm -rf $(VENV) .tools db.sqlite3 staticfiles .pytest_cache

# The README's screenshots (docs/screenshots/*.png), taken by the browser tests on the demo data.
screenshots: install
	RATEDESK_SCREENSHOTS=docs/screenshots RATEDESK_REQUIRE_BROWSER=1 $(VENV)/bin/pytest tests/e2e/test_screenshots.py -q -p no:cacheprovider

soak: install
	$(PY) -m benchmarks.soak $(SOAK_ARGS)
