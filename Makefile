# Two commands on a fresh machine: `make demo` and `make test`. Both set up what they need.
.PHONY: setup setup-dev demo test lint unit integration cluster bench clean

VENV := .venv
BIN := $(VENV)/bin

setup:
	scripts/setup.sh

setup-dev:
	scripts/setup.sh --dev

# Flags for the demo: make demo ARGS="--kafka-port 19092 --port 8600"
demo: setup
	$(BIN)/financelake demo $(ARGS)

lint: setup-dev
	$(BIN)/ruff check src tests bench scripts docker
	$(BIN)/ruff format --check src tests bench scripts docker
	$(BIN)/mypy src

test: lint
	$(BIN)/pytest -q

unit: setup-dev
	$(BIN)/pytest -q tests/unit

integration: setup-dev
	$(BIN)/pytest -q tests/integration

cluster: setup-dev
	$(BIN)/pytest -q -m cluster

bench: setup-dev
	$(BIN)/python -m bench.run

clean:
	rm -rf lake .financelake bench/results test-artifacts
