"""Pure Keras model builders and registered custom layers."""
