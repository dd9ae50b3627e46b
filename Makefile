# Loyalty Tier Rebuilder — `make help` lists the verbs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export LOYALTY_HOME ?= $(CURDIR)/.loyalty
export SPARK_CONF_DIR ?= $(CURDIR)/conf
export DBT_SEND_ANONYMOUS_USAGE_STATS := False

.PHONY: help venv run demo ingest build test test-fast lint format docs bench clean

help: ## list the verbs
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements/lock.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/lock.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e . --config-settings editable_mode=compat
	touch $(STAMP)

venv: $(STAMP) ## create the virtualenv from the pinned lock file

run: $(STAMP) ## ingest new MySQL rows, dbt build (tests + export), print the summary
	$(BIN)/loyalty run $(if $(FULL_REFRESH),--full-refresh)

demo: $(STAMP) ## load the bundled sample into loyalty_demo, then run on it (as of 2025-08-07)
	$(BIN)/loyalty demo

ingest: $(STAMP) ## only the dlt ingest (FULL_REFRESH=1 reloads everything)
	$(BIN)/loyalty ingest $(if $(FULL_REFRESH),--full-refresh)

build: $(STAMP) ## only dbt build on the lake as it is
	$(BIN)/loyalty build

lint: $(STAMP) ## ruff (lint + format check), mypy strict, sqlfluff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/sqlfluff lint models macros tests/dbt analyses

format: $(STAMP) ## apply ruff format and sqlfluff fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	$(BIN)/sqlfluff fix models tests/dbt analyses

test: $(STAMP) lint ## the whole suite: lint, then pytest (MariaDB + Spark + dbt build)
	$(BIN)/pytest

test-fast: $(STAMP) ## pytest without the slow end-to-end runs
	$(BIN)/pytest -m "not slow"

docs: $(STAMP) ## generate and serve the dbt docs site (lineage) on :8080
	$(BIN)/loyalty build docs generate
	$(BIN)/python -m http.server 8080 --bind 127.0.0.1 --directory $(LOYALTY_HOME)/dbt/target

N ?= 1000000
REPEAT ?= 3
bench: $(STAMP) ## benchmark ours vs peers and floors on N generated rows (N=1000000 REPEAT=3)
	$(BIN)/python -m bench.run --rows $(N) --repeat $(REPEAT) $(if $(REPEAT_SLOW),--repeat-slow $(REPEAT_SLOW)) $(if $(SKIP_GENERATE),--skip-generate)

clean: ## remove local state (.loyalty/), exports and dbt artifacts (not the venv)
	rm -rf .loyalty exports target logs
