"""MLflow tracking of the training stages: the store, runs, inputs, models, the registry."""
