"""A hook call is audited once, from one place, whatever branch it ends in (issue 14)."""

from __future__ import annotations

import json
import uuid

import pytest
from fastapi.testclient import TestClient

from apply_support import NOW, TODAY, cases
from hooks_support import hook_request, prefetch_for, resources_of
from service.app import create_app
from service.cds_hooks.discovery import PREFETCH_KEYS
from service.config import Settings

BASE = "http://testserver"
SERVICE = "nekpijn-behandelprofiel"
CLOSED = "http://127.0.0.1:9/fhir"  # the discard port: nothing listens


@pytest.fixture(scope="module")
def client(tmp_path_factory, signer):
    db = tmp_path_factory.mktemp("db") / "audit.db"
    settings = Settings(auth="jwt", trusted_issuers_file=signer.issuers_file, database_url=f"sqlite:///{db}")
    return TestClient(create_app(settings=settings, clock=lambda: NOW), raise_server_exceptions=False)


def _prefetch(case_id="b-abnormal-duration"):
    case = next(c for c in cases() if c["id"] == case_id)
    return prefetch_for(resources_of(case, TODAY), PREFETCH_KEYS["patient-view"])


def _ok(instance):
    return hook_request("patient-view", "b-abnormal-duration", prefetch=_prefetch(), hook_instance=instance)


def _no_data(instance):
    return hook_request("patient-view", "nobody", prefetch={k: None for k in PREFETCH_KEYS["patient-view"]},
                        hook_instance=instance)


def _bad_request(instance):
    body = _ok(instance)
    body["context"]["patientId"] = "Patient/x"  # not a FHIR id
    return body


def _bad_patient(instance):
    body = _ok(instance)
    body["prefetch"]["patient"]["birthDate"] = "1990-13-45"
    return body


def _unreachable(instance):
    return hook_request("patient-view", "b-abnormal-duration", fhir_server=CLOSED, hook_instance=instance)


BRANCHES = {  # name: (body, extra headers, status, audited outcome)
    "ok": (_ok, {}, 200, "ok"),
    "no-data": (_no_data, {}, 200, "no-data"),
    "invalid-request": (_bad_request, {}, 400, "400"),
    "invalid-patient": (_bad_patient, {}, 400, "400"),
    "evaluation-date-not-enabled": (_ok, {"X-Evaluation-Date": "2026-11-02"}, 400, "400"),
    "fhir-server-unreachable": (_unreachable, {}, 412, "412"),
}


def _rows(client, instance):
    return [e for e in client.app.state.store.audit(limit=10_000, service=SERVICE) if e.hook_instance == instance]


@pytest.mark.parametrize("name", sorted(BRANCHES))
def test_every_branch_writes_exactly_one_audit_row(client, signer, name):
    make, headers, status, outcome = BRANCHES[name]
    instance = str(uuid.uuid4())
    response = client.post(f"/cds-services/{SERVICE}", content=json.dumps(make(instance)),
                           headers={**signer.headers(f"{BASE}/cds-services/{SERVICE}"), **headers})
    assert response.status_code == status, response.text
    [row] = _rows(client, instance)
    assert row.status == status and row.outcome == outcome and row.issuer == "https://ehr.example.org"
    assert row.duration_ms >= 0


def test_a_body_that_is_not_json_or_the_wrong_media_type_is_audited_once(client, signer):
    before = len(client.app.state.store.audit(limit=10_000, service=SERVICE))
    headers = signer.headers(f"{BASE}/cds-services/{SERVICE}")
    assert client.post(f"/cds-services/{SERVICE}", content=b"{nope", headers=headers).status_code == 400
    headers = {**signer.headers(f"{BASE}/cds-services/{SERVICE}"), "Content-Type": "text/plain"}
    assert client.post(f"/cds-services/{SERVICE}", content=b"x", headers=headers).status_code == 415
    rows = client.app.state.store.audit(limit=10_000, service=SERVICE)[: len(client.app.state.store.audit(
        limit=10_000, service=SERVICE)) - before]
    assert sorted(r.status for r in rows) == [400, 415]


def test_an_unexpected_failure_is_audited_once_as_500(client, signer, monkeypatch):
    instance = str(uuid.uuid4())

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(client.app.state.engine, "apply", broken)
    response = client.post(f"/cds-services/{SERVICE}", content=json.dumps(_ok(instance)),
                           headers=signer.headers(f"{BASE}/cds-services/{SERVICE}"))
    assert response.status_code == 500
    [row] = _rows(client, instance)
    assert row.status == 500 and row.outcome == "error"


def test_a_refused_token_writes_no_audit_row(client):
    """401 is answered by the security layer before the call reaches the service."""
    instance = str(uuid.uuid4())
    response = client.post(f"/cds-services/{SERVICE}", content=json.dumps(_ok(instance)),
                           headers={"Authorization": "Bearer nope", "Content-Type": "application/json"})
    assert response.status_code == 401
    assert _rows(client, instance) == []


def test_the_route_calls_audit_from_one_place():
    """No `audit(` call left in the route module: the context manager is the one place."""
    from pathlib import Path

    import service.cds_hooks.routes as routes
    source = Path(routes.__file__).read_text(encoding="utf-8")
    assert "audit(" not in source.replace("audited_call(", "")
