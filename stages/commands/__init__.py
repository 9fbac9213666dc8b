"""Commands that are not DVC stages: ``nlp-predict``, ``nlp-serve``, ``nlp-significance`` and
``nlp-tracking-server`` (``[project.scripts]``), each also
``python -m stages.commands.<module>``."""
