"""DVC stages of the IMDB sentiment and EN->KO translation pipeline.

Every stage runs as ``python -m stages.<name>``, so this module runs before any stage, keras or
mlflow imports TensorFlow: the only place to configure TensorFlow's C++ log, which reads
``TF_CPP_MIN_LOG_LEVEL`` once, when its libraries load. On a healthy CPU run that log holds only
notices (oneDNN, CPU features, CUDA probing: ``E0000 ... cuInit`` with the CUDA wheel, a DT_BOOL
fallback); TensorFlow's real failures reach Python as exceptions with their message, which this
does not touch. ``setdefault``: ``TF_CPP_MIN_LOG_LEVEL=0`` brings the whole C++ log back.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from stages.common.logs import quiet_tensorflow_import  # noqa: E402  (after the log level)

quiet_tensorflow_import()
