"""Checks on the real offline mirror (``-m mirror``): the pure-Python and n-gram code against the
TensorFlow and scikit-learn code it stands in for, on all 50,000 labeled IMDB reviews."""
