"""The model families: one module per family, named after it (``Params``, ``build``, ``KIND``,
``INPUTS``, ``REFERENCE`` and, for a sentiment family, ``features``), and ``registry``, which
finds them by name and imports each on first use.

A family module imports Keras inside ``build`` only, so validating params imports no framework.
"""
