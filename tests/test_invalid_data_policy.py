"""One invalid-data policy for `$apply` and hook calls (issue 14, finding 6).

The SAME bad inputs go through both paths: a resource that is not valid R4 is left out,
named in the CarePlan note, and the call still gets its plan / cards — the evaluation is
the one of the same data without that resource. Only an invalid Patient (or request) is
refused with 400, on both paths.
"""

from __future__ import annotations

import copy
import json

import pytest
from fastapi.testclient import TestClient

from apply_support import NOW, apply_parameters, cases, features
from hooks_support import careplans_of, hook_request, prefetch_for
from service.app import create_app
from service.cds_hooks.discovery import PREFETCH_KEYS
from service.config import Settings

CASE = "a-normal-course"
PLAN = "/fhir/PlanDefinition/nekpijn-behandelprofiel/$apply"
HOOK = "/cds-services/nekpijn-behandelprofiel"
FHIR_JSON = {"Content-Type": "application/fhir+json"}
PSK = f"{CASE}-psk-d0"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    db = tmp_path_factory.mktemp("invalid-data") / "store.db"
    settings = Settings(auth="off", database_url=f"sqlite:///{db}")
    return TestClient(create_app(settings=settings, clock=lambda: NOW), raise_server_exceptions=False)


def _case():
    return next(c for c in cases() if c["id"] == CASE)


def _psk_value_decimal(resources):
    """R4 Observation has no valueDecimal: an unknown element."""
    r = next(r for r in resources if r.get("id") == PSK)
    r["valueDecimal"] = r.pop("valueQuantity")["value"]
    return f"Observation/{PSK}"


def _nprs_effective_not_a_date(resources):
    r = next(r for r in resources if r.get("id") == f"{CASE}-nprs-d0")
    r["effectiveDateTime"] = "yesterday"
    return f"Observation/{r['id']}"


def _second_intake_answer_not_an_array(resources):
    """A later intake the models refuse: left out, the first intake still counts."""
    first = next(r for r in resources if r["resourceType"] == "QuestionnaireResponse")
    r = copy.deepcopy(first) | {"id": "intake-2"}
    r["item"][0]["item"][0]["answer"] = "not-an-array"
    resources.append(r)
    return "QuestionnaireResponse/intake-2"


def _observation_status_unknown_code_type(resources):
    r = next(r for r in resources if r.get("id") == PSK)
    r["status"] = 7  # a number where R4 has a code
    return f"Observation/{PSK}"


def _unknown_resource_type(resources):
    resources.append({"resourceType": "Bogus", "id": "b1", "subject": {"reference": f"Patient/{CASE}"}})
    return "Bogus/b1"


BAD = {
    "psk-valueDecimal": _psk_value_decimal,
    "nprs-effective-not-a-date": _nprs_effective_not_a_date,
    "second-intake-answer-not-an-array": _second_intake_answer_not_an_array,
    "observation-status-number": _observation_status_unknown_code_type,
    "unknown-resourceType": _unknown_resource_type,
}


def _resources():
    params = apply_parameters(_case())
    return [e["resource"] for e in params["parameter"][1]["resource"]["entry"]]


def _apply(client, resources):
    params = apply_parameters(_case())
    params["parameter"][1]["resource"]["entry"] = [{"resource": r} for r in resources]
    return client.post(PLAN, content=json.dumps(params), headers=FHIR_JSON)


def _hook(client, resources):
    by_type = [r for r in resources if r["resourceType"] != "Bogus"]
    prefetch = prefetch_for(by_type, PREFETCH_KEYS["patient-view"])
    bogus = [r for r in resources if r["resourceType"] == "Bogus"]
    if bogus:  # an EHR's searchset may hold anything
        searchset = next(v for v in prefetch.values() if v and v.get("type") == "searchset" and v.get("entry"))
        searchset["entry"] += [{"resource": r} for r in bogus]
    body = hook_request("patient-view", CASE, prefetch=prefetch)
    return client.post(HOOK, content=json.dumps(body), headers={"Content-Type": "application/json"})


