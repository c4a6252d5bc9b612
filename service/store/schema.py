"""The tables at the current schema version (what the queries use).

Migrations (``migrations.py``) build this schema step by step and keep their
own frozen copy of older versions; when a table changes here, add a step.

No table holds a raw patient reference: the audit log keeps an HMAC of it
(``keys.py``); issued cards and feedback are keyed by card uuid only.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Float, Index, Integer, MetaData, String, Table, Text

from service.store.db import UTCDateTime

metadata = MetaData()

# autoincrementing ids: BIGINT identity on PostgreSQL, INTEGER rowid on SQLite
Id = BigInteger().with_variant(Integer(), "sqlite")

schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", String(200), nullable=False),
    Column("applied_at", UTCDateTime, nullable=False),
)

service_keys = Table(
    "service_keys", metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(256), nullable=False),  # hex
    Column("created_at", UTCDateTime, nullable=False),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("service", String, nullable=False),
    Column("hook", String),
    Column("hook_instance", String),
    Column("issuer", String),
    Column("patient_hash", String(64)),  # HMAC-SHA256 hex, never the reference
    Column("profile", String),
    Column("card_summaries", JSON, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("status", Integer, nullable=False),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_service_at", "service", "at"),  # v2
)

issued_cards = Table(
    "issued_cards", metadata,
    Column("uuid", String, primary_key=True),
    Column("service", String, nullable=False),
    Column("hook_instance", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("override_reasons", JSON, nullable=False),
    Column("suggestion_uuids", JSON, nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("issuer", String),  # v5: JWT issuer of the call (feedback is bound to it); NULL: auth off / before v5
    Index("ix_issued_cards_service_kind", "service", "kind"),
)

feedback = Table(
    "feedback", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("service", String, nullable=False),
    Column("card_uuid", String, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("outcome_timestamp", UTCDateTime, nullable=False),
    Column("accepted_suggestions", JSON, nullable=False),
    Column("override_reason", String),
    Column("user_comment", Text),
    Column("received_at", UTCDateTime, nullable=False),
    # v2: the card kind, copied from issued_cards when the feedback arrives
    # (backfilled by the migration), so summaries need no join and survive
    # the clean-up of old issued cards
    Column("card_kind", String),
    Index("ix_feedback_card_uuid", "card_uuid"),
    Index("ix_feedback_service_kind", "service", "card_kind"),  # v2
)

jti_seen = Table(
    "jti_seen", metadata,
    Column("issuer", String, primary_key=True),
    Column("jti", String, primary_key=True),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_jti_seen_expires_at", "expires_at"),
)

# v3: patient self-check answers a visitor chose to send to the practice, with
# the consent they gave (time, text version, digest of the text, language, and
# the FHIR Consent resource). The subject is a random per-visit id, never a
# known patient; name and contact are optional and only what the visitor typed.
self_check_submissions = Table(
    "self_check_submissions", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("receipt", String(16), nullable=False),  # shown to the visitor, unique
    Column("received_at", UTCDateTime, nullable=False),
    Column("questionnaire", String, nullable=False),  # canonical URL (|version)
    Column("language", String(8), nullable=False),
    Column("advice", String(64), nullable=False),  # advice code, computed by the service
    Column("response", JSON, nullable=False),  # the QuestionnaireResponse
    Column("contact_name", Text),
    Column("contact", Text),  # phone number or e-mail address
    Column("consent_at", UTCDateTime, nullable=False),
    Column("consent_version", String(32), nullable=False),
    Column("consent_text_sha256", String(64), nullable=False),
    Column("consent_language", String(8), nullable=False),
    Column("consent", JSON, nullable=False),  # FHIR Consent resource
    Index("ux_self_check_submissions_receipt", "receipt", unique=True),
    Index("ix_self_check_submissions_received_at", "received_at"),
)

# v4: public-endpoint rate limiting, a fixed window per (bucket, client): one row per window with its
# count, shared by every replica; rows are purged once their window has ended. `client` is a keyed
# hash of the client address (Store.client_hash), never the address itself.
rate_limit_hits = Table(
    "rate_limit_hits", metadata,
    Column("bucket", String(64), primary_key=True),
    Column("client", String(64), primary_key=True),
    Column("window_end", BigInteger, primary_key=True, autoincrement=False),  # epoch seconds
    Column("hits", Integer, nullable=False),
    Index("ix_rate_limit_hits_window_end", "window_end"),
)
