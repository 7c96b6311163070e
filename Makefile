# observatory: the two commands are `make demo` and `make test`.
# Both create the virtual environment from uv.lock on first use (Python 3.11 + PyPI only).
PYTHON ?= python3.11
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
STAMP := $(VENV)/.synced

.PHONY: demo test lint bench clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --python $(PYTHON)
	@touch $(STAMP)

demo: $(STAMP)  ## generate the synthetic demo city and run the whole pipeline on it
	$(VENV)/bin/observatory demo

test: $(STAMP)  ## run the test suite
	$(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf var .pytest_cache
