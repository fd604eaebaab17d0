# conveyor's entry points. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint typecheck unit unit-fast package bench bench-depth chaos clean ckan-test \
	browser-test screenshots multihost-test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev,redis,postgresql,web]"
	touch $(STAMP)

install: $(STAMP)

## Enqueue example jobs (one fails), run a worker in burst mode, list and show jobs.
demo: install
	bash examples/demo.sh "$(BIN)"

## Lint, type check and the whole test suite.
test: lint typecheck unit

lint: install
	$(BIN)/ruff check src tests examples bench
	$(BIN)/ruff format --check src tests examples bench

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -n 2 -p no:cacheprovider

## Only tests/unit: pure logic, no server, no process started; seconds (see docs/testing.md).
unit-fast: install
	$(BIN)/pytest -p no:cacheprovider -q tests/unit

## The dashboard in Debian's Chromium driven by Playwright (the `browser` extra; marker `browser`).
browser-test: install
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[browser]"
	$(BIN)/pytest -p no:cacheprovider -m browser tests/acceptance/test_dashboard_browser.py

## Rewrite the dashboard screenshots in docs/images/ from a browser test run.
screenshots: install
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[browser]"
	DASHBOARD_SCREENSHOTS=$(CURDIR)/docs/images $(BIN)/pytest -p no:cacheprovider -m browser \
		tests/acceptance/test_dashboard_browser.py -k renders

## Build the sdist and wheel into dist/, check them as PyPI would, install the wheel in a fresh
## venv and run a burst worker with it (tests/acceptance/test_package.py).
package: install
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*
	$(BIN)/pytest -p no:cacheprovider -m package tests/acceptance/test_package.py

## conveyor as the job system of a real CKAN 2.12 site, with ckanext-xloader (own venv:
## .venv-ckan; PostgreSQL and Redis as for `make test`). See docs/ckan.md.
ckan-test:
	bash tests/ckan/run.sh

## Workers on two hosts, a producer and a store host (its own Redis and PostgreSQL) in Linux network
## namespaces on this machine, through a partition and a lossy link (root; marker `multihost`).
multihost-test: install
	$(BIN)/pytest -p no:cacheprovider -m multihost tests/multihost

## conveyor against its peers on Redis (RQ, Celery, Dramatiq, Huey), PostgreSQL (PgQueuer,
## procrastinate) and SQLite (SqliteHuey), on the idle machine and with busy loops on every core,
## interleaved pass by pass (own venv: .venv-bench; 15-30 minutes). See docs/performance.md.
bench:
	bash bench/setup.sh
	.venv-bench/bin/python bench/run.py --load both $(BENCH_ARGS)

## Reading at depth: job_list(), jobs list, counts, the dashboard's pages and /metrics with
## 1,000 and 1,000,000 queued jobs on each store (docs/performance.md). Not run in CI; needs
## PostgreSQL (database cv_counts: createdb cv_counts) and Redis (db 11) as for `make test`.
bench-depth: install
	$(BIN)/python bench/depth.py $(DEPTH_ARGS)

## Jobs through workers killed at random; fails if any job is lost.
chaos: install
	$(BIN)/python bench/chaos.py $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) .venv-bench .venv-ckan tests/ckan/.run .demo .pytest_cache .mypy_cache .ruff_cache dist
