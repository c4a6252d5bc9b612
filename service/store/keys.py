"""The audit key: HMAC-SHA256 of patient references, so the log holds no ids.

With ``NEKPIJN_AUDIT_KEY`` set, its UTF-8 bytes are the key. Otherwise a
random 32-byte key is generated once and kept in ``service_keys``; every
process on the same database uses it, so hashes agree across replicas and
restarts. Concurrent first starts: each inserts its candidate with
``ON CONFLICT DO NOTHING`` and then reads the row back, so all end up with
the one key that won.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.engine import Engine

from service.store.db import dialect_insert, transaction
from service.store.schema import service_keys

AUDIT_KEY_NAME = "audit-hmac-sha256"
KEY_BYTES = 32


def load_or_create_key(engine: Engine, name: str = AUDIT_KEY_NAME) -> bytes:
    query = select(service_keys.c.value).where(service_keys.c.name == name)
    with transaction(engine) as conn:
        stored = conn.execute(query).scalar_one_or_none()
    if stored is None:
        with transaction(engine, write=True) as conn:
            candidate = secrets.token_bytes(KEY_BYTES).hex()
            conn.execute(
                dialect_insert(conn, service_keys)
                .values(name=name, value=candidate, created_at=datetime.now(timezone.utc))
                .on_conflict_do_nothing(index_elements=[service_keys.c.name])
            )
            stored = conn.execute(query).scalar_one()
    return bytes.fromhex(stored)


def keyed_hash(key: bytes, reference: str) -> str:
    return hmac.new(key, reference.encode("utf-8"), hashlib.sha256).hexdigest()
