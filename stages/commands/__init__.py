"""Commands that are not DVC stages: ``python -m stages.predict`` and
``python -m stages.significance`` run them."""
