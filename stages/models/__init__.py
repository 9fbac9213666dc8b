"""Pure Keras model builders and registered custom layers.

Importing the package registers the custom layers, so ``keras.models.load_model(path)`` can
rebuild any saved family model.
"""

from stages.models import layers as layers  # noqa: F401  (registration on import)
