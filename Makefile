# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test install install-test screenshots lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

## demo: install into .venv, run the whole loop on a simulated capture, serve http://127.0.0.1:8000
demo: install
	$(BIN)/iotnotice demo

## test: install what the tests need (Python and Debian packages), start PostgreSQL, lint, type-check, pytest
test: install-test
	bash scripts/install-system-deps.sh
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/ruff format --check src tests benchmarks tools
	$(BIN)/mypy
	IOTNOTICE_TEST_PG_URL="$$(bash scripts/start-postgres.sh)" $(BIN)/pytest

## screenshots: refresh docs/screenshots/ from the browser tests
screenshots: install-test
	bash scripts/install-system-deps.sh
	IOTNOTICE_SCREENSHOTS=docs/screenshots $(BIN)/pytest -q tests/browser

lint: install-test
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/mypy

bench: install-test
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) iotnotice-data .pytest_cache .mypy_cache .ruff_cache
