"""Fixed facts shared by several modules (anything tunable belongs in params.yaml)."""

from __future__ import annotations

# MLflow experiments, one per task, and the registered model of the sentiment champion.
SENTIMENT_EXPERIMENT = "sentiment"
TRANSLATION_EXPERIMENT = "translation"
REGISTERED_MODEL = "imdb-sentiment"
CHAMPION_ALIAS = "champion"
# Rows per predict() call: attention scores of 1024 x 400 x 400 x heads took GBs.
PREDICT_BATCH = 256
# P(positive) >= THRESHOLD is "pos", in the test metrics and in every prediction.
THRESHOLD = 0.5
# The params of a token-id family that turn token ids into its model input (preprocess.json).
PREPROCESS_KEYS = ("vocab_size", "seq_len", "padding", "truncating")
# The package name under which the custom Keras layers and functions are registered.
KERAS_PACKAGE = "stages"
