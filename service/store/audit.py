"""The audit log: one row per hook call (who asked, about whom (hashed), what came out)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from service.store.db import aware
from service.store.schema import audit_log

_HASH = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class AuditEntry:
    """One hook call. ``patient_hash`` is ``Store.patient_hash(reference)``, never the reference."""

    at: datetime
    service: str
    hook: str | None
    hook_instance: str | None
    issuer: str | None
    patient_hash: str | None
    profile: str | None = None
    card_summaries: list[str] = field(default_factory=list)
    duration_ms: float = 0.0
    outcome: str = "ok"
    status: int = 200


def row(entry: AuditEntry) -> dict:
    """The ``audit_log`` row of *entry* (ValueError for a patient_hash that is not a keyed hash)."""
    if entry.patient_hash is not None and not _HASH.fullmatch(entry.patient_hash):
        # guard against a raw patient reference ending up in the log
        raise ValueError("patient_hash must be a Store.patient_hash() value (64 hex digits)")
    return {
        "at": aware(entry.at, "at"),
        "service": entry.service,
        "hook": entry.hook,
        "hook_instance": entry.hook_instance,
        "issuer": entry.issuer,
        "patient_hash": entry.patient_hash,
        "profile": entry.profile,
        "card_summaries": [str(s) for s in entry.card_summaries],
        "duration_ms": float(entry.duration_ms),
        "outcome": str(entry.outcome),
        "status": int(entry.status),
    }


_INSERT = insert(audit_log)  # built once: values are bound parameters (building it per call cost ~0.4 ms)


def record(conn: Connection, entry: AuditEntry) -> None:
    record_row(conn, row(entry))


def record_row(conn: Connection, values: dict) -> None:
    conn.execute(_INSERT, values)


def recent(conn: Connection, limit: int, service: str | None) -> list[AuditEntry]:
    query = select(audit_log).order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).limit(limit)
    if service is not None:
        query = query.where(audit_log.c.service == service)
    return [
        AuditEntry(
            at=r.at, service=r.service, hook=r.hook, hook_instance=r.hook_instance, issuer=r.issuer,
            patient_hash=r.patient_hash, profile=r.profile, card_summaries=list(r.card_summaries),
            duration_ms=r.duration_ms, outcome=r.outcome, status=r.status,
        )
        for r in conn.execute(query)
    ]
