"""The decision-table rows the PlanDefinitions implement: §6 instruments, §7 what the
plan holds, §9 follow-up, §10 work and §11 order checks — one test per row,
with the boundaries (41/42 days, sick leave 4/5 weeks), through $apply."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from apply_support import NOW, SNOMED, action_codes, apply_parameters, case_bundle, contained
from service.app import create_app
from service.apply.engine import Engine, draft_orders
from service.knowledge import KnowledgeBase

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


# == contract v2 rows ===================================================================

def action(plan: dict, code: str) -> dict:
    """The RequestGroup action of a recommendation (exactly one)."""
    group = contained(plan, "RequestGroup")[0]
    found = [a for s in group.get("action", []) for a in s.get("action", [])
             if a["code"][0]["coding"][0]["code"] == code]
    assert len(found) == 1, f"{code}: {len(found)} actions"
    return found[0]


def request_of(plan: dict, code: str) -> dict:
    rid = action(plan, code)["resource"]["reference"][1:]
    return next(r for r in plan["contained"] if r["id"] == rid)


def day(days_from_today: int) -> str:
    return (NOW.date() + timedelta(days=days_from_today)).isoformat()


def due_of(plan: dict, code: str) -> tuple[str | None, str | None]:
    """(RequestGroup action timingDateTime, the request's own date) of an item."""
    request = request_of(plan, code)
    own = request.get("occurrenceDateTime") if request["resourceType"] == "CommunicationRequest" else \
        request.get("restriction", {}).get("period", {}).get("end")
    return action(plan, code).get("timingDateTime"), own


def not_in(plan: dict, *codes: str) -> bool:
    return not set(codes) & set(action_codes(plan))


PROFILE_A = {"age": 35, "onset_days": 21, "intake_days": 0,
             "answers": {"course-trend": "trend-decreasing", "adl-impact": "adl-substantial",
                         "pattern-assessment": "pattern-recognisable", "crs-arm-sensory": False},
             "obs": [{"code": "nprs", "value": 5, "days": 0}, {"code": "psk", "value": 4.0, "days": 0}]}


# -- §9 (v2) week-4 measurement prompt, with its due day ----------------------------------

@pytest.mark.parametrize("days, expected", [(14, True), (41, True), (42, False)])
def test_v2_s9_week4_prompt_for_b_to_d_until_week_6(client, days, expected):
    plan = run(client, follow_up(days))
    assert profile(plan) == "profile-b"
    assert ("rec-measure-week-4" in action_codes(plan)) is expected
    if expected:
        assert due_of(plan, "rec-measure-week-4") == (day(28 - days), day(28 - days))
        assert request_of(plan, "rec-measure-week-4")["resourceType"] == "Task"


def test_v2_s9_week4_prompt_not_for_profile_a(client):
    plan = run(client, PROFILE_A)
    assert profile(plan) == "profile-a" and "rec-measure-week-4" not in action_codes(plan)


def test_v2_s9_week4_prompt_not_once_a_week4_follow_up_exists(client):
    plan = run(client, follow_up(35, latest=(3, 3.0), latest_days_ago=2))  # follow-up on day 33
    assert "rec-measure-week-4" not in action_codes(plan)
    early = run(client, follow_up(35, latest=(3, 3.0), latest_days_ago=20))  # follow-up on day 15
    assert "rec-measure-week-4" in action_codes(early)


# -- §9 (v2) the week-6 decisions need a follow-up from week 4 on ---------------------------

def test_v2_s9_early_follow_up_does_not_stand_in_for_the_week6_evaluation(client):
    plan = run(client, follow_up(45, latest=(6, 6.0), latest_days_ago=35), extra=PATTERN_TODAY)  # day 10 only
    codes = action_codes(plan)
    assert "rec-evaluate-nprs-psk" in codes and "rec-stop-contact-gp" not in codes


# -- §7 (v2) the treatment ends ------------------------------------------------------------

ENDING_KEEPS = {"rec-evaluate-end", "rec-discuss-ending"}
ENDING_LEAVES = ("rec-reassure", "rec-stay-active", "rec-patient-information-persistent", "rec-exercise-mobilisation",
                 "con-massage", "dis-laser", "rec-measure-week-4", "rec-evaluate-nprs-psk", "rec-inventory-prognostic-factors",
                 "rec-assess-pattern")


def test_v2_s7_stop_consult_ends_the_treatment(client):
    plan = run(client, follow_up(45, latest=(6, 6.0), latest_days_ago=1, **{"work-related": True, "sick-leave": True}),
               extra=PATTERN_TODAY)
    codes = set(action_codes(plan))
    assert {"rec-stop-contact-gp", "rec-closure-advice", "rec-work-risk-info", "rec-consider-occupational-physio",
            "rec-contact-company-doctor"} | ENDING_KEEPS <= codes
    assert not_in(plan, *ENDING_LEAVES)
    assert due_of(plan, "rec-evaluate-end") == (day(0), day(0))  # today when the treatment ends


def test_v2_s9_one_gp_card_the_gp_referral_takes_the_place_of_the_consult(client):
    """Only the derived rf-no-improvement-4w open: the §1 referral (proposal) replaces rec-stop-contact-gp;
    the closure advice leaves (referred to the huisarts)."""
    plan = run(client, follow_up(49, latest=(6, 5.5), latest_days_ago=2))
    codes = set(action_codes(plan))
    assert {"rec-refer-gp-serious-pathology"} | ENDING_KEEPS <= codes
    assert not_in(plan, "rec-stop-contact-gp", "rec-closure-advice", *ENDING_LEAVES)
    referral = request_of(plan, "rec-refer-gp-serious-pathology")
    assert referral["intent"] == "proposal" and referral["priority"] == "urgent"
    assert action(plan, "rec-refer-gp-serious-pathology")["priority"] == "urgent"
    assert "na akkoord van de patiënt" in action(plan, "rec-refer-gp-serious-pathology")["description"]
    assert referral["basedOn"] == [{"reference": "#"}]
    assert due_of(plan, "rec-evaluate-end") == (day(0), day(0))


def test_v2_s7_an_other_open_flag_keeps_the_gp_option_next_to_the_consult(client):
    """A headache recorded after the pattern conclusion is open: the consult and the §1 option both stay."""
    headache = {"code": "rf-headache", "value": True, "days": 5}
    plan = run(client, follow_up(45, latest=(6, 6.0), latest_days_ago=1, extra_obs=[headache]))
    codes = set(action_codes(plan))
    assert {"rec-stop-contact-gp", "rec-refer-gp-serious-pathology", "rec-closure-advice"} <= codes
    assert request_of(plan, "rec-refer-gp-serious-pathology")["intent"] == "option"


def profile_d_case(days: int, latest=None, worse: dict | None = None, latest_days_ago: int = 1) -> dict:
    case = follow_up(days, latest=latest, latest_days_ago=latest_days_ago,
                     **{"crs-radiating-arm-pain": True, "crs-arm-sensory": True})
    case["tests"] = {"test-spurling": "pos"}
    case["obs"] += [{"code": code, "value": value, "days": 1} for code, value in (worse or {}).items()]
    return case


def test_v2_s9_motor_loss_is_referred_back_at_once_urgent_and_ends_the_treatment(client):
    plan = run(client, profile_d_case(20, latest=(6, 6.0), worse={"crs-worse-motor": True}))
    assert profile(plan) == "profile-d"
    assert action(plan, "rec-refer-back-gp")["priority"] == "urgent"
    referral = request_of(plan, "rec-refer-back-gp")
    assert referral["priority"] == "urgent" and referral["basedOn"] == [{"reference": "#"}]
    assert ENDING_KEEPS <= set(action_codes(plan))
    assert not_in(plan, "rec-monitor-worsening", "rec-closure-advice", "con-traction", "rec-explain-diagnosis",
                  "rec-patient-information-radicular", "rec-measure-week-4")
    assert due_of(plan, "rec-evaluate-end") == (day(0), day(0))


def test_v2_s9_refer_back_after_six_weeks_is_routine(client):
    plan = run(client, profile_d_case(42, latest=(6, 6.0), worse={"crs-worse-sensory": True}), extra=PATTERN_TODAY)
    assert action(plan, "rec-refer-back-gp")["priority"] == "routine"
    assert request_of(plan, "rec-refer-back-gp")["priority"] == "routine"


def test_v2_s9_refer_back_with_only_the_derived_flag_open_offers_no_separate_gp_option(client):
    plan = run(client, profile_d_case(45, latest=(6, 6.0)))
    codes = action_codes(plan)
    assert "rec-refer-back-gp" in codes and "rec-refer-gp-serious-pathology" not in codes


# -- §1 (v2) priority of the GP referral ----------------------------------------------------

@pytest.mark.parametrize("flags, priority", [
    ({"rf-dizziness": True, "rf-diplopia": True}, "stat"),   # arterial dysfunction: same day
    ({"rf-bowel-bladder": True}, "stat"),                     # myelopathy: same day
    ({"rf-weight-loss": True}, "urgent"),
])
def test_v2_s1_grade_iv_referral_priority(client, flags, priority):
    plan = run(client, variant({**flags, "pattern-assessment": "pattern-unrecognisable"}))
    assert action_codes(plan) == ["section-referral", "rec-refer-gp-serious-pathology"]
    assert action(plan, "rec-refer-gp-serious-pathology")["priority"] == priority
    referral = request_of(plan, "rec-refer-gp-serious-pathology")
    assert referral["priority"] == priority and referral["intent"] == "proposal"


def test_v2_s1_restricted_plan_keeps_prompts_and_s9_rows(client):
    """Fever not yet judged: restricted — the prompts, the GP option and the week-4 row stay; no advice."""
    case = follow_up(14, **{"rf-fever": True})
    case["answers"].pop("pattern-assessment")
    plan = run(client, case)
    codes = set(action_codes(plan))
    assert {"rec-assess-pattern", "rec-refer-gp-serious-pathology", "rec-measure-week-4",
            "rec-inventory-prognostic-factors"} <= codes
    assert not_in(plan, "rec-reassure", "rec-patient-information-persistent", "rec-exercise-mobilisation",
                  "rec-evaluate-end")
    assert request_of(plan, "rec-refer-gp-serious-pathology")["intent"] == "option"


# -- v2 prompts -----------------------------------------------------------------------------

@pytest.mark.parametrize("answers, expected", [
    ({}, True),                                   # no prognostic factor answered
    ({"pf-other-msk-history": False}, False),     # one answered (no) is enough
    ({"pf-kinesiophobia": True}, False),
])
def test_v2_inventory_prognostic_factors_for_b_and_c(client, answers, expected):
    plan = run(client, variant(answers))
    assert ("rec-inventory-prognostic-factors" in action_codes(plan)) is expected


def test_v2_inventory_prognostic_factors_not_for_profile_a(client):
    assert "rec-inventory-prognostic-factors" not in action_codes(run(client, PROFILE_A))


def test_v2_s2_positive_test_without_symptoms_asks_for_the_symptoms(client):
    no_symptoms = variant({"crs-radiating-arm-pain": False, "crs-reduced-strength": False})
    no_symptoms["tests"] = {"test-spurling": "pos"}
    codes = action_codes(run(client, no_symptoms))
    assert "rec-assess-radicular" in codes and "rec-perform-crs-tests" not in codes
    symptoms = variant({"crs-arm-sensory": True})
    codes = action_codes(run(client, symptoms))
    assert "rec-perform-crs-tests" in codes and "rec-assess-radicular" not in codes


# -- v2 patient information (CommunicationRequest to the patient) and the end evaluation -----

@pytest.mark.parametrize("case, code, others", [
    (PROFILE_A, "rec-patient-information", ("rec-patient-information-persistent", "rec-patient-information-radicular")),
    (BASE_B, "rec-patient-information-persistent", ("rec-patient-information", "rec-patient-information-radicular")),
])
def test_v2_patient_information_is_addressed_to_the_patient(client, case, code, others):
    plan = run(client, case)
    assert not_in(plan, *others)
    request = request_of(plan, code)
    assert request["resourceType"] == "CommunicationRequest"
    assert request["recipient"] == [{"reference": "Patient/row"}]
    assert len(request["payload"]) == 3 and request["payload"][0]["contentString"].startswith(
        "Nekpijn is vervelend" if code == "rec-patient-information" else "Je nekpijn duurt langer")
    assert "huisartsenpost" in request["payload"][2]["contentString"]


def test_v2_patient_information_in_english(client):
    params = apply_parameters({"id": "row", "expect": {}, **PROFILE_A}, lang="en")
    response = client.post("/fhir/PlanDefinition/nekpijn-behandelprofiel/$apply", json=params, headers=FHIR_JSON)
    request = request_of(response.json(), "rec-patient-information")
    assert request["payload"][0]["contentString"].startswith("Neck pain is unpleasant")


def test_v2_patient_information_radicular_for_profile_d(client):
    plan = run(client, profile_d_case(10))
    assert profile(plan) == "profile-d"
    assert request_of(plan, "rec-patient-information-radicular")["recipient"] == [{"reference": "Patient/row"}]


def test_v2_evaluate_end_due_week_6_for_b_to_d_none_for_a(client):
    plan_a = run(client, PROFILE_A)
    assert due_of(plan_a, "rec-evaluate-end") == (None, None)
    plan_b = run(client, follow_up(10, **{"course-trend": "trend-unchanged"}))
    assert profile(plan_b) == "profile-b"
    assert due_of(plan_b, "rec-evaluate-end") == (day(32), day(32))


# -- §10 (v2) the company doctor unless both work factors are answered no --------------------

@pytest.mark.parametrize("factors, expected", [
    ({"pf-high-work-demands": False, "pf-low-work-control": False}, False),
    ({"pf-high-work-demands": False}, True),                    # the other left unanswered
    ({"pf-high-work-demands": True, "pf-low-work-control": False}, True),
])
def test_v2_s10_company_doctor_unless_both_work_factors_no(client, factors, expected):
    plan = run(client, variant({"work-related": True, "sick-leave": False, **factors}))
    assert ("rec-contact-company-doctor" in action_codes(plan)) is expected


# -- outputs (v2): basedOn and no unreferenced contained resources ---------------------------

def references(node) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str) and value.startswith("#"):
                found.add(value[1:])
            else:
                found |= references(value)
    elif isinstance(node, list):
        for value in node:
            found |= references(value)
    return found


