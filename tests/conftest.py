"""Test-wide environment.

Tests that are not about security run the service with authentication off
and a throwaway SQLite database; the security, store and CDS Hooks tests
build their own Settings (JWT on, PostgreSQL, ...) explicitly. Set before any
app is created, so `Settings.from_env()` sees it.
"""

from __future__ import annotations

import os
import tempfile

_DB_DIR = tempfile.mkdtemp(prefix="nekpijn-tests-")
os.environ.setdefault("NEKPIJN_AUTH", "off")
os.environ.setdefault("NEKPIJN_DATABASE_URL", f"sqlite:///{_DB_DIR}/service.db")
