"""Versioned, data-keeping schema migrations.

The ``schema_version`` table lists the applied steps (version, description,
time). :func:`migrate` applies the missing steps in order, each in its own
transaction together with its ``schema_version`` row, so a step is either
fully applied or not at all (PostgreSQL and SQLite both have transactional
DDL). Every step is idempotent as well (``IF NOT EXISTS``, column checks,
``WHERE ... IS NULL`` backfills): a database whose tables were made by hand,
or by a step whose bookkeeping got lost, still migrates.

Two processes starting at once: each step transaction first takes a lock,
then re-reads the version. PostgreSQL: ``pg_advisory_xact_lock`` on a key
derived from the current schema (different schemas do not wait for each
other); SQLite: the transaction starts with ``BEGIN IMMEDIATE`` (the write
lock). The loser waits, sees the step applied and does nothing.

Steps never change: a new schema is a new step at the end. Each step has its
own frozen table definitions; ``schema.py`` is the current schema.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import (
    JSON, BigInteger, Column, Float, Index, Integer, MetaData, String, Table, Text, func, inspect, insert, select,
    text, update,
)
from sqlalchemy.engine import Connection, Engine

from service.store.db import UTCDateTime, transaction
from service.store.schema import Id, schema_version

log = logging.getLogger("nekpijn_cds.store")

LOCK_NAMESPACE = "nekpijn-cds/store/migrate/"
PG_MIGRATION_LOCK_TIMEOUT = "120s"


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]


# -- v1: the tables ------------------------------------------------------------

_v1 = MetaData()
Table(
    "service_keys", _v1,
    Column("name", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
Table(
    "audit_log", _v1,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("service", String, nullable=False),
    Column("hook", String),
    Column("hook_instance", String),
    Column("issuer", String),
    Column("patient_hash", String(64)),
    Column("profile", String),
    Column("card_summaries", JSON, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("status", Integer, nullable=False),
    Index("ix_audit_log_at", "at"),
)
Table(
    "issued_cards", _v1,
    Column("uuid", String, primary_key=True),
    Column("service", String, nullable=False),
    Column("hook_instance", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("override_reasons", JSON, nullable=False),
    Column("suggestion_uuids", JSON, nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    Index("ix_issued_cards_service_kind", "service", "kind"),
)
Table(
    "feedback", _v1,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("service", String, nullable=False),
    Column("card_uuid", String, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("outcome_timestamp", UTCDateTime, nullable=False),
    Column("accepted_suggestions", JSON, nullable=False),
    Column("override_reason", String),
    Column("user_comment", Text),
    Column("received_at", UTCDateTime, nullable=False),
    Index("ix_feedback_card_uuid", "card_uuid"),
)
Table(
    "jti_seen", _v1,
    Column("issuer", String, primary_key=True),
    Column("jti", String, primary_key=True),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_jti_seen_expires_at", "expires_at"),
)
V1_TABLES = _v1.tables  # for tests that write rows "as of v1"


def _v1_create_tables(conn: Connection) -> None:
    _v1.create_all(conn, checkfirst=True)


# -- v2: feedback.card_kind (backfilled) and two indexes -----------------------

def _v2_card_kind(conn: Connection) -> None:
    columns = {c["name"] for c in inspect(conn).get_columns("feedback")}
    if "card_kind" not in columns:
        conn.execute(text("ALTER TABLE feedback ADD COLUMN card_kind VARCHAR"))
    feedback, cards = _v2_tables()
    conn.execute(
        update(feedback)
        .where(feedback.c.card_kind.is_(None))
        .values(card_kind=select(cards.c.kind).where(cards.c.uuid == feedback.c.card_uuid).scalar_subquery())
    )
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_feedback_service_kind ON feedback (service, card_kind)"))
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_audit_log_service_at ON audit_log (service, at)"))


def _v2_tables() -> tuple[Table, Table]:
    m = MetaData()
    feedback = Table("feedback", m, Column("card_uuid", String), Column("card_kind", String))
    cards = Table("issued_cards", m, Column("uuid", String), Column("kind", String))
    return feedback, cards


# -- v3: self_check_submissions (patient self-check answers sent with consent) --

_v3 = MetaData()
Table(
    "self_check_submissions", _v3,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("receipt", String(16), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("questionnaire", String, nullable=False),
    Column("language", String(8), nullable=False),
    Column("advice", String(64), nullable=False),
    Column("response", JSON, nullable=False),
    Column("contact_name", Text),
    Column("contact", Text),
    Column("consent_at", UTCDateTime, nullable=False),
    Column("consent_version", String(32), nullable=False),
    Column("consent_text_sha256", String(64), nullable=False),
    Column("consent_language", String(8), nullable=False),
    Column("consent", JSON, nullable=False),
    Index("ux_self_check_submissions_receipt", "receipt", unique=True),
    Index("ix_self_check_submissions_received_at", "received_at"),
)


def _v3_self_check_submissions(conn: Connection) -> None:
    _v3.create_all(conn, checkfirst=True)


# -- v4: rate_limit_hits (fixed windows of the public endpoints' rate limit) ---

_v4 = MetaData()
Table(
    "rate_limit_hits", _v4,
    Column("bucket", String(64), primary_key=True),
    Column("client", String(64), primary_key=True),
    Column("window_end", BigInteger, primary_key=True, autoincrement=False),
    Column("hits", Integer, nullable=False),
    Index("ix_rate_limit_hits_window_end", "window_end"),
)


def _v4_rate_limit_hits(conn: Connection) -> None:
    _v4.create_all(conn, checkfirst=True)


# -- v5: issued_cards.issuer (feedback bound to the issuer the card was issued to) --

def _v5_issued_cards_issuer(conn: Connection) -> None:
    columns = {c["name"] for c in inspect(conn).get_columns("issued_cards")}
    if "issuer" not in columns:
        conn.execute(text("ALTER TABLE issued_cards ADD COLUMN issuer VARCHAR"))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "tables: service_keys, audit_log, issued_cards, feedback, jti_seen", _v1_create_tables),
    Migration(2, "feedback.card_kind (backfilled from issued_cards); indexes by service", _v2_card_kind),
    Migration(3, "self_check_submissions: self-check answers sent by the visitor, with consent",
              _v3_self_check_submissions),
    Migration(4, "rate_limit_hits: fixed-window counters of the public endpoints' rate limit", _v4_rate_limit_hits),
    Migration(5, "issued_cards.issuer: the JWT issuer a card was issued to (feedback binding)",
              _v5_issued_cards_issuer),
)
assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
LATEST = MIGRATIONS[-1].version


def _lock(conn: Connection) -> None:
    """Serialise migrations across processes (SQLite: BEGIN IMMEDIATE already did)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{PG_MIGRATION_LOCK_TIMEOUT}'")
        conn.exec_driver_sql("SET LOCAL statement_timeout = 0")  # a backfill may take a while
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:ns || coalesce(current_schema(), '')))"),
            {"ns": LOCK_NAMESPACE},
        )


