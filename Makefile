# Two entry points, both idempotent on a fresh machine (Python 3.11+ as python3):
#   make verify   set up .venv and run the fast profile on the embedded contracts
#   make test     set up .venv and run the suite's own tests, ruff and mypy
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: verify test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

verify: $(VENV)/.installed
	$(BIN)/pytest -m fast

test: $(VENV)/.installed
	$(BIN)/pytest tests -n 2
	$(MAKE) lint

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) reports/receipts reports/allure-results
