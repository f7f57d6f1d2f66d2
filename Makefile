PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
ARGS ?=

.PHONY: install system run test test-cluster checks install-test pytest pytest-sqlite bench fuzz lint format clean

## The runtime packages (requirements.txt), what `make run` needs; each step says what it does.
install: $(VENV)/.installed

## The test, lint and benchmark tools too (requirements-test.txt), for the targets below.
install-test: $(VENV)/.installed-test

# One line per package pip fetches instead of nothing for a minute.
PIP_INSTALL = scripts/pip-install $(BIN)/pip

$(VENV)/.installed: requirements.txt setup.py scripts/pip-install
	@echo "Creating $(VENV) (Python: $$($(PYTHON) --version))..."
	$(PYTHON) -m venv $(VENV)
	@echo "Upgrading pip..."
	@$(BIN)/pip install -q --upgrade pip
	@echo "Installing the runtime packages of requirements.txt (about 30 s)..."
	@$(PIP_INSTALL) -r requirements.txt
	@$(BIN)/pip install -q --no-deps -e .
	@touch $@
	@echo "Installed the runtime packages in $(VENV)."

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.txt
	@echo "Installing the test tools of requirements-test.txt..."
	@$(PIP_INSTALL) -r requirements.txt -r requirements-test.txt
	@touch $@
	@echo "Installed the test tools in $(VENV)."

## The Debian packages of the tests: PostgreSQL, Chromium, Redis, HAProxy, iproute2 (as root).
system:
	scripts/system-packages

## The service on its embedded defaults (SQLite, local storage, a local agent).
run: install
	PORT=$(PORT) scripts/run

## The whole suite against a throwaway PostgreSQL, with lint, migration and schema checks,
## then again on SQLite, the embedded default.
test: install-test system
	scripts/with-postgres $(MAKE) --no-print-directory checks pytest-here
	$(MAKE) --no-print-directory pytest-sqlite

checks: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	ARKINDEX_DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run
	ARKINDEX_DEBUG=true $(BIN)/python manage.py spectacular --validate --fail-on-warn \
		--file /dev/null

## Part of the suite against its own throwaway PostgreSQL: make pytest ARGS=tests/ponos
pytest: install-test
	scripts/with-postgres $(BIN)/pytest $(ARGS)

## The suite on SQLite, where it can run (the README's "The SQLite default" says what cannot
## and why), in two processes: make pytest-sqlite ARGS=tests/process
SQLITE_TESTS ?= tests --ignore=tests/cluster --ignore=tests/e2e --ignore=tests/reliability \
	--ignore=tests/ponos/agent
pytest-sqlite: install-test
	ARKINDEX_DATABASE_URL=sqlite:///var/test/arkindex.sqlite3 $(BIN)/pytest -n 2 \
		$(if $(ARGS),$(ARGS),$(SQLITE_TESTS))

# The cluster test needs root and its own target (test-cluster)
pytest-here:
	$(BIN)/pytest --ignore=tests/cluster $(ARGS)

## Three API nodes behind HAProxy, Redis, two RQ workers and agent hosts in network
## namespaces, with faults; as root, about 6 minutes. See the README's "Several nodes".
test-cluster: install-test system
	scripts/with-postgres $(BIN)/pytest -s tests/cluster $(ARGS)

bench: install-test
	PG_MAX_CONNECTIONS=300 scripts/with-postgres $(BIN)/python -m bench $(ARGS)

fuzz: install-test
	scripts/with-postgres $(BIN)/pytest tests/test_fuzz.py --fuzz-examples=2000 $(ARGS)

format: install-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf var .pytest_cache
