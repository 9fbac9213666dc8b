"""Helpers shared by every stage: params, paths, atomic I/O, logging."""
