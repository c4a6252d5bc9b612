"""Shared helpers for the tests (validation, the service in a subprocess, ...)."""
