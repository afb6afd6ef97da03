# qn-bot — the two set-up commands are `make run` and `make test`; each installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP_FLAGS ?= --disable-pip-version-check --quiet

.PHONY: run test test-servers postgres bench lint typecheck unit install install-test clean help

help:
	@echo "make run    - install into $(VENV), migrate ./qn_bot.db and start the bot (console if no platform)"
	@echo "make test   - install everything the tests need, then lint, type-check and run the suite"
	@echo "make bench  - run the benchmarks in bench/ (results in bench/results/)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "qn-bot needs Python 3.11 or newer (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install $(PIP_FLAGS) -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install $(PIP_FLAGS) -e ".[test,postgres]"
	@touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	$(BIN)/qn-bot run

lint: install-test
	$(BIN)/ruff check qn_bot adapters migrations tests bench docs
	$(BIN)/ruff format --check qn_bot adapters migrations tests bench docs

typecheck: install-test
	$(BIN)/mypy qn_bot adapters

unit: install-test
	$(BIN)/pytest tests/unit -q

# Real servers the integration tests start on loopback (docs/architecture.md, "Tests").
TELEGRAM_EMULATOR := tests/servers/telegram
SYNAPSE_VENV ?= .venv-synapse

$(TELEGRAM_EMULATOR)/node_modules/.installed: $(TELEGRAM_EMULATOR)/package.json $(TELEGRAM_EMULATOR)/package-lock.json
	cd $(TELEGRAM_EMULATOR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Synapse lives in its own venv: Twisted's pins clash with the bot's dependencies.
$(SYNAPSE_VENV)/.installed: tests/servers/synapse/requirements.txt
	$(PYTHON) -m venv $(SYNAPSE_VENV)
	$(SYNAPSE_VENV)/bin/python -m pip install $(PIP_FLAGS) -r tests/servers/synapse/requirements.txt
	@touch $@

postgres:
	tests/servers/postgres/install.sh

test-servers: $(TELEGRAM_EMULATOR)/node_modules/.installed $(SYNAPSE_VENV)/.installed postgres
	sh tests/servers/chromium/install.sh
	sh tests/servers/systemd/install.sh

# The storage contract tests run on SQLite and on a throwaway PostgreSQL cluster; the 25 slowest
# tests are listed at the end, so a run that grows shows where. Most of the suite waits (on
# processes, servers, paced sends): a few workers (pytest-xdist) overlap the waits on two
# cores. Each worker starts its own Synapse and emulator on free ports and makes its own
# databases and tmp dirs; worksteal keeps the long tests from piling up on one worker.
TEST_WORKERS ?= 3
test: lint typecheck test-servers
	tests/servers/postgres/with-postgres.sh $(BIN)/pytest -q --durations=25 -n $(TEST_WORKERS) --dist worksteal

bench: install-test test-servers
	tests/servers/postgres/with-postgres.sh $(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
