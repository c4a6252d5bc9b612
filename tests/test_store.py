"""The store (layer 5) on SQLite and PostgreSQL: migrations, round trips, replay cache, races.

Every test that takes ``new_url`` runs on both backends. SQLite: a file in
``tmp_path``. PostgreSQL: a fresh schema per database in
``NEKPIJN_TEST_POSTGRES_URL`` (set by ``conftest.py`` to the throw-away server it starts,
unless given),
selected with ``search_path`` in the URL and dropped afterwards, so parallel
runs never share tables and the database itself is left as it was.
PostgreSQL tests FAIL (never skip) when the server cannot be reached.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from sqlalchemy import inspect, insert, text
from sqlalchemy.engine import make_url

from service.store import SCHEMA_VERSION, AuditEntry, IssuedCard, SelfCheckSubmission, Store, StoreUnavailable
from service.store.migrations import MIGRATIONS, V1_TABLES

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("NEKPIJN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
UTC = timezone.utc
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
ALL_STEPS = list(range(1, SCHEMA_VERSION + 1))


# -- fixtures ----------------------------------------------------------------------


def _pg_connect():
    url = make_url(PG_URL)
    try:
        return psycopg.connect(
            host=url.host, port=url.port or 5432, user=url.username, password=url.password,
            dbname=url.database, connect_timeout=5, autocommit=True,
        )
    except psycopg.Error as exc:
        pytest.fail(
            f"PostgreSQL is required for the store tests and is unreachable at "
            f"{url.render_as_string(hide_password=True)} ({type(exc).__name__}: {exc}). "
            f"Start it or point NEKPIJN_TEST_POSTGRES_URL at one.",
            pytrace=False,
        )


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def new_url(backend, tmp_path):
    """Factory: the URL of a new, empty database on the backend under test."""
    schemas: list[str] = []
    admin = _pg_connect() if backend == "postgresql" else None

    def make() -> str:
        if backend == "sqlite":
            # a folder that does not exist yet: the store must create it
            return f"sqlite:///{tmp_path / uuid.uuid4().hex[:8] / 'store.db'}"
        schema = f"nekpijn_store_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
        admin.execute(f'CREATE SCHEMA "{schema}"')
        schemas.append(schema)
        return make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)

    yield make
    if admin is not None:
        for schema in schemas:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.close()


@pytest.fixture
def open_store():
    """Factory: Store.from_url, closed (pool disposed) at the end of the test."""
    stores: list[Store] = []

    def make(url: str, **kwargs) -> Store:
        store = Store.from_url(url, **kwargs)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def store(new_url, open_store) -> Store:
    s = open_store(new_url())
    s.migrate()
    return s


def rows(store: Store, sql: str) -> list[tuple]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def entry(at: datetime = T0, **overrides) -> AuditEntry:
    values = dict(at=at, service="nekpijn-consult", hook="patient-view", hook_instance="hi-1", issuer="https://ehr",
                  patient_hash=None, profile="A", card_summaries=["Advies: blijf bewegen"], duration_ms=12.5,
                  outcome="ok", status=200)
    values.update(overrides)
    return AuditEntry(**values)


def card(uuid_: str, service: str = "nekpijn-consult", kind: str = "advice", **overrides) -> IssuedCard:
    values = dict(uuid=uuid_, service=service, hook_instance="hi-1", kind=kind, override_reasons=["not-relevant",
                  "patient-declines"], suggestion_uuids=[f"{uuid_}-s1", f"{uuid_}-s2"], issued_at=T0)
    values.update(overrides)
    return IssuedCard(**values)


# -- migrations --------------------------------------------------------------------


def test_migrate_creates_schema_and_is_repeatable(new_url, open_store, backend):
    s = open_store(new_url())
    assert s.schema_version() == 0
    assert s.migrate() == SCHEMA_VERSION == 5
    assert s.migrate() == SCHEMA_VERSION  # no-op the second time
    assert [r[0] for r in rows(s, "SELECT version FROM schema_version ORDER BY version")] == ALL_STEPS
    tables = set(inspect(s.engine).get_table_names())
    assert {"schema_version", "service_keys", "audit_log", "issued_cards", "feedback", "jti_seen",
            "self_check_submissions", "rate_limit_hits"} <= tables
    if backend == "postgresql":  # the tables live in the test's own schema (search_path), not in public
        [(schema,)] = rows(s, "SELECT table_schema FROM information_schema.tables WHERE table_name = 'audit_log' "
                              "AND table_schema = current_schema()")
        assert schema.startswith("nekpijn_store_test_")


def test_migrations_build_exactly_the_current_schema(store):
    """schema.py (what the queries use) and the migration steps must not drift apart."""
    from service.store.schema import metadata

    insp = inspect(store.engine)
    for table in metadata.sorted_tables:
        columns = {c["name"]: c["nullable"] for c in insp.get_columns(table.name)}
        assert columns == {c.name: c.nullable for c in table.columns}, table.name
        indexes = {i["name"]: list(i["column_names"]) for i in insp.get_indexes(table.name)}
        assert indexes == {i.name: [c.name for c in i.columns] for i in table.indexes}, table.name
        assert insp.get_pk_constraint(table.name)["constrained_columns"] == [c.name for c in table.primary_key]


def test_upgrade_from_v1_keeps_rows(new_url, open_store):
    s = open_store(new_url())
    assert s.migrate(target=1) == 1
    assert "card_kind" not in {c["name"] for c in inspect(s.engine).get_columns("feedback")}
    with s.engine.begin() as conn:  # rows written by v1 code
        conn.execute(insert(V1_TABLES["audit_log"]).values(
            at=T0, service="svc", hook="patient-view", hook_instance="hi", issuer="iss", patient_hash="ab" * 32,
            profile="B", card_summaries=["een", "twee"], duration_ms=3.0, outcome="ok", status=200))
        conn.execute(insert(V1_TABLES["issued_cards"]).values(
            uuid="c-old", service="svc", hook_instance="hi", kind="referral", override_reasons=["r1"],
            suggestion_uuids=["s1"], issued_at=T0))
        conn.execute(insert(V1_TABLES["feedback"]).values(
            service="svc", card_uuid="c-old", outcome="overridden", outcome_timestamp=T0,
            accepted_suggestions=[], override_reason="r1", user_comment="nee", received_at=T0))
        conn.execute(insert(V1_TABLES["jti_seen"]).values(issuer="iss", jti="j-old", expires_at=T0 + timedelta(days=1)))
        conn.execute(insert(V1_TABLES["service_keys"]).values(name="audit-hmac-sha256", value="11" * 32, created_at=T0))

    assert s.migrate() == SCHEMA_VERSION
    assert [r[0] for r in rows(s, "SELECT version FROM schema_version ORDER BY version")] == ALL_STEPS
    [old] = s.audit()
    assert (old.at, old.patient_hash, old.card_summaries, old.profile) == (T0, "ab" * 32, ["een", "twee"], "B")
    assert s.issued_card("c-old").kind == "referral"
    [fb] = s.feedback()
    assert (fb.card_uuid, fb.card_kind, fb.user_comment) == ("c-old", "referral", "nee")  # backfilled by v2
    assert s.feedback_summary() == [{"service": "svc", "kind": "referral", "shown": 1, "accepted": 0,
                                     "overridden": 1, "override_reasons": {"r1": 1}}]
    assert s.seen_jti("iss", "j-old", T0 + timedelta(days=1), now=T0) is True
    key = bytes.fromhex("11" * 32)  # the key generated at v1 is kept
    assert s.patient_hash("Patient/9") == hmac.new(key, b"Patient/9", hashlib.sha256).hexdigest()
    index_names = {i["name"] for i in inspect(s.engine).get_indexes("feedback")}
    assert "ix_feedback_service_kind" in index_names


def test_steps_are_idempotent(store):
    for step in MIGRATIONS:  # applying every step again on the migrated schema changes nothing
        with store.engine.begin() as conn:
            step.apply(conn)
    # lost bookkeeping: v2 and later ran but their rows are gone -> migrate re-runs them harmlessly
    store.record_audit(entry())
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM schema_version WHERE version >= 2"))
    fresh = Store(store.engine)
    assert fresh.migrate() == SCHEMA_VERSION
    assert len(fresh.audit()) == 1


def test_newer_schema_is_left_alone(store):
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO schema_version (version, description, applied_at) "
                          "VALUES (99, 'from the future', CURRENT_TIMESTAMP)"))
    assert Store(store.engine).migrate() == 99
    store.record_audit(entry())
    assert len(store.audit()) == 1


def test_first_call_migrates_when_start_up_could_not(new_url, open_store):
    s = open_store(new_url())  # migrate() never called (e.g. database down at start-up)
    s.record_audit(entry())
    assert s.schema_version() == SCHEMA_VERSION
    assert len(s.audit()) == 1


def test_sqlite_file_settings(tmp_path, open_store):
    url = f"sqlite:///{tmp_path / 'deep' / 'er' / 'cds.db'}"
    s = open_store(url)
    s.migrate()
    assert (tmp_path / "deep" / "er" / "cds.db").is_file()
    assert rows(s, "PRAGMA journal_mode") == [("wal",)]
    assert rows(s, "PRAGMA busy_timeout")[0][0] >= 5000


def test_sqlite_relative_path_creates_folder(tmp_path, monkeypatch, open_store):
    monkeypatch.chdir(tmp_path)
    s = open_store("sqlite:///var/nekpijn-cds.db")  # the default of Settings.database_url
    s.migrate()
    assert (tmp_path / "var" / "nekpijn-cds.db").is_file()


def test_sqlite_write_transactions_begin_immediate(tmp_path, open_store):
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    statements: list[str] = []
    from sqlalchemy import event

    @event.listens_for(store.engine, "before_cursor_execute")
    def spy(conn, cursor, statement, *args):
        statements.append(statement)

    store.record_audit(entry())
    store.audit()
    event.remove(store.engine, "before_cursor_execute", spy)
    begins = [s for s in statements if s.startswith("BEGIN")]
    assert begins == ["BEGIN IMMEDIATE", "BEGIN"]


# -- audit -------------------------------------------------------------------------


def test_audit_round_trip_newest_first(store):
    h = store.patient_hash("Patient/123")
    amsterdam = datetime(2026, 3, 2, 11, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))  # = 10:00 UTC
    store.record_audit(entry(at=T0, patient_hash=h))
    store.record_audit(entry(at=amsterdam, service="nekpijn-order", hook="order-select", outcome="412", status=412,
                             profile=None, card_summaries=[], duration_ms=0.25))
    store.record_audit(entry(at=T0 + timedelta(minutes=1), hook_instance=None, issuer=None, hook=None,
                             outcome="401", status=401, profile=None, card_summaries=[]))
    got = store.audit()
    assert [e.outcome for e in got] == ["412", "401", "ok"]
    assert got[0].at == datetime(2026, 3, 2, 10, 0, tzinfo=UTC) and got[0].at.tzinfo == UTC
    assert got[2] == entry(at=T0, patient_hash=h)
    assert got[1].hook is None and got[1].issuer is None
    assert got[0].duration_ms == 0.25 and got[0].profile is None and got[0].card_summaries == []
    assert [e.outcome for e in store.audit(limit=2)] == ["412", "401"]
    assert [e.service for e in store.audit(service="nekpijn-order")] == ["nekpijn-order"]
    assert store.audit(service="unknown") == []


def test_naive_datetimes_and_raw_references_are_refused(store):
    with pytest.raises(ValueError, match="timezone-aware"):
        store.record_audit(entry(at=datetime(2026, 3, 2, 9, 30)))
    with pytest.raises(ValueError, match="patient_hash"):
        store.record_audit(entry(patient_hash="Patient/123"))
    with pytest.raises(ValueError, match="timezone-aware"):
        store.seen_jti("iss", "j", datetime(2026, 3, 2))
    with pytest.raises(ValueError, match="outcome"):
        store.record_feedback("svc", "c", "ignored", T0)
    assert store.audit() == []


def test_no_raw_patient_reference_is_stored(store):
    reference = "Patient/bsn-999999990"
    store.record_audit(entry(patient_hash=store.patient_hash(reference)))
    store.remember_cards([card("c1")])
    store.record_feedback("nekpijn-consult", "c1", "accepted", T0, ["c1-s1"])
    dump = json.dumps([rows(store, f"SELECT * FROM {t}") for t in
                       ("audit_log", "issued_cards", "feedback", "service_keys", "jti_seen")], default=str)
    assert "999999990" not in dump
    assert store.patient_hash(reference) in dump


# -- patient hash ------------------------------------------------------------------


def test_patient_hash_is_stable_and_keyed(new_url, open_store):
    url = new_url()
    a = open_store(url)
    h = a.patient_hash("Patient/123")
    assert len(h) == 64 and int(h, 16) >= 0
    assert a.patient_hash("Patient/123") == h
    assert a.patient_hash("Patient/124") != h
    assert h != hashlib.sha256(b"Patient/123").hexdigest()  # keyed, not a bare digest
    [(stored_key,)] = rows(a, "SELECT value FROM service_keys")
    assert len(bytes.fromhex(stored_key)) == 32
    assert h == hmac.new(bytes.fromhex(stored_key), b"Patient/123", hashlib.sha256).hexdigest()
    # another process/replica on the same database: the same key, the same hash
    assert open_store(url).patient_hash("Patient/123") == h
    # a configured key (NEKPIJN_AUDIT_KEY) wins over the stored one
    configured = open_store(url, audit_key="s3cret")
    expected = hmac.new(b"s3cret", b"Patient/123", hashlib.sha256).hexdigest()
    assert configured.patient_hash("Patient/123") == expected != h
    assert len(rows(a, "SELECT * FROM service_keys")) == 1


def test_patient_hash_with_configured_key_needs_no_database():
    s = Store.from_url("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1", audit_key="k")
    assert s.patient_hash("Patient/1") == hmac.new(b"k", b"Patient/1", hashlib.sha256).hexdigest()
    s.close()


# -- issued cards and feedback ------------------------------------------------------


def test_cards_round_trip(store):
    issued = card("c1", issued_at=datetime(2026, 3, 2, 10, 30, tzinfo=ZoneInfo("Europe/Amsterdam")))
    store.remember_cards([issued, card("c2", kind="referral", override_reasons=[], suggestion_uuids=[])])
    got = store.issued_card("c1")
    assert got == card("c1", issued_at=T0)
    assert got.issued_at.tzinfo == UTC
    assert store.issued_card("c2").override_reasons == []
    assert store.issued_card("nope") is None
    store.remember_cards([card("c1", kind="other")])  # a retried remember keeps the first
    assert store.issued_card("c1").kind == "advice"
    store.remember_cards([])


def test_feedback_round_trip(store):
    store.remember_cards([card("c1")])
    store.record_feedback("nekpijn-consult", "c1", "overridden", T0, [], "patient-declines", "Wil eerst afwachten",
                          received_at=T0 + timedelta(seconds=5))
    store.record_feedback(service="nekpijn-consult", card_uuid="c1", outcome="accepted",
                          outcome_timestamp=T0 + timedelta(minutes=1), accepted_suggestions=["c1-s1", "c1-s2"],
                          override_reason=None, user_comment=None, received_at=T0 + timedelta(minutes=1))
    newest, oldest = store.feedback()
    assert (newest.outcome, newest.accepted_suggestions, newest.override_reason) == ("accepted", ["c1-s1", "c1-s2"],
                                                                                      None)
    assert (oldest.outcome, oldest.override_reason, oldest.user_comment) == ("overridden", "patient-declines",
                                                                             "Wil eerst afwachten")
    assert oldest.outcome_timestamp == T0 and oldest.received_at == T0 + timedelta(seconds=5)
    assert newest.card_kind == oldest.card_kind == "advice"
    assert store.feedback(service="other") == []
    store.record_feedback("nekpijn-consult", "c1", "accepted", T0, ["c1-s1"])  # received_at defaults to now
    assert store.feedback(limit=1)[0].received_at > T0


def test_feedback_summary_counts(store):
    store.remember_cards([card("a1"), card("a2"), card("a3"), card("r1", kind="referral"),
                          card("o1", service="nekpijn-order", kind="advice")])
    fb = store.record_feedback
    fb("nekpijn-consult", "a1", "accepted", T0, ["a1-s1"])
    fb("nekpijn-consult", "a1", "accepted", T0, ["a1-s1"])  # the same feedback twice: one card
    fb("nekpijn-consult", "a2", "overridden", T0, [], "not-relevant")
    fb("nekpijn-consult", "a3", "overridden", T0, [], "not-relevant")
    fb("nekpijn-consult", "a3", "overridden", T0, [], None, "zonder reden")
    fb("nekpijn-consult", "r1", "overridden", T0, [], "patient-declines")
    fb("nekpijn-consult", "ghost", "overridden", T0)  # a card the store does not know
    fb("nekpijn-order", "o1", "accepted", T0, ["o1-s2"])
    consult = [
        {"service": "nekpijn-consult", "kind": "advice", "shown": 3, "accepted": 1, "overridden": 2,
         "override_reasons": {"not-relevant": 2}},
        {"service": "nekpijn-consult", "kind": "referral", "shown": 1, "accepted": 0, "overridden": 1,
         "override_reasons": {"patient-declines": 1}},
        {"service": "nekpijn-consult", "kind": None, "shown": 0, "accepted": 0, "overridden": 1,
         "override_reasons": {}},
    ]
    order = [{"service": "nekpijn-order", "kind": "advice", "shown": 1, "accepted": 1, "overridden": 0,
              "override_reasons": {}}]
    assert store.feedback_summary("nekpijn-consult") == consult
    assert store.feedback_summary() == consult + order
    assert store.feedback_summary("nobody") == []


# -- sent self-checks ----------------------------------------------------------------


def submission(**overrides) -> SelfCheckSubmission:
    values = dict(
        received_at=T0, questionnaire="https://nekpijn-cds.org/fhir/Questionnaire/nekklachten-zelfcheck",
        language="nl", advice="advice-gp",
        response={"resourceType": "QuestionnaireResponse", "status": "completed",
                  "item": [{"linkId": "sc-radiating", "answer": [{"valueBoolean": True}]}]},
        consent_at=T0, consent_version="1", consent_text_sha256="ab" * 32, consent_language="nl",
        consent={"resourceType": "Consent", "status": "active"}, contact_name="Jan Jansen", contact="06 1234 5678")
    values.update(overrides)
    return SelfCheckSubmission(**values)


def test_self_check_submission_round_trip(store):
    assert store.count_self_check_submissions() == 0
    first = store.record_self_check(submission())
    second = store.record_self_check(submission(received_at=T0 + timedelta(minutes=1), contact_name=None,
                                                contact=None, advice="advice-self-care", language="en"))
    assert first != second
    for receipt in (first, second):
        assert re.fullmatch(r"[2-9A-Z]{4}-[2-9A-Z]{4}", receipt)
    newest, oldest = store.self_check_submissions()
    assert (newest.receipt, newest.advice, newest.language, newest.contact) == (second, "advice-self-care", "en", None)
    assert oldest == submission(receipt=first)  # answers, consent and contact as sent; times in UTC
    assert store.self_check_submission(first) == oldest
    assert store.self_check_submission("XXXX-XXXX") is None
    assert store.count_self_check_submissions() == 2
    assert "Jan" not in repr(oldest) and "0612" not in repr(oldest).replace(" ", "")  # never in logs


def test_self_check_receipt_collision_is_retried(store, monkeypatch):
    from service.store import self_check

    drawn = iter(["AAAA-2222", "AAAA-2222", "AAAA-3333"])
    monkeypatch.setattr(self_check, "new_receipt", lambda: next(drawn))
    assert store.record_self_check(submission()) == "AAAA-2222"
    assert store.record_self_check(submission()) == "AAAA-3333"  # the second draw collided
    assert store.count_self_check_submissions() == 2


def test_self_check_submission_refuses_bad_values(store):
    with pytest.raises(ValueError):
        store.record_self_check(submission(consent_text_sha256="not-a-digest"))
    with pytest.raises(ValueError):
        store.record_self_check(submission(received_at=datetime(2026, 3, 2, 9, 30)))  # naive
    assert store.count_self_check_submissions() == 0


def test_upgrade_from_v2_keeps_rows_and_adds_self_checks(new_url, open_store):
    s = open_store(new_url())
    assert s.migrate(target=2) == 2
    assert "self_check_submissions" not in inspect(s.engine).get_table_names()
    s.record_audit(entry())
    assert s.migrate() == SCHEMA_VERSION
    assert len(s.audit()) == 1
    receipt = s.record_self_check(submission())
    assert s.self_check_submission(receipt).advice == "advice-gp"


# -- replay cache ------------------------------------------------------------------


def test_jti_replay(store):
    exp = T0 + timedelta(minutes=5)
    assert store.seen_jti("https://ehr", "jti-1", exp, now=T0) is False
    assert store.seen_jti("https://ehr", "jti-1", exp, now=T0 + timedelta(minutes=1)) is True
    assert store.seen_jti("https://other-ehr", "jti-1", exp, now=T0) is False  # per issuer
    long_jti = "x" * 5000  # stored as a digest, still detected
    assert store.seen_jti("https://ehr", long_jti, exp, now=T0) is False
    assert store.seen_jti("https://ehr", long_jti, exp, now=T0) is True
    # an expired, not yet purged record no longer counts (its token is dead anyway)
    later = T0 + timedelta(minutes=10)
    assert store.seen_jti("https://ehr", "jti-1", later + timedelta(minutes=5), now=later) is False
    assert store.seen_jti("https://ehr", "jti-1", later + timedelta(minutes=5), now=later) is True
    assert store.seen_jti("https://ehr", "jti-2", T0 + timedelta(minutes=1), now=T0) is False
    # purge: only the expired ones go
    assert store.purge_expired(now=T0 + timedelta(minutes=6)) == 3  # other-ehr jti-1, long, jti-2
    assert rows(store, "SELECT issuer, jti FROM jti_seen") == [("https://ehr", "jti-1")]
    assert store.seen_jti("https://ehr", "jti-2", later, now=T0 + timedelta(minutes=6)) is False
    assert store.purge_expired(now=T0 + timedelta(minutes=20)) == 2
    assert rows(store, "SELECT count(*) FROM jti_seen") == [(0,)]
    assert store.seen_jti("https://ehr", "jti-3", datetime.now(UTC) + timedelta(minutes=5)) is False
    assert store.purge_expired() == 0  # the real clock: jti-3 is still valid


@pytest.mark.parametrize("interval, left", [(0.0, 1), (3600.0, 2)])
def test_replay_guard_purges_expired_rows_when_due(store, interval, left):
    """The service's replay check deletes expired rows at most once per interval."""
    from service.store.replay_guard import ReplayGuard
    store.seen_jti("https://ehr", "old", T0 + timedelta(minutes=5), now=T0)  # long expired
    guard = ReplayGuard(store, purge_interval=interval)
    assert guard.seen_jti("https://ehr", "new", datetime.now(UTC) + timedelta(minutes=5)) is False
    assert rows(store, "SELECT count(*) FROM jti_seen") == [(left,)]
    assert guard.seen_jti("https://ehr", "new", datetime.now(UTC) + timedelta(minutes=5)) is True


