# Kentongan — the two commands a newcomer runs: `make demo` and `make test`.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: demo test install system-deps lint typecheck ci bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[sim,test]'
	@touch $@

install: $(STAMP)

system-deps:
	@bash scripts/install-system-deps.sh

## The embedded default: SQLite, the Banyuwangi sample, a simulated fleet, poller, API, dashboard.
demo: $(STAMP)
	@bash scripts/install-system-deps.sh --demo || echo "demo: could not install Prometheus, Alertmanager or sshd; the demo runs without what is missing"
	$(VENV)/bin/kentongan demo

## The whole suite, against real peers (snmpd, snmpsim, sshd, Ansible, Prometheus,
## Alertmanager, PostgreSQL, Chromium).
## Coverage is measured (pytest-cov) and held at a floor: [tool.coverage.report] fail_under
## (not applied to a run narrowed with PYTEST_ARGS, which covers only part of the code).
COV_FLOOR = $(if $(strip $(PYTEST_ARGS)),--cov-fail-under=0,)
test: $(STAMP) system-deps
	$(PY) -m pytest --cov --cov-report=term:skip-covered $(COV_FLOOR) $(PYTEST_ARGS)

## ruff, and the import contracts of docs/architecture.md (import-linter).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

## mypy --strict on every package (the packages and per-module relaxations: pyproject.toml).
typecheck: $(STAMP)
	$(VENV)/bin/mypy

## What CI runs (.ci/run): the gates, then the whole suite.
ci: lint typecheck test

## Every benchmark, each against its peer (long: tens of minutes; not part of `make test`).
bench: $(STAMP) system-deps
	$(PY) benchmarks/inventory_import.py
	$(PY) benchmarks/poll_throughput.py
	$(PY) benchmarks/exposition.py
	$(PY) benchmarks/rollout.py
	$(PY) benchmarks/api_load.py
	$(PY) benchmarks/soak.py --minutes 60

clean:
	rm -rf $(VENV) kentongan.db kentongan.db-wal kentongan.db-shm .pytest_cache
