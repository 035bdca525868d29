"""Helpers for testing fpgaq and the designs it produces (random models, inputs)."""