def test_jti_replay_threads(store):
    barrier = threading.Barrier(12)
    results: list[bool] = []
    lock = threading.Lock()
    exp = datetime.now(UTC) + timedelta(minutes=5)

    def worker() -> None:
        barrier.wait()
        for i in range(20):
            seen = store.seen_jti("iss", f"shared-{i}", exp)
            with lock:
                results.append(seen)

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(False) == 20  # each jti new exactly once
    assert results.count(True) == 20 * 11


# -- restart -----------------------------------------------------------------------


def test_data_survives_a_restart(new_url, open_store):
    url = new_url()
    first = open_store(url)
    first.migrate()
    h = first.patient_hash("Patient/7")
    first.record_audit(entry(patient_hash=h))
    first.remember_cards([card("c1")])
    first.record_feedback("nekpijn-consult", "c1", "accepted", T0, ["c1-s1"])
    assert first.seen_jti("iss", "j1", datetime.now(UTC) + timedelta(hours=1)) is False
    first.close()

    second = open_store(url)  # a new process, same URL
    assert second.migrate() == SCHEMA_VERSION
    assert second.audit() == [entry(patient_hash=h)]
    assert second.patient_hash("Patient/7") == h
    assert second.issued_card("c1") == card("c1")
    assert second.feedback_summary()[0]["accepted"] == 1
    assert second.seen_jti("iss", "j1", datetime.now(UTC) + timedelta(hours=1)) is True
    assert second.ping() is True


