"""Every reference case through PlanDefinition/$apply over HTTP and through the CLI."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.careplan import CarePlan

from apply_support import NOW, TODAY, apply_parameters, assert_case, case_bundle, cases, contained
from service.app import create_app
from service.cli import main

PLAN = "/fhir/PlanDefinition/nekpijn-behandelprofiel/$apply"
FHIR_JSON = {"Content-Type": "application/fhir+json"}


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app(clock=lambda: NOW))


@pytest.mark.parametrize("case", cases(), ids=lambda c: c["id"])
def test_case_through_apply(client, case):
    response = client.post(PLAN, json=apply_parameters(case, lang=case.get("language")), headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    careplan = response.json()
    CarePlan.model_validate(careplan)
    assert_case(careplan, case)


@pytest.mark.parametrize("case", cases(), ids=lambda c: c["id"])
def test_case_through_cli(tmp_path, capsys, client, case):
    bundle_file = tmp_path / "bundle.json"
    bundle_file.write_text(json.dumps(case_bundle(case)), encoding="utf-8")
    out_file = tmp_path / "careplan.json"
    code = main(["evaluate", str(bundle_file), "--today", TODAY.isoformat(), "--json", str(out_file)])
    printed = capsys.readouterr().out
    assert code == 0
    careplan = json.loads(out_file.read_text(encoding="utf-8"))
    assert_case(careplan, case)
    assert careplan["title"] in printed
    # the CLI and $apply give the same CarePlan for the same input and day
    via_http = client.post(PLAN, json=apply_parameters(case), headers=FHIR_JSON).json()
    assert careplan == via_http


def test_output_is_byte_identical_across_runs(client):
    case = next(c for c in cases() if c["id"] == "b-work-sick-leave")
    first = client.post(PLAN, json=apply_parameters(case), headers=FHIR_JSON).content
    second = client.post(PLAN, json=apply_parameters(case), headers=FHIR_JSON).content
    fresh = TestClient(create_app(clock=lambda: NOW)).post(PLAN, json=apply_parameters(case), headers=FHIR_JSON).content
    assert first == second == fresh


def test_careplan_shape(client):
    case = next(c for c in cases() if c["id"] == "b-abnormal-duration")
    careplan = client.post(PLAN, json=apply_parameters(case), headers=FHIR_JSON).json()
    assert careplan["title"] == "Behandelprofiel B — nekpijn graad II, afwijkend beloop"
    assert careplan["status"] == "active" and careplan["intent"] == "proposal"
    assert careplan["instantiatesCanonical"] == ["https://nekpijn-cds.org/fhir/PlanDefinition/nekpijn-behandelprofiel|0.1.0"]
    assert careplan["subject"] == {"reference": "Patient/b-abnormal-duration"}
    group = contained(careplan, "RequestGroup")[0]
    assert careplan["activity"] == [{"reference": {"reference": f"#{group['id']}"}}]
    ids = {r["id"] for r in careplan["contained"]}
    for ref in careplan["supportingInfo"]:
        assert ref["reference"][1:] in ids
    for section in group["action"]:
        assert section["code"][0]["coding"][0]["code"].startswith("section-")
        for action in section["action"]:
            target = action["resource"]["reference"][1:]
            request = next(r for r in careplan["contained"] if r["id"] == target)
            # outputs.md (v2): a ServiceRequest's basedOn may only be a CarePlan (R4): "#" = the container
            based_on = "#" if request["resourceType"] == "ServiceRequest" else f"#{group['id']}"
            assert request["basedOn"] == [{"reference": based_on}]
            assert action["documentation"][0]["url"].startswith("https://")
    # therapies carry intervention codes, discouraged ones doNotPerform
    by_id = {r["id"]: r for r in careplan["contained"]}
    exercise = by_id["section-therapy.rec-exercise-mobilisation"]
    assert [c["code"] for c in exercise["code"]["coding"]] == ["int-exercise-therapy", "int-mobilisation"]
    assert by_id["section-discouraged.dis-laser"]["doNotPerform"] is True
    # every case-feature Observation explains itself and cites its sources
    for obs in contained(careplan, "Observation"):
        assert obs["note"][0]["text"]
        assert obs["category"][0]["coding"][0]["code"] == "case-feature"
    course = by_id["cf-course"]
    assert course["derivedFrom"], "the course rests on the intake"


def test_english_on_request(client):
    case = next(c for c in cases() if c["id"] == "b-abnormal-duration")
    by_param = client.post(PLAN, json=apply_parameters(case, lang="en"), headers=FHIR_JSON).json()
    by_header = client.post(PLAN, json=apply_parameters(case), headers={**FHIR_JSON, "Accept-Language": "en-GB,en;q=0.9,nl;q=0.5"})
    assert by_header.headers["content-language"] == "en"
    assert by_param == by_header.json()
    assert by_param["title"] == "Treatment profile B — neck pain grade II, abnormal course"
    group = contained(by_param, "RequestGroup")[0]
    titles = [a["title"] for s in group["action"] for a in s["action"]]
    assert "Reassure" in titles


def test_grade_iv_plan_holds_only_the_referral(client):
    case = next(c for c in cases() if c["id"] == "grade-iv-malignancy")
    careplan = client.post(PLAN, json=apply_parameters(case), headers=FHIR_JSON).json()
    group = contained(careplan, "RequestGroup")[0]
    assert [a["code"][0]["coding"][0]["code"] for s in group["action"] for a in s["action"]] == ["rec-refer-gp-serious-pathology"]
    referral = contained(careplan, "ServiceRequest")[0]
    assert referral["intent"] == "proposal" and referral["priority"] == "urgent"
    assert referral["performerType"]["coding"][0] == {"system": "http://fhir.nl/fhir/NamingSystem/uzi-rolcode",
                                                      "code": "01.015", "display": "Huisarts"}
    assert careplan["title"].startswith("Mogelijke ernstige pathologie")


def test_unresolved_red_flags_offer_the_gp_as_option(client):
    case = next(c for c in cases() if c["id"] == "red-flag-unresolved")
    careplan = client.post(PLAN, json=apply_parameters(case), headers=FHIR_JSON).json()
    referral = contained(careplan, "ServiceRequest")[0]
    assert referral["intent"] == "option"
    assert careplan["title"].endswith("(voorlopig)")


def _mutated(case_id: str, **expect) -> dict:
    case = next(c for c in cases() if c["id"] == case_id)
    return {**case, "expect": {**case["expect"], **expect}}


@pytest.mark.parametrize("case_id, wrong", [
    ("b-abnormal-duration", {"due": {"rec-measure-week-4": 27}}),
    ("b-abnormal-duration", {"due": {"rec-evaluate-end": None}}),
    ("a-normal-course", {"due": {"rec-evaluate-end": 42}}),
    ("grade-iv-malignancy", {"priority": {"rec-refer-gp-serious-pathology": "stat"}}),
    ("v2-cad-stat", {"priority": {"rec-refer-gp-serious-pathology": "urgent"}}),
    ("v2-fever-after-pattern", {"provisional": False}),
    ("v2-flags-judged-recognisable", {"provisional": True}),
    ("a-normal-course", {"note_left_out": True}),
    ("v2-b-work-week-2", {"note_left_out": False}),
    ("a-normal-course", {"treatment-effect": "improved"}),
    ("a-normal-course", {"subgroup": ["general-population", "work-related"]}),
    ("b-work-sick-leave", {"referral": []}),
])
def test_the_harness_rejects_a_wrong_expectation(client, case_id, wrong):
    """assert_case has teeth: each kind of expectation fails when it is wrong."""
    careplan = client.post(PLAN, json=apply_parameters(_mutated(case_id)), headers=FHIR_JSON).json()
    assert_case(careplan, _mutated(case_id))
    with pytest.raises(AssertionError):
        assert_case(careplan, _mutated(case_id, **wrong))
