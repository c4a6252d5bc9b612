"""The public CDS Hooks sandbox's own requests, replayed against the service (issue 13 items 9-11).

The service is configured as the README's sandbox recipe says
(``NEKPIJN_TRUST_SANDBOX=true NEKPIJN_CORS_ORIGINS=https://sandbox.cds-hooks.org``) and the
requests are copied from the sandbox's source, https://github.com/cds-hooks/sandbox
(commit 3b7e255); each request names the file it comes from. The JWTs are the sandbox's
own (its published key, its header with ``jku``: tests/sandbox_support.py), verified with
the bundled key set and nothing fetched. Every prefetch key is answered, as the sandbox
does from its FHIR server, so the service fetches nothing either.
"""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from fastapi.testclient import TestClient

from apply_support import NOW, TODAY, cases
from hooks_support import ehr_prefetch, resources_of
from sandbox_support import SANDBOX_ORIGIN, sandbox_jwt
from service.app import create_app
from service.config import Settings

BASE = "http://127.0.0.1:8080"  # the service started locally; the sandbox's "CDS Service" field
DISCOVERY_URL = f"{BASE}/cds-services"
PATIENT_VIEW = "nekpijn-behandelprofiel"
ORDER_SIGN = "nekpijn-orders-sign"
# src/reducers/patient-reducers.js defaultUser; fhir-server-reducers.js (an R4 server chosen in the sandbox)
SANDBOX_USER = "Practitioner/COREPRACTITIONER1"
SANDBOX_FHIR_SERVER = "https://launch.smarthealthit.org/v/r4/fhir"
# axios (package.json ^1.13) sends a JSON body with this Content-Type
AXIOS_JSON = "application/json"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Neither the JWT keys (jku) nor prefetch data may be fetched: any outgoing request fails the test."""
    def refuse(self, request, *args, **kwargs):
        raise AssertionError(f"the service made a network request to {request.url}")

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", refuse)
    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", refuse)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    db = tmp_path_factory.mktemp("sandbox") / "store.db"
    settings = Settings.from_env({  # the README's sandbox recipe
        "NEKPIJN_TRUST_SANDBOX": "true",
        "NEKPIJN_CORS_ORIGINS": SANDBOX_ORIGIN,
        "NEKPIJN_DATABASE_URL": f"sqlite:///{db}",
    })
    assert settings.auth == "jwt"
    return TestClient(create_app(settings=settings, clock=lambda: NOW), base_url=BASE,
                      raise_server_exceptions=False)


@pytest.fixture(scope="module")
def services(client):
    """Discovery as the sandbox does it: src/retrieve-data-helpers/discovery-services-retrieval.js
    (GET, Accept application/json, Bearer generateJWT(discoveryUrl)), from the browser (Origin)."""
    response = client.get("/cds-services", headers={
        "Accept": "application/json",
        "Authorization": f"Bearer {sandbox_jwt(DISCOVERY_URL)}",
        "Origin": SANDBOX_ORIGIN,
    })
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == SANDBOX_ORIGIN
    return {service["id"]: service for service in response.json()["services"]}


def sandbox_call(client, service: dict, context: dict, patient_resources: list[dict], patient_id: str):
    """A hook call as src/retrieve-data-helpers/service-exchange.js `callServices` makes it:
    body {hookInstance: uuid4, hook, fhirServer, context: {patientId, userId, ...}} plus `prefetch`
    with the advertised templates answered by its FHIR server (keys it could not fetch left out);
    no fhirAuthorization (an open FHIR server); headers Accept application/json and
    Bearer generateJWT(url)."""
    url = f"{BASE}/cds-services/{service['id']}"
    prefetch = {k: v for k, v in ehr_prefetch(patient_resources, service["prefetch"], patient_id).items()
                if v is not None}
    body = {
        "hookInstance": str(uuid.uuid4()),
        "hook": service["hook"],
        "fhirServer": SANDBOX_FHIR_SERVER,
        "context": {"patientId": patient_id, "userId": SANDBOX_USER, **context},
        "prefetch": prefetch,
    }
    return client.post(f"/cds-services/{service['id']}", content=json.dumps(body), headers={
        "Accept": "application/json",
        "Content-Type": AXIOS_JSON,
        "Authorization": f"Bearer {sandbox_jwt(url)}",
        "Origin": SANDBOX_ORIGIN,
    })


def sandbox_medication_request(patient_id: str) -> dict:
    """src/reducers/medication-reducers.js `createFhirResource` for an R4 server, with a medication
    chosen (src/assets/medication-list.js: RxNorm 1112231), the default instructions (1 pill daily)
    and dispense request (30 days) and a start date: note `category` is ONE CodeableConcept, not a
    list as R4 has it (issue 13 item 11)."""
    authored = TODAY.isoformat()
    return {
        "resourceType": "MedicationRequest",
        "id": "request-123",
        "status": "draft",
        "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": authored,
        "dosageInstruction": [{
            "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d",
                                  "boundsPeriod": {"start": authored}}},
            "doseAndRate": [{"doseQuantity": {"value": 1, "system": "http://unitsofmeasure.org",
                                              "code": "{pill}"}}],
        }],
        "dispenseRequest": {"expectedSupplyDuration": {"value": 30, "unit": "days",
                                                       "system": "http://unitsofmeasure.org", "code": "d"}},
        "intent": "order",
        "category": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                                 "code": "community"}]},
        "medicationCodeableConcept": {
            "text": "Naproxen sodium 220 MG Oral Capsule",
            "coding": [{"display": "Naproxen sodium 220 MG Oral Capsule",
                        "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1112231"}],
        },
    }


def rx_sign_context(orders: list[dict]) -> dict:
    """src/components/RxSign/rx-sign.jsx `generateContext`: draftOrders is a Bundle with only
    resourceType and entry (no `type`)."""
    return {"draftOrders": {"resourceType": "Bundle", "entry": [{"resource": r} for r in orders]}}


@pytest.fixture(scope="module")
def case():
    """A reference case as the patient on the sandbox's FHIR server."""
    first = cases()[0]
    return first["id"], resources_of(first, TODAY)


