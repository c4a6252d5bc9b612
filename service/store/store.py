"""The store facade used by the service: one object per process, thread-safe."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from datetime import datetime, timezone

from sqlalchemy import text
from sqlalchemy.engine import URL, Engine

from service.store import audit as _audit
from service.store import feedback as _feedback
from service.store import keys as _keys
from service.store import migrations as _migrations
from service.store import rate_limit as _rate_limit
from service.store import replay as _replay
from service.store import self_check as _self_check
from service.store.audit import AuditEntry
from service.store.db import aware, make_engine, transaction
from service.store.errors import StoreUnavailable, guarded
from service.store.feedback import Feedback, IssuedCard
from service.store.self_check import SelfCheckSubmission
from service.store.sqlite_writes import SQLiteWrites


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Store:
    """Audit log, issued cards, feedback, the JWT replay cache and sent self-checks.

    Every method raises :class:`StoreUnavailable` when the database cannot be
    used, never a driver exception; ``ValueError``/``TypeError`` mean a wrong
    argument (a bug in the caller). Call :meth:`migrate` at start-up; when it
    failed there (database down), the first later call migrates, so the
    service recovers without a restart once the database is back.
    """

    def __init__(self, engine: Engine, *, audit_key: str | None = None) -> None:
        self.engine = engine
        self._audit_key = audit_key.encode("utf-8") if audit_key else None
        self._migrated = False
        self._lock = threading.Lock()
        # the writes of every hook call on the driver connection (SQLite; sqlite_writes.py)
        self._sqlite = SQLiteWrites(engine) if engine.dialect.name == "sqlite" else None

    @classmethod
    def from_url(cls, url: str | URL, *, audit_key: str | None = None) -> Store:
        """An unconnected store for *url* (SQLite file or ``postgresql://``); ValueError for a bad URL."""
        try:
            engine = make_engine(url)
        except OSError as exc:  # the SQLite folder cannot be created
            raise StoreUnavailable("open", f"{type(exc).__name__}: {exc.strerror or ''}") from None
        return cls(engine, audit_key=audit_key)

    @classmethod
    def from_settings(cls, settings) -> Store:
        """From :class:`service.config.Settings` (``database_url``, ``audit_key``)."""
        return cls.from_url(settings.database_url, audit_key=settings.audit_key)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        """Close the pooled connections (the store reconnects when used again)."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- schema -----------------------------------------------------------------

    @guarded("migrate")
    def migrate(self, target: int | None = None) -> int:
        """Bring the schema to *target* (default: latest); returns the version reached."""
        return self._migrate(target)

    def _migrate(self, target: int | None = None) -> int:
        with self._lock:
            version = _migrations.migrate(self.engine, target)
            if version >= _migrations.LATEST:
                self._migrated = True
            return version

    @guarded("schema_version")
    def schema_version(self) -> int:
        return _migrations.current_version(self.engine)

    def _ready(self) -> None:
        if not self._migrated:
            self._migrate()  # errors surface under the caller's operation name

    def ping(self) -> bool:
        """True when the database answers (for /health); never raises."""
        try:
            with transaction(self.engine) as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - health reports, it does not fail
            return False

    # -- audit ------------------------------------------------------------------

    @guarded("record_audit")
    def record_audit(self, entry: AuditEntry) -> None:
        self._ready()
        with transaction(self.engine, write=True) as conn:
            _audit.record(conn, entry)

    @guarded("record_call")
    def record_call(self, entry: AuditEntry | None, cards: Iterable[IssuedCard] = ()) -> None:
        """A hook call's audit entry and issued cards, in one transaction (committed on return).

        On SQLite straight on the driver connection (sqlite_writes.py): the write of every hook call."""
        audit_row = _audit.row(entry) if entry is not None else None  # ValueError before any work
        card_rows = [_feedback.card_row(card) for card in cards]
        if audit_row is None and not card_rows:
            return
        self._ready()
        if self._sqlite is not None:
            self._sqlite.record_call(audit_row, card_rows)
            return
        with transaction(self.engine, write=True) as conn:
            _feedback.remember_rows(conn, card_rows)
            if audit_row is not None:
                _audit.record_row(conn, audit_row)

    @guarded("audit")
    def audit(self, limit: int = 100, service: str | None = None) -> list[AuditEntry]:
        """The latest entries, newest first."""
        self._ready()
        with transaction(self.engine) as conn:
            return _audit.recent(conn, limit, service)

    @guarded("patient_hash")
    def patient_hash(self, reference: str) -> str:
        """HMAC-SHA256 (hex) of a patient reference under the audit key."""
        if self._audit_key is None:
            self._ready()
            with self._lock:
                if self._audit_key is None:
                    self._audit_key = _keys.load_or_create_key(self.engine)
        return _keys.keyed_hash(self._audit_key, reference)

    # -- cards and feedback -----------------------------------------------------

    @guarded("remember_cards")
    def remember_cards(self, cards: Iterable[IssuedCard]) -> None:
        cards = list(cards)
        if not cards:
            return
        self._ready()
        with transaction(self.engine, write=True) as conn:
            _feedback.remember(conn, cards)

    @guarded("issued_card")
    def issued_card(self, uuid: str) -> IssuedCard | None:
        self._ready()
        with transaction(self.engine) as conn:
            return _feedback.card(conn, uuid)

    @guarded("record_feedback")
    def record_feedback(
        self,
        service: str,
        card_uuid: str,
        outcome: str,
        outcome_timestamp: datetime,
        accepted_suggestions: Iterable[str] = (),
        override_reason: str | None = None,
        user_comment: str | None = None,
        received_at: datetime | None = None,
    ) -> None:
        row = _feedback.feedback_row(service, card_uuid, outcome, outcome_timestamp, accepted_suggestions,
                                     override_reason, user_comment, received_at or _now())
        self._ready()
        with transaction(self.engine, write=True) as conn:
            _feedback.record(conn, row)

    @guarded("feedback")
    def feedback(self, limit: int = 100, service: str | None = None) -> list[Feedback]:
        """The latest feedback items, newest (by receipt) first."""
        self._ready()
        with transaction(self.engine) as conn:
            return _feedback.recent(conn, limit, service)

    @guarded("feedback_summary")
    def feedback_summary(self, service: str | None = None) -> list[dict]:
        """Per service and card kind: shown, accepted, overridden, override_reasons {code: n}."""
        self._ready()
        with transaction(self.engine) as conn:
            return _feedback.summary(conn, service)

    # -- replay cache -----------------------------------------------------------

    @guarded("seen_jti")
    def seen_jti(self, issuer: str, jti: str, expires_at: datetime, now: datetime | None = None) -> bool:
        """Record (issuer, jti) until *expires_at*; True when it was already there and unexpired."""
        expires_at = aware(expires_at, "expires_at")
        now = aware(now, "now") if now is not None else _now()
        self._ready()
        if self._sqlite is not None:
            return self._sqlite.seen_jti(_replay.bounded(issuer), _replay.bounded(jti), expires_at, now)
        with transaction(self.engine, write=True) as conn:
            return _replay.seen(conn, issuer, jti, expires_at, now)

    @guarded("purge_expired")
    def purge_expired(self, now: datetime | None = None) -> int:
        """Delete expired jti records; the number deleted."""
        now = aware(now, "now") if now is not None else _now()
        self._ready()
        with transaction(self.engine, write=True) as conn:
            return _replay.purge(conn, now)

    # -- rate limit of the public endpoints ----------------------------------------

    @guarded("client_hash")
    def client_hash(self, address: str) -> str:
        """Keyed hash of a client address (the rate limit's key: no address is stored)."""
        return self.patient_hash("client-address:" + address)

    @guarded("rate_limit_hit")
    def rate_limit_hit(self, bucket: str, client_hash: str, window: int, now: float | None = None) -> tuple[int, int]:
        """Count one request of *client_hash* in *bucket*'s current fixed window of *window* seconds.

        Returns (requests in this window so far, this one included; the window's end, epoch seconds).
        """
        if len(client_hash) > 64 or len(bucket) > 64:
            raise ValueError("bucket and client_hash are at most 64 characters")
        now = time.time() if now is None else now
        end = _rate_limit.window_end(now, window)
        self._ready()
        with transaction(self.engine, write=True) as conn:
            return _rate_limit.hit(conn, bucket, client_hash, end), end

    @guarded("purge_rate_limits")
    def purge_rate_limits(self, now: float | None = None) -> int:
        """Delete rate-limit windows that have ended; the number deleted."""
        self._ready()
        with transaction(self.engine, write=True) as conn:
            return _rate_limit.purge(conn, time.time() if now is None else now)

    # -- patient self-check submissions ------------------------------------------

    @guarded("record_self_check")
    def record_self_check(self, submission: SelfCheckSubmission) -> str:
        """Store a self-check the visitor chose to send; returns its receipt (e.g. ``K7QM-3XPA``)."""
        self._ready()
        for attempt in range(_self_check.RECEIPT_ATTEMPTS):
            receipt = _self_check.new_receipt()
            try:
                with transaction(self.engine, write=True) as conn:
                    _self_check.record(conn, submission, receipt)
            except Exception as exc:  # noqa: BLE001 - only a receipt collision is retried
                if _self_check.is_receipt_conflict(exc) and attempt + 1 < _self_check.RECEIPT_ATTEMPTS:
                    continue
                raise
            return receipt
        raise AssertionError("unreachable")  # pragma: no cover

    @guarded("self_check_submissions")
    def self_check_submissions(self, limit: int = 100) -> list[SelfCheckSubmission]:
        """The latest sent self-checks, newest first."""
        self._ready()
        with transaction(self.engine) as conn:
            return _self_check.recent(conn, limit)

    @guarded("self_check_submission")
    def self_check_submission(self, receipt: str) -> SelfCheckSubmission | None:
        self._ready()
        with transaction(self.engine) as conn:
            return _self_check.by_receipt(conn, receipt)

    @guarded("count_self_check_submissions")
    def count_self_check_submissions(self) -> int:
        self._ready()
        with transaction(self.engine) as conn:
            return _self_check.count(conn)

    @guarded("all_self_check_submissions")
    def all_self_check_submissions(self, since: datetime | None = None) -> list[SelfCheckSubmission]:
        """Every sent self-check (received at or after *since*), oldest first (the practice's export)."""
        since = aware(since, "since") if since is not None else None
        self._ready()
        with transaction(self.engine) as conn:
            return _self_check.every(conn, since)

    @guarded("purge_self_checks")
    def purge_self_checks(self, before: datetime) -> int:
        """Delete the sent self-checks received before *before*; the number deleted."""
        before = aware(before, "before")
        self._ready()
        with transaction(self.engine, write=True) as conn:
            return _self_check.purge(conn, before)
