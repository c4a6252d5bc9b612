"""Sent self-checks: a retention period (default 90 days, purged like the replay cache) and the
practice's export (``nekpijn-cds submissions export``) as FHIR R4 (issue 14, finding 4)."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.consent import Consent
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from self_check_support import OUTCOMES, questionnaire_response
from service.app import create_app
from service.cli import main
from service.config import Settings
from service.self_check_page.submission import consent_resource
from service.self_check_page.texts import CONSENT_VERSION, consent_sha256
from service.store import SelfCheckSubmission, Store
from service.store.housekeeping import Housekeeping
from test_rate_limit import stores  # noqa: F401  (fixture)
from test_store import backend, new_url  # noqa: F401  (fixtures: a new database on SQLite and PostgreSQL)

UTC = timezone.utc
NOW = datetime.now(UTC)
MODELS = {"QuestionnaireResponse": QuestionnaireResponse, "Consent": Consent, "Observation": Observation,
          "Patient": Patient}


def sent(days_ago: float, contact: str | None = "06 1234 5678", name: str | None = "Jan Jansen",
         outcome: str = "appointment") -> SelfCheckSubmission:
    at = NOW - timedelta(days=days_ago)
    given, advice = OUTCOMES[outcome]
    response = questionnaire_response(given)
    return SelfCheckSubmission(
        received_at=at, questionnaire=response["questionnaire"], language="nl", advice=advice, response=response,
        consent_at=at, consent_version=CONSENT_VERSION, consent_text_sha256=consent_sha256("nl"),
        consent_language="nl", consent=consent_resource(response["subject"]["reference"], "nl", at),
        contact_name=name, contact=contact)


def test_purge_deletes_only_what_is_past_retention(new_url, stores):
    store = stores(new_url())
    old, recent = store.record_self_check(sent(91)), store.record_self_check(sent(89))
    housekeeping = Housekeeping(store, retention_days=90)
    assert housekeeping.run() == (1, 0)
    assert store.self_check_submission(old) is None and store.self_check_submission(recent) is not None
    assert housekeeping.run() == (0, 0)


def test_housekeeping_runs_at_most_once_per_interval(new_url, stores):
    store = stores(new_url())
    housekeeping = Housekeeping(store, retention_days=90, interval=3600)
    store.record_self_check(sent(100))
    housekeeping.run_when_due()  # due at first
    assert store.count_self_check_submissions() == 0
    store.record_self_check(sent(100))
    housekeeping.run_when_due()  # not due again within the interval
    assert store.count_self_check_submissions() == 1
    housekeeping._next = 0
    housekeeping.run_when_due()
    assert store.count_self_check_submissions() == 0


def test_all_submissions_oldest_first_and_since(new_url, stores):
    store = stores(new_url())
    receipts = [store.record_self_check(sent(days)) for days in (3, 10, 1)]
    assert [s.receipt for s in store.all_self_check_submissions()] == [receipts[1], receipts[0], receipts[2]]
    assert [s.receipt for s in store.all_self_check_submissions(NOW - timedelta(days=5))] == [receipts[0],
                                                                                               receipts[2]]


def test_the_service_purges_at_start_up_and_after_a_submission(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    store = Store.from_url(url)
    store.migrate()
    old, recent = store.record_self_check(sent(120)), store.record_self_check(sent(30))
    settings = dataclasses.replace(Settings.from_env(), auth="off", database_url=url)
    app = create_app(settings)
    assert store.self_check_submission(old) is None and store.self_check_submission(recent) is not None
    short = dataclasses.replace(settings, submission_retention_days=7)
    app = create_app(short)  # a shorter retention: the 30-day-old one goes too
    assert store.self_check_submission(recent) is None
    store.record_self_check(sent(8))
    app.state.housekeeping._next = 0  # the interval has passed
    given, code = OUTCOMES["self-care"]
    with TestClient(app) as c:
        response = c.post("/zelfcheck/submissions", headers={"Content-Type": "application/json"}, content=json.dumps(
            {"questionnaireResponse": questionnaire_response(given), "adviceCode": code, "language": "nl",
             "consent": True, "consentVersion": CONSENT_VERSION}))
    assert response.status_code == 201, response.text
    assert [s.receipt for s in store.all_self_check_submissions()] == [response.json()["receipt"]]
    store.close()


def test_retention_setting():
    assert Settings().submission_retention_days == 90
    assert Settings.from_env({"NEKPIJN_SUBMISSION_RETENTION_DAYS": "30"}).submission_retention_days == 30


# -- the export -------------------------------------------------------------------------------------


@pytest.fixture
def database(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'practice.db'}"
    monkeypatch.setenv("NEKPIJN_DATABASE_URL", url)
    store = Store.from_url(url)
    store.migrate()
    yield store
    store.close()


def test_export_is_a_valid_fhir_bundle_of_every_sent_self_check(database, tmp_path, capsys):
    with_contact = database.record_self_check(sent(2))
    anonymous = database.record_self_check(sent(1, contact=None, name=None, outcome="gp"))
    past = database.record_self_check(sent(95))
    out = tmp_path / "export.json"
    assert main(["submissions", "export", "--output", str(out)]) == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600  # personal data
    assert "exported 2 self-check(s), purged 1" in capsys.readouterr().err
    bundle = json.loads(out.read_text())
    Bundle.model_validate(bundle)
    resources = [e["resource"] for e in bundle["entry"]]
    for resource in resources:
        MODELS[resource["resourceType"]].model_validate(resource)
    assert bundle["type"] == "collection" and len(resources) == 4 + 3
    responses = [r for r in resources if r["resourceType"] == "QuestionnaireResponse"]
    assert [r["identifier"]["value"] for r in responses] == [with_contact, anonymous]  # oldest first
    assert past not in json.dumps(bundle)  # past retention: purged, not exported
    [patient] = [r for r in resources if r["resourceType"] == "Patient"]
    assert patient["name"] == [{"text": "Jan Jansen"}] and patient["telecom"][0]["value"] == "06 1234 5678"
    assert f"Patient/{patient['id']}" == responses[0]["subject"]["reference"]
    advice = [r["valueCodeableConcept"]["coding"][0]["code"] for r in resources if r["resourceType"] == "Observation"]
    assert advice == [OUTCOMES["appointment"][1], OUTCOMES["gp"][1]]
    assert len({e["fullUrl"] for e in bundle["entry"]}) == len(resources)


def test_export_ndjson_and_since(database, capsys):
    database.record_self_check(sent(10))
    recent = database.record_self_check(sent(1, contact=None, name=None))
    since = (NOW - timedelta(days=3)).date().isoformat()
    assert main(["submissions", "export", "--format", "ndjson", "--since", since]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["resourceType"] for r in lines] == ["QuestionnaireResponse", "Observation", "Consent"]
    assert lines[0]["identifier"]["value"] == recent


def test_purge_command(database, capsys):
    database.record_self_check(sent(200))
    database.record_self_check(sent(5))
    assert main(["submissions", "purge"]) == 0
    assert "purged 1" in capsys.readouterr().err
    assert database.count_self_check_submissions() == 1


def test_export_needs_a_subcommand_and_a_reachable_store(monkeypatch, capsys):
    with pytest.raises(SystemExit):
        main(["submissions"])
    monkeypatch.setenv("NEKPIJN_DATABASE_URL", "postgresql+psycopg://u@127.0.0.1:1/x?connect_timeout=1")
    assert main(["submissions", "export"]) == 1
    assert "store" in capsys.readouterr().err
