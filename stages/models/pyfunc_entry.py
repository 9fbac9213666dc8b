"""The file MLflow runs to rebuild a logged raw-text sentiment model (models from code).

Logging the model as this file, not as a pickled object, keeps cloudpickle out of the model; the
training stages never import it (it loads the model, with every family's Keras layers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import set_model

from stages.models.pyfunc import ARTIFACT, predictions, reviews_of


class SentimentModel(mlflow.pyfunc.PythonModel):
    """Raw-text sentiment model over a family directory (``serving.TextModel``)."""

    def load_context(self, context: Any) -> None:
        from stages.models.serving import load_text_model

        self.text_model = load_text_model(Path(context.artifacts[ARTIFACT]))

    # A DataFrame hint: MLflow infers no second signature from it (schema checks frame a list).
    def predict(
        self, context: Any, model_input: pd.DataFrame, params: Any = None
    ) -> pd.DataFrame:
        """``probability`` and ``label`` per review of ``model_input``."""
        return predictions(self.text_model.predict_proba(reviews_of(model_input)))


set_model(SentimentModel())
