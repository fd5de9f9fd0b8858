# TradeStream: two commands for a newcomer.
#   make run   - set everything up and run the platform in dry mode (Dagster UI on 127.0.0.1:3000)
#   make test  - set everything up and run the test suite
#   make test-unit - only the tests that need no service, with every service out of reach
.DEFAULT_GOAL := help
SHELL := /bin/bash
VENV := .venv
PYTEST_ARGS ?=
# Dagster's Helm chart for the chart tests (docs/kubernetes.md, "How the chart is tested"): a copy
# named by TRADESTREAM_DAGSTER_CHART, else the archive `helm dependency build helm` leaves in
# helm/charts/, else the copy of its values and schema in tests/helm/dagster-chart/.

.PHONY: help setup run test test-unit faults lint bench clean

help:
	@echo "make run    set up and run the platform in dry mode (Dagster UI on http://127.0.0.1:3000)"
	@echo "make test   set up and run the test suite"
	@echo "make test-unit  only the tests that need no service (pytest -m 'not services'), services out of reach"
	@echo "make faults the fault cases (brokers and processes killed; minutes; not part of make test)"
	@echo "make setup  idempotent setup: Python 3.12 venv, locked deps, protobuf modules, JVM artifacts"
	@echo "make lint   ruff"
	@echo "make bench  run the benchmarks under benchmarks/"

setup:
	@scripts/setup.sh

run: setup
	@$(VENV)/bin/tradestream up --mode $${TRADESTREAM_INGEST_MODE:-dry}

test: setup
	@$(VENV)/bin/python -m tradestream.protogen --check
	@$(VENV)/bin/pytest $(PYTEST_ARGS)

test-unit: setup
	@scripts/test_without_services.sh $(PYTEST_ARGS)

faults: setup
	@TRADESTREAM_FAULTS=1 $(VENV)/bin/pytest tests/faults -m faults $(PYTEST_ARGS)

lint: setup
	@$(VENV)/bin/ruff check .

bench: setup
	@for b in benchmarks/*.py; do echo "== $$b"; $(VENV)/bin/python $$b || exit 1; done

clean:
	rm -rf .tradestream .dagster test-artifacts .pytest_cache
