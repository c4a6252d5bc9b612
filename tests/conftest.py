"""Test-wide environment.

Tests that are not about security run the service with authentication off
and a throwaway SQLite database; the security, store and CDS Hooks tests
build their own Settings (JWT on, PostgreSQL, ...) explicitly. Set before any
app is created, so `Settings.from_env()` sees it.

PostgreSQL: the store, robustness and two-process tests need a real server
and never skip. Unless ``NEKPIJN_TEST_POSTGRES_URL`` points at one, the
session starts a throw-away server of its own (``tools/postgres.py``: the
machine's PostgreSQL binaries, a temporary data directory, a free loopback
port) before any test module is imported, and removes it at the end.
"""

from __future__ import annotations

import os
import tempfile

import pytest

_DB_DIR = tempfile.mkdtemp(prefix="nekpijn-tests-")
os.environ.setdefault("NEKPIJN_AUTH", "off")
# the public endpoints' rate limit counts per client address, and every TestClient is "testclient":
# off for tests that are not about it (tests/test_rate_limit.py builds its own Settings)
os.environ.setdefault("NEKPIJN_RATE_LIMIT_APPLY", "off")
os.environ.setdefault("NEKPIJN_RATE_LIMIT_SUBMISSIONS", "off")
os.environ.setdefault("NEKPIJN_DATABASE_URL", f"sqlite:///{_DB_DIR}/service.db")

_temp_postgres = None


def pytest_configure(config):
    """Start the throw-away PostgreSQL before collection (test modules read the URL on import)."""
    global _temp_postgres
    if os.environ.get("NEKPIJN_TEST_POSTGRES_URL") or hasattr(config, "workerinput"):
        return
    from tools.postgres import TempPostgres

    _temp_postgres = TempPostgres.start()
    os.environ["NEKPIJN_TEST_POSTGRES_URL"] = _temp_postgres.url


def pytest_unconfigure(config):
    global _temp_postgres
    if _temp_postgres is not None:
        _temp_postgres.stop()
        os.environ.pop("NEKPIJN_TEST_POSTGRES_URL", None)
        _temp_postgres = None


def pytest_report_header(config):
    if _temp_postgres is not None:
        return f"PostgreSQL: throw-away server {_temp_postgres.url} ({_temp_postgres.bindir})"
    return "PostgreSQL: NEKPIJN_TEST_POSTGRES_URL"


@pytest.fixture(scope="module")
def signer(tmp_path_factory):
    """A test JWT issuer (ES384 key + trusted-issuers file), one per test module."""
    from hooks_support import Signer

    return Signer.create(tmp_path_factory.mktemp("keys"))
