"""Log a family's ``models/<family>/`` with this checkout's code into a temporary MLflow store,
so that a bench measures the working tree's serving code, not a logged copy."""

from __future__ import annotations

from pathlib import Path

import mlflow

REPO = Path(__file__).resolve().parents[1]


def family_model_uri(family: str, workdir: Path) -> tuple[str, str]:
    """``models/<family>/`` logged into a store (and artifact root) in ``workdir``: the model URI
    and the store's tracking URI."""
    from stages.models.pyfunc import log_sentiment_model

    store = f"sqlite:///{workdir / 'bench.db'}"
    mlflow.set_tracking_uri(store)
    experiment = mlflow.create_experiment(
        "bench", artifact_location=(workdir / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        info = log_sentiment_model(REPO / "models" / family)
    return info.model_uri, store
