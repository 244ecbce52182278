# The one entry point for people and CI. `make run` and `make test` install what is missing.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

UV_VERSION ?= 0.13.8
export PATH := $(HOME)/.local/bin:$(PATH)
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
RESOURCES ?= embedded
PYTEST_FLAGS ?=

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(UV):
	@echo "uv not found: installing uv $(UV_VERSION) from PyPI into ~/.local"
	python3 -m pip install --user --quiet "uv==$(UV_VERSION)" || \
	  python3 -m pip install --user --quiet --break-system-packages "uv==$(UV_VERSION)"

.PHONY: sync
sync: $(UV) ## install the Python workspace (uv.lock)
	$(UV) sync --locked --quiet

.PHONY: dapr
dapr: ## install the pinned Dapr runtime and CLI into ~/.dapr/bin (builds from Go modules if needed)
	scripts/install-dapr.sh

.PHONY: run
run: sync dapr ## start both services with their sidecars (dapr run -f dapr.yaml); RESOURCES=embedded|redis
	$(UV) run --no-sync python scripts/stack.py run --resources $(RESOURCES)

.PHONY: stop
stop: $(UV) ## stop what `make run` started
	$(UV) run --no-sync python scripts/stack.py stop

.PHONY: lint
lint: sync ## ruff check + format check
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync ruff format --check .

.PHONY: format
format: sync ## apply ruff fixes and formatting
	$(UV) run --no-sync ruff check --fix .
	$(UV) run --no-sync ruff format .

.PHONY: typecheck
typecheck: sync ## mypy --strict over both services and the shared package
	$(UV) run --no-sync mypy

.PHONY: test-unit
test-unit: sync ## unit and API tests (no sidecar)
	$(UV) run --no-sync pytest -m "not integration and not e2e" $(PYTEST_FLAGS)

.PHONY: test-integration
test-integration: sync dapr ## tests against real daprd sidecars and brokers
	$(UV) run --no-sync pytest -m integration $(PYTEST_FLAGS)

.PHONY: test-e2e
test-e2e: sync dapr ## the whole system through `dapr run -f dapr.yaml`
	$(UV) run --no-sync pytest -m e2e $(PYTEST_FLAGS)

.PHONY: test
test: lint typecheck test-unit test-integration test-e2e ## everything CI runs

.PHONY: docs
docs: sync ## regenerate docs/events/*.json and docs/openapi/*.json from the code
	PYTHONPATH=. $(UV) run --no-sync python scripts/gen_docs.py

.PHONY: bench
bench: sync dapr ## benchmarks (medians and ratios against a baseline measured in the same run)
	PYTHONPATH=. $(UV) run --no-sync python bench/broker_startup.py
	PYTHONPATH=. $(UV) run --no-sync python bench/memory_bench.py
	PYTHONPATH=. $(UV) run --no-sync python bench/chat_bench.py

.PHONY: clean
clean: ## remove local data, logs and caches (not the Dapr install)
	rm -rf data .run services/*/.dapr .pytest_cache .mypy_cache .ruff_cache dapr.*.generated.yaml
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
