"""Exact subject matching (issue 14, findings 2 and 5).

A reference names the context patient only as `Patient/<id>` or `<fhirServer>/Patient/<id>`
(the hook call's own fhirServer; `$apply` has none). Draft orders are checked against the
context patient as `$apply` does: an order whose subject is another patient, `Group/x`, a
subject without a reference, `x/Patient/<id>` or another server's URL is not judged (no
card, the call is not refused). An order without `subject` counts as the context patient's
(dak/README.md, §11 interpretation) on both paths, although R4 requires the element.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from apply_support import NOW, TODAY, apply_parameters, cases
from hooks_support import hook_request, prefetch_for, resources_of
from service.app import create_app
from service.cds_hooks.discovery import PREFETCH_KEYS
from service.cds_hooks.subjects import is_patient_reference, localise
from service.config import Settings

SNOMED = "http://snomed.info/sct"
CASE = "d-trauma"
FHIR_SERVER = "https://ehr.example.org/fhir"
ORDERS = "/cds-services/nekpijn-orders-sign"
PLAN = "/fhir/PlanDefinition/nekpijn-orders/$apply"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    db = tmp_path_factory.mktemp("subjects") / "store.db"
    return TestClient(create_app(settings=Settings(auth="off", database_url=f"sqlite:///{db}"), clock=lambda: NOW),
                      raise_server_exceptions=False)


def _dry_needling(rid: str, subject: object = ...) -> dict:
    order = {"resourceType": "ServiceRequest", "id": rid, "status": "draft", "intent": "proposal",
             "code": {"coding": [{"system": SNOMED, "code": "231082000"}]}}
    if subject is not ...:
        order["subject"] = subject
    return order


NOT_THE_PATIENT = {
    "another-patient": {"reference": "Patient/someone-else"},
    "group": {"reference": "Group/x"},
    "no-reference": {"display": "Jan"},
    "ends-in-patient-id": {"reference": f"x/Patient/{CASE}"},
    "another-server": {"reference": f"https://elsewhere.example.org/fhir/Patient/{CASE}"},
}
THE_PATIENT = {
    "relative": {"reference": f"Patient/{CASE}"},
    "call-server-absolute": {"reference": f"{FHIR_SERVER}/Patient/{CASE}"},
    "versioned": {"reference": f"Patient/{CASE}/_history/2"},
}


def _hook(client, orders, fhir_server=FHIR_SERVER):
    case = next(c for c in cases() if c["id"] == CASE)
    body = hook_request("order-sign", CASE, draft_orders=orders,
                        prefetch=prefetch_for(resources_of(case, TODAY), PREFETCH_KEYS["order-sign"]))
    if fhir_server:
        body["fhirServer"] = fhir_server
    response = client.post(ORDERS, content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    return response.json()["cards"]


@pytest.mark.parametrize("name", sorted(NOT_THE_PATIENT))
def test_a_draft_order_of_another_subject_is_not_judged(client, name):
    assert _hook(client, [_dry_needling("dn", NOT_THE_PATIENT[name])]) == []


def test_a_draft_order_without_subject_counts_as_the_context_patients(client):
    [card] = _hook(client, [_dry_needling("dn")])
    assert "ServiceRequest/dn" in card["detail"]


@pytest.mark.parametrize("name", sorted(THE_PATIENT))
def test_a_draft_order_of_the_context_patient_is_judged(client, name):
    [card] = _hook(client, [_dry_needling("dn", THE_PATIENT[name])])
    assert "ServiceRequest/dn" in card["detail"]


@pytest.mark.parametrize("name", sorted(NOT_THE_PATIENT) + ["no-subject", "relative"])
def test_apply_judges_the_same_draft_orders_as_the_hook(client, name):
    """$apply (no fhirServer) and the hook agree on which orders are the patient's."""
    subject = {**NOT_THE_PATIENT, **THE_PATIENT}.get(name)
    order = _dry_needling("dn") if subject is None else _dry_needling("dn", subject)
    params = apply_parameters(next(c for c in cases() if c["id"] == CASE))
    params["parameter"][1]["resource"]["entry"].append({"resource": order})
    careplan = client.post(PLAN, content=json.dumps(params), headers={"Content-Type": "application/fhir+json"}).json()
    judged_by_apply = any(r.get("id", "").startswith("order-1.") for r in careplan["contained"])
    judged_by_hook = bool(_hook(client, [order], fhir_server=None))
    assert judged_by_apply == judged_by_hook == (name in ("relative", "no-subject"))


def _patient_view(client, resources, fhir_server=FHIR_SERVER):
    body = hook_request("patient-view", CASE, prefetch=prefetch_for(resources, PREFETCH_KEYS["patient-view"]))
    if fhir_server:
        body["fhirServer"] = fhir_server
    response = client.post("/cds-services/nekpijn-behandelprofiel", content=json.dumps(body),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    return response.json()["cards"]


def _with_intake_subject(reference: str) -> list[dict]:
    case = next(c for c in cases() if c["id"] == CASE)
    resources = resources_of(case, TODAY)
    for r in resources:
        if r["resourceType"] in ("QuestionnaireResponse", "Observation", "Condition"):
            r["subject"] = {"reference": reference}
    return resources


def _summaries(cards) -> list[str]:
    return [c["summary"] for c in cards]


@pytest.mark.parametrize("name", ["ends-in-patient-id", "another-server"])
def test_data_of_another_subject_is_not_read_on_a_hook_call(client, name):
    """Before: `x/Patient/<id>` and another server's URL counted as the patient (endswith)."""
    others = _summaries(_patient_view(client, _with_intake_subject("Patient/someone-else")))
    mine = _summaries(_patient_view(client, _with_intake_subject(f"Patient/{CASE}")))
    assert others != mine
    assert _summaries(_patient_view(client, _with_intake_subject(NOT_THE_PATIENT[name]["reference"]))) == others


def test_data_with_the_call_servers_absolute_reference_is_read(client):
    relative = _summaries(_patient_view(client, _with_intake_subject(f"Patient/{CASE}")))
    absolute = _summaries(_patient_view(client, _with_intake_subject(f"{FHIR_SERVER}/Patient/{CASE}")))
    assert absolute == relative
    # without a fhirServer the absolute form names no known server: not the patient
    others = _summaries(_patient_view(client, _with_intake_subject("Patient/someone-else")))
    assert _summaries(_patient_view(client, _with_intake_subject(f"{FHIR_SERVER}/Patient/{CASE}"),
                                    fhir_server=None)) == others


def test_matching_rules():
    patient = f"Patient/{CASE}"
    assert is_patient_reference(patient, patient, None)
    assert is_patient_reference(f"{FHIR_SERVER}/{patient}", patient, FHIR_SERVER)
    assert is_patient_reference(f"{FHIR_SERVER}/{patient}/_history/3", patient, FHIR_SERVER)
    assert not is_patient_reference(f"{FHIR_SERVER}/{patient}", patient, None)
    assert not is_patient_reference(f"x/{patient}", patient, FHIR_SERVER)
    assert not is_patient_reference(f"{FHIR_SERVER}x/{patient}", patient, FHIR_SERVER)
    assert not is_patient_reference(f"{patient}0", patient, FHIR_SERVER)
    resource = {"resourceType": "Observation", "subject": {"reference": f"{FHIR_SERVER}/{patient}", "display": "d"}}
    [local] = localise([resource], patient, FHIR_SERVER)
    assert local["subject"] == {"reference": patient, "display": "d"}
    assert resource["subject"]["reference"] == f"{FHIR_SERVER}/{patient}"  # the input is not changed