# -- two processes -----------------------------------------------------------------

CHILD = r"""
import json, logging, sys
from datetime import datetime, timedelta, timezone
from service.store import AuditEntry, IssuedCard, Store

applied = []
class Steps(logging.Handler):
    def emit(self, record):
        applied.append(record.args[0])
logger = logging.getLogger("nekpijn_cds.store")
logger.setLevel(logging.INFO)
logger.addHandler(Steps(level=logging.INFO))

url, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
print("ready", flush=True)
sys.stdin.readline()  # start line: both processes go at once
store = Store.from_url(url)
version = store.migrate()
now = datetime.now(timezone.utc)
h = store.patient_hash("Patient/shared")
store.record_audit(AuditEntry(at=now, service="svc", hook="patient-view", hook_instance=tag, issuer="iss",
                              patient_hash=h, profile=None, card_summaries=[tag], duration_ms=1.0, outcome="ok",
                              status=200))
shared = IssuedCard(uuid="card-shared", service="svc", hook_instance="hi", kind="advice",
                    override_reasons=["r"], suggestion_uuids=["s"], issued_at=now)
store.remember_cards([shared, IssuedCard(uuid="card-" + tag, service="svc", hook_instance=tag, kind="referral",
                                         override_reasons=[], suggestion_uuids=[], issued_at=now)])
store.record_feedback("svc", "card-shared", "overridden", now, [], "r", None, now)
store.record_feedback("svc", "card-" + tag, "overridden", now, [], None, tag, now)
exp = now + timedelta(minutes=5)
new = [i for i in range(n) if not store.seen_jti("iss", f"jti-{i}", exp)]
store.close()
print(json.dumps({"version": version, "applied": applied, "hash": h, "new": new}), flush=True)
"""


def _race(url: str, n: int) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, url, tag, str(n)], cwd=ROOT, env=env, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for tag in ("p1", "p2")]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        for p in procs:  # release both as close together as we can
            p.stdin.write("go\n")
            p.stdin.flush()
        outputs = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            outputs.append(json.loads(out.strip().splitlines()[-1]))
        return outputs
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


@pytest.mark.parametrize("round_", range(3))
def test_two_processes_race(new_url, open_store, round_):
    url, n = new_url(), 150
    a, b = _race(url, n)
    assert a["version"] == b["version"] == SCHEMA_VERSION  # both migrated (one did, one waited)
    assert sorted(a["applied"] + b["applied"]) == ALL_STEPS  # every step applied exactly once
    assert a["hash"] == b["hash"]  # one audit key, generated once
    assert set(a["new"]).isdisjoint(b["new"]) and set(a["new"]) | set(b["new"]) == set(range(n))

    s = open_store(url)
    assert [r[0] for r in rows(s, "SELECT version FROM schema_version ORDER BY version")] == ALL_STEPS
    assert len(rows(s, "SELECT * FROM service_keys")) == 1
    assert s.patient_hash("Patient/shared") == a["hash"]
    assert sorted(e.hook_instance for e in s.audit()) == ["p1", "p2"]
    assert len(rows(s, "SELECT * FROM issued_cards")) == 3
    assert s.feedback_summary() == [
        {"service": "svc", "kind": "advice", "shown": 1, "accepted": 0, "overridden": 1,
         "override_reasons": {"r": 1}},
        {"service": "svc", "kind": "referral", "shown": 2, "accepted": 0, "overridden": 2, "override_reasons": {}},
    ]
    assert len(s.feedback()) == 4


