"""Placeholder until the pure-Python standardization lands."""

TOKEN_PATTERN = r"\S+"


def standardize_texts(texts: list[str]) -> list[str]:
    from stages.data.text import standardize_texts as tf_standardize_texts

    return tf_standardize_texts(texts)
