"""Flows: the file format, its loader and the pure engine that runs them."""
