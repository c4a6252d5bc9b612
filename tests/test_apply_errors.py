"""$apply refuses bad input with an OperationOutcome and the right status — never a 500."""

from __future__ import annotations

import copy
import json

import pytest
from fastapi.testclient import TestClient

from apply_support import NOW, TODAY, apply_parameters, case_bundle, cases
from service.app import create_app
from service.cli import main

PLAN = "/fhir/PlanDefinition/nekpijn-behandelprofiel/$apply"
FHIR_JSON = {"Content-Type": "application/fhir+json"}
CASE = next(c for c in cases() if c["id"] == "a-normal-course")


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app(clock=lambda: NOW), raise_server_exceptions=False)


def outcome(response, status):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["severity"] == "error"
    return body["issue"][0]


def test_unknown_plan_definition(client):
    issue = outcome(client.post("/fhir/PlanDefinition/nope/$apply", json=apply_parameters(CASE), headers=FHIR_JSON), 404)
    assert "nope" in issue["diagnostics"]


def test_wrong_media_type(client):
    response = client.post(PLAN, content=json.dumps(apply_parameters(CASE)), headers={"Content-Type": "text/plain"})
    outcome(response, 415)


def test_body_is_not_json(client):
    issue = outcome(client.post(PLAN, content=b"{not json", headers=FHIR_JSON), 400)
    assert "JSON" in issue["diagnostics"]


def test_body_is_not_parameters(client):
    issue = outcome(client.post(PLAN, json=case_bundle(CASE), headers=FHIR_JSON), 400)
    assert "Parameters" in issue["diagnostics"]


def test_invalid_fhir_content_names_its_location(client):
    params = apply_parameters(CASE)
    bundle = params["parameter"][1]["resource"]
    patient_index = next(i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "Patient")
    bundle["entry"][patient_index]["resource"]["birthDate"] = "1990-13-45"
    issue = outcome(client.post(PLAN, json=params, headers=FHIR_JSON), 400)
    assert issue["expression"] == [f"Parameters.parameter[1].resource.entry[{patient_index}].resource.birthDate"]


def test_subject_is_required(client):
    params = apply_parameters(CASE)
    params["parameter"] = params["parameter"][1:]
    issue = outcome(client.post(PLAN, json=params, headers=FHIR_JSON), 400)
    assert "subject" in issue["diagnostics"]


@pytest.mark.parametrize("subject", ["Encounter/1", "patient 1", "Patient/"])
def test_subject_must_be_a_patient_reference(client, subject):
    params = apply_parameters(CASE)
    params["parameter"][0]["valueString"] = subject
    issue = outcome(client.post(PLAN, json=params, headers=FHIR_JSON), 400)
    assert issue["expression"] == ["Parameters.parameter[0]"]


def test_data_must_be_a_bundle(client):
    params = apply_parameters(CASE)
    params["parameter"][1]["resource"] = {"resourceType": "Patient", "id": "x"}
    outcome(client.post(PLAN, json=params, headers=FHIR_JSON), 400)


def test_unsupported_parameter(client):
    params = apply_parameters(CASE)
    params["parameter"].append({"name": "organization", "valueString": "Organization/1"})
    issue = outcome(client.post(PLAN, json=params, headers=FHIR_JSON), 400)
    assert "organization" in issue["diagnostics"]


def test_no_data_parameter(client):
    params = apply_parameters(CASE)
    params["parameter"] = params["parameter"][:1]
    issue = outcome(client.post(PLAN, json=params, headers=FHIR_JSON), 422)
    assert "Patient/a-normal-course" in issue["diagnostics"]


def test_no_data_for_that_subject(client):
    params = apply_parameters(CASE)
    params["parameter"][0]["valueString"] = "Patient/someone-else"
    outcome(client.post(PLAN, json=params, headers=FHIR_JSON), 422)


def test_bad_input_leaves_the_service_working(client):
    outcome(client.post(PLAN, content=b"[]", headers=FHIR_JSON), 400)
    assert client.post(PLAN, json=apply_parameters(CASE), headers=FHIR_JSON).status_code == 200


# -- the CLI on bad input ------------------------------------------------------------

def test_cli_missing_file(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "missing.json")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_cli_not_json(tmp_path, capsys):
    path = tmp_path / "x.json"
    path.write_text("{", encoding="utf-8")
    assert main(["evaluate", str(path)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_cli_invalid_fhir(tmp_path, capsys):
    bundle = copy.deepcopy(case_bundle(CASE))
    for e in bundle["entry"]:
        if e["resource"]["resourceType"] == "Patient":
            e["resource"]["birthDate"] = "yesterday"
    path = tmp_path / "x.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    assert main(["evaluate", str(path), "--today", TODAY.isoformat()]) == 2
    assert "birthDate" in capsys.readouterr().err


def test_cli_no_data_for_subject(tmp_path, capsys):
    path = tmp_path / "x.json"
    path.write_text(json.dumps(case_bundle(CASE)), encoding="utf-8")
    assert main(["evaluate", str(path), "--subject", "Patient/other"]) == 3
    assert "Patient/other" in capsys.readouterr().err


def test_ignored_resources_are_reported_in_the_careplan(client):
    """Other patients' data, entered-in-error and non-final Observations are not used — and the plan says so."""
    params = apply_parameters(CASE)
    bundle = params["parameter"][1]["resource"]
    observations = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    observations[0]["status"] = "entered-in-error"
    stranger = copy.deepcopy(observations[1])
    stranger["id"] = "stranger"
    stranger["subject"] = {"reference": "Patient/someone-else"}
    bundle["entry"].append({"resource": stranger})
    careplan = client.post(PLAN, json=params, headers=FHIR_JSON).json()
    notes = [n["text"] for n in careplan["note"]]
    assert any(f"Observation/{observations[0]['id']}" in n and "entered-in-error" in n for n in notes)
    assert any(n.endswith("Observation: hoort bij een andere patiënt") for n in notes)
    assert "stranger" not in str(careplan) and "someone-else" not in str(careplan), "no trace of another patient"
    assert all(n.startswith("Niet gebruikt voor deze evaluatie") for n in notes)
