"""The per-call writes on SQLite's driver connection (service/store/sqlite_writes.py).

They must store exactly what the SQLAlchemy path stores (the readers are SQLAlchemy),
commit before returning, write the audit row and the issued cards of a call in ONE
transaction (both or neither), and keep the replay check atomic across threads.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from service.store import IssuedCard, Store, StoreUnavailable
from service.store.audit import AuditEntry

NOW = datetime(2026, 12, 7, 12, 30, 15, 123456, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path):
    s = Store.from_url(f"sqlite:///{tmp_path / 'hot.db'}")
    s.migrate()
    yield s
    s.close()


def entry(store, **kw) -> AuditEntry:
    values = dict(at=NOW, service="nekpijn-behandelprofiel", hook="patient-view", hook_instance=str(uuid.uuid4()),
                  issuer="https://ehr.example.org", patient_hash=store.patient_hash("Patient/p1"), profile="B",
                  card_summaries=["Behandelprofiel B", "Ä ß — ünïcode"], duration_ms=12.5, outcome="ok", status=200)
    values.update(kw)
    return AuditEntry(**values)


def card(**kw) -> IssuedCard:
    values = dict(uuid=str(uuid.uuid4()), service="nekpijn-behandelprofiel", hook_instance="hi-1", kind="profile",
                  override_reasons=["not-applicable", "patient-preference"], suggestion_uuids=[str(uuid.uuid4())],
                  issued_at=NOW + timedelta(hours=1, minutes=2), issuer="https://ehr.example.org")
    values.update(kw)
    return IssuedCard(**values)


def raw_rows(store, sql: str) -> list[tuple]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def test_record_call_stores_what_the_sqlalchemy_path_stores(store):
    a, b = entry(store), entry(store)
    ca, cb = card(), card()
    store.record_audit(a)
    store.remember_cards([ca])
    store.record_call(b, [cb])  # the hot path
    audit_rows = raw_rows(store, "SELECT at, service, hook, issuer, patient_hash, profile, card_summaries, "
                                 "duration_ms, outcome, status FROM audit_log ORDER BY id")
    assert audit_rows[0] == audit_rows[1], "the same text in the database, byte for byte"
    card_rows = raw_rows(store, "SELECT service, hook_instance, kind, override_reasons, suggestion_uuids, "
                                "issued_at, issuer FROM issued_cards")
    assert len(card_rows) == 2
    ra, rb = (next(r for r in raw_rows(store, f"SELECT suggestion_uuids FROM issued_cards WHERE uuid = '{c.uuid}'"))
              for c in (ca, cb))
    assert ra[0].startswith('["') and rb[0].startswith('["')
    assert [r[:4] + r[5:] for r in card_rows][0] == [r[:4] + r[5:] for r in card_rows][1]
    # and read back through SQLAlchemy exactly as written
    assert store.issued_card(cb.uuid) == cb
    latest = store.audit(limit=1)[0]
    assert latest.hook_instance == b.hook_instance and latest.at == NOW
    assert latest.card_summaries == b.card_summaries and latest.patient_hash == b.patient_hash


def test_audit_and_cards_are_one_transaction_both_or_neither(store):
    with store.engine.begin() as conn:  # the audit insert fails inside the database
        conn.execute(text("CREATE TRIGGER no_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'x'); END"))
    c = card()
    with pytest.raises(StoreUnavailable):
        store.record_call(entry(store), [c])
    assert store.issued_card(c.uuid) is None, "the cards were rolled back with the failed audit row"
    with store.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER no_audit"))
    store.record_call(entry(store), [c])
    assert store.issued_card(c.uuid) == c


def test_a_bad_audit_entry_is_refused_before_anything_is_written(store):
    c = card()
    with pytest.raises(ValueError):
        store.record_call(entry(store, patient_hash="Patient/raw-reference"), [c])
    assert store.issued_card(c.uuid) is None


def test_record_call_is_committed_on_return_and_visible_to_another_connection(store, tmp_path):
    c = card()
    store.record_call(entry(store), [c])
    other = Store.from_url(f"sqlite:///{tmp_path / 'hot.db'}")
    try:
        assert other.issued_card(c.uuid) == c
    finally:
        other.close()


def test_hot_writes_take_the_write_lock_up_front(store):
    e, c = entry(store), card()  # (the audit key is read here, not during the writes)
    statements: list[str] = []
    conn = store.engine.raw_connection()  # the pooled connection the hot path will get back
    try:
        conn.driver_connection.set_trace_callback(statements.append)
    finally:
        conn.close()
    store.record_call(e, [c])
    store.seen_jti("iss", "jti-1", NOW + timedelta(minutes=5), now=NOW)
    assert [s for s in statements if s.startswith(("BEGIN", "COMMIT"))] == \
        ["BEGIN IMMEDIATE", "COMMIT", "BEGIN IMMEDIATE", "COMMIT"]


def test_replay_check_on_the_hot_path(store):
    exp = NOW + timedelta(minutes=5)
    assert store.seen_jti("iss", "a", exp, now=NOW) is False
    assert store.seen_jti("iss", "a", exp, now=NOW) is True
    assert store.seen_jti("other-iss", "a", exp, now=NOW) is False
    # an expired row is taken over as new
    assert store.seen_jti("iss", "a", exp + timedelta(minutes=10), now=exp + timedelta(seconds=1)) is False
    # long values are stored as their digest, as the SQLAlchemy path does: same identity
    long_jti = "j" * 1000
    assert store.seen_jti("iss", long_jti, exp, now=NOW) is False
    assert store.seen_jti("iss", long_jti, exp, now=NOW) is True
    assert any(r[0].startswith("sha256:") for r in raw_rows(store, "SELECT jti FROM jti_seen"))
    assert store.purge_expired(now=exp + timedelta(hours=2)) == 3  # (iss, a), (other-iss, a), (iss, long)


def test_replay_check_is_atomic_across_threads(store):
    exp = NOW + timedelta(minutes=5)
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for i in range(40):
            results.append(store.seen_jti("iss", f"shared-{i}", exp, now=NOW))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(False) == 40, "each jti accepted exactly once"
    assert results.count(True) == 7 * 40


def test_writers_waiting_for_the_write_lock_hold_no_pooled_connection(store):
    """Under load (160 calls at once in the SIGTERM test) writers queue for the process write lock;
    holding a pooled connection while queued emptied the pool and readers (feedback's card lookup)
    failed with 'no free database connection'."""
    from service.store.db import WRITE_LOCK

    lock = getattr(store.engine, WRITE_LOCK)
    entries = [entry(store) for _ in range(20)]
    with lock:
        threads = [threading.Thread(target=store.record_call, args=(e, [card()])) for e in entries]
        for t in threads:
            t.start()
        time.sleep(0.5)  # every writer is waiting for the lock by now
        assert store.engine.pool.checkedout() == 0
    for t in threads:
        t.join()
    assert len(store.audit(limit=100)) == 20