# -- failures ----------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nobody listens once the socket is closed


def _assert_every_call_unavailable(s: Store) -> None:
    now = datetime.now(UTC)
    calls = {
        "migrate": lambda: s.migrate(),
        "schema_version": lambda: s.schema_version(),
        "record_audit": lambda: s.record_audit(entry()),
        "audit": lambda: s.audit(),
        "patient_hash": lambda: s.patient_hash("Patient/1"),
        "remember_cards": lambda: s.remember_cards([card("c1")]),
        "issued_card": lambda: s.issued_card("c1"),
        "record_feedback": lambda: s.record_feedback("svc", "c1", "accepted", now, ["s"]),
        "feedback": lambda: s.feedback(),
        "feedback_summary": lambda: s.feedback_summary(),
        "seen_jti": lambda: s.seen_jti("iss", "j", now + timedelta(minutes=1)),
        "purge_expired": lambda: s.purge_expired(),
    }
    for name, call in calls.items():
        with pytest.raises(StoreUnavailable) as info:
            call()
        assert info.value.__cause__ is None and info.value.__suppress_context__, name
        assert name in str(info.value)
    assert s.ping() is False


def test_unreachable_postgres_raises_store_unavailable():
    port = _closed_port()
    s = Store.from_url(f"postgresql+psycopg://postgres@127.0.0.1:{port}/test?connect_timeout=2")
    started = time.monotonic()
    try:
        with pytest.raises(StoreUnavailable, match="OperationalError"):
            s.migrate()
        _assert_every_call_unavailable(s)
    finally:
        s.close()
    assert time.monotonic() - started < 30


