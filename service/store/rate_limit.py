"""Fixed-window counters of the public endpoints' rate limit, shared through the store.

One row per (bucket, client, window end). :func:`hit` is one
``INSERT ... ON CONFLICT DO UPDATE SET hits = hits + 1 RETURNING hits``: the
database counts atomically, across threads and replicas. Windows are aligned
to multiples of their length (epoch seconds), so every replica agrees on them
without a clock of its own beyond the usual NTP accuracy.
"""

from __future__ import annotations

from sqlalchemy import bindparam, delete
from sqlalchemy.engine import Connection

from service.store.db import dialect_insert
from service.store.schema import rate_limit_hits as table

_HIT: dict[str, object] = {}


def window_end(now: float, window: int) -> int:
    """End (epoch seconds) of the fixed window of *window* seconds that holds *now*."""
    return (int(now) // window + 1) * window


def _hit_statement(conn: Connection):
    stmt = _HIT.get(conn.dialect.name)
    if stmt is None:
        stmt = dialect_insert(conn, table).values(
            bucket=bindparam("bucket"), client=bindparam("client"), window_end=bindparam("window_end"), hits=1)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.bucket, table.c.client, table.c.window_end],
            set_={"hits": table.c.hits + 1},
        ).returning(table.c.hits)
        _HIT[conn.dialect.name] = stmt
    return stmt


def hit(conn: Connection, bucket: str, client: str, end: int) -> int:
    """Count one request in the window ending at *end*; the window's count so far (this one included)."""
    return conn.execute(_hit_statement(conn), {"bucket": bucket, "client": client, "window_end": end}).scalar_one()


def purge(conn: Connection, now: float) -> int:
    """Delete the windows that have ended."""
    return conn.execute(delete(table).where(table.c.window_end <= int(now))).rowcount
