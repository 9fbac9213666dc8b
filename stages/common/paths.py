"""Repo-relative locations used as ``run()`` defaults (tests pass ``tmp_path`` instead)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS_FILE = REPO_ROOT / "params.yaml"
SOURCES_FILE = REPO_ROOT / "stages" / "sources.yaml"
DATA_DIR = REPO_ROOT / "data"
RAW_DIR = DATA_DIR / "raw"
PREPARED_DIR = DATA_DIR / "prepared"
MODELS_DIR = REPO_ROOT / "models"
METRICS_DIR = REPO_ROOT / "metrics"
PLOTS_DIR = METRICS_DIR / "plots"
PREDICTIONS_DIR = METRICS_DIR / "predictions"
HISTORY_DIR = METRICS_DIR / "history"
