# Handoff — developer commands. Each target sets itself up on a fresh machine:
# it creates .venv (with $(PYTHON), 3.11+) when missing and installs the pinned
# dependencies whenever the requirements files change.
#
#   make run      run the bot (python app.py; reads .env — see .env.example)
#   make test     ruff, then the suite on SQLite, then on PostgreSQL (scripts/test)
#   make lint     ruff only
#   make migrate  migrate the database in DATABASE_URL to the latest schema
#   make messages  extract strings into messages.pot and merge them into the catalogs
#   make clean    remove .venv (and with it the install stamps) and tool caches

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

# Stamps are keyed on the content of the requirements files, so any change to
# them (edit, pull, branch switch) reinstalls, and nothing else does.
hash_of = $(firstword $(shell cat $(1) | sha256sum))
RUN_STAMP := $(VENV)/.installed-run-$(call hash_of,requirements.txt)
DEV_STAMP := $(VENV)/.installed-dev-$(call hash_of,requirements.txt requirements-dev.txt)

# Extra arguments for pytest, e.g. make test PYTEST_ARGS="-x -k digest"
PYTEST_ARGS ?=

.PHONY: help run test lint migrate messages clean venv deps deps-dev

help:
	@sed -n 's/^#   //p' $(MAKEFILE_LIST)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "Handoff needs Python 3.11 or newer; '$(PYTHON)' is $$($(PYTHON) --version 2>&1 || echo missing)." >&2; \
	  echo "Run with another interpreter: make $(MAKECMDGOALS) PYTHON=python3.11" >&2; exit 1; }
	@echo "==> Creating virtualenv $(VENV) ($$($(PYTHON) --version))"
	@$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): | $(BIN)/python
	@echo "==> Installing runtime dependencies (requirements.txt) into $(VENV)"
	@$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	@rm -f $(VENV)/.installed-run-*
	@touch $@

$(DEV_STAMP): | $(BIN)/python
	@echo "==> Installing runtime and development dependencies (requirements-dev.txt) into $(VENV)"
	@$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-dev-* $(VENV)/.installed-run-*
	@touch $@ $(RUN_STAMP)

venv: $(BIN)/python
deps: $(RUN_STAMP)
deps-dev: $(DEV_STAMP)

run: $(RUN_STAMP)
	@echo "==> Starting Handoff: $(BIN)/python app.py"
	@exec $(BIN)/python app.py

test: $(DEV_STAMP)
	@VENV_BIN=$(BIN) bash scripts/test $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	@echo "==> ruff check ."
	@$(BIN)/ruff check .

migrate: $(RUN_STAMP)
	@echo "==> Migrating the database: python -m handoff_bot db upgrade"
	@$(BIN)/python -m handoff_bot db upgrade

messages: $(RUN_STAMP)
	@VENV_BIN=$(BIN) bash scripts/messages

clean:
	@echo "==> Removing $(VENV), .pytest_cache, .ruff_cache"
	@rm -rf $(VENV) .pytest_cache .ruff_cache