@pytest.mark.parametrize("case", [BASE_B, PROFILE_A], ids=["b", "a"])
def test_v2_based_on_and_every_contained_resource_is_referenced(client, case):
    plan = run(client, {**case, "answers": {**case["answers"], "work-related": True, "sick-leave": True,
                                            "sick-leave-weeks": 6}})
    for r in plan["contained"]:
        if r["resourceType"] == "ServiceRequest":
            assert r["basedOn"] == [{"reference": "#"}], r["id"]
        elif r["resourceType"] in ("CommunicationRequest", "Task"):
            assert r["basedOn"] == [{"reference": "#requestgroup"}], r["id"]
    referenced = references({k: v for k, v in plan.items() if k != "contained"}) | references(plan["contained"])
    assert {r["id"] for r in plan["contained"]} <= referenced


# -- §11 (v2) order plan ---------------------------------------------------------------------

CPT = "http://www.ama-assn.org/go/cpt"


@pytest.mark.parametrize("coding, expected", [
    ({"system": CPT, "code": "72141"}, {"dis-imaging"}),                  # MRI cervical spine (CPT radiology)
    ({"system": CPT, "code": "70010"}, {"dis-imaging"}),
    ({"system": CPT, "code": "79999"}, {"dis-imaging"}),
    ({"system": CPT, "code": "97110"}, set()),                            # therapeutic exercise: not imaging
    ({"system": CPT, "code": "7214"}, set()),
    ({"system": SNOMED, "code": "571891000119109"}, {"dis-imaging"}),     # MRI of cervical spine w/o contrast
    ({"system": SNOMED, "code": "241578008"}, {"dis-imaging"}),           # CT of cervical spine
])
def test_v2_s11_imaging_by_cpt_and_snomed(client, coding, expected):
    assert order_actions(run(client, BASE_B, "nekpijn-orders", [draft("i1", coding)])) == expected


