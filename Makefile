# `make repro`: create .venv, install the pinned dependencies, run the whole DVC pipeline.
# `make test`:  same environment, run the test suite.
# `make ui`:    the MLflow UI on the project's tracking store, http://127.0.0.1:5000
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install repro test lint ui

install: $(STAMP)

$(STAMP): requirements.txt constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -c constraints.txt
	touch $(STAMP)

repro: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro

# pytest exits 5 when it collects no test: that is a failure of the suite, not a pass.
test: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check stages tests bench

# The default store of the training stages (stages/common/tracking.py); runs logged with
# MLFLOW_TRACKING_URI set live in that store instead.
ui: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(abspath mlflow.db) --host 127.0.0.1 --port 5000
