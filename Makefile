# `make repro`: create .venv, install the pinned runtime dependencies, run the whole DVC pipeline.
# `make test`:  the same plus the development tools (requirements-dev.txt); ruff, then the tests.
# `make ui`:    the MLflow UI on the project's tracking store, http://127.0.0.1:5000
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# One stamp per requirements file: `make repro` never installs pytest or ruff.
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev

.PHONY: install install-dev repro test lint ui

install: $(RUNTIME)
install-dev: $(DEV)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME): requirements.txt constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install -r requirements.txt -c constraints.txt
	touch $@

$(DEV): requirements-dev.txt $(RUNTIME)
	$(BIN)/python -m pip install -r requirements.txt -r requirements-dev.txt -c constraints.txt
	touch $@

repro: $(RUNTIME)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro

# pytest exits 5 when it collects no test: that is a failure of the suite, not a pass.
test: lint
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -q

lint: $(DEV)
	$(BIN)/ruff check stages tests bench

# The default store of the training stages (stages/common/tracking.py); runs logged with
# MLFLOW_TRACKING_URI set live in that store instead. PYTHONWARNINGS (inherited by the server's
# workers): MLflow's server imports a Starlette module Starlette has deprecated, a warning per worker.
ui: $(RUNTIME)
	PYTHONWARNINGS="ignore:starlette.middleware.wsgi is deprecated" $(BIN)/mlflow ui --backend-store-uri sqlite:///$(abspath mlflow.db) --host 127.0.0.1 --port 5000
