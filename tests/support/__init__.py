"""Shared helpers for the tests (validation, ...)."""
