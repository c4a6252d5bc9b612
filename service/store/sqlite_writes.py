"""The writes of every hook call, on SQLite, straight on the driver connection.

Every hook call writes a replay-cache row (``jti_seen``, JWT on) and, in one
transaction, its issued cards and its audit entry. Through SQLAlchemy Core each
of these transactions cost 0.3–0.4 ms of CPU (connection checkout, the ``begin``
event, statement execution machinery, commit, reset on return); SQLite itself
needs ~0.07 ms. Here the same SQL runs on the pooled ``sqlite3`` connection
(``engine.raw_connection()``: the same pool, pragmas and write lock as every
other store call), with the values written exactly as SQLAlchemy writes them
(naive UTC ``YYYY-MM-DD HH:MM:SS.ffffff`` text, JSON text), so that every reader
(SQLAlchemy) sees the same rows. Each write is committed before the call returns:
nothing is deferred. PostgreSQL keeps the SQLAlchemy path (``store.py``), where
the network round trip dominates.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone

from sqlalchemy.engine import Engine

from service.store.db import WRITE_LOCK

_SEEN = ("INSERT INTO jti_seen (issuer, jti, expires_at) VALUES (?, ?, ?) "
         "ON CONFLICT (issuer, jti) DO UPDATE SET expires_at = excluded.expires_at "
         "WHERE jti_seen.expires_at <= ? RETURNING jti")
_AUDIT_COLUMNS = ("at", "service", "hook", "hook_instance", "issuer", "patient_hash", "profile", "card_summaries",
                  "duration_ms", "outcome", "status")
_AUDIT = (f"INSERT INTO audit_log ({', '.join(_AUDIT_COLUMNS)}) "
          f"VALUES ({', '.join('?' for _ in _AUDIT_COLUMNS)})")
_CARD_COLUMNS = ("uuid", "service", "hook_instance", "kind", "override_reasons", "suggestion_uuids", "issued_at",
                 "issuer")
# a card uuid is issued once; a repeated remember (retry) keeps the first
_CARDS = (f"INSERT INTO issued_cards ({', '.join(_CARD_COLUMNS)}) "
          f"VALUES ({', '.join('?' for _ in _CARD_COLUMNS)}) ON CONFLICT (uuid) DO NOTHING")
_JSON_COLUMNS = {"card_summaries", "override_reasons", "suggestion_uuids"}


def sqlite_time(value: datetime) -> str:
    """An aware datetime as SQLAlchemy stores it in SQLite (UTCDateTime: naive UTC text)."""
    value = value.astimezone(timezone.utc)
    return (f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
            f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}")


def _value(column: str, value):
    if value is None:
        return None
    if isinstance(value, datetime):
        return sqlite_time(value)
    if column in _JSON_COLUMNS:
        return json.dumps(value)  # SQLAlchemy's JSON type serialises with json.dumps too
    return value


class SQLiteWrites:
    """The hot writes of :class:`service.store.Store` on one SQLite engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.lock = getattr(engine, WRITE_LOCK)

    def _write(self, work):
        """*work(cursor)* inside ``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on any error)."""
        # the process write lock FIRST, then a connection (as db.transaction does): threads queued for
        # the lock must not hold pooled connections, or readers find the pool empty under load
        with self.lock:
            conn = self.engine.raw_connection()
            try:
                cursor = conn.cursor()
                try:
                    cursor.execute("BEGIN IMMEDIATE")
                    try:
                        result = work(cursor)
                    except BaseException:
                        cursor.execute("ROLLBACK")
                        raise
                    cursor.execute("COMMIT")
                    return result
                finally:
                    cursor.close()
            finally:
                conn.close()  # back to the pool

    def seen_jti(self, issuer: str, jti: str, expires_at: datetime, now: datetime) -> bool:
        """True when (issuer, jti) is already there and unexpired; else recorded (atomically: one upsert)."""
        params = (issuer, jti, sqlite_time(expires_at), sqlite_time(now))
        return self._write(lambda cursor: cursor.execute(_SEEN, params).fetchone() is None)

    def record_call(self, audit_row: dict | None, card_rows: Iterable[dict]) -> None:
        """An audit row (``audit.row`` values) and issued-card rows (``feedback.card_row``), one transaction."""
        cards = [tuple(_value(c, row[c]) for c in _CARD_COLUMNS) for row in card_rows]
        audit = tuple(_value(c, audit_row[c]) for c in _AUDIT_COLUMNS) if audit_row is not None else None

        def work(cursor) -> None:
            if cards:
                cursor.executemany(_CARDS, cards)
            if audit is not None:
                cursor.execute(_AUDIT, audit)

        if cards or audit is not None:
            self._write(work)
