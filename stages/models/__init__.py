"""The models layer: the family registry, the fit loops by kind (``keras``, ``sklearn_fit``,
``translator_fit``), the raw-text model and its MLflow pyfunc. Importing it imports no framework.
"""
