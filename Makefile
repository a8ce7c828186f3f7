# Every target works on a fresh machine with Python 3.11 and access to PyPI:
# the virtualenv is created and the locked dependencies installed on demand.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9
export PYTHONPATH := $(CURDIR)/plugins:$(CURDIR)

.PHONY: install dist browser redis test test-unit bench-smoke lint format lock demo airflow cluster cluster-env bench bench-airflow bench-sim bench-xapi sim migrate stop env analyst-login clean

install: $(VENV)/.installed

# The project itself goes in editable, without dependencies (the lock has them): Airflow finds its
# provider (the Connection types of Admin > Connections) and plugins through the entry points.
$(VENV)/.installed: requirements-dev.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet uv==$(UV_VERSION)
	@# Compiled once here: uv writes no .pyc by default, and where PYTHONDONTWRITEBYTECODE is set
	@# nothing ever does, so every task process compiled Airflow, pandas and GX again (import of
	@# airflow.sdk + pandas: 8.7 s without, 2.9 s with).
	@# The development lock: the run-time lock's pins plus the tools, every file checked against its hash.
	$(UV) pip sync --quiet --compile-bytecode --require-hashes --python $(PY) requirements-dev.lock
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	@# hatchling copies the wheel's force-included SQL even into an editable install (no pyproject
	@# option stops it): removed, so the checkout's include/sql is the only copy.
	rm -rf $(VENV)/lib/python*/site-packages/lms_connectors
	touch $@

# Regenerate the locks after editing requirements.txt or requirements-dev.txt: the run-time lock (what
# the production image and an existing Airflow install), then the development one within its pins,
# both with hashes (each compile keeps the pins its output file holds unless a requirement moved).
lock: $(VENV)/.installed
	$(UV) pip compile --quiet requirements.txt --python-version 3.11 --generate-hashes --no-strip-extras -o requirements.lock
	$(UV) pip compile --quiet requirements-dev.txt --python-version 3.11 --generate-hashes --no-strip-extras -c requirements.lock \
	  -o requirements-dev.lock
	$(PY) -m devstack.lockfile requirements.lock requirements-dev.lock

# The distribution: a wheel any Airflow installs with the lock (see "Install into an existing Airflow").
# Built by pip in an isolated env with the pinned hatchling only: not the development environment.
dist:
	$(PYTHON) -m pip wheel --quiet --no-deps --wheel-dir dist .

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Debian's Chromium for the browser test of the health page (Playwright drives
# it; no browser download). Needs root or sudo, as on CI.
CHROMIUM := /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
	@# Debian's wrapper script prints a harmless shell warning on stderr here.
	@$(CHROMIUM) --version 2>/dev/null

# Debian's redis-server: the Celery broker of `make cluster`. Needs root or sudo, as on CI.
redis:
	@command -v redis-server >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null; }
	@redis-server --version

# Three workers share every module, a module at a time (its fixtures are set up once); the end-to-end
# modules, which start whole stacks (Airflow with its metadata on Postgres, the simulators, a
# browser, Celery) each on ports and databases of their own, are collected early and run beside the rest.
# Three on two cores: a worker often waits (on Postgres, a simulator, a scheduler), and the suite took
# 1,086 s with three against 1,191 s with two, from the same fresh clone.
test: lint browser redis
	$(PY) -m pytest -q -ra -n 3 --dist loadfile --durations=25

# The fast lane: pure rules, the DAG integrity checks and the compose file's checks; no service is
# started (no Postgres, simulator, browser or Redis), under a minute.
test-unit: install
	$(PY) -m pytest -q -ra -p no:cacheprovider tests/unit tests/dags tests/compose

sim: install
	$(PY) -m simulator --port 8081

bench-sim: install
	$(PY) -m bench.simulator_throughput

# A burst of 10,000 xAPI statements against the endpoint: statements/s, p99 answer time, nothing lost.
bench-xapi: install
	$(PY) -m bench.xapi_burst

# The benchmark on 10,000 records: that it runs and reports every figure (not a timing).
bench-smoke: install
	$(PY) -m pytest -q -p no:cacheprovider bench/test_smoke.py

# Load path against the COPY floor, to_sql, the whole DAG, peak RSS per task.
bench: install
	$(PY) -m bench.pipeline

clean:
	rm -rf $(VENV) .local .pytest_cache .ruff_cache

# The main job on the embedded default: Postgres from pgserver (the warehouse and Airflow's
# metadata), the simulators; three daily runs and a summary.
demo: install
	$(PY) -m devstack.demo

# The embedded stack plus the CeleryExecutor for real: Redis, Airflow's metadata on the
# embedded Postgres, API server, scheduler, DAG processor and two Celery workers.
cluster: install redis
	$(PY) -m devstack.cluster

# `export` lines pointing this shell's airflow CLI at the running cluster.
cluster-env: install
	@$(PY) -m devstack.cluster --env

# Through the real scheduler: a daily run's wall time, per-task start overhead, a 30-day
# replay (LocalExecutor; Celery with 1 and 2 workers); writes bench/results/airflow.json.
bench-airflow: install redis
	$(PY) -m bench.airflow

# The embedded stack plus `airflow standalone` (UI, scheduler, DAG processor,
# triggerer) with Connections and Variables preset; prints the URL and login.
airflow: install
	$(PY) -m devstack.airflow_ui

# Apply pending warehouse migrations to the embedded stack's lms_warehouse.
migrate: install
	$(PY) -m devstack.stack migrate

# Print `export` lines for the embedded stack: eval "$(make -s env)" points a
# shell's airflow CLI (Airflow's own, from the virtualenv) at it, starting Postgres and the
# simulators if needed.
env: install
	@$(PY) -m devstack.stack env

# `export` lines for an analyst's shell: LMS_ANALYST_DSN (login lms_reader, a member of lms_analyst,
# a new password each time) and psql on the PATH: eval "$(make -s analyst-login)".
analyst-login: install
	@$(PY) -m devstack.stack analyst-login

# Stop every process the stack started (Airflow, simulator, Postgres), by PID.
stop: install
	$(PY) -m devstack.stack down
