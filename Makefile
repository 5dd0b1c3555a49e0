# The two commands a newcomer needs are `make serve` and `make test`; both
# bootstrap uv and the virtualenv themselves. Everything else is for developers.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON_PREFERENCE := only-system
export UV_LINK_MODE := copy
export UV_COMPILE_BYTECODE := 1

UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
BIN := $(CURDIR)/.venv/bin
TEST_MARKERS ?= not browser
PYTEST_ARGS ?=

.PHONY: help serve test test-services test-browser check lint format types imports coverage sync clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(CURDIR)/.tools/bin/uv:
	python3 -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/python -m pip install --quiet --disable-pip-version-check uv

sync: $(UV) ## Create .venv from uv.lock (exact versions)
	@$(UV) sync --locked --quiet

# Settings default to production, which refuses the published dev secrets; `make serve`
# is the local developer's command, so it runs in dev unless told otherwise.
# `make serve PORT=8001` picks another port (an exported PORT is ignored: it often means
# something else); SERVE_ARGS passes any other option, e.g. SERVE_ARGS="--host 0.0.0.0".
PORT = 8000
serve: sync ## Run the markets service in dev on PORT (default 8000; SQLite under var/)
	MARKETS_ENVIRONMENT=$${MARKETS_ENVIRONMENT:-dev} $(BIN)/markets serve --port $(PORT) $(SERVE_ARGS)

test: sync ## Run the test suite (tests needing absent services are skipped)
	$(BIN)/pytest -m "$(TEST_MARKERS)" $(PYTEST_ARGS)

test-services: sync ## Run only the tests that need PostgreSQL, Redis or RabbitMQ
	$(BIN)/pytest -m "services" $(PYTEST_ARGS)

test-browser: sync ## Run the headless-Chromium tests (installs Debian chromium if missing)
	bash scripts/install-browser.sh
	$(BIN)/pytest -m browser $(PYTEST_ARGS)

lint: sync ## ruff check + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: sync ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

types: sync ## mypy --strict on the library and the service
	$(BIN)/mypy

imports: sync ## import-linter contracts (layering rules)
	$(BIN)/lint-imports

coverage: sync ## Tests with coverage of src/tiered (fails under 90 %)
	$(BIN)/coverage run -m pytest -m "$(TEST_MARKERS)" $(PYTEST_ARGS)
	$(BIN)/coverage report --fail-under=90

check: lint types imports coverage ## Everything CI checks, except the browser

clean: ## Remove caches and local state (keeps .venv)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov var

# The benchmark's peers (Litestar, advanced-alchemy, matplotlib, py-spy…) live in their
# own locked environment under bench/peers, so the project's lock stays free of them.
.PHONY: bench bench-smoke
BENCH_PYTHON := $(CURDIR)/bench/peers/.venv/bin/python

bench: sync ## Measure markets against its peers into bench/RESULTS.md (~8 min; installs wrk)
	@$(UV) sync --locked --quiet --project bench/peers
	bash bench/install-wrk.sh
	BENCH_COMMAND="make bench" $(BENCH_PYTHON) bench/run.py $(BENCH_ARGS)

bench-smoke: sync ## Every benchmark variant starts and answers 200 (no timing)
	@$(UV) sync --locked --quiet --project bench/peers
	$(BENCH_PYTHON) bench/smoke.py