def test_v2_s11_imaging_with_grade_iv_suspected_refers_to_the_gp(client):
    suspected = variant({"rf-bowel-bladder": True, "pattern-assessment": "pattern-serious"})
    plan = run(client, suspected, "nekpijn-orders", [DRAFTS["mri-local"][0]])
    assert order_actions(plan) == {"dis-imaging", "rec-refer-gp-serious-pathology"}
    referral = request_of(plan, "rec-refer-gp-serious-pathology")
    assert referral["priority"] == "stat" and referral["intent"] == "proposal"


def test_v2_s11_imaging_while_unresolved_judges_the_flags_first(client):
    unresolved = variant({"rf-fever": True})
    unresolved["answers"].pop("pattern-assessment")
    plan = run(client, unresolved, "nekpijn-orders", [DRAFTS["imaging-category"][0], DRAFTS["exercise"][0]])
    assert order_actions(plan) == {"dis-imaging", "chk-imaging-assess-flags", "chk-grade-iv-not-excluded"}


def test_v2_s11_physiotherapy_orders_warn_while_grade_iv_is_not_assessed(client):
    not_assessed = variant()
    not_assessed["answers"].pop("pattern-assessment")
    plan = run(client, not_assessed, "nekpijn-orders", [DRAFTS["exercise"][0]])
    assert order_actions(plan) == {"chk-grade-iv-not-excluded"}


