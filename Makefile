# Two commands matter: `make demo` and `make test`. Everything else is a helper for them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED_DIR ?= $(abspath ../shared)
STAMP := $(VENV)/.reelcart-installed

export REELCART_SHARED_DIR ?= $(SHARED_DIR)
export REELCART_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: demo test serve fmt lint typecheck contracts pytest js-test install clean bench

$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) and installing ReelCart with its extras (offline-friendly)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e ".[dev,postgres,ocr,embedder-export]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	@$(BIN)/reelcart demo

serve: $(STAMP)
	@$(BIN)/reelcart serve

fmt: $(STAMP)
	@$(BIN)/ruff format .
	@$(BIN)/ruff check --fix .

lint: $(STAMP)
	@echo "==> ruff"
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .

typecheck: $(STAMP)
	@echo "==> mypy (strict)"
	@$(BIN)/mypy tagger commerce api scripts tests

contracts: $(STAMP)
	@echo "==> import-linter"
	@$(BIN)/lint-imports

web_overlay/node_modules/.installed: web_overlay/package-lock.json
	@npm ci --prefix web_overlay --no-audit --no-fund --loglevel=error
	@touch $@

js-test: web_overlay/node_modules/.installed
	@echo "==> node --test (overlay timeline math, size budget)"
	@node --test web_overlay/tests/
	@echo "==> tsc --checkJs (overlay SDK and review console)"
	@npx --prefix web_overlay tsc -p web_overlay

pytest: $(STAMP)
	@echo "==> pytest (SQLite and PostgreSQL)"
	@$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck contracts js-test pytest

bench: $(STAMP)
	@$(BIN)/python scripts/bench_tagging.py

clean:
	rm -rf var build *.egg-info .mypy_cache .pytest_cache .ruff_cache
