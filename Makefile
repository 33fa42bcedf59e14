# Targets of the LRS workspace. `make help` lists them.
.DEFAULT_GOAL := help
CARGO ?= cargo
DATA_DIR ?= lrs-data
LISTEN ?= 127.0.0.1:8080

.PHONY: help run test fmt lint unit export-memory deps conformance broker cluster-up cluster-down lint-deploy bench

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

run: ## Run the LRS on the embedded log and store (lrs serve)
	$(CARGO) run --release -p lrs -- serve --listen $(LISTEN) --data-dir $(DATA_DIR)

test: fmt lint unit export-memory ## The whole test suite, as CI runs it: format, lints, every test

fmt: ## Check formatting
	$(CARGO) fmt --all -- --check

lint: ## Clippy on every target, warnings are errors; no declared dependency unused (cargo-machete)
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	scripts/unused-deps.sh

unit: deps ## Every unit, integration and end-to-end test, with a real Kafka-protocol broker (and a real ScyllaDB when SCYLLA_URI is set); lists each skipped test
	CARGO=$(CARGO) scripts/test-all.sh

# A 32 MiB block cache for the store: what is measured is the export's own
# memory, not the cache it fills; docs/BENCHMARKS.md has the default's figures.
export-memory: deps ## Export 1M statements from a release lrs serve in every format: under 100 MB above idle (scripts/export-memory.sh)
	SERVE_ARGS="--store-cache-mb 32" scripts/export-memory.sh

deps: ## Install what the tests need beside cargo (tansu, nginx, Prometheus, DuckDB; once, then reused)
	scripts/test-deps.sh

broker: ## Install the Kafka-protocol broker used by the tests (tansu; once, then reused)
	scripts/kafka-broker.sh install

cluster-up: ## Start broker, 2 gateways, projector+query and an nginx router on 127.0.0.1
	scripts/cluster.sh up

cluster-down: ## Stop what cluster-up started
	scripts/cluster.sh down

conformance: ## Run the ADL suite (installed by you in /tmp/lrs-conformance) on a fresh lrs serve: make conformance VERSION=1.0.3
	scripts/conformance.sh $(or $(VERSION),1.0.3)

lint-deploy: ## Check deploy/ files with yamllint (installed from PyPI when missing)
	command -v yamllint >/dev/null || python3 -m pip install -q yamllint
	yamllint -d relaxed deploy/docker-compose.yml deploy/prometheus/prometheus.yml deploy/grafana/provisioning helm/lrs/Chart.yaml helm/lrs/values.yaml
	python3 -m json.tool deploy/grafana/dashboards/lrs-overview.json >/dev/null
	nginx -t -q -c $(CURDIR)/deploy/nginx.conf -p /tmp

bench: ## lrs bench against a fresh lrs serve and the peer Ralph, same run: make bench ARGS="--statements 5000"
	scripts/bench.sh $(ARGS)