def test_connect_timeout_bounds_an_unanswering_server():
    # a loopback socket that takes the TCP connection (kernel backlog) and never
    # answers: no refusal, the connect timeout must end the wait
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    port = silent.getsockname()[1]
    try:
        s = Store.from_url(f"postgresql+psycopg://postgres@127.0.0.1:{port}/test?connect_timeout=2")
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            s.record_audit(entry())
        assert s.ping() is False
        s.close()
        assert time.monotonic() - started < 10
    finally:
        silent.close()


@pytest.mark.parametrize("backend", ["postgresql"])
def test_postgres_connections_get_timeouts(new_url, open_store, backend):
    s = open_store(new_url())
    assert rows(s, "SHOW statement_timeout") == [("10s",)]
    assert rows(s, "SHOW application_name") == [("nekpijn-cds",)]


def test_unusable_sqlite_raises_store_unavailable(tmp_path, open_store):
    not_a_db = tmp_path / "garbage.db"
    not_a_db.write_bytes(b"this is not an SQLite database, just bytes" * 100)
    _assert_every_call_unavailable(open_store(f"sqlite:///{not_a_db}"))
    (tmp_path / "plain-file").write_text("x")
    with pytest.raises(StoreUnavailable):  # its folder cannot be created
        Store.from_url(f"sqlite:///{tmp_path / 'plain-file' / 'sub' / 'store.db'}")


