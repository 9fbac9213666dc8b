"""Helpers of the data stages: downloads, archives, checksums, the tokenization standard, the
token-id and char-vocabulary formats."""