def _version(conn: Connection) -> int:
    return conn.execute(select(func.coalesce(func.max(schema_version.c.version), 0))).scalar_one()


def current_version(engine: Engine) -> int:
    """The applied schema version (0: empty database)."""
    with transaction(engine) as conn:
        if not inspect(conn).has_table("schema_version"):
            return 0
        return _version(conn)


def migrate(engine: Engine, target: int | None = None) -> int:
    """Apply the missing steps up to *target* (default: the latest); the version reached.

    Never downgrades: a database at a newer version than this code knows is
    left alone (steps only add, so older code keeps working on it).
    """
    target = LATEST if target is None else target
    if not 0 <= target <= LATEST:
        raise ValueError(f"schema version must be between 0 and {LATEST}, got {target}")
    while True:
        with transaction(engine, write=True) as conn:
            _lock(conn)
            schema_version.create(conn, checkfirst=True)
            current = _version(conn)
            if current >= target:
                if current > LATEST:
                    log.warning("store schema is at v%d, newer than this code (v%d)", current, LATEST)
                return current
            step = MIGRATIONS[current]  # version current + 1
            step.apply(conn)
            conn.execute(insert(schema_version).values(
                version=step.version, description=step.description, applied_at=datetime.now(timezone.utc)))
        log.info("store schema migrated to v%d: %s", step.version, step.description)
