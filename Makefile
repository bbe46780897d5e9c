# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test install lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## make run: the embedded Temporal dev server, a worker and the API, with the demo data (NQ57_DEMO=1).
run: $(STAMP)
	NQ57_DEMO=$${NQ57_DEMO:-1} NQ57_ADMIN_PASSWORD=$${NQ57_ADMIN_PASSWORD:-nq57-admin} $(PY) server.py

## make test: lint, then the whole suite (PostgreSQL too when NQ57_TEST_POSTGRES_URL is set).
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-output
