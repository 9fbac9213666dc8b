"""Benchmarks of the pipeline, its training feeds, offline scoring and serving, on the real data.

Each module is a command, run from the repo root in the venv: ``python -m bench.<name> --help``.
What each measures, what it needs and how long it takes: ``bench/README.md``; the figures they
gave: ``docs/performance.md``. The identity checks against TensorFlow and scikit-learn are tests
(``pytest -m mirror tests/mirror``), not benchmarks.
"""
