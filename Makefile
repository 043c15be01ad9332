# The two commands: `make demo` and `make test`. Everything else is for maintainers and CI.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed
PYTEST := $(BIN)/python -m pytest
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: install demo test test-postgres test-browser matrix lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

install: $(STAMP)

## demo: install, migrate, create the demo logins and data, serve on 127.0.0.1:$(PORT) with a
## background worker (the database backend's db_worker) beside it; Ctrl-C stops both.
# DEBUG=1: the example project's DEBUG is off by default, and the sandbox needs it on (E010).
demo: install
	cd example_project && DEBUG=1 PORT=$(PORT) ../$(BIN)/python manage.py migrate --noinput
	cd example_project && DEBUG=1 PORT=$(PORT) ../$(BIN)/python manage.py demo_setup
	cd example_project && { DEBUG=1 PORT=$(PORT) ../$(BIN)/python manage.py db_worker --no-reload --interval 0.5 & worker=$$!; trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; DEBUG=1 PORT=$(PORT) ../$(BIN)/python manage.py runserver 127.0.0.1:$(PORT); }

## test: the whole suite (browser tests excepted: see test-browser) with a coverage report
test: install
	$(PYTEST) -m "not browser" --cov --cov-report=term

## test-postgres: the same suite on PostgreSQL (concurrency tests included)
test-postgres: install
	DATABASE_URL=$(POSTGRES_URL) $(PYTEST) -m "not browser" --cov --cov-report=term

## test-browser: Playwright driving the system's Chromium (/usr/bin/chromium)
test-browser: install
	$(PYTEST) -m browser -p no:randomly

## matrix: the suite on every supported Django (noxfile.py): 5.2 + Python 3.11, 6.0 + 3.12, and
## 6.1 + 3.13 on PostgreSQL; warnings are errors. The Pythons come from PATH or pyenv.
matrix: install
	POSTGRES_URL=$(POSTGRES_URL) $(BIN)/nox

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy nxwa_onboarding tests example_project benchmarks

bench: install
	DATABASE_URL=$(POSTGRES_URL) $(BIN)/python benchmarks/run.py
	DATABASE_URL=$(POSTGRES_URL) $(BIN)/python benchmarks/follow.py

clean:
	rm -rf $(VENV) .nox build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .coverage test-output
