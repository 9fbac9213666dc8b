"""The file MLflow runs to rebuild a logged raw-text sentiment model (models from code).

Logging the model as this file, not as a pickled object, keeps cloudpickle out of the model.
"""

from mlflow.models import set_model

from stages.models.pyfunc import SentimentModel

set_model(SentimentModel())