def summaries(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [card["summary"] for card in response.json()["cards"]]


# -- discovery: one service per hook, so the sandbox shows each -----------------------------


def test_discovery_with_the_sandbox_token(services):
    hooks = {s["hook"]: s_id for s_id, s in services.items()}
    assert hooks["patient-view"] == PATIENT_VIEW and hooks["order-sign"] == ORDER_SIGN
    assert len(hooks) == len(services)  # the sandbox keeps one service per id (issue 13 item 8)


# -- patient-view -----------------------------------------------------------------------------


def test_patient_view_as_the_sandbox_calls_it(client, services, case):
    patient_id, resources = case
    # src/components/PatientView/patient-view.jsx: generateContext() gives no extra context
    response = sandbox_call(client, services[PATIENT_VIEW], {}, resources, patient_id)
    assert response.headers["access-control-allow-origin"] == SANDBOX_ORIGIN
    cards = response.json()["cards"] if response.status_code == 200 else response.text
    assert response.status_code == 200 and cards, cards


# -- order-sign with the sandbox's MedicationRequest -------------------------------------------------


def test_order_sign_with_the_sandbox_medication_request(client, services, case):
    patient_id, resources = case
    service = services[ORDER_SIGN]
    with_medication = sandbox_call(client, service, rx_sign_context([sandbox_medication_request(patient_id)]),
                                   resources, patient_id)
    without = sandbox_call(client, service, rx_sign_context([]), resources, patient_id)
    # 200, and the MedicationRequest is ignored: the same cards as with no draft order at all
    assert summaries(with_medication) == summaries(without)
    assert "request-123" not in with_medication.text and "Naproxen" not in with_medication.text


# -- the sandbox's JWT ---------------------------------------------------------------------------------


def test_sandbox_token_with_another_jku_refused(client):
    url = f"{BASE}/cds-services/{PATIENT_VIEW}"
    token = sandbox_jwt(url, jku="https://sandbox.cds-hooks.org/.well-known/other-jwks.json")
    response = client.post(f"/cds-services/{PATIENT_VIEW}", json={"hook": "patient-view"},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and "jku not allowed" in response.text


def test_sandbox_token_for_another_endpoint_refused(client):
    token = sandbox_jwt(DISCOVERY_URL)
    response = client.post(f"/cds-services/{PATIENT_VIEW}", json={"hook": "patient-view"},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and "audience mismatch" in response.text


# -- the browser's CORS preflight ---------------------------------------------------------------------


@pytest.mark.parametrize(("path", "method", "headers"), [
    # axios POST of a JSON body with Authorization (service-exchange.js): a non-simple request
    (f"/cds-services/{PATIENT_VIEW}", "POST", "authorization,content-type"),
    (f"/cds-services/{ORDER_SIGN}", "POST", "authorization,content-type"),
    # axios GET with Authorization (discovery-services-retrieval.js)
    ("/cds-services", "GET", "authorization"),
])
def test_cors_preflight_of_the_sandbox(client, path, method, headers):
    response = client.options(path, headers={
        "Origin": SANDBOX_ORIGIN,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    })
    assert response.status_code == 204, response.text
    assert response.headers["access-control-allow-origin"] == SANDBOX_ORIGIN
    allowed_methods = {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}
    allowed_headers = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert method in allowed_methods
    assert set(headers.split(",")) <= allowed_headers


def test_cors_preflight_refused_without_the_setting(tmp_path):
    """Without NEKPIJN_CORS_ORIGINS (issue 13 item 10) the browser's preflight is refused."""
    settings = Settings.from_env({"NEKPIJN_TRUST_SANDBOX": "true",
                                  "NEKPIJN_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}"})
    with TestClient(create_app(settings=settings, clock=lambda: NOW), base_url=BASE) as other:
        response = other.options(f"/cds-services/{PATIENT_VIEW}", headers={
            "Origin": SANDBOX_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        })
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers
