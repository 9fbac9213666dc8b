"""The Keras fit loop of the sentiment families and the layers they build from.

Importing the package registers the custom layers, so ``keras.models.load_model(path)`` can
rebuild any saved sentiment model.
"""

from stages.models.keras import layers as layers  # noqa: F401  (registration on import)
