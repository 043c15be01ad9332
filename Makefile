# The two commands: `make demo` and `make test`. Everything else is for maintainers and CI.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs
RELEASE_STAMP := $(VENV)/.installed-release
# What the demo runs (the package, its worker, the example project's settings), apart from the
# test and development toolchain: a fresh clone serves sooner.
DEMO_STAMP := $(VENV)/.installed-demo
BENCH_STAMP := $(VENV)/.installed-bench
PYTEST := $(BIN)/python -m pytest
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test
# axe-core (the accessibility engine the browser tests inject), pinned, from the npm registry;
# `npm pack` checks the tarball against the registry's integrity hash. Not committed (MPL-2.0).
AXE_VERSION ?= 4.14.1
AXE_DIR := .cache/axe-core-$(AXE_VERSION)
AXE_JS := $(AXE_DIR)/axe.min.js

.PHONY: install axe demo test test-postgres test-restart test-deploy test-browser test-api test-wheel docs openapi lint-api matrix lint bench check-bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev,api]'
	touch $(STAMP)

# The test install has all of it: then only the stamp is written. Otherwise the package's
# dependencies and the demo's extra (read from pyproject.toml), nothing else, and sooner: not
# the package itself (manage.py runs it from this checkout), a venv without its own pip when
# $(PYTHON)'s pip can install into it (`pip --python`), no byte-compiling of every installed file
# (Python compiles what it imports). `make install` later gives the venv its pip (`venv` on an
# existing venv runs ensurepip) and the package.
DEMO_REQUIREMENTS := $(VENV)/demo-requirements.txt
DEMO_PIP := install --quiet --no-compile -r $(DEMO_REQUIREMENTS)
$(DEMO_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv --without-pip $(VENV)
	$(BIN)/python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
	  print('\n'.join(p['dependencies'] + p['optional-dependencies']['demo']))" > $(DEMO_REQUIREMENTS)
	if [ $(STAMP) -nt pyproject.toml ]; then :; \
	elif $(BIN)/python -m pip --version >/dev/null 2>&1; then $(BIN)/python -m pip $(DEMO_PIP); \
	elif $(PYTHON) -m pip --python $(BIN)/python --version >/dev/null 2>&1; then \
	  $(PYTHON) -m pip --python $(BIN)/python $(DEMO_PIP); \
	else $(BIN)/python -m ensurepip && $(BIN)/python -m pip $(DEMO_PIP); fi
	touch $(DEMO_STAMP)

install: $(STAMP)

# The documentation's and the release's tools, apart from the suite's install.
$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[docs]'
	touch $(DOCS_STAMP)

$(RELEASE_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[release]'
	touch $(RELEASE_STAMP)

# The benchmark's peers (django-allauth), apart from the suite's install.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $(BENCH_STAMP)

$(AXE_JS):
	mkdir -p $(AXE_DIR)
	cd $(AXE_DIR) && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null
	tar -xzf $(AXE_DIR)/axe-core-$(AXE_VERSION).tgz -C $(AXE_DIR) --strip-components=1 package/axe.min.js package/LICENSE
	rm $(AXE_DIR)/axe-core-$(AXE_VERSION).tgz

## axe: fetch axe-core $(AXE_VERSION) for the browser tests' accessibility checks (needs npm)
axe: $(AXE_JS)

## demo: install, migrate, create the demo logins and data, serve on 127.0.0.1:$(PORT) with a
## background worker (the database backend's db_worker) beside it; Ctrl-C stops both.
# DEBUG=1: the example project's DEBUG is off by default, and the sandbox needs it on (E010).
# runserver --skip-checks: migrate has just run the system checks.
demo: $(DEMO_STAMP)
	cd example_project && DEBUG=1 PORT=$(PORT) ../$(BIN)/python manage.py migrate --noinput
	cd example_project && DEBUG=1 PORT=$(PORT) ../$(BIN)/python manage.py demo_setup
	cd example_project && { DEBUG=1 PORT=$(PORT) ../$(BIN)/python manage.py db_worker --no-reload --interval 0.5 & worker=$$!; trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; DEBUG=1 PORT=$(PORT) ../$(BIN)/python manage.py runserver --skip-checks 127.0.0.1:$(PORT); }

## test: the whole suite (browser tests, schemathesis and the PostgreSQL restart excepted: see
## test-browser, test-api, test-restart)
# Under `coverage run`, not pytest-cov's --cov: pytest imports the package's own plugin
# (nxwa_onboarding.testing, an entry point) before --cov would start measuring, so the
# module-level lines of everything it imports counted as missed.
test: install
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest -m "not browser and not schemathesis and not pg_restart and not deploy"
	$(BIN)/coverage report

## test-postgres: the same suite on PostgreSQL (concurrency tests included)
test-postgres: install
	DATABASE_URL=$(POSTGRES_URL) $(PYTEST) -m "not browser and not schemathesis and not pg_restart and not deploy"

## test-restart: PostgreSQL stopped and started under load (calm 503s, no half rows, service
## resumes); it stops the machine's PostgreSQL for a few seconds: run it alone (needs root)
test-restart: install
	DATABASE_URL=$(POSTGRES_URL) $(PYTEST) -m pg_restart -p no:randomly

## test-deploy: docs/howto/deploy.md executed: a startproject host in production shape (DEBUG off,
## PostgreSQL, WhiteNoise, gunicorn, a db_worker, the clock, run by honcho) walks a merchant to
## registered against the sandbox (about a minute)
test-deploy: install
	DATABASE_URL=$(POSTGRES_URL) $(PYTEST) -m deploy -p no:randomly

## test-browser: Playwright driving the system's Chromium (/usr/bin/chromium), axe-core on every page
test-browser: install $(AXE_JS)
	NXWA_AXE_JS=$(AXE_JS) $(PYTEST) -m browser -p no:randomly

## matrix: the suite on every supported Django (noxfile.py): 5.2 + Python 3.11, 6.0 + 3.12, and
## 6.1 + 3.13 on PostgreSQL; warnings are errors. The Pythons come from PATH or pyenv.
## SESSIONS="django6.0 django6.1": only those.
matrix: install
	POSTGRES_URL=$(POSTGRES_URL) $(BIN)/nox $(if $(SESSIONS),-s $(SESSIONS))

## test-api: the JSON API on a live server through clients nobody here wrote: schemathesis (bounded
## examples, and a stateful run that follows the document's links) and a generated Python client
test-api: install
	$(PYTEST) -m schemathesis -p no:randomly

## docs: the documentation site in docs/_build/html (Sphinx, Furo, MyST), warnings as errors; the
## reference tables are generated from the code (docs/_ext). Needs Graphviz's dot (apt-get install graphviz).
docs: $(DOCS_STAMP)
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

## test-wheel: build the sdist and the wheel, twine check --strict, install the wheel in a fresh
## virtual environment and run a host project's checks and the fixture example against it
test-wheel: $(RELEASE_STAMP)
	PYTHON=$(BIN)/python .ci/wheel-check

## openapi: rewrite the committed OpenAPI document from the code (tests/api/test_app.py)
openapi: install
	DJANGO_SETTINGS_MODULE=tests.settings $(BIN)/python -m nxwa_onboarding.api > nxwa_onboarding/api/openapi.json

## lint-api: Redocly (recommended rules) and Spectral (spectral:oas) on the committed OpenAPI
## document, pinned, from the npm registry into .cache/ (needs npm); fails on any error
lint-api:
	.ci/api-lint

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy nxwa_onboarding tests example_project benchmarks harness

## check-bench: the peers section's project (benchmarks/peers/) imports, passes `check` and has
## its migrations, with its extra installed; no load is run (seconds)
check-bench: $(BENCH_STAMP)
	$(PYTEST) -q -p no:randomly tests/project/test_bench_peers.py

bench: $(BENCH_STAMP)
	DATABASE_URL=$(POSTGRES_URL) $(BIN)/python benchmarks/run.py
	DATABASE_URL=$(POSTGRES_URL) $(BIN)/python benchmarks/follow.py
	DATABASE_URL=$(POSTGRES_URL) $(BIN)/python benchmarks/cluster/run.py

clean:
	rm -rf $(VENV) .nox build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .coverage test-output .cache docs/_build docs/_generated
