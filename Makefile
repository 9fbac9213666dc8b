# `make repro`:       .venv, the pinned runtime dependencies, then the whole DVC pipeline.
# `make test`:        the same plus the team set-up and the development tools; ruff, then the tests
#                     (one pytest worker per core).
# `make ui`:          the MLflow UI on the project's tracking store, http://127.0.0.1:5000
# `make team-server`: MLflow on a local PostgreSQL with proxied artifacts, all in .team-server/,
#                     http://127.0.0.1:5000 (docs/tracking-server.md)
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
TEAM_PORT ?= 5000
# One stamp per requirements file: `make repro` never installs pytest, ruff or PostgreSQL.
RUNTIME := $(VENV)/.installed-runtime
TEAM := $(VENV)/.installed-team
DEV := $(VENV)/.installed-dev

.PHONY: install install-team install-dev repro test lint ui team-server

install: $(RUNTIME)
install-team: $(TEAM)
install-dev: $(DEV)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The project itself, editable and without dependencies: its commands (nlp-predict, nlp-serve,
# nlp-significance, nlp-tracking-server) land in .venv/bin.
$(RUNTIME): requirements.txt constraints.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(TEAM): requirements-team.txt $(RUNTIME)
	$(BIN)/python -m pip install -r requirements.txt -r requirements-team.txt -c constraints.txt
	touch $@

$(DEV): requirements-dev.txt $(TEAM)
	$(BIN)/python -m pip install -r requirements.txt -r requirements-team.txt \
		-r requirements-dev.txt -c constraints.txt
	touch $@

repro: $(RUNTIME)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro

# pytest exits 5 when it collects no test: that is a failure of the suite, not a pass.
# One pytest-xdist worker per core; tests/conftest.py keeps each module, and the modules that
# share a session set-up, on one worker.
test: lint
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -q -n auto --dist loadgroup

lint: $(DEV)
	$(BIN)/ruff check stages tests bench

# The default store of the training stages (stages/tracking/store.py); runs logged with
# MLFLOW_TRACKING_URI set live in that store instead. It logs the address of each experiment's
# runs table (MLflow's UI opens experiments on their GenAI overview otherwise).
ui: $(RUNTIME)
	$(BIN)/nlp-tracking-server ui --port 5000

# Idempotent: a restart keeps the database, the artifacts and the password (.team-server/).
team-server: $(TEAM)
	$(BIN)/nlp-tracking-server team --dir $(abspath .team-server) --port $(TEAM_PORT)
