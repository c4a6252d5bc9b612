"""Engine set-up for SQLite (default) and PostgreSQL, and the transaction helper.

SQLite
    The parent folder of a file database is created. Every connection gets
    WAL journaling (readers never block the writer), a busy timeout (writers
    wait for each other instead of failing) and foreign keys. pysqlite's own
    transaction handling is switched off and SQLAlchemy emits ``BEGIN`` itself:
    ``BEGIN IMMEDIATE`` for write transactions (the write lock is taken up
    front, so two processes never deadlock on a read-then-write upgrade),
    plain ``BEGIN`` for reads. Write transactions of one process take a lock
    first: threads of one process then queue for the database's write lock
    in Python instead of in SQLite's busy handler, which sleeps 1, 2, 5, 10 …
    ms between its attempts (under concurrent load that added tens of
    milliseconds to hook calls; other processes still meet the busy handler).
PostgreSQL
    ``postgresql://`` URLs use psycopg 3. A small pool with pre-ping (a
    restarted database costs no failed request), a connect timeout and a
    statement timeout (a hung database must not hang hook calls for long);
    both can be overridden in the URL query (``connect_timeout=...``,
    ``options=-c statement_timeout=...``).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import DateTime, create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

SQLITE_BUSY_TIMEOUT_S = 15.0
PG_CONNECT_TIMEOUT_S = 5
PG_STATEMENT_TIMEOUT_MS = 10_000
PG_POOL = {"pool_size": 4, "max_overflow": 4, "pool_timeout": 10, "pool_recycle": 1800}

# execution option that marks a transaction as writing (SQLite: BEGIN IMMEDIATE)
WRITE = "nekpijn_store_write"
# engine attribute: the lock write transactions of this process take first (SQLite)
WRITE_LOCK = "nekpijn_write_lock"


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend.

    PostgreSQL stores ``timestamptz``; SQLite stores naive UTC text (so that
    text comparison is time comparison). Naive datetimes are refused: their
    meaning is ambiguous. Values always come back aware, in UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: the store needs timezone-aware datetimes")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def aware(value: datetime, name: str) -> datetime:
    """*value* in UTC; ValueError for a naive datetime (caller error, not a store failure)."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC)")
    return value.astimezone(timezone.utc)


def parse_url(url: str | URL) -> URL:
    """The SQLAlchemy URL; ``postgresql://`` and ``postgres://`` mean psycopg 3."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError(f"not a database URL: {exc}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
    if backend == "postgresql" and parsed.get_driver_name() != "psycopg":
        raise ValueError("PostgreSQL is supported through psycopg 3 (postgresql+psycopg://)")
    return parsed


def make_engine(url: str | URL) -> Engine:
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    return _postgres_engine(parsed)


def _sqlite_is_memory(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or url.query.get("mode") == "memory"


def _sqlite_engine(url: URL) -> Engine:
    memory = _sqlite_is_memory(url)
    database = url.database or ""
    if not memory and not database.startswith("file:"):
        # relative paths are relative to the working directory, as for sqlite3
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}}
    if memory and not database.startswith("file:"):
        # one shared connection: an in-memory database for tests and demos only
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)
    setattr(engine, WRITE_LOCK, threading.RLock())

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN (below)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if not memory:
                _enable_wal(cursor)
                cursor.execute("PRAGMA synchronous = NORMAL")  # safe with WAL
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _enable_wal(cursor) -> None:
    """WAL is persistent in the file; switching needs a moment alone with it."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _postgres_engine(url: URL) -> Engine:
    connect_args: dict = {"application_name": "nekpijn-cds"}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
    options = url.query.get("options", "")
    if isinstance(options, tuple):
        options = " ".join(options)
    if "statement_timeout" not in options:
        url = url.update_query_dict(
            {"options": f"{options} -c statement_timeout={PG_STATEMENT_TIMEOUT_MS}".strip()}
        )
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **PG_POOL)


@contextmanager
def transaction(engine: Engine, *, write: bool = False) -> Iterator[Connection]:
    """One transaction on a pooled connection; commits on success, rolls back on error."""
    lock = getattr(engine, WRITE_LOCK, None) if write else None
    if lock is not None:
        with lock, _transaction(engine, write) as conn:
            yield conn
    else:
        with _transaction(engine, write) as conn:
            yield conn


@contextmanager
def _transaction(engine: Engine, write: bool) -> Iterator[Connection]:
    with engine.connect() as conn:
        if write:
            conn.execution_options(**{WRITE: True})
        with conn.begin():
            yield conn


def dialect_insert(conn: Connection, table):
    """``INSERT`` with ``ON CONFLICT`` support for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)
