"""Property-based tests: any well-formed input gives a valid CarePlan; nothing crashes."""

from __future__ import annotations

import copy
import json

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.careplan import CarePlan
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apply_support import NOW, apply_parameters, cases
from case_strategies import random_case
from service.app import create_app
from service.apply.hygiene import find_empties

PLAN = "/fhir/PlanDefinition/{}/$apply"
FHIR_JSON = {"Content-Type": "application/fhir+json"}
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app(clock=lambda: NOW), raise_server_exceptions=False)


@SETTINGS
@given(case=random_case(), plan=st.sampled_from(["nekpijn-behandelprofiel", "nekpijn-orders"]),
       lang=st.sampled_from([None, "en"]))
def test_any_well_formed_case_gives_a_valid_careplan(client, case, plan, lang):
    response = client.post(PLAN.format(plan), json=apply_parameters(case, lang=lang), headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    careplan = response.json()
    CarePlan.model_validate(careplan)
    assert find_empties(careplan) == [], "no empty element (the profile card offers the CarePlan unpruned)"
    ids = [r["id"] for r in careplan["contained"]]
    assert len(ids) == len(set(ids)), "contained ids are unique"
    referenced = json.dumps(careplan)
    for rid in ids:
        assert f'"#{rid}"' in referenced, f"contained {rid} is referenced (dom-3)"


MUTATIONS = st.sampled_from(["drop-status", "bad-status", "other-patient", "no-subject", "drop-value",
                             "empty-item", "unknown-code", "future-date", "drop-code", "string-value"])


@SETTINGS
@given(case_index=st.integers(0, len(cases()) - 1), mutation=MUTATIONS, position=st.integers(0, 40))
def test_mutated_input_never_gives_a_server_error(client, case_index, mutation, position):
    params = apply_parameters(cases()[case_index])
    bundle = params["parameter"][1]["resource"]
    entries = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Patient"]
    if entries:
        res = entries[position % len(entries)]["resource"]
        if mutation == "drop-status":
            res.pop("status", None)
        elif mutation == "bad-status":
            res["status"] = "entered-in-error"
        elif mutation == "other-patient":
            for key in ("subject",):
                if key in res:
                    res[key] = {"reference": "Patient/other"}
        elif mutation == "no-subject":
            res.pop("subject", None)
        elif mutation == "drop-value":
            for key in [k for k in res if k.startswith("value")]:
                res.pop(key)
        elif mutation == "empty-item":
            res["item"] = [{"linkId": "episode", "item": [{"linkId": "onset-date"}]}]
        elif mutation == "unknown-code":
            res["code"] = {"coding": [{"system": "urn:example", "code": "x"}]}
        elif mutation == "future-date":
            for key in ("authored", "effectiveDateTime", "onsetDateTime"):
                if key in res:
                    res[key] = "2099-01-01T10:00:00+01:00"
        elif mutation == "drop-code":
            res.pop("code", None)
        elif mutation == "string-value":
            for key in [k for k in res if k.startswith("value")]:
                res.pop(key)
            res["valueString"] = "onbekend"
    response = client.post(PLAN.format("nekpijn-behandelprofiel"), json=params, headers=FHIR_JSON)
    assert response.status_code in (200, 400, 422), response.text
    if response.status_code != 200:
        assert response.json()["resourceType"] == "OperationOutcome"
    else:
        CarePlan.model_validate(response.json())
