"""The JWT replay cache (CDS Hooks §Trusting CDS Clients: ``jti`` against replay).

One row per (issuer, jti) until the token expires. :func:`seen` is a single
``INSERT ... ON CONFLICT DO UPDATE ... WHERE expired RETURNING``: the
database's unique key decides atomically, across threads and processes,
which caller saw the jti first. An expired row (not yet purged) is taken
over as new, as the token it belonged to can no longer be used anyway.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import bindparam, delete
from sqlalchemy.engine import Connection

from service.store.db import dialect_insert
from service.store.schema import jti_seen

MAX_KEY_CHARS = 255


def bounded(value: str) -> str:
    """Long values are stored as their digest: same identity, bounded index size."""
    if len(value) <= MAX_KEY_CHARS:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()


def _seen_statement(conn: Connection):
    """The upsert of :func:`seen` with bound parameters, built once per dialect.

    Building the statement anew on every call cost about 0.7 ms (SQLAlchemy
    construction and cache-key generation), more than the database work.
    """
    stmt = _SEEN.get(conn.dialect.name)
    if stmt is None:
        when = jti_seen.c.expires_at.type
        stmt = dialect_insert(conn, jti_seen).values(
            issuer=bindparam("issuer"), jti=bindparam("jti"), expires_at=bindparam("expires_at", type_=when))
        stmt = stmt.on_conflict_do_update(
            index_elements=[jti_seen.c.issuer, jti_seen.c.jti],
            set_={"expires_at": stmt.excluded.expires_at},
            where=jti_seen.c.expires_at <= bindparam("now", type_=when),
        ).returning(jti_seen.c.jti)
        _SEEN[conn.dialect.name] = stmt
    return stmt


_SEEN: dict[str, object] = {}


def seen(conn: Connection, issuer: str, jti: str, expires_at: datetime, now: datetime) -> bool:
    params = {"issuer": bounded(issuer), "jti": bounded(jti), "expires_at": expires_at, "now": now}
    # a row back: inserted, or an expired one taken over -> new; none: replay
    return conn.execute(_seen_statement(conn), params).first() is None


def purge(conn: Connection, now: datetime) -> int:
    return conn.execute(delete(jti_seen).where(jti_seen.c.expires_at <= now)).rowcount
