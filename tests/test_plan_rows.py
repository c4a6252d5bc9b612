"""The decision-table rows the PlanDefinitions implement: §6 instruments, §7 what the
plan holds, §9 follow-up, §10 work and §11 order checks — one test per row,
with the boundaries (41/42 days, sick leave 4/5 weeks), through $apply."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from apply_support import NOW, SNOMED, action_codes, apply_parameters, case_bundle, contained
from service.app import create_app

FHIR_JSON = {"Content-Type": "application/fhir+json"}
LOCAL = "https://nekpijn-cds.org/fhir/CodeSystem/nekpijn"

# profile B: 9 weeks of neck pain, red flags excluded, psychosocial factors not dominant
BASE_B = {"age": 45, "onset_days": 63, "intake_days": 0,
          "answers": {"adl-impact": "adl-substantial", "pattern-assessment": "pattern-recognisable",
                      "psychosocial-dominant": False, "crs-arm-sensory": False},
          "obs": [{"code": "nprs", "value": 6, "days": 0}, {"code": "psk", "value": 6.0, "days": 0}]}


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app(clock=lambda: NOW))


def run(client, case: dict, plan: str = "nekpijn-behandelprofiel", extra: list[dict] = ()) -> dict:
    case = {"id": "row", "expect": {}, **case}
    params = apply_parameters(case)
    params["parameter"][1]["resource"]["entry"] += [{"resource": r} for r in extra]
    response = client.post(f"/fhir/PlanDefinition/{plan}/$apply", json=params, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    return response.json()


def variant(answers: dict | None = None, **changes) -> dict:
    case = {**BASE_B, **changes}
    case["answers"] = {**BASE_B["answers"], **(answers or {})}
    return case


def profile(careplan: dict) -> str:
    return next(o["valueCodeableConcept"]["coding"][0]["code"] for o in contained(careplan, "Observation")
                if o["code"]["coding"][0]["code"] == "treatment-profile")


# -- §6 optional instruments (cumulative) ---------------------------------------------

@pytest.mark.parametrize("suspicion, instrument, score", [
    ("pf-kinesiophobia", "rec-instrument-tsk", "tsk"),
    ("pf-pain-related-fear", "rec-instrument-fabq", "fabq"),
    ("pf-anxiety", "rec-instrument-4dkl", None),
    ("pf-depression", "rec-instrument-4dkl", None),
    ("pf-psychosocial-stress", "rec-instrument-4dkl", None),
    ("pf-somatisation", "rec-instrument-4dkl", None),
    ("pf-poor-health-perception", "rec-instrument-sf36", "sf36"),
])
def test_s6_instrument_suggested_when_suspected_and_not_scored(client, suspicion, instrument, score):
    plan = run(client, variant({suspicion: True}))
    assert profile(plan) == "profile-b" and instrument in action_codes(plan)
    assert instrument not in action_codes(run(client, variant({suspicion: False})))
    if score:
        assert instrument not in action_codes(run(client, variant({suspicion: True, score: 30})))


def test_s6_rows_are_cumulative(client):
    codes = action_codes(run(client, variant({"pf-kinesiophobia": True, "pf-anxiety": True})))
    assert {"rec-instrument-tsk", "rec-instrument-4dkl"} <= set(codes)


def test_s6_no_instruments_in_a_restricted_plan(client):
    restricted = variant({"pf-kinesiophobia": True, "rf-fever": True, "pattern-assessment": None})
    restricted["answers"] = {k: v for k, v in restricted["answers"].items() if v is not None}
    codes = action_codes(run(client, restricted))
    assert "rec-assess-pattern" in codes and "rec-instrument-tsk" not in codes


# -- §7 what the plan holds -----------------------------------------------------------

def test_s7_profile_undetermined_holds_assessment_prompts_only(client):
    assert profile(run(client, variant())) == "profile-b"
    undetermined = variant()
    undetermined["answers"] = {k: v for k, v in undetermined["answers"].items() if k != "psychosocial-dominant"}
    plan = run(client, undetermined)
    assert profile(plan) == "undetermined"
    codes = action_codes(plan)
    assert "rec-assess-psychosocial" in codes
    assert {c for c in codes if c.startswith("section-")} == {"section-assessment"}


# -- §9 follow-up rules ----------------------------------------------------------------

def pattern_observation(days_ago: int = 0, value: str = "pattern-recognisable") -> dict:
    """A pattern conclusion recorded as an Observation `days_ago` days before today (10:00)."""
    day = (NOW - timedelta(days=days_ago)).date().isoformat()
    return {"resourceType": "Observation", "id": f"pattern-{days_ago}", "status": "final",
            "code": {"coding": [{"system": LOCAL, "code": "pattern-assessment"}]},
            "subject": {"reference": "Patient/row"}, "effectiveDateTime": f"{day}T10:00:00+01:00",
            "valueCodeableConcept": {"coding": [{"system": LOCAL, "code": value}]}}


# a pattern conclusion "herkenbaar" today, after the follow-up: it covers the derived flag
# rf-no-improvement-4w (§1), so the plan is not restricted
PATTERN_TODAY = [pattern_observation(0)]


def follow_up(days_in_treatment: int, start_values=(6, 6.0), latest=None, latest_days_ago=2, *,
              extra_obs=(), **answers) -> dict:
    """Profile B (or as answered), intake `days_in_treatment` days ago with a baseline then."""
    obs = [{"code": "nprs", "value": start_values[0], "days": days_in_treatment},
           {"code": "psk", "value": start_values[1], "days": days_in_treatment}]
    if latest is not None:
        obs += [{"code": "nprs", "value": latest[0], "days": latest_days_ago},
                {"code": "psk", "value": latest[1], "days": latest_days_ago}]
    obs += list(extra_obs)
    return variant(answers, onset_days=days_in_treatment + 30, intake_days=days_in_treatment, obs=obs)


@pytest.mark.parametrize("days, expected", [(41, False), (42, True)])
def test_s9_row2_evaluate_after_six_weeks_without_follow_up(client, days, expected):
    codes = action_codes(run(client, follow_up(days)))
    assert ("rec-evaluate-nprs-psk" in codes) is expected


def test_s9_row2_not_when_a_follow_up_exists(client):
    assert "rec-evaluate-nprs-psk" not in action_codes(run(client, follow_up(45, latest=(3, 3.0))))


@pytest.mark.parametrize("days, expected", [(41, False), (42, True)])
def test_s9_row3_stop_and_consult_after_six_weeks_unchanged(client, days, expected):
    plan = run(client, follow_up(days, latest=(6, 5.5), latest_days_ago=1), extra=PATTERN_TODAY)
    assert ("rec-stop-contact-gp" in action_codes(plan)) is expected


@pytest.mark.parametrize("work, role", [(False, "01.015"), (True, "01.008")])
def test_s9_row3_consults_the_occupational_physician_when_work_related(client, work, role):
    plan = run(client, follow_up(45, latest=(6, 6.0), latest_days_ago=1, **{"work-related": work}), extra=PATTERN_TODAY)
    request = next(r for r in contained(plan, "CommunicationRequest")
                   if r["id"].endswith("rec-stop-contact-gp"))
    target = request["recipient"][0]["reference"][1:]
    role_resource = next(r for r in plan["contained"] if r["id"] == target)
    assert role_resource["code"][0]["coding"][0]["code"] == role
    # only the addressed role is contained (no unreferenced PractitionerRole)
    assert [r["id"] for r in contained(plan, "PractitionerRole")] == [target]


def test_s9_row3_not_when_improved(client):
    assert "rec-stop-contact-gp" not in action_codes(run(client, follow_up(45, latest=(3, 3.0), latest_days_ago=1)))


@pytest.mark.parametrize("latest, expected", [((6, 6.0), True), ((8, 8.0), True), ((3, 3.0), False)])
def test_s9_row4_psychosocial_referral_in_profile_c(client, latest, expected):
    case = follow_up(14, latest=latest, latest_days_ago=2, **{"psychosocial-dominant": True})
    plan = run(client, case)
    assert profile(plan) == "profile-c"
    assert ("rec-psychosocial-refer" in action_codes(plan)) is expected


def profile_d(days: int, latest=None, **answers) -> dict:
    case = follow_up(days, start_values=(6, 6.0), latest=latest, latest_days_ago=1,
                     **{"crs-radiating-arm-pain": True, "crs-arm-sensory": True, **answers})
    case["tests"] = {"test-spurling": "pos"}
    return case


@pytest.mark.parametrize("days, latest, answers, refer, monitor", [
    (42, (6, 6.0), {}, True, False),                          # row 5: unchanged after six weeks
    (42, (3, 3.0), {}, False, False),                         # improved: neither
    (42, (3, 3.0), {"crs-worse-sensory": True}, True, False),  # row 5: more sensory symptoms
    (41, (9, 9.0), {}, False, True),                          # row 8: worsened before six weeks
    (20, (3, 3.0), {"crs-worse-sensory": True}, False, True),  # row 8: more sensory symptoms
    (20, (3, 3.0), {"crs-worse-motor": True}, True, False),   # row 6 (v2): more motor loss: at once
    (20, (6, 6.0), {}, False, False),                         # unchanged before six weeks: nothing
])
def test_s9_rows5_6_profile_d(client, days, latest, answers, refer, monitor):
    plan = run(client, profile_d(days, latest, **answers))
    assert profile(plan) == "profile-d"
    codes = action_codes(plan)
    assert ("rec-refer-back-gp" in codes) is refer
    assert ("rec-monitor-worsening" in codes) is monitor


# -- §10 work-related additions ---------------------------------------------------------

def test_s10_profile_a_work_related(client):
    case = {"age": 40, "onset_days": 14, "intake_days": 0,
            "answers": {"work-related": True, "sick-leave": True, "sick-leave-weeks": 6, "course-trend": "trend-decreasing",
                        "adl-impact": "adl-hardly", "pattern-assessment": "pattern-recognisable",
                        "crs-arm-sensory": False},
            "obs": [{"code": "nprs", "value": 4, "days": 0}, {"code": "psk", "value": 3.0, "days": 0}]}
    plan = run(client, case)
    codes = action_codes(plan)
    assert profile(plan) == "profile-a"
    assert {"rec-work-risk-info", "rec-consider-occupational-physio"} <= set(codes)
    assert not {"rec-contact-company-doctor", "rec-absence-over-4-weeks", "con-workplace-intervention"} & set(codes)


@pytest.mark.parametrize("weeks, expected", [(4, False), (5, True)])
def test_s10_absence_over_four_weeks(client, weeks, expected):
    plan = run(client, variant({"work-related": True, "sick-leave": True, "sick-leave-weeks": weeks}))
    codes = action_codes(plan)
    assert {"rec-work-risk-info", "rec-contact-company-doctor", "rec-consider-occupational-physio"} <= set(codes)
    assert ("rec-absence-over-4-weeks" in codes) is expected


def test_s10_occupational_physio_only_with_sick_leave(client):
    codes = action_codes(run(client, variant({"work-related": True, "sick-leave": False})))
    assert "rec-work-risk-info" in codes and "rec-consider-occupational-physio" not in codes


def test_s10_not_when_not_work_related(client):
    codes = action_codes(run(client, variant({"work-related": False})))
    assert not any(c in codes for c in ("section-work", "rec-work-risk-info"))


# -- §11 order checks (PlanDefinition nekpijn-orders) ------------------------------------

def draft(rid: str, code: dict, category: dict | None = None) -> dict:
    sr = {"resourceType": "ServiceRequest", "id": rid, "status": "draft", "intent": "proposal",
          "code": {"coding": [code]}, "subject": {"reference": "Patient/row"}}
    if category:
        sr["category"] = [{"coding": [category]}]
    return sr


DRAFTS = {
    "dry-needling-snomed": (draft("o1", {"system": SNOMED, "code": "231082000"}), {"dis-dry-needling"}),
    "tens-local": (draft("o2", {"system": LOCAL, "code": "int-tens"}), {"dis-electrotherapy"}),
    "ultrasound-snomed": (draft("o3", {"system": SNOMED, "code": "169436006"}), {"dis-ultrasound-shockwave"}),
    "laser": (draft("o4", {"system": LOCAL, "code": "int-laser"}), {"dis-laser"}),
    "imaging-category": (draft("o5", {"system": "http://loinc.org", "code": "36554-4"},
                               {"system": SNOMED, "code": "363679005"}), {"dis-imaging"}),
    "mri-local": (draft("o6", {"system": LOCAL, "code": "int-imaging-mri"}), {"dis-imaging"}),
    # BASE_B is profile B: a collar warns (only in grade III, v2)
    "collar": (draft("o7", {"system": LOCAL, "code": "int-semi-rigid-collar"}), {"chk-collar-not-grade-iii"}),
    "manipulation-snomed": (draft("o8", {"system": SNOMED, "code": "118745001"}), {"chk-manipulation"}),
    "high-cervical": (draft("o9", {"system": LOCAL, "code": "int-high-cervical-manipulation"}),
                      {"chk-high-cervical-manipulation"}),
    "exercise": (draft("o10", {"system": SNOMED, "code": "229065009"}), set()),
}


def order_actions(plan: dict) -> set[str]:
    return {c for c in action_codes(plan) if not c.startswith("section-")}


@pytest.mark.parametrize("name", list(DRAFTS))
def test_s11_each_draft_order_row(client, name):
    order, expected = DRAFTS[name]
    plan = run(client, BASE_B, "nekpijn-orders", [order])
    assert order_actions(plan) == expected
    for request in plan["contained"]:
        if request["resourceType"] in ("ServiceRequest", "CommunicationRequest"):
            about = request.get("supportingInfo") or request.get("about")
            assert about == [{"reference": f"ServiceRequest/{order['id']}"}]


def test_s11_collar_after_trauma_warns(client):
    order, _ = DRAFTS["collar"]
    plan = run(client, variant({"trauma-related": True}), "nekpijn-orders", [order])
    assert order_actions(plan) == {"chk-collar-trauma"}


def test_s11_every_draft_checked_once(client):
    orders = [DRAFTS[n][0] for n in ("dry-needling-snomed", "tens-local", "exercise")]
    plan = run(client, BASE_B, "nekpijn-orders", orders)
    group = contained(plan, "RequestGroup")[0]
    flagged = [a for s in group["action"] for a in s["action"]]
    assert len(flagged) == 2


def test_s11_no_checks_outside_a_neck_pain_episode(client):
    """No intake QuestionnaireResponse and no neck-pain Condition: no order checks."""
    order, _ = DRAFTS["dry-needling-snomed"]
    case = {"id": "row", "expect": {}, "age": 40, "answers": {}, "obs": [{"code": "nprs", "value": 4, "days": 0}]}
    resources = [e["resource"] for e in case_bundle(case)["entry"]]
    assert {r["resourceType"] for r in resources} == {"Patient", "Observation"}
    assert order_actions(run(client, case, "nekpijn-orders", [order])) == set()
    # the same order for a patient in an episode is flagged
    assert order_actions(run(client, BASE_B, "nekpijn-orders", [order])) == {"dis-dry-needling"}
