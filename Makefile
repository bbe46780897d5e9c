# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test install lint clean fault bench migration

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## make run: the embedded Temporal dev server, a worker and the API, with the demo data (NQ57_DEMO=1).
run: $(STAMP)
	NQ57_DEMO=$${NQ57_DEMO:-1} NQ57_ADMIN_PASSWORD=$${NQ57_ADMIN_PASSWORD:-nq57-admin} $(PY) server.py

## make test: lint, types (mypy --strict on domain/, workflows/, services/), then the whole suite
## (PostgreSQL too when NQ57_TEST_POSTGRES_URL is set), in two processes (each with its own stacks
## and databases). One file alone: `.venv/bin/pytest tests/test_x.py`.
test: $(STAMP)
	@start=$$(date +%s); \
	$(VENV)/bin/ruff check . && $(VENV)/bin/mypy && $(VENV)/bin/pytest -n 2 --dist loadfile --no-loadscope-reorder; status=$$?; \
	echo "make test: $$(( $$(date +%s) - start )) s (lint, types and the suite; exit $$status)"; exit $$status

## make fault: the long fault-injection run (kill -9 of worker, API, Temporal; hundreds of kill points), SQLite then PostgreSQL.
fault: $(STAMP)
	$(PY) -m tests.fault_injection --database sqlite --tasks 300 --clients 6 --kills 150; status=$$?; \
	$(PY) -m tests.fault_injection --database postgres --tasks 300 --clients 6 --kills 150 || status=1; \
	exit $$status

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-output

## make bench: NQ57 against a bare-Temporal floor on this machine (bench/README.md); BENCH_ARGS="--sizes 1000,10000".
bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

## make migration MESSAGE="what changed": the schema's next revision from the models (README, "The schema and its migrations").
migration: $(STAMP)
	$(PY) -m db.revision "$(MESSAGE)"
