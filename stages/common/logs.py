"""Logging set-up, called once from each stage's ``main()``, and the quiet TensorFlow import."""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from types import ModuleType

# Lines TensorFlow's C++ libraries write while they load, before absl logging is initialized and
# so whatever TF_CPP_MIN_LOG_LEVEL says: absl's banner and INFO-severity lines (oneDNN notice,
# CUDA stub probing). WARNING/ERROR/FATAL lines pass.
IMPORT_NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called|I\d{4} )"
)


def setup_logging(level: int = logging.INFO) -> None:
    """Log ``time level module: message`` lines to stderr."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        force=True,
    )


@contextlib.contextmanager
def filtered_stderr(drop: re.Pattern[bytes]) -> Iterator[None]:
    """Pass every line written to file descriptor 2 (C/C++ code included) except ``drop``'s.

    Lines are forwarded as they arrive, so a crash inside the block still shows its message.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()

    def forward() -> None:
        with os.fdopen(read_end, "rb") as lines:
            for line in lines:
                if not drop.search(line):
                    os.write(saved, line)

    thread = threading.Thread(target=forward, daemon=True)
    thread.start()
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the thread sees EOF
        thread.join()
        os.close(saved)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Runs the first ``import tensorflow`` (from keras, mlflow or a stage) in filtered_stderr."""

    def find_spec(self, fullname: str, path: object, target: object = None) -> object:
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            exec_module = spec.loader.exec_module

            def quiet_exec(module: ModuleType) -> None:
                with filtered_stderr(IMPORT_NOISE):
                    exec_module(module)

            spec.loader.exec_module = quiet_exec  # type: ignore[method-assign]
        return spec


def quiet_tensorflow_import() -> None:
    """Filter TensorFlow's load-time log lines, unless TF_CPP_MIN_LOG_LEVEL=0 asks for them."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") != "0" and "tensorflow" not in sys.modules:
        sys.meta_path.insert(0, _QuietTensorFlowImport())
