# logsieve — the verbs. `make demo` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
CARGO ?= cargo
VENV := .venv
PY := $(VENV)/bin/python
BIN := target/release/logsieve
DEMO_CONFIG := examples/logsieve.toml
FIXTURES := tests/fixtures/flask-api.json tests/fixtures/lambda-platform.json \
            tests/fixtures/lambda-json-format.json tests/fixtures/access-log.json \
            tests/fixtures/planted-secrets.json

.PHONY: help demo test unit lint fmt clippy e2e bench build package deploy fuzz fixtures venv clean

help: ## List the verbs
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

demo: ## Build and run the pipeline on the bundled samples, as a readable table
	$(CARGO) build --release -q -p logsieve
	$(BIN) process --config $(DEMO_CONFIG) --output table $(FIXTURES)

test: lint unit e2e ## Everything CI runs: fmt, clippy, unit + integration tests, end-to-end

lint: fmt clippy ## cargo fmt --check and clippy -D warnings

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit: ## Unit and integration tests (no servers)
	$(CARGO) test --workspace

venv: $(VENV)/.done ## Python tools for the end-to-end test and cargo-lambda
$(VENV)/.done: tests/e2e/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r tests/e2e/requirements.txt
	touch $@

e2e: ## End to end through ministack (CloudWatch, Logs, Lambda) and moto (X-Ray)
	@if [ -f tests/e2e/run.sh ]; then bash tests/e2e/run.sh; else echo "e2e: tests/e2e/run.sh not present yet"; fi

bench: ## Throughput per stage and end to end (writes target/bench/summary.json)
	@if [ -d shared/benches ]; then $(CARGO) bench -p logsieve; else echo "bench: no benches yet"; fi

build: ## Release build of the CLI and the functions
	$(CARGO) build --release --workspace

package: venv ## Deployable zips for Lambda (x86_64 and arm64) via cargo-lambda
	$(VENV)/bin/cargo-lambda lambda build --release --output-format zip

deploy: venv ## cargo lambda deploy (uses your AWS credentials)
	$(VENV)/bin/cargo-lambda lambda deploy log-processor

fuzz: ## Bounded fuzzing of every target
	@if [ -d fuzz ]; then bash fuzz/run.sh; else echo "fuzz: no targets yet"; fi

fixtures: ## Regenerate tests/fixtures from the generator
	$(CARGO) build -q -p logsieve
	python3 tests/fixtures/regenerate.py target/debug/logsieve

clean:
	$(CARGO) clean
	rm -rf $(VENV)
