"""Fixed facts shared by several modules (anything tunable belongs in params.yaml)."""

from __future__ import annotations

# MLflow experiments, one per task, and the registered model of the sentiment champion.
SENTIMENT_EXPERIMENT = "sentiment"
TRANSLATION_EXPERIMENT = "translation"
REGISTERED_MODEL = "imdb-sentiment"
CHAMPION_ALIAS = "champion"
# The experiment kind MLflow's UI calls "Machine learning" (its ExperimentKind enum, value
# CUSTOM_MODEL_DEVELOPMENT), set as the experiment tag ``mlflow.experimentKind``.
EXPERIMENT_KIND = "custom_model_development"
# Experiment descriptions (``mlflow.note.content``, markdown, shown above the runs table).
EXPERIMENT_DESCRIPTIONS = {
    SENTIMENT_EXPERIMENT: (
        "IMDB sentiment: one run per execution of a `train@<family>` stage (`dvc repro`, "
        "`dvc exp run`): the family's params, per-epoch metrics, test metrics (`test_*`), "
        "confusion matrix, input datasets and raw-text model. Tags `dvc_stage`, `dvc_exp_name` "
        "and `dvc_exp_baseline_rev` link a run to its stage and DVC experiment.\n\n"
        "Leaderboard: `metrics/summary.md` (95 % intervals, McNemar tests, references), written "
        "by the `compare` stage (`python -m stages.compare`), which registers the champion as "
        f"`{REGISTERED_MODEL}@{CHAMPION_ALIAS}`."
    ),
    TRANSLATION_EXPERIMENT: (
        "EN->KO character translators: one run per execution of a "
        "`train_translator@<family>` stage: params, per-epoch loss, `exact_match`, "
        "`char_accuracy`, the translations table and the Keras model.\n\n"
        "Leaderboard: the translators table of `metrics/summary.md`, written by the `compare` "
        "stage (`python -m stages.compare`)."
    ),
}
# Rows per predict() call: attention scores of 1024 x 400 x 400 x heads took GBs.
PREDICT_BATCH = 256
# P(positive) >= THRESHOLD is "pos", in the test metrics and in every prediction.
THRESHOLD = 0.5
# The params of a token-id family that turn token ids into its model input (preprocess.json).
PREPROCESS_KEYS = ("vocab_size", "seq_len", "padding", "truncating")
# The package name under which the custom Keras layers and functions are registered.
KERAS_PACKAGE = "stages"
