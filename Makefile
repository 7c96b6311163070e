# observatory: the two commands are `make demo` and `make test`.
# Both create the virtual environment from uv.lock on first use (Python 3.11 + PyPI only).
PYTHON ?= python3.11
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
STAMP := $(VENV)/.synced

.PHONY: demo test lint bench bench-5y validate-method clean airflow

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --compile-bytecode --python $(PYTHON)
	@touch $(STAMP)

demo: $(STAMP)  ## generate the synthetic demo city and run the whole pipeline on it
	$(VENV)/bin/observatory demo

test: $(STAMP)  ## run the test suite
	$(VENV)/bin/pytest

bench: $(STAMP)  ## city-scale benchmark (XL workload, ~15M sensor rows, then the 5-year memory run; see docs/performance.md)
	$(VENV)/bin/observatory bench --dir var/bench

bench-5y: $(STAMP)  ## the 5-year, 200-zone memory run (phase b only; generation ~7 min, run 15+ min)
	$(VENV)/bin/observatory bench --dir var/bench --workload 5y

validate-method: $(STAMP)  ## the index method's coverage and error rates on simulated cities with a known truth (~5 min)
	$(VENV)/bin/observatory validate-method --dir var/validate-method

# The Data Docs' scripts and styles are vendored (src/observatory/validation/vendor/): after
# changing a version in its package.json, re-vendor (updates the lock, the files, their hashes).
.PHONY: data-docs-assets
data-docs-assets: $(STAMP)  ## copy the pinned npm files GX's Data Docs load into the package (needs npm)
	$(VENV)/bin/python -m observatory.validation.data_docs_assets

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf var .pytest_cache

# --- Airflow UI on the demo city (docs/operations.md) -----------------------------------------
# Everything lives under var/airflow (SQLite, logs, a generated login); the DAGs come from
# dags/ and serve OBSERVATORY_CONFIG (default: the demo city, generated if missing).
# observatory.ops.airflow_local starts Airflow's components on 127.0.0.1 (log server included)
# and stops them all on Ctrl-C; it refuses a port in use or Airflow's own 8793/8794.
AIRFLOW_PORT ?= 8080
AIRFLOW_USER ?= analyst
AIRFLOW_DIR := $(CURDIR)/var/airflow
DEMO_CONFIG := $(CURDIR)/var/demo/observatory.toml

.PHONY: airflow
airflow: export AIRFLOW_HOME = $(AIRFLOW_DIR)
airflow: export AIRFLOW__CORE__DAGS_FOLDER = $(CURDIR)/dags
airflow: export AIRFLOW__CORE__LOAD_EXAMPLES = False
airflow: export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS = $(AIRFLOW_USER):admin
airflow: export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE = $(AIRFLOW_DIR)/passwords.json
airflow: export AIRFLOW__API__HOST = 127.0.0.1
airflow: export AIRFLOW__API__PORT = $(AIRFLOW_PORT)
airflow: export AIRFLOW__API__BASE_URL = http://127.0.0.1:$(AIRFLOW_PORT)
airflow: export AIRFLOW__CORE__EXECUTION_API_SERVER_URL = http://127.0.0.1:$(AIRFLOW_PORT)/execution/
airflow: export OBSERVATORY_CONFIG ?= $(DEMO_CONFIG)
airflow: export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
airflow: $(STAMP)  ## Airflow UI with the observatory's DAGs on the demo city (Ctrl-C stops it)
	@$(VENV)/bin/python -m observatory.ops.airflow_local --dir $(AIRFLOW_DIR) --port $(AIRFLOW_PORT) --check-port
	@mkdir -p $(AIRFLOW_DIR)
	@if [ "$$OBSERVATORY_CONFIG" = "$(DEMO_CONFIG)" ] && [ ! -f "$(DEMO_CONFIG)" ]; then \
		echo "Generating the SYNTHETIC demo city in var/demo (landing files only) ..."; \
		$(VENV)/bin/python -c "from pathlib import Path; from observatory.demo.generator import generate; generate(Path('var/demo'))"; \
	fi
	@test -f $(AIRFLOW_DIR)/passwords.json || $(VENV)/bin/python -c \
		"import json, secrets; print(json.dumps({'$(AIRFLOW_USER)': secrets.token_urlsafe(12)}))" \
		> $(AIRFLOW_DIR)/passwords.json
	@echo ""
	@echo "  Airflow UI:  http://127.0.0.1:$(AIRFLOW_PORT)"
	@echo "  login:       $(AIRFLOW_USER) / $$($(VENV)/bin/python -c "import json; print(json.load(open('$(AIRFLOW_DIR)/passwords.json'))['$(AIRFLOW_USER)'])")"
	@echo "  project:     $$OBSERVATORY_CONFIG"
	@echo "  Unpause <city>.index, then trigger the <city>.ingest.* DAGs: the index runs by itself"
	@echo "  when they update their Assets. Ctrl-C stops Airflow."
	@echo "  <city>.monitor runs unpaused: alerts go to [monitoring] notifier (e-mail, webhook)."
	@echo ""
	$(VENV)/bin/python -m observatory.ops.airflow_local --dir $(AIRFLOW_DIR) --port $(AIRFLOW_PORT) --user $(AIRFLOW_USER)

# --- Airflow on the CeleryExecutor: the demo network on a real cluster (docs/scaling-out.md) ---
# PostgreSQL (metadata DB, throwaway cluster), Redis (broker), API server, scheduler, DAG
# processor and two Celery workers, all on 127.0.0.1, started and stopped (Ctrl-C) together.
# Serves OBSERVATORY_NETWORK (default: the demo network, generated if missing).
CLUSTER_DIR := $(CURDIR)/var/airflow-cluster
NETWORK_DEMO := $(CURDIR)/var/demo-network/network.toml

.PHONY: airflow-cluster
airflow-cluster: export OBSERVATORY_NETWORK ?= $(NETWORK_DEMO)
airflow-cluster: export OBSERVATORY_CONFIG ?=
airflow-cluster: $(STAMP)  ## Airflow with CeleryExecutor, Redis, PostgreSQL and two workers on the demo network (Ctrl-C stops it)
	@if [ "$$OBSERVATORY_NETWORK" = "$(NETWORK_DEMO)" ] && [ ! -f "$(NETWORK_DEMO)" ]; then \
		echo "Generating the SYNTHETIC demo network in var/demo-network (landing files only) ..."; \
		$(VENV)/bin/python -c "from pathlib import Path; from observatory.demo.network import generate_network; generate_network(Path('var/demo-network'))"; \
	fi
	$(VENV)/bin/python -m observatory.ops.cluster --dir $(CLUSTER_DIR) --port $(AIRFLOW_PORT)
