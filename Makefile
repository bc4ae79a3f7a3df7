# logsieve — the verbs. `make demo` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
CARGO ?= cargo
# `make bench-peers`: a checkout of github.com/DataDog/datadog-serverless-functions, and rounds.
FORWARDER ?= ../datadog-serverless-functions
PEERS_ROUNDS ?= 5
VENV := .venv
PY := $(VENV)/bin/python
BIN := target/release/logsieve
DEMO_CONFIG := examples/logsieve.toml
FIXTURES := tests/fixtures/flask-api.json tests/fixtures/lambda-platform.json \
            tests/fixtures/lambda-json-format.json tests/fixtures/access-log.json \
            tests/fixtures/planted-secrets.json tests/fixtures/ecs-multiline.json

.PHONY: help demo demo-security test unit fuzz-check lint lint-infra fmt clippy e2e load bench bench-peers build package package-smoke deploy fuzz deny soak coldstart fixtures venv clean
INFRA_VENV := .venv-infra

help: ## List the verbs
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

demo: ## Build and run the pipeline on the bundled samples, as a readable table
	$(CARGO) build --release -q -p logsieve-cli
	$(BIN) process --config $(DEMO_CONFIG) --tags examples/tags.json --output table $(FIXTURES)

demo-security: ## The cis-cloudtrail pack on a bundled CloudTrail sample: one count per CIS / Security Hub control, and by EventName, UserType, Region
	$(CARGO) build --release -q -p logsieve-cli
	$(BIN) process --config examples/security.toml --output table tests/fixtures/cloudtrail.json

test: lint lint-infra deny unit fuzz-check e2e ## Everything CI runs: fmt, clippy, template lint, unit + integration, fuzz targets build, end-to-end

lint: fmt clippy ## cargo fmt --check and clippy -D warnings

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit: ## Unit and integration tests (no servers), and the bad-input fixtures are current
	python3 tests/fixtures/bad/make.py --check
	$(CARGO) test --workspace

venv: $(VENV)/.done ## Python tools for the end-to-end test and cargo-lambda
$(VENV)/.done: tests/e2e/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r tests/e2e/requirements.txt
	touch $@

e2e: ## End to end through ministack (CloudWatch, Logs, Lambda) and moto (X-Ray)
	bash tests/e2e/run.sh

bench: ## End-to-end throughput vs the decode-only baseline (target/bench/summary.json), then per-stage benches
	$(CARGO) bench -p logsieve --bench pipeline
	$(CARGO) bench -p logsieve --bench stages -- --warm-up-time 1 --measurement-time 2

build: ## Release build of the CLI and the functions
	$(CARGO) build --release --workspace

lint-infra: ## cfn-lint + checkov over every template in infra/ (zero errors), plus template checks
	VENV=$(INFRA_VENV) bash tests/infra/lint.sh

PACKAGE_ARCHES ?= x86_64 arm64
package: ## Deployable zips (x86_64 and arm64) via cargo-lambda + zig from PyPI, each smoke-tested through a Runtime API stand-in (arm64 under qemu-user)
	VENV=$(INFRA_VENV) bash tests/infra/package.sh $(PACKAGE_ARCHES)

package-smoke: ## What CI runs after `make test`: `make package`, its smoke test 3 times in a row on the same zips
	PACKAGE_SMOKE_REPEAT=3 VENV=$(INFRA_VENV) bash tests/infra/package.sh $(PACKAGE_ARCHES)

deploy: ## SAM build and guided deploy of infra/template.yaml (uses your AWS credentials)
	cd infra && sam build && sam deploy --guided

fuzz-check: ## The fuzz targets still build (cargo check; no nightly needed), so they cannot rot between fuzz runs
	$(CARGO) check -q --manifest-path fuzz/Cargo.toml --bins

fuzz: ## Bounded fuzzing of every target (FUZZ_SECONDS per target, default 60; cargo-fuzz + nightly)
	bash fuzz/run.sh

load: ## Kinesis path under load in ministack: events/s, function share, records per invocation per batch size (target/load/summary.json; not in make test)
	bash tests/load/run.sh $(LOAD_ARGS)

bench-peers: ## logsieve beside the Datadog Forwarder's own log steps and gzip -dc on the same 100,000 events, alternating (FORWARDER=a checkout of DataDog/datadog-serverless-functions; target/peers/summary.json; not in make test)
	bash tests/load/peers.sh $(FORWARDER) $(PEERS_ROUNDS)

soak: ## 1,000 warm invocations through a Runtime API stand-in; RSS must stay flat (target/soak/summary.json)
	bash tests/soak/run.sh

coldstart: ## Process start to first GET /next and first response, 20 runs per sink setup
	$(CARGO) build --release -q -p log-processor -p logsieve-cli
	python3 tests/soak/coldstart.py

deny: ## Supply chain: cargo deny check licenses bans sources (deny.toml)
	bash tests/deny.sh

fixtures: ## Regenerate tests/fixtures from the generator
	$(CARGO) build -q -p logsieve-cli
	python3 tests/fixtures/regenerate.py target/debug/logsieve
	python3 tests/fixtures/cloudtrail.py

clean:
	$(CARGO) clean
	rm -rf $(VENV) $(INFRA_VENV)
