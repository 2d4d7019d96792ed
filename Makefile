# Two commands on a fresh machine: `make demo` and `make test`. Both set up what they need.
.PHONY: setup setup-dev demo test lint unit integration cluster faults wheel-test constraints bench soak strategies clean docker-test

VENV := .venv
BIN := $(VENV)/bin
# scripts/setup.sh resolves the jars into this checkout's .jars/; every target runs with them.
export FINANCELAKE_JARS_DIR ?= $(CURDIR)/.jars

setup:
	scripts/setup.sh

setup-dev:
	scripts/setup.sh --dev

# Flags for the demo: make demo ARGS="--kafka-port 19092 --port 8600"
demo: setup
	$(BIN)/financelake demo $(ARGS)

lint: setup-dev
	$(BIN)/ruff check src tests bench studies scripts docker
	$(BIN)/ruff format --check src tests bench studies scripts docker
	$(BIN)/mypy src bench studies

test: lint
	$(BIN)/pytest -q

unit: setup-dev
	$(BIN)/pytest -q tests/unit

integration: setup-dev
	$(BIN)/pytest -q tests/integration

cluster: setup-dev
	$(BIN)/pytest -q -m cluster

# The slow fault tests (not in `make test`): a broker outage, a full disk (root: a tmpfs), and
# bad input at full size (1.1M messages).
faults: setup-dev
	$(BIN)/pytest -q -m faults tests/integration

# The image built and the compose stack run end to end on this machine's Docker (installed and
# started when absent, as root). The host's trust for pip and Maven is handed to the build.
docker-test: export BUILD_CA_BUNDLE ?= $(PIP_CERT)
docker-test: export BUILD_JAVA_CACERTS ?= $(wildcard /etc/ssl/certs/java/cacerts)
docker-test: setup-dev
	@start=$$(date +%s); \
	$(BIN)/pytest -q -s -m docker tests/docker; status=$$?; \
	echo "make docker-test: $$(( $$(date +%s) - start )) s wall time"; exit $$status

# The installed product: wheel -> fresh venv -> financelake setup -> run (slow; not in `make test`)
wheel-test: setup-dev
	$(BIN)/pytest -q -m wheel tests/wheel

# Re-lock: the newest versions within pyproject.toml's ranges become the tested set (then
# run `make test` before committing constraints.txt).
constraints: setup-dev
	$(BIN)/pip install --quiet --upgrade --upgrade-strategy eager -e ".[dev]"
	$(BIN)/pip freeze --exclude-editable | grep -v '^financelake' > constraints.txt

bench: setup-dev
	$(BIN)/python -m bench.run

# The service for 30 minutes at 2,000 ticks/s with short retention: every series must level off.
# make soak ARGS="--minutes 60 --rate 1000"
soak: setup-dev
	$(BIN)/python -m bench.soak $(ARGS)

# What the trader, the classifier's signal and every baseline earn on five kinds of market.
# make strategies ARGS="--seeds 10"
strategies: setup-dev
	$(BIN)/python -m studies.strategies $(ARGS)

clean:
	rm -rf lake .financelake bench/results studies/results test-artifacts
