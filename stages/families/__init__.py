"""One module per model family: its params model (``Params``), its pure builder (``build``) and,
for a sentiment family, how the prepared data becomes its input (``features``).

``stages.models.registry`` names each module and imports it on first use. A family module
imports Keras inside ``build`` only, so validating params imports no framework.
"""
