"""Issued cards (to validate feedback against) and the feedback on them (CDS Hooks §Feedback)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from service.store.db import aware, dialect_insert
from service.store.schema import feedback, issued_cards

OUTCOMES = ("accepted", "overridden")


@dataclass(frozen=True)
class IssuedCard:
    """A card as issued: what feedback on it may name."""

    uuid: str
    service: str
    hook_instance: str
    kind: str  # card-kind code
    override_reasons: list[str] = field(default_factory=list)  # override-reason codes offered
    suggestion_uuids: list[str] = field(default_factory=list)
    issued_at: datetime | None = None
    issuer: str | None = None  # the JWT issuer of the call the card answered (v5); feedback only from it


@dataclass(frozen=True)
class Feedback:
    """One feedback item as received (a card may get several, spec §Feedback)."""

    service: str
    card_uuid: str
    outcome: str
    outcome_timestamp: datetime
    accepted_suggestions: list[str]
    override_reason: str | None
    user_comment: str | None
    received_at: datetime
    card_kind: str | None  # None: the card was not (or no longer) known


def card_row(card: IssuedCard) -> dict:
    """The ``issued_cards`` row of *card* (ValueError without ``issued_at``)."""
    if card.issued_at is None:
        raise ValueError(f"card {card.uuid}: issued_at is required")
    return {
        "uuid": card.uuid, "service": card.service, "hook_instance": card.hook_instance, "kind": card.kind,
        "override_reasons": [str(c) for c in card.override_reasons],
        "suggestion_uuids": [str(s) for s in card.suggestion_uuids],
        "issued_at": aware(card.issued_at, "issued_at"),
        "issuer": card.issuer,
    }


def remember(conn: Connection, cards: Iterable[IssuedCard]) -> int:
    return remember_rows(conn, [card_row(card) for card in cards])


def remember_rows(conn: Connection, rows: list[dict]) -> int:
    if not rows:
        return 0
    # a card uuid is issued once; a repeated remember (retry) keeps the first
    stmt = _REMEMBER.get(conn.dialect.name)
    if stmt is None:  # built once per dialect (building it per call cost ~0.2 ms)
        stmt = _REMEMBER[conn.dialect.name] = dialect_insert(conn, issued_cards).on_conflict_do_nothing(
            index_elements=[issued_cards.c.uuid])
    conn.execute(stmt, rows)
    return len(rows)


_REMEMBER: dict[str, object] = {}


def card(conn: Connection, uuid: str) -> IssuedCard | None:
    r = conn.execute(select(issued_cards).where(issued_cards.c.uuid == uuid)).first()
    if r is None:
        return None
    return IssuedCard(
        uuid=r.uuid, service=r.service, hook_instance=r.hook_instance, kind=r.kind,
        override_reasons=list(r.override_reasons), suggestion_uuids=list(r.suggestion_uuids),
        issued_at=r.issued_at, issuer=r.issuer,
    )


def feedback_row(service: str, card_uuid: str, outcome: str, outcome_timestamp: datetime,
                 accepted_suggestions: Iterable[str], override_reason: str | None,
                 user_comment: str | None, received_at: datetime) -> dict:
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
    return {
        "service": service, "card_uuid": card_uuid, "outcome": outcome,
        "outcome_timestamp": aware(outcome_timestamp, "outcome_timestamp"),
        "accepted_suggestions": [str(s) for s in accepted_suggestions],
        "override_reason": override_reason, "user_comment": user_comment,
        "received_at": aware(received_at, "received_at"),
    }


def record(conn: Connection, row: dict) -> None:
    kind = select(issued_cards.c.kind).where(issued_cards.c.uuid == row["card_uuid"]).scalar_subquery()
    conn.execute(insert(feedback).values(**row, card_kind=kind))


def recent(conn: Connection, limit: int, service: str | None) -> list[Feedback]:
    query = select(feedback).order_by(feedback.c.received_at.desc(), feedback.c.id.desc()).limit(limit)
    if service is not None:
        query = query.where(feedback.c.service == service)
    return [
        Feedback(
            service=r.service, card_uuid=r.card_uuid, outcome=r.outcome, outcome_timestamp=r.outcome_timestamp,
            accepted_suggestions=list(r.accepted_suggestions), override_reason=r.override_reason,
            user_comment=r.user_comment, received_at=r.received_at, card_kind=r.card_kind,
        )
        for r in conn.execute(query)
    ]


def summary(conn: Connection, service: str | None) -> list[dict]:
    """Per service and card kind: cards shown, cards accepted, cards overridden, override reasons.

    Counts are of distinct cards (a client may send the same feedback more
    than once, spec §Feedback), so ``accepted / shown`` is a rate. A card can
    count as both accepted and overridden when the user did both. Feedback
    on cards the store does not know has kind ``None``.
    """
    rows: dict[tuple[str, str | None], dict] = {}

    def bucket(svc: str, kind: str | None) -> dict:
        return rows.setdefault((svc, kind), {
            "service": svc, "kind": kind, "shown": 0, "accepted": 0, "overridden": 0, "override_reasons": {},
        })

    shown = select(issued_cards.c.service, issued_cards.c.kind, func.count()).group_by(
        issued_cards.c.service, issued_cards.c.kind)
    distinct_cards = func.count(feedback.c.card_uuid.distinct())
    outcomes = select(feedback.c.service, feedback.c.card_kind, feedback.c.outcome, distinct_cards).group_by(
        feedback.c.service, feedback.c.card_kind, feedback.c.outcome)
    reasons = (
        select(feedback.c.service, feedback.c.card_kind, feedback.c.override_reason, distinct_cards)
        .where(feedback.c.outcome == "overridden", feedback.c.override_reason.is_not(None))
        .group_by(feedback.c.service, feedback.c.card_kind, feedback.c.override_reason)
    )
    if service is not None:
        shown = shown.where(issued_cards.c.service == service)
        outcomes = outcomes.where(feedback.c.service == service)
        reasons = reasons.where(feedback.c.service == service)
    for svc, kind, n in conn.execute(shown):
        bucket(svc, kind)["shown"] = n
    for svc, kind, outcome, n in conn.execute(outcomes):
        bucket(svc, kind)[outcome] = n
    for svc, kind, reason, n in conn.execute(reasons):
        bucket(svc, kind)["override_reasons"][reason] = n
    for row in rows.values():
        row["override_reasons"] = dict(sorted(row["override_reasons"].items()))
    return [rows[k] for k in sorted(rows, key=lambda k: (k[0], k[1] is None, k[1] or ""))]
