# The one entry point for people and CI. `make run` and `make test` install what is missing.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

UV_VERSION ?= 0.13.8
export PATH := $(HOME)/.local/bin:$(PATH)
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
RESOURCES ?= embedded
REPLICAS ?= 1
PYTEST_FLAGS ?=
NAMESPACE ?= agents-dev
OVERLAY ?= dev
USER_ID ?= alice
REDIS_HOST ?= redis:6379
IMAGE_PREFIX ?= agent
IMAGE_TAG ?= 0.1.0
KUSTOMIZE := $(or $(KUSTOMIZE_BIN),$(HOME)/.cache/agent-dapr/bin/kustomize)

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

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

.PHONY: chromium
chromium: ## install Debian's chromium for the web page's browser tests (if missing)
	scripts/install-chromium.sh

.PHONY: run
run: sync dapr ## start both services with their sidecars (dapr run -f); RESOURCES=embedded|redis REPLICAS=1..5
	$(UV) run --no-sync python scripts/stack.py run --resources $(RESOURCES) --replicas $(REPLICAS)

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

.PHONY: k8s-tools
k8s-tools: ## install the pinned kustomize the manifest checks use
	scripts/install-kustomize.sh

.PHONY: kube-tools
kube-tools: ## build the pinned Kubernetes binaries (v1.34.2) from the Go module proxy, once
	scripts/install-kube.sh

.PHONY: k8s-render
k8s-render: k8s-tools ## print the rendered manifests of OVERLAY=dev|prod
	$(KUSTOMIZE) build k8s/overlays/$(OVERLAY)

.PHONY: k8s-secrets
k8s-secrets: sync ## create the referenced Secrets in NAMESPACE with generated values (kubectl)
	$(UV) run --no-sync python scripts/k8s_secrets.py --namespace $(NAMESPACE) --redis-host $(REDIS_HOST)

.PHONY: k8s-token
k8s-token: sync ## print a bearer token for USER_ID, signed with NAMESPACE's chat-auth key (kubectl)
	@$(UV) run --no-sync python scripts/dev_token.py "$(USER_ID)" --key "$$(kubectl -n $(NAMESPACE) \
	  get secret chat-auth -o jsonpath='{.data.jwt-key}' | base64 -d)"

.PHONY: images
images: sync ## build both service images with docker, podman or buildah: IMAGE_PREFIX, IMAGE_TAG, BASE=auto|public|local
	IMAGE_PREFIX=$(IMAGE_PREFIX) IMAGE_TAG=$(IMAGE_TAG) UV_VERSION=$(UV_VERSION) scripts/images.sh

.PHONY: test-images
test-images: sync dapr ## build the images here and run the stack from them (read-only, unprivileged)
	$(UV) run --no-sync pytest -m images $(PYTEST_FLAGS)

.PHONY: test-unit
test-unit: sync k8s-tools ## unit, API and manifest tests (no sidecar)
	$(UV) run --no-sync pytest -m "not integration and not e2e and not faults and not clients and not images" $(PYTEST_FLAGS)

.PHONY: test-integration
test-integration: sync dapr ## tests against real daprd sidecars and brokers
	$(UV) run --no-sync pytest -m integration $(PYTEST_FLAGS)

.PHONY: test-faults
test-faults: sync dapr ## fault injection against a real stack: auth on, parts stopped and restarted
	$(UV) run --no-sync pytest -m faults $(PYTEST_FLAGS)

.PHONY: test-e2e
test-e2e: sync dapr ## the whole system through `dapr run -f dapr.yaml`
	$(UV) run --no-sync pytest -m e2e $(PYTEST_FLAGS)

.PHONY: test-clients
test-clients: sync dapr chromium ## agent-chat in a real terminal, the web page in real Chromium
	$(UV) run --no-sync pytest -m clients $(PYTEST_FLAGS)

.PHONY: test
test: lint typecheck test-unit test-integration test-faults test-e2e test-clients test-images ## everything CI runs

.PHONY: docs
docs: sync ## regenerate docs/events/*.json and docs/openapi/*.json from the code
	PYTHONPATH=. $(UV) run --no-sync python scripts/gen_docs.py

.PHONY: bench
bench: sync dapr ## benchmarks (medians and ratios against a baseline measured in the same run)
	PYTHONPATH=. $(UV) run --no-sync python bench/broker_startup.py
	PYTHONPATH=. $(UV) run --no-sync python bench/broker_restart.py
	PYTHONPATH=. $(UV) run --no-sync python bench/memory_bench.py
	PYTHONPATH=. $(UV) run --no-sync python bench/sessions_bench.py
	PYTHONPATH=. $(UV) run --no-sync python bench/chat_bench.py
	PYTHONPATH=. $(UV) run --no-sync python bench/security_bench.py
	PYTHONPATH=. $(UV) run --no-sync python bench/concurrency_bench.py

.PHONY: clean
clean: ## remove local data, logs, tokens and caches (not the Dapr install)
	rm -rf data .run services/*/.dapr .pytest_cache .mypy_cache .ruff_cache dapr.*.generated.yaml
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
