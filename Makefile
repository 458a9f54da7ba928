# The two commands a newcomer needs: `make demo` (the whole stack on the embedded default) and
# `make test` (every test). Everything else is a building block of those two.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_DIR ?= runs/demo
ARCH ?= efficientnet_lite0
export PYTHONUNBUFFERED := 1

.PHONY: setup demo test lint unit integration e2e frontend-test test-containers images train-demo archive \
	demo-model api-types retrain bench soak up down clean

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh

## Tests: lint first (cheap), then unit, integration and end-to-end tests, the front end's own, and
## the compose stack built and run under podman.
test: setup lint
	$(PY) -m pytest tests --ignore=tests/containers
	@if [ -f frontend/package.json ]; then $(MAKE) --no-print-directory frontend-test; fi
	@$(MAKE) --no-print-directory test-containers

## mypy on every Python package (pyproject.toml's [tool.mypy]); the tests are not type-checked.
MYPY_PACKAGES := inference gateway ops store client handler commandline launchers training benchmarks
lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(MYPY_PACKAGES)

unit: setup
	$(PY) -m pytest tests/unit

integration: setup
	$(PY) -m pytest tests/integration

e2e: setup
	$(PY) -m pytest tests/e2e

frontend-test:
	cd frontend && npm run --silent lint && npm run --silent typecheck && npm run --silent test

## The four images built with podman, docker-compose.yml up, checked through its ports, removed.
test-containers: setup
	$(PY) -m pytest tests/containers

## The four images with podman (local base images made with debootstrap when missing).
images: setup
	@bash scripts/container_images.sh

## Training the embedded default into $(RUN_DIR) (make demo calls this when model_store/ is empty).
train-demo: setup
	@bash scripts/train_demo.sh "$(RUN_DIR)" "$(ARCH)"

archive: setup
	$(PY) -m training export $(RUN_DIR) --model-store model_store

## The demo model, trained and archived when a fresh clone has none (bench and soak need it).
demo-model: setup
	@if [ ! -f model_store/fromsoft.mar ] || [ ! -d $(RUN_DIR)/serving ]; then \
		echo "no demo model yet: training and archiving it first (about 8 minutes)"; \
		$(MAKE) --no-print-directory train-demo archive; fi

## The page's API types from the gateway's OpenAPI document (frontend/src/api/schema.ts; a unit test checks it).
api-types: setup
	@bash scripts/api_types.sh

## From the corrections moderators accepted to a canary running: export them, retrain $(RUN_DIR) on them,
## export a new version, declare it and make it the canary (docs/training.md, Retraining on reviewed screenshots).
retrain: setup
	@RUN="$(RUN_DIR)" bash scripts/retrain.sh

## The whole-stack benchmark (BENCHMARKS.md).
bench: demo-model
	$(PY) -m benchmarks.suite.run --run $(RUN_DIR)

## Faults under steady load for 4 minutes, loopback only (BENCHMARKS.md, Reliability); exits 1 on a missed target.
soak: demo-model
	$(PY) -m benchmarks.soak.run

## The native stack in the background (state, logs and PIDs under var/).
up: setup
	@bash scripts/stack.sh up

down:
	@bash scripts/stack.sh down

clean:
	rm -rf var runs .pytest_cache .ruff_cache .mypy_cache
