"""Scoring and reporting: metrics, plots, test predictions, reference numbers, statistics."""
