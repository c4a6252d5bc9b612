"""Patient self-check answers that the visitor chose to send, with the consent given.

Nothing reaches this table by viewing the self-check page or by getting the
advice: only an explicit "send to the practice" with the consent box ticked
(``POST /zelfcheck/submissions``). Each row is identified to the visitor by a
short *receipt* (e.g. ``K7QM-3XPA``), drawn at random; the database's unique
index decides, a collision is retried with a new one.

Contact details and answers are personal data: they are never logged (not
even by the store's errors, see ``errors.py``).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exc as sa_exc
from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Connection

from service.store.db import aware
from service.store.schema import self_check_submissions as table

#: receipt alphabet: no 0/O, 1/I/L, 5/S, 8/B — easy to read out over the phone
RECEIPT_ALPHABET = "2345679ACDEFGHJKMNPQRTUVWXYZ"
RECEIPT = re.compile(rf"^[{RECEIPT_ALPHABET}]{{4}}-[{RECEIPT_ALPHABET}]{{4}}$")
RECEIPT_ATTEMPTS = 5
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def new_receipt() -> str:
    chars = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


@dataclass(frozen=True)
class SelfCheckSubmission:
    """One sent self-check. ``receipt`` is None until stored."""

    received_at: datetime
    questionnaire: str
    language: str
    advice: str
    response: dict
    consent_at: datetime
    consent_version: str
    consent_text_sha256: str
    consent_language: str
    consent: dict  # the FHIR Consent resource
    contact_name: str | None = None
    contact: str | None = None
    receipt: str | None = None

    def __repr__(self) -> str:  # never show answers or contact details (logs, tracebacks)
        return (f"SelfCheckSubmission(receipt={self.receipt!r}, advice={self.advice!r}, "
                f"language={self.language!r}, received_at={self.received_at.isoformat()!r})")


def _row(s: SelfCheckSubmission, receipt: str) -> dict:
    if not _HEX64.fullmatch(s.consent_text_sha256):
        raise ValueError("consent_text_sha256 must be 64 lowercase hex digits")
    if not isinstance(s.response, dict) or not isinstance(s.consent, dict):
        raise TypeError("response and consent must be JSON objects")
    return {
        "receipt": receipt, "received_at": aware(s.received_at, "received_at"), "questionnaire": s.questionnaire,
        "language": s.language, "advice": s.advice, "response": s.response, "contact_name": s.contact_name,
        "contact": s.contact, "consent_at": aware(s.consent_at, "consent_at"), "consent_version": s.consent_version,
        "consent_text_sha256": s.consent_text_sha256, "consent_language": s.consent_language,
        "consent": s.consent,
    }


def record(conn: Connection, submission: SelfCheckSubmission, receipt: str) -> None:
    conn.execute(insert(table).values(**_row(submission, receipt)))


def is_receipt_conflict(exc: BaseException) -> bool:
    """An insert refused by the unique receipt index (and nothing else)."""
    return isinstance(exc, sa_exc.IntegrityError) and "receipt" in str(getattr(exc, "orig", exc)).lower()


def _submission(r) -> SelfCheckSubmission:
    return SelfCheckSubmission(
        receipt=r.receipt, received_at=r.received_at, questionnaire=r.questionnaire, language=r.language,
        advice=r.advice, response=r.response, contact_name=r.contact_name, contact=r.contact,
        consent_at=r.consent_at, consent_version=r.consent_version, consent_text_sha256=r.consent_text_sha256,
        consent_language=r.consent_language, consent=r.consent,
    )


def recent(conn: Connection, limit: int) -> list[SelfCheckSubmission]:
    query = select(table).order_by(table.c.received_at.desc(), table.c.id.desc()).limit(limit)
    return [_submission(r) for r in conn.execute(query)]


def by_receipt(conn: Connection, receipt: str) -> SelfCheckSubmission | None:
    r = conn.execute(select(table).where(table.c.receipt == receipt)).first()
    return _submission(r) if r is not None else None


def count(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(table)).scalar_one()


def every(conn: Connection, since: datetime | None = None) -> list[SelfCheckSubmission]:
    """All sent self-checks (received at or after *since*), oldest first."""
    query = select(table).order_by(table.c.received_at, table.c.id)
    if since is not None:
        query = query.where(table.c.received_at >= since)
    return [_submission(r) for r in conn.execute(query)]


def purge(conn: Connection, before: datetime) -> int:
    """Delete the self-checks received before *before* (the retention period has passed)."""
    return conn.execute(delete(table).where(table.c.received_at < before)).rowcount
