# Admin Core — run `make help` for the list of targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION ?= 0.13.8
PYTHON ?= python3
UV := .venv-tools/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export UV_PYTHON_DOWNLOADS := never

.PHONY: help install run test test-fast test-api lint format services services-down bench bench-audit bench-graph bench-http bench-flags bench-mso bench-matching bench-checkpoints clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(UV):
	@$(PYTHON) -m venv .venv-tools
	@.venv-tools/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(BIN)/adminctl: $(UV) pyproject.toml uv.lock
	@$(UV) sync --frozen --quiet
	@touch $@

install: $(BIN)/adminctl ## Install the locked dependencies into .venv

run: install ## Start the API on the embedded default (SQLite, demo data, printed token)
	@mkdir -p var
	@$(BIN)/adminctl serve

lint: install ## ruff, mypy --strict and the import-linter layer contracts
	@$(BIN)/ruff format --check src tests bench examples
	@$(BIN)/ruff check src tests bench examples
	@$(BIN)/mypy
	@MYPYPATH=src $(BIN)/mypy --strict examples
	@$(BIN)/lint-imports --no-cache

services: ## Install (if needed) and start PostgreSQL, Redis, Neo4j and stripe-mock
	@bash scripts/services.sh up

services-down: ## Stop the test services
	@bash scripts/services.sh down

test: install lint services ## Lint, start the services, run every test, then schemathesis over the API
	@bash scripts/chromium.sh
	@$(BIN)/pytest
	@bash scripts/schemathesis.sh

test-api: install ## schemathesis over the whole admin OpenAPI document, on an app it starts (fresh embedded database)
	@bash scripts/schemathesis.sh

test-fast: install ## Unit tests and in-memory/SQLite contract tests only (no services)
	@$(BIN)/pytest -m "not postgres and not neo4j and not redis and not stripe"

format: install ## Format and fix what ruff can
	@$(BIN)/ruff format src tests bench examples
	@$(BIN)/ruff check --fix src tests bench examples

bench: install services ## Every benchmark under bench/; prints tables and ratios
	@$(BIN)/python -m bench

bench-audit: install services ## Audit-log benchmark only (ARGS="--rows 10m" for ten million rows)
	@$(BIN)/python -m bench audit -- $(ARGS)

bench-graph: install services ## Graph rebuild into Neo4j only (ARGS="--sizes 100k")
	@$(BIN)/python -m bench graph -- $(ARGS)

bench-http: install services ## HTTP load benchmark: authenticated reads vs a bare handler (ARGS="--no-postgres")
	@$(BIN)/python -m bench http -- $(ARGS)

bench-flags: install ## Cached effective-flag reads: in process and over HTTP vs a bare handler
	@$(BIN)/python -m bench flags -- $(ARGS)

bench-mso: install services ## MSO session lists at 1M rows per filter shape, and refund throughput (ARGS="--reuse")
	@$(BIN)/python -m bench mso -- $(ARGS)

bench-matching: install services ## Coverage refresh at 100k providers on PostgreSQL vs one query per parameter (ARGS="--providers 1m")
	@$(BIN)/python -m bench matching -- $(ARGS)

bench-checkpoints: install ## A chain's verify as signed checkpoints accumulate: first in a process vs later (ARGS="--checkpoints 20000")
	@$(BIN)/python -m bench checkpoints -- $(ARGS)

clean: ## Remove the virtualenvs and local state (var/)
	@bash scripts/services.sh down || true
	@rm -rf $(VENV) .venv-tools var .mypy_cache .ruff_cache
