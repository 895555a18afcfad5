# dsync: two commands matter. `make run` runs the pipeline locally; `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test test-db bench bench-smoke scim-conformance lint typecheck check clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Run ingress + worker against embedded PostgreSQL and broker (or DSYNC_* servers).
run: $(STAMP)
	$(BIN)/dsync dev

# Tests mostly wait on the broker (group joins), so four processes fit on two cores.
PYTEST_WORKERS ?= 4

## The whole suite on real PostgreSQL and a real Kafka-protocol broker.
test: $(STAMP)
	$(BIN)/pytest -q -n $(PYTEST_WORKERS)

## Only the database tests (CI reruns them against the machine's PostgreSQL server).
test-db: $(STAMP)
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) -m db

## Benchmarks B1-B10 with same-run baselines (bench/results/latest.md), ~20 min on 2 cores.
## BENCH_ONLY=B1,B3 runs some of them; BENCH_EVENTS sets B2's stream length and
## BENCH_WORKERS its worker processes (docs/PERFORMANCE.md).
BENCH_EVENTS ?= 100000
BENCH_ONLY   ?= B1,B2,B3,B4,B6,B8,B9,B10
BENCH_WORKERS ?= 2
bench: $(STAMP)
	$(BIN)/python -m bench.run --events $(BENCH_EVENTS) --only $(BENCH_ONLY) --workers $(BENCH_WORKERS)

## Every figure at tiny sizes (under a minute) so the code cannot rot (CI); numbers mean nothing.
bench-smoke: $(STAMP)
	$(BIN)/python -m bench.run --smoke --out build/bench-smoke

## scim2-tester (pinned) against a live `dsync scim` + `dsync worker` on embedded PostgreSQL
## and broker; fails when any check fails or is skipped (~1 min).
scim-conformance: $(STAMP)
	$(BIN)/python -m bench.scim_conformance

## ruff, and the import layers (kernel below, shell above: pyproject.toml, tool.importlinter).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

clean:
	rm -rf $(VENV) .dsync .mypy_cache .ruff_cache .pytest_cache
