# Two entry points, both idempotent on a fresh machine (Python 3.11+ as python3):
#   make verify   set up .venv and run the fast profile on the embedded contracts
#   make test     set up .venv and run the suite's own tests, ruff and mypy
#   make report   build the offline single-file Allure report from reports/allure-results
#                 (runs `npm ci --prefix tools/report` first when its node_modules is missing)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: verify test lint clean report mutate mutate-all bench bench-short

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

verify: $(VENV)/.installed
	$(BIN)/pytest -m fast

test: $(VENV)/.installed
	$(BIN)/pytest tests -n 2 -m "not browser" -rs
	$(MAKE) lint

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Pinned Allure 3 + playwright-core (tools/report/package-lock.json); npm writes .package-lock.json last.
REPORT_TOOLS := tools/report
REPORT_ARGS ?=

$(REPORT_TOOLS)/node_modules/.package-lock.json: $(REPORT_TOOLS)/package-lock.json
	npm ci --prefix $(REPORT_TOOLS) --no-audit --no-fund

# Offline: reads reports/allure-results, writes reports/allure-report/index.html (analytics stripped).
# REPORT_ARGS passes --results DIR, --output DIR or --history FILE to tools/report/build.mjs.
report: $(REPORT_TOOLS)/node_modules/.package-lock.json
	node $(REPORT_TOOLS)/build.mjs $(REPORT_ARGS)

clean:
	rm -rf $(VENV) reports/receipts reports/allure-results

# Benchmarks (bench/README.md). `make bench`: every benchmark in full mode, timing targets enforced
# (several minutes). `make bench-short`: the same scripts with --short (a few seconds each), which checks
# that they still work and their verdicts hold; timings are printed, not enforced. Both stop at the first
# script that fails.
bench: $(VENV)/.installed
	$(BIN)/python bench/bench_fast.py
	$(BIN)/python bench/bench_static.py
	$(BIN)/python bench/bench_smoke.py
	$(BIN)/python bench/bench_ops.py
	$(BIN)/python bench/bench_ledger.py
	$(BIN)/python bench/bench_redact.py

bench-short: $(VENV)/.installed
	$(BIN)/python bench/bench_fast.py --short
	$(BIN)/python bench/bench_static.py --short
	$(BIN)/python bench/bench_smoke.py --short
	$(BIN)/python bench/bench_ops.py --short
	$(BIN)/python bench/bench_ledger.py --short
	$(BIN)/python bench/bench_redact.py --short

# Mutation testing (issue 8): mutmut 3.8.1 on one module with its chosen tests, outside .ci/run (minutes per
# module on 2 cores). `make mutate PLAN=redact` runs a plan of tools/mutmut/plans.toml; `make mutate
# MODULE=infracore_verify/x.py TESTS="tests/test_x.py"` any module; `make mutate` lists the plans; TAG=before
# names the record (tools/mutmut/results/<plan>-<tag>.txt). `make mutate-all` runs every plan. See bench/MUTATION.md.
MUTMUT_RUN = $(BIN)/python tools/mutmut/run.py

mutate: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet mutmut==3.8.1
	$(MUTMUT_RUN) $(if $(PLAN),$(PLAN),$(if $(MODULE),$(foreach m,$(MODULE),--module $(m)) --tests $(TESTS),--list)) \
		$(foreach o,$(ONLY),--only '$(o)') $(if $(TAG),--tag $(TAG))

mutate-all: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet mutmut==3.8.1
	for plan in $$($(MUTMUT_RUN) --names); do $(MUTMUT_RUN) $$plan $(if $(TAG),--tag $(TAG)) || exit 1; done