def test_store_recovers_after_the_database_comes_back(tmp_path, open_store):
    path = tmp_path / "store.db"
    path.write_bytes(b"broken" * 1000)
    s = open_store(f"sqlite:///{path}")
    with pytest.raises(StoreUnavailable):
        s.record_audit(entry())
    s.close()
    path.unlink()  # repaired
    s.record_audit(entry())  # migrates on first use, then writes
    assert len(s.audit()) == 1


def test_bad_urls_are_configuration_errors():
    with pytest.raises(ValueError, match="unsupported"):
        Store.from_url("mysql://root@localhost/db")
    with pytest.raises(ValueError, match="not a database URL"):
        Store.from_url("::not a url::")
    with pytest.raises(ValueError, match="psycopg"):
        Store.from_url("postgresql+psycopg2://postgres@localhost/test")
    s = Store.from_url("postgresql://postgres:secret@127.0.0.1:5432/test")
    assert s.engine.dialect.driver == "psycopg"
    assert "secret" not in repr(s)
    s.close()


def test_issued_card_keeps_its_issuer_and_v4_databases_upgrade(new_url, open_store):
    """v5: the issuer a card was issued to (feedback is bound to it); cards stored before have none."""
    s = open_store(new_url())
    assert s.migrate(target=4) == 4
    with s.engine.begin() as conn:  # a card stored by v4 code (the v1 table definition)
        conn.execute(insert(V1_TABLES["issued_cards"]).values(
            uuid="before-v5", service="nekpijn-consult", hook_instance="hi-1", kind="advice", override_reasons=[],
            suggestion_uuids=[], issued_at=T0))
    assert "issuer" not in {c["name"] for c in inspect(s.engine).get_columns("issued_cards")}
    assert s.migrate() == SCHEMA_VERSION
    s.remember_cards([card("after-v5", issuer="https://ehr.example.org")])
    assert s.issued_card("before-v5").issuer is None
    assert s.issued_card("after-v5").issuer == "https://ehr.example.org"
