"""The MLflow pyfunc of a sentiment family: raw review text in, P(positive) and label out; its
input contract and its logging. The model class itself is in ``pyfunc_entry`` (models from code).

The logged model carries the family directory (encoder + trained model, see ``textmodel``) as
the artifact ``family`` and the ``stages`` package as code, so ``mlflow.pyfunc.load_model`` and
``mlflow models serve`` work from any directory, without the repository.

Input: a DataFrame with a string column ``review``, or a list of strings. Output: a DataFrame
with ``probability`` (P(positive), float) and ``label`` (``pos`` if probability >= 0.5, as in
the test metrics). A missing column, a non-string value or an empty input raise an
``MlflowException`` (INVALID_PARAMETER_VALUE: HTTP 400 from ``mlflow models serve``; its JSON
parser casts numbers and null to text, per the signature, before the model sees them). A long
review is accepted: it is tokenized whole and truncated to the family's ``seq_len`` as in
training (TF-IDF uses all of it); the server's request timeout is the only limit.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.types import ColSpec, Schema

from stages.common.constants import THRESHOLD
from stages.tracking.keras_log import tensorflow_distribution

COLUMN = "review"
ARTIFACT = "family"
STAGES_DIR = Path(__file__).resolve().parents[1]
# One unnamed string column: MLflow's schema check turns a list of strings into a DataFrame with
# column 0, which a named ``review`` column would reject; ``reviews_of`` checks the name.
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string")]),
    outputs=Schema([ColSpec("double", "probability"), ColSpec("string", "label")]),
)
INPUT_EXAMPLE = pd.DataFrame({COLUMN: ["A wonderful, moving film.", "Dull and far too long."]})
REQUIREMENTS = ("mlflow", "keras", "scikit-learn", "numpy", "pandas", "joblib")


def _invalid(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def reviews_of(model_input: Any) -> list[str]:
    """The review strings of a DataFrame with a ``review`` column, or of a list of strings.

    Raises:
        MlflowException: (INVALID_PARAMETER_VALUE) no ``review`` column, a value that is not a
            string, or no review at all.
    """
    if isinstance(model_input, pd.DataFrame):
        columns = list(model_input.columns)
        column = 0 if columns == [0] else COLUMN  # column 0: a list, as MLflow's check frames it
        if column not in columns:
            have = ", ".join(map(str, columns)) or "none"
            raise _invalid(f"input needs a string column {COLUMN!r} (columns: {have})")
        values = model_input[column].tolist()
    elif isinstance(model_input, (list, tuple, np.ndarray, pd.Series)):
        values = list(model_input)
    else:
        raise _invalid(f"input must be a DataFrame with a column {COLUMN!r} or a list of "
                       f"strings, got {type(model_input).__name__}")
    if not values:
        raise _invalid("no reviews: the input is empty")
    bad = [i for i, value in enumerate(values) if not isinstance(value, str)]
    if bad:
        value = values[bad[0]]
        raise _invalid(f"review {bad[0]} is not a string: {type(value).__name__} {value!r:.40}")
    return values


def predictions(probabilities: np.ndarray) -> pd.DataFrame:
    """``probability`` and ``label`` (``pos``/``neg`` at ``THRESHOLD``) per review."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.where(probabilities >= THRESHOLD, "pos", "neg")
    return pd.DataFrame({"probability": probabilities, "label": labels})


def pip_requirements() -> list[str]:
    """The packages the model needs, pinned to the installed versions."""
    names = (*REQUIREMENTS, tensorflow_distribution())
    return [f"{name}=={importlib.metadata.version(name)}" for name in names]


def log_sentiment_model(family_dir: Path, *, name: str = "model") -> Any:
    """Log ``family_dir`` as a raw-text pyfunc model of the active MLflow run.

    Returns:
        MLflow's ``ModelInfo`` (``model_id``, ``model_uri``...).
    """
    return mlflow.pyfunc.log_model(
        name=name,
        python_model=str(Path(__file__).with_name("pyfunc_entry.py")),
        artifacts={ARTIFACT: str(family_dir)},
        code_paths=[str(STAGES_DIR)],
        signature=SIGNATURE,
        input_example=INPUT_EXAMPLE,
        pip_requirements=pip_requirements(),
    )
