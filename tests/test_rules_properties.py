"""Property-based tests of the v2 decision tables (decision-logic §0, §1) over generated FHIR input.

* A clinical red flag that became present on a later day than the pattern
  conclusion never yields serious-pathology `excluded` (§1 v2: it reopens the
  assessment).
* Any input dated before the current episode's onset never changes the result
  (§0 v2), as long as it names no onset and no history flag (those are read
  across episodes by design).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from service.facts.gather import gather, load_element_codes
from service.rules import evaluate

AMS = ZoneInfo("Europe/Amsterdam")
TODAY = date(2026, 11, 2)
SUBJECT = "Patient/p"
LOCAL = "https://nekpijn-cds.org/fhir/CodeSystem/nekpijn"
INTAKE = "https://nekpijn-cds.org/fhir/Questionnaire/nekpijn-intake"
CODES = load_element_codes()
FLAGS = sorted(f for f in CODES.red_flags if f != "rf-no-improvement-4w")
HISTORY = {"rf-cancer-history", "rf-trauma-history", "rf-corticosteroids", "rf-osteoporosis", "rf-infection-risk"}
EPISODE_FLAGS = [f for f in FLAGS if f not in HISTORY]
CHOICES = {
    "course-trend": ["trend-decreasing", "trend-unchanged", "trend-increasing"],
    "adl-impact": ["adl-hardly", "adl-substantial"],
    "pattern-assessment": ["pattern-recognisable", "pattern-serious", "pattern-unrecognisable"],
}
BOOLEANS = [*EPISODE_FLAGS, "crs-arm-sensory", "crs-radiating-arm-pain", "psychosocial-dominant", "trauma-related",
            "work-related", "pf-kinesiophobia", "pf-anxiety", "recurrent"]
SETTINGS = settings(max_examples=120, deadline=None)


def instant(days_ago: int, hour: int = 10) -> str:
    return datetime.combine(TODAY - timedelta(days=days_ago), time(hour), tzinfo=AMS).isoformat()


def value_of(value) -> dict:
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, int):
        return {"valueInteger": value}
    if isinstance(value, date):
        return {"valueDate": value.isoformat()}
    return {"valueCoding": {"system": LOCAL, "code": value}}


def qr(rid: str, days_ago: int, answers: dict) -> dict:
    return {"resourceType": "QuestionnaireResponse", "id": rid, "questionnaire": INTAKE, "status": "completed",
            "subject": {"reference": SUBJECT}, "authored": instant(days_ago),
            "item": [{"linkId": k, "answer": [value_of(v)]} for k, v in answers.items()]}


def observation(rid: str, code: str, value, days_ago: int, hour: int = 9) -> dict:
    return {"resourceType": "Observation", "id": rid, "status": "final", "code": {"coding": [{"system": LOCAL, "code": code}]},
            "subject": {"reference": SUBJECT}, "effectiveDateTime": instant(days_ago, hour), **value_of(value)}


def nprs(rid: str, value: int, days_ago: int) -> dict:
    return {"resourceType": "Observation", "id": rid, "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
            "subject": {"reference": SUBJECT}, "effectiveDateTime": instant(days_ago, 9), "valueInteger": value}


PATIENT = {"resourceType": "Patient", "id": "p", "birthDate": "1970-04-01"}


def answers_strategy(keys: list[str]) -> st.SearchStrategy[dict]:
    values = {k: st.booleans() for k in keys}
    values.update({k: st.sampled_from(v) for k, v in CHOICES.items()})
    return st.fixed_dictionaries({}, optional=values)


def outcome(resources: list[dict]):
    result = evaluate(gather(resources, SUBJECT, TODAY, CODES), CODES)
    return [(f.code, f.value, f.status) for f in result.features], result.derived


@SETTINGS
@given(answers=answers_strategy(BOOLEANS), flag=st.sampled_from(FLAGS), intake_days=st.integers(1, 40),
       later_by=st.integers(1, 30), restated=st.booleans())
def test_a_flag_present_after_the_pattern_conclusion_never_yields_excluded(answers, flag, intake_days, later_by,
                                                                           restated):
    answers = {**answers, "pattern-assessment": "pattern-recognisable", "onset-date": TODAY - timedelta(days=intake_days + 3)}
    answers.pop(flag, None)
    if flag == "rf-trauma-history":  # trauma-related makes it present from the intake on (§0.2): not "later"
        answers.pop("trauma-related", None)
    resources = [PATIENT, qr("intake", intake_days, answers)]
    flag_day = max(intake_days - later_by, -1)
    resources.append(observation("flag", flag, True, flag_day, hour=8))
    if restated and flag_day > 0:  # re-stating the flag later does not move its onset day back
        resources.append(observation("again", flag, True, flag_day - 1))
    result = evaluate(gather(resources, SUBJECT, TODAY, CODES), CODES)
    assert result.values("serious-pathology") == ["unresolved"]
    assert result.derived["red-flag-open"] is True


@SETTINGS
@given(current=answers_strategy(BOOLEANS), onset_days=st.integers(0, 120), intake_after_onset=st.integers(0, 20),
       earlier=st.lists(st.tuples(st.integers(1, 400), answers_strategy(BOOLEANS)), max_size=3),
       earlier_obs=st.lists(st.tuples(st.sampled_from([*EPISODE_FLAGS, "psychosocial-dominant"]), st.booleans(),
                                      st.integers(1, 400)), max_size=4),
       earlier_nprs=st.lists(st.tuples(st.integers(0, 10), st.integers(1, 400)), max_size=3),
       measured=st.lists(st.tuples(st.integers(0, 10), st.integers(0, 60)), max_size=3))
def test_inputs_dated_before_the_episode_onset_never_change_the_result(current, onset_days, intake_after_onset,
                                                                       earlier, earlier_obs, earlier_nprs, measured):
    intake_days = max(onset_days - intake_after_onset, 0)
    onset = TODAY - timedelta(days=onset_days)
    base = [PATIENT, qr("intake", intake_days, {**current, "onset-date": onset})]
    base += [nprs(f"m{i}", v, min(d, intake_days)) for i, (v, d) in enumerate(measured)]
    before = []
    for i, (days, answers) in enumerate(earlier):
        before.append(qr(f"old{i}", onset_days + days, answers))
    for i, (code, value, days) in enumerate(earlier_obs):
        before.append(observation(f"oldobs{i}", code, value, onset_days + days))
    for i, (value, days) in enumerate(earlier_nprs):
        before.append(nprs(f"oldnprs{i}", value, onset_days + days))
    assert outcome(base) == outcome(before + base) == outcome(base + before)