@pytest.mark.parametrize("case, expected", [
    (PROFILE_A, {"dis-dry-needling", "chk-no-additional-therapy"}),
    (BASE_B, {"dis-dry-needling"}),
])
def test_v2_s11_profile_a_sentence_only_for_profile_a(client, case, expected):
    assert order_actions(run(client, case, "nekpijn-orders", [DRAFTS["dry-needling-snomed"][0]])) == expected


def test_v2_s11_collar_is_information_for_profile_d(client):
    order = DRAFTS["collar"][0]
    assert order_actions(run(client, profile_d_case(10), "nekpijn-orders", [order])) == {"chk-collar"}
    assert order_actions(run(client, PROFILE_A, "nekpijn-orders", [order])) == {"chk-collar-not-grade-iii"}


@pytest.mark.parametrize("order_name, expected", [
    ("manipulation-snomed", {"chk-manipulation-cad", "chk-manipulation"}),
    ("high-cervical", {"chk-manipulation-cad", "chk-high-cervical-manipulation"}),
])
def test_v2_s11_manipulation_warns_with_a_cad_flag(client, order_name, expected):
    dizzy = variant({"rf-dizziness": True})  # judged recognisable: covered, but present (B.6)
    assert order_actions(run(client, dizzy, "nekpijn-orders", [DRAFTS[order_name][0]])) == expected


def test_v2_s11_an_order_without_subject_is_the_patients():
    """A draft order without `subject` (CDS Hooks draftOrders may omit it) is the context patient's;
    one of another patient gets no check (decision-logic §11, v2 reading)."""
    engine = Engine(KnowledgeBase.load())
    resources = [e["resource"] for e in case_bundle({"id": "row", "expect": {}, **BASE_B})["entry"]]
    without = {k: v for k, v in DRAFTS["laser"][0].items() if k != "subject"}
    other = {**DRAFTS["tens-local"][0], "subject": {"reference": "Patient/someone-else"}}
    assert [o["id"] for o in draft_orders(resources + [without, other], "Patient/row")] == [without["id"]]
    result = engine.apply("nekpijn-orders", resources, "Patient/row", now=NOW, orders=[without])
    codes = {a.action.code for _, applied in result.applied for s in applied for a in s.children}
    assert codes == {"dis-laser"}