def _hook_careplan(response) -> dict:
    [careplan] = careplans_of(response.json()["cards"])
    return careplan


def _notes(careplan: dict) -> list[str]:
    return [n["text"] for n in careplan.get("note", [])]


def _comparable(careplan: dict) -> dict:
    """The evaluation (features and requests) without the note and the content-derived ids."""
    return {"features": features(careplan), "title": careplan.get("title"),
            "requests": sorted(json.dumps(r.get("instantiatesCanonical")) for r in careplan.get("contained", [])
                               if r["resourceType"] in ("ServiceRequest", "CommunicationRequest", "Task"))}


@pytest.mark.parametrize("name", sorted(BAD))
def test_an_invalid_resource_is_left_out_and_named_on_both_paths(client, name):
    bad = _resources()
    label = BAD[name](bad)
    removed = [r for r in _resources() if f"{r['resourceType']}/{r.get('id')}" != label]

    applied = _apply(client, bad)
    assert applied.status_code == 200, applied.text  # before: 400 for $apply
    hooked = _hook(client, bad)
    assert hooked.status_code == 200, hooked.text

    apply_plan, hook_plan = applied.json(), _hook_careplan(hooked)
    for careplan in (apply_plan, hook_plan):
        named = [n for n in _notes(careplan) if "geen geldige FHIR R4" in n]
        assert len(named) == 1 and label in named[0], _notes(careplan)
        assert "niet gebruikt" in named[0]
    # the same policy: the same note on both paths ...
    assert [n for n in _notes(apply_plan) if "FHIR R4" in n] == [n for n in _notes(hook_plan) if "FHIR R4" in n]
    # ... and the evaluation is the one without the resource (not used as if it were valid)
    assert _comparable(apply_plan) == _comparable(_apply(client, removed).json())
    assert _comparable(hook_plan) == _comparable(_hook_careplan(_hook(client, removed)))


def test_the_note_is_in_english_when_asked(client):
    bad = _resources()
    _psk_value_decimal(bad)
    params = apply_parameters(_case(), lang="en")
    params["parameter"][1]["resource"]["entry"] = [{"resource": r} for r in bad]
    careplan = client.post(PLAN, content=json.dumps(params), headers=FHIR_JSON).json()
    assert any("not valid FHIR R4" in n and "valueDecimal" in n and "not used" in n for n in _notes(careplan))


def test_another_patients_invalid_resource_is_named_without_its_id(client):
    bad = _resources()
    other = copy.deepcopy(next(r for r in bad if r.get("id") == PSK))
    other |= {"id": "someone-elses-psk", "subject": {"reference": "Patient/someone-else"}, "valueDecimal": 3}
    del other["valueQuantity"]
    bad.append(other)
    for response, careplan in ((r := _apply(client, bad)), r.json()), ((h := _hook(client, bad)), _hook_careplan(h)):
        assert response.status_code == 200
        text = json.dumps(careplan)
        assert "someone-else" not in text and "someone-elses-psk" not in text


@pytest.mark.parametrize("path", ["apply", "hook"])
def test_an_invalid_patient_is_refused_on_both_paths(client, path):
    bad = _resources()
    next(r for r in bad if r["resourceType"] == "Patient")["birthDate"] = "1990-13-45"
    response = (_apply if path == "apply" else _hook)(client, bad)
    assert response.status_code == 400, response.text
    issue = response.json()["issue"][0]
    assert response.json()["resourceType"] == "OperationOutcome" and "birthDate" in json.dumps(issue)


@pytest.mark.parametrize("path", ["apply", "hook"])
def test_an_invalid_request_is_refused_on_both_paths(client, path):
    if path == "apply":
        params = apply_parameters(_case())
        params["parameter"][0]["valueString"] = "Group/x"
        response = client.post(PLAN, content=json.dumps(params), headers=FHIR_JSON)
    else:
        body = hook_request("patient-view", CASE, prefetch={})
        body["context"]["patientId"] = "Patient/x"
        response = client.post(HOOK, content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["resourceType"] == "OperationOutcome"
