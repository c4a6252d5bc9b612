"""The decision tables of dak/decision-logic.md, row by row, and the §0 gathering rules.

Rule tests build `Facts` directly with the small helpers below; gathering
tests feed plain FHIR JSON to `gather`. Evaluation day: 2026-03-10 (CET).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from service.facts.gather import NoDataError, gather, load_element_codes, whole_years
from service.facts.model import Fact, Facts, Feature, Measurement, Source
from service.rules import course, evaluate, followup, grade, measurement, onset, profile, psychosocial, \
    radicular, serious_pathology, subgroup

AMS = ZoneInfo("Europe/Amsterdam")
TODAY = date(2026, 3, 10)
PID = "p1"
SUBJECT = f"Patient/{PID}"
CODES = load_element_codes()
LOCAL = "https://nekpijn-cds.org/fhir/CodeSystem/nekpijn"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
INTAKE = "https://nekpijn-cds.org/fhir/Questionnaire/nekpijn-intake"
CLINICAL_FLAGS = list(CODES.red_flags)


# ---------------------------------------------------------------------------
# Facts helpers
# ---------------------------------------------------------------------------


def at(days_ago: int = 0, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.combine(TODAY - timedelta(days=days_ago), time(hour, minute), tzinfo=AMS)


def qr_source(days_ago: int = 0, ref: str = "QuestionnaireResponse/intake") -> Source:
    return Source(ref, at(days_ago, 10), "answer")


def answer(code: str, value, days_ago: int = 0, ref: str = "QuestionnaireResponse/intake") -> Fact:
    return Fact(code, value, qr_source(days_ago, ref))


def observed(code: str, value, days_ago: int = 0, hour: int = 9, minute: int = 30) -> Fact:
    return Fact(code, value, Source(f"Observation/{code}-d{days_ago}", at(days_ago, hour, minute), "observation"))


def measured(instrument: str, value: float, days_ago: int, hour: int = 9, minute: int = 30) -> Measurement:
    return Measurement(instrument, float(value),
                       Source(f"Observation/{instrument}-d{days_ago}-{hour}{minute}", at(days_ago, hour, minute),
                              "observation"))


def make(*facts: Fact, onset_days: int | None = None, intake_days: int | None = None,
         measurements: tuple[Measurement, ...] = (), birth: date | None = None,
         conditions: tuple[Source, ...] = ()) -> Facts:
    answers = {f.code: f for f in facts}
    if onset_days is not None:
        answers["onset-date"] = answer("onset-date", TODAY - timedelta(days=onset_days),
                                       intake_days if intake_days is not None else 0)
    by_instrument: dict[str, list[Measurement]] = {}
    for m in sorted(measurements, key=lambda m: m.source.instant):
        by_instrument.setdefault(m.instrument, []).append(m)
    return Facts(subject=SUBJECT, today=TODAY, birth_date=birth, answers=answers, measurements=by_instrument,
                 intakes=[qr_source(intake_days)] if intake_days is not None else [],
                 conditions=list(conditions))


def feat(code: str, value) -> Feature:
    return Feature(code, value, "stub", {"nl": "", "en": ""})


# ---------------------------------------------------------------------------
# §1 Serious pathology
# ---------------------------------------------------------------------------

RECOGNISABLE = answer("pattern-assessment", "pattern-recognisable")
ALL_FLAGS_FALSE = tuple(answer(f, False) for f in CLINICAL_FLAGS)


def no_improvement_derived(treatment_start_days_ago: int) -> Fact:
    """The §9 flag as followup.py derives it: arises on treatment-start + 28 days."""
    arises = TODAY - timedelta(days=treatment_start_days_ago) + timedelta(days=28)
    return Fact("rf-no-improvement-4w", True, Source("", datetime.combine(arises, time(0), tzinfo=AMS), "derived"),
                (qr_source(treatment_start_days_ago),), "§9 row 1")


SERIOUS_ROWS = [
    ("§1 row 1: pattern-serious", [answer("pattern-assessment", "pattern-serious")], "suspected", 1),
    ("§1 row 1: pattern-unrecognisable", [answer("pattern-assessment", "pattern-unrecognisable")], "suspected", 1),
    ("§1 row 1: pattern-serious wins over flags", [answer("pattern-assessment", "pattern-serious"),
                                                   answer("rf-fever", True)], "suspected", 1),
    ("§1 row 2: flag without pattern", [answer("rf-fever", True)], "unresolved", 2),
    ("§1 row 2: derived 4-week flag, pattern the day before it arose",
     [answer("pattern-assessment", "pattern-recognisable", days_ago=30 - 27), no_improvement_derived(30)],
     "unresolved", 2),
    ("§1 row 3: flag covered by pattern-recognisable", [answer("rf-fever", True), RECOGNISABLE], "excluded", 3),
    ("§1 row 2 (v2): a flag that became present after the pattern conclusion reopens the assessment",
     [observed("rf-fever", True, days_ago=0, hour=23), answer("pattern-assessment", "pattern-recognisable", 5)],
     "unresolved", 2),
    ("§1 row 3: a flag present before the pattern conclusion is covered",
     [observed("rf-fever", True, days_ago=6), answer("pattern-assessment", "pattern-recognisable", 5)],
     "excluded", 3),
    ("§1 row 3: a flag that became present on the day of the conclusion (one visit) is covered",
     [observed("rf-fever", True, days_ago=5, hour=23), answer("pattern-assessment", "pattern-recognisable", 5)],
     "excluded", 3),
    ("§1 row 3: derived 4-week flag, pattern on the day it arose",
     [answer("pattern-assessment", "pattern-recognisable", days_ago=30 - 28), no_improvement_derived(30)],
     "excluded", 3),
    ("§1 row 4: no flag, pattern-recognisable", [RECOGNISABLE], "excluded", 4),
    ("§1 row 4: no flag, complete screening without pattern", list(ALL_FLAGS_FALSE), "excluded", 4),
    ("§1 row 4 (v2): a complete screening need not answer rf-no-improvement-4w",
     [f for f in ALL_FLAGS_FALSE if f.code != "rf-no-improvement-4w"], "excluded", 4),
    ("§1 row 5: incomplete screening",
     [f for f in ALL_FLAGS_FALSE if f.code not in ("rf-fever", "rf-no-improvement-4w")], "not-assessed", 5),
    ("§1 row 5: nothing asked", [], "not-assessed", 5),
    ("§1 row 5: age flags alone do not trigger", [answer("rf-age-over-50", True), answer("rf-older-age", True)],
     "not-assessed", 5),
    ("§1 row 1: pattern-unrecognisable beats a complete negative screening",
     [*ALL_FLAGS_FALSE, answer("pattern-assessment", "pattern-unrecognisable")], "suspected", 1),
]


@pytest.mark.parametrize("facts, value, row", [r[1:] for r in SERIOUS_ROWS], ids=[r[0] for r in SERIOUS_ROWS])
def test_serious_pathology_rows(facts, value, row):
    result = serious_pathology.classify(make(*facts), CODES)
    assert result.value == value
    assert result.rule.startswith(f"decision-logic §1 row {row} ")
    assert result.explanation["nl"] and result.explanation["en"]


def test_serious_pathology_components_per_pathology_with_age_context():
    facts = make(answer("rf-cancer-history", True), answer("rf-fever", True), answer("rf-age-over-50", True),
                 answer("rf-older-age", True))
    result = serious_pathology.classify(facts, CODES)
    assert result.value == "unresolved"
    # rf-older-age (fracture) is not listed: no clinical fracture flag is present
    assert result.components == (
        ("pathology-infection", ("rf-fever",)),
        ("pathology-malignancy", ("rf-cancer-history", "rf-age-over-50")),
        ("pathology-systemic", ("rf-fever",)),
    )
    assert "koorts" in result.explanation["nl"] and "fever" in result.explanation["en"]


def test_serious_pathology_age_flags_are_context_only_when_excluded():
    facts = make(RECOGNISABLE, answer("rf-age-over-50", True))
    result = serious_pathology.classify(facts, CODES)
    assert (result.value, result.components) == ("excluded", ())
    assert "leeftijd > 50 jaar" in result.explanation["nl"]
    assert "context" in result.explanation["en"]


def test_serious_pathology_covers_boundary_is_the_day_not_the_instant():
    """Pattern at 00:01 on the day the derived flag arose covers it; 23:59 the day before does not."""
    flag = no_improvement_derived(30)
    day = flag.source.day
    on_day = Fact("pattern-assessment", "pattern-recognisable",
                  Source("Observation/pa", datetime.combine(day, time(0, 1), tzinfo=AMS), "observation"))
    day_before = Fact("pattern-assessment", "pattern-recognisable",
                      Source("Observation/pa", datetime.combine(day - timedelta(days=1), time(23, 59), tzinfo=AMS),
                             "observation"))
    assert serious_pathology.classify(make(flag, on_day), CODES).value == "excluded"
    assert serious_pathology.classify(make(flag, day_before), CODES).value == "unresolved"


# ---------------------------------------------------------------------------
# §2 Cervical radicular syndrome
# ---------------------------------------------------------------------------

S = {"crs-arm-sensory": True}
NO_S = {"crs-arm-sensory": False, "crs-radiating-arm-pain": False}
RADICULAR_ROWS = [
    ("§2 row 1: nothing assessed", {}, {}, "not-assessed", 1),
    ("§2 row 1: follow-up items do not make 'assessed'", {"crs-worse-sensory": True}, {}, "not-assessed", 1),
    ("§2 row 1 (v2): limited rotation alone does not make 'assessed'", {"crs-limited-rotation": True}, {},
     "not-assessed", 1),
    ("§2 row 1 (v2): a test result alone does not make 'assessed'", {}, {"test-spurling": "negative"},
     "not-assessed", 1),
    ("§2 row 2 (v2): positive test without S is suspected", NO_S, {"test-spurling": "positive"}, "suspected", 2),
    ("§2 row 2 (v2): positive traction test without S", NO_S,
     {"test-spurling": "negative", "test-traction-distraction": "positive", "test-ultt": "negative"}, "suspected", 2),
    ("§2 row 3: symptoms answered absent", NO_S, {}, "absent", 3),
    ("§2 row 3: limited rotation is not S", {**NO_S, "crs-limited-rotation": True}, {}, "absent", 3),
    ("§2 row 3: negative tests without S", NO_S, {"test-spurling": "negative", "test-ultt": "positive"}, "absent", 3),
    ("§2 row 4: S + Spurling positive", S, {"test-spurling": "positive"}, "confirmed", 4),
    ("§2 row 4: S (sign) + traction positive, Spurling negative", {"crs-reduced-reflexes": True},
     {"test-spurling": "negative", "test-traction-distraction": "positive"}, "confirmed", 4),
    ("§2 row 4: a positive inclusion test outweighs a negative ULTT", S,
     {"test-spurling": "positive", "test-ultt": "negative"}, "confirmed", 4),
    ("§2 row 5: both negative, ULTT negative", S,
     {"test-spurling": "negative", "test-traction-distraction": "negative", "test-ultt": "negative"}, "excluded", 5),
    ("§2 row 6: both negative, ULTT missing", S,
     {"test-spurling": "negative", "test-traction-distraction": "negative"}, "excluded-in-principle", 6),
    ("§2 row 7: both negative, ULTT positive", S,
     {"test-spurling": "negative", "test-traction-distraction": "negative", "test-ultt": "positive"},
     "excluded-in-principle", 7),
    ("§2 row 8: one negative, one missing, ULTT negative", S,
     {"test-spurling": "negative", "test-ultt": "negative"}, "excluded", 8),
    ("§2 row 9: one negative, one missing, ULTT missing", S, {"test-spurling": "negative"}, "suspected", 9),
    ("§2 row 9: one negative, one missing, ULTT positive", S,
     {"test-traction-distraction": "negative", "test-ultt": "positive"}, "suspected", 9),
    ("§2 row 9: S, no tests", S, {}, "suspected", 9),
]


@pytest.mark.parametrize("items, tests, value, row", [r[1:] for r in RADICULAR_ROWS],
                         ids=[r[0] for r in RADICULAR_ROWS])
def test_radicular_rows(items, tests, value, row):
    facts = make(*(answer(c, v) for c, v in items.items()), *(observed(t, r) for t, r in tests.items()))
    result = radicular.classify(facts, CODES)
    assert result.value == value
    assert result.rule.startswith(f"decision-logic §2 row {row} ")


def test_radicular_rotation_measurement_alone_is_not_assessed():
    """v2: a rotation measurement answers crs-limited-rotation, but cannot tell S: not assessed."""
    facts = make(Fact("crs-limited-rotation", True, Source("Observation/rot", at(0, 9), "observation")))
    result = radicular.classify(facts, CODES)
    assert result.value == "not-assessed"
    assert "Graad I, II en III" in result.explanation["nl"]


# ---------------------------------------------------------------------------
# §3 Grade
# ---------------------------------------------------------------------------

GRADE_ROWS = [
    ("§3 row 1", "suspected", "confirmed", "adl-hardly", "grade-iv", 1),
    ("§3 row 2", "excluded", "confirmed", "adl-hardly", "grade-iii", 2),
    ("§3 row 2 (unresolved red flags do not stop grading)", "unresolved", "confirmed", None, "grade-iii", 2),
    ("§3 row 3", "excluded", "suspected", "adl-substantial", "undetermined", 3),
    ("§3 row 4", "excluded", "absent", "adl-hardly", "grade-i", 4),
    ("§3 row 5", "not-assessed", "excluded-in-principle", "adl-substantial", "grade-ii", 5),
    ("§3 row 3 (v2): radicular syndrome not assessed", "excluded", "not-assessed", "adl-hardly", "undetermined", 3),
    ("§3 row 6", "excluded", "absent", None, "grade-i-ii", 6),
]


@pytest.mark.parametrize("serious, radic, adl, value, row", [r[1:] for r in GRADE_ROWS],
                         ids=[r[0] for r in GRADE_ROWS])
def test_grade_rows(serious, radic, adl, value, row):
    facts = make(*([answer("adl-impact", adl)] if adl else []))
    result = grade.classify(facts, feat("serious-pathology", serious), feat("radicular-syndrome", radic))
    assert result.value == value
    assert result.rule.startswith(f"decision-logic §3 row {row} ")


def test_grade_explanation_names_the_evidence():
    facts = make(answer("adl-impact", "adl-substantial"))
    result = grade.classify(facts, feat("serious-pathology", "excluded"), feat("radicular-syndrome", "absent"))
    assert result.explanation["nl"] == ("Graad II: de nekpijn heeft een forse invloed op het dagelijks leven "
                                        "(intake 10-03-2026).")
    assert result.explanation["en"].startswith("Grade II: the neck pain has a substantial influence")
    assert [s.reference for s in result.evidence] == ["QuestionnaireResponse/intake"]


# ---------------------------------------------------------------------------
# §4 Course
# ---------------------------------------------------------------------------

DECREASING = answer("course-trend", "trend-decreasing")
COURSE_ROWS = [
    ("§4 row 1: recurrent", [answer("recurrent", True), DECREASING], dict(onset_days=10), "abnormal", 1),
    ("§4 row 2: 43 days since onset", [DECREASING], dict(onset_days=43), "abnormal", 2),
    ("§4 row 3: 42 days since onset is still within six weeks", [DECREASING], dict(onset_days=42), "normal", 3),
    ("§4 row 3: recurrent false does not count", [answer("recurrent", False), DECREASING], dict(onset_days=5),
     "normal", 3),
    ("§4 row 4: unchanged", [answer("course-trend", "trend-unchanged")], dict(onset_days=20), "abnormal", 4),
    ("§4 row 4: increasing", [answer("course-trend", "trend-increasing")], dict(onset_days=20), "abnormal", 4),
    ("§4 row 3: a later trend answer wins over the measurements", [DECREASING],
     dict(onset_days=30, measurements=(measured("nprs", 5, 20), measured("nprs", 8, 1))), "normal", 3),
    ("§4 row 6 (v2): measurements after the trend answer win", [answer("course-trend", "trend-decreasing", 20)],
     dict(onset_days=30, measurements=(measured("nprs", 4, 20), measured("nprs", 7, 1))), "abnormal", 6),
    ("§4 row 5 (v2): a later measured improvement wins over 'unchanged'",
     [answer("course-trend", "trend-unchanged", 20)],
     dict(onset_days=30, measurements=(measured("nprs", 7, 20), measured("nprs", 4, 1))), "normal", 5),
    ("§4 row 4 (v2): on equal instants the Observation wins",
     [answer("course-trend", "trend-unchanged", 1)],
     dict(onset_days=30, measurements=(measured("nprs", 7, 20), measured("nprs", 4, 1, hour=10))), "normal", 5),
    ("§4 row 5: measured, 7 days apart, improved", [],
     dict(onset_days=20, measurements=(measured("nprs", 7, 7), measured("nprs", 5, 0))), "normal", 5),
    ("§4 row 6: measured, 7 days apart, not improved", [],
     dict(onset_days=20, measurements=(measured("nprs", 7, 7), measured("nprs", 6, 0))), "abnormal", 6),
    ("§4 row 6: measured, worsened", [],
     dict(onset_days=20, measurements=(measured("psk", 3.0, 10), measured("psk", 5.0, 0))), "abnormal", 6),
    ("§4 row 7: measurements only 6 days apart", [],
     dict(onset_days=20, measurements=(measured("nprs", 7, 6), measured("nprs", 3, 0))), "undetermined", 7),
    ("§4 row 7: a measurement before onset does not count", [],
     dict(onset_days=5, measurements=(measured("nprs", 8, 10), measured("nprs", 3, 0))), "undetermined", 7),
    ("§4 row 5: onset unknown, all measurements count", [],
     dict(measurements=(measured("nprs", 8, 60), measured("nprs", 3, 0))), "normal", 5),
    ("§4 row 5: only the instruments spanning 7 days count", [],
     dict(onset_days=20, measurements=(measured("nprs", 7, 7), measured("nprs", 5, 0),
                                       measured("psk", 3.0, 3), measured("psk", 8.0, 0))), "normal", 5),
    ("§4 row 7: nothing known", [], dict(onset_days=10), "undetermined", 7),
    ("§4 row 7: onset unknown, no trend", [], dict(), "undetermined", 7),
]


@pytest.mark.parametrize("facts, kw, value, row", [r[1:] for r in COURSE_ROWS], ids=[r[0] for r in COURSE_ROWS])
def test_course_rows(facts, kw, value, row):
    f = make(*facts, **kw)
    result = course.classify(f, onset.timeline(f))
    assert result.value == value
    assert result.rule.startswith(f"decision-logic §4 row {row} ")


def test_course_onset_from_condition_when_onset_date_missing():
    condition = Source("Condition/neck", datetime.combine(TODAY - timedelta(days=50), time(0), tzinfo=AMS),
                       "condition")
    f = make(DECREASING, conditions=(condition,))
    tl = onset.timeline(f)
    assert tl.days_since_onset == 50
    result = course.classify(f, tl)
    assert (result.value, result.evidence) == ("abnormal", (condition,))


# ---------------------------------------------------------------------------
# §5 Subgroup
# ---------------------------------------------------------------------------

SUBGROUP_ROWS = [
    ("§5 row 1", [answer("trauma-related", True), answer("work-related", False)], ["trauma-related"]),
    ("§5 row 2", [answer("work-related", True)], ["work-related"]),
    ("§5 rows 1+2", [answer("trauma-related", True), answer("work-related", True)],
     ["trauma-related", "work-related"]),
    ("§5 row 3: both false", [answer("trauma-related", False), answer("work-related", False)],
     ["general-population"]),
    ("§5 row 3: not answered", [], ["general-population"]),
]


@pytest.mark.parametrize("facts, values", [r[1:] for r in SUBGROUP_ROWS], ids=[r[0] for r in SUBGROUP_ROWS])
def test_subgroup_rows(facts, values):
    assert [f.value for f in subgroup.classify(make(*facts))] == values


# ---------------------------------------------------------------------------
# §6 Psychosocial-dominant
# ---------------------------------------------------------------------------


def test_psychosocial_answer_true_with_factors_as_evidence():
    factor = observed("pf-kinesiophobia", True, days_ago=1)
    facts = make(answer("psychosocial-dominant", True), factor, answer("pf-anxiety", True),
                 answer("pf-high-pain-intensity", True))  # not psychosocial
    result = psychosocial.classify(facts, CODES)
    assert result.value is True
    assert [s.reference for s in result.evidence] == ["QuestionnaireResponse/intake", factor.source.reference]
    assert "angst en angst voor bewegen" in result.explanation["nl"]
    assert "anxiety and fear of movement" in result.explanation["en"]
    assert "hoge pijnintensiteit" not in result.explanation["nl"]


def test_psychosocial_answer_false():
    result = psychosocial.classify(make(answer("psychosocial-dominant", False), answer("pf-anxiety", True)), CODES)
    assert result.value is False and "niet dominant" in result.explanation["nl"]


def test_psychosocial_missing_gives_no_feature():
    assert psychosocial.classify(make(answer("pf-anxiety", True)), CODES) is None


# ---------------------------------------------------------------------------
# §7 Treatment profile
# ---------------------------------------------------------------------------

PROFILE_ROWS = [
    ("§7 row 1", "grade-iv", "abnormal", True, None, 1),
    ("§7 row 2", "grade-iii", "normal", None, "profile-d", 2),
    ("§7 row 3", "undetermined", "normal", None, "undetermined", 3),
    ("§7 row 4 (I)", "grade-i", "normal", None, "profile-a", 4),
    ("§7 row 4 (I-II, answer ignored)", "grade-i-ii", "normal", True, "profile-a", 4),
    ("§7 row 5", "grade-ii", "abnormal", False, "profile-b", 5),
    ("§7 row 6", "grade-i", "abnormal", True, "profile-c", 6),
    ("§7 row 7", "grade-ii", "abnormal", None, "undetermined", 7),
    ("§7 row 8", "grade-i-ii", "undetermined", False, "undetermined", 8),
]


@pytest.mark.parametrize("grade_, course_, psd, value, row", [r[1:] for r in PROFILE_ROWS],
                         ids=[r[0] for r in PROFILE_ROWS])
def test_profile_rows(grade_, course_, psd, value, row):
    psd_feature = None if psd is None else feat("psychosocial-dominant", psd)
    result = profile.classify(feat("grade", grade_), feat("course", course_), psd_feature,
                              feat("serious-pathology", "excluded"))
    if value is None:
        assert result is None
    else:
        assert result.value == value and result.status == "final"
        assert result.rule.startswith(f"decision-logic §7 row {row} ")


@pytest.mark.parametrize("serious, status", [("unresolved", "preliminary"), ("not-assessed", "preliminary"),
                                             ("excluded", "final")])
def test_profile_is_preliminary_while_grade_iv_is_not_excluded(serious, status):
    result = profile.classify(feat("grade", "grade-i"), feat("course", "normal"), None,
                              feat("serious-pathology", serious))
    assert (result.value, result.status) == ("profile-a", status)
    if status == "preliminary":
        assert "Voorlopig" in result.explanation["nl"] and "Preliminary" in result.explanation["en"]


# ---------------------------------------------------------------------------
# §8 Measurement
# ---------------------------------------------------------------------------

CHANGE_ROWS = [
    ("drop of exactly 2", {"nprs": (6, 4)}, "improved"),
    ("drop of 1.9", {"psk": (6.0, 4.1)}, "unchanged"),
    ("4.1 -> 2.1 is a drop of 2.0 after rounding", {"psk": (4.1, 2.1)}, "improved"),
    ("rise of exactly 2", {"nprs": (3, 5)}, "worsened"),
    ("rise of 1.9", {"psk": (3.0, 4.9)}, "unchanged"),
    ("NPRS dropped, PSK unchanged", {"nprs": (7, 4), "psk": (6.0, 5.0)}, "improved"),
    ("PSK rose, NPRS unchanged", {"nprs": (5, 5), "psk": (4.0, 6.5)}, "worsened"),
    ("one dropped, the other rose", {"nprs": (7, 4), "psk": (3.0, 5.0)}, "unchanged"),
    ("no change", {"nprs": (6, 6), "psk": (6.0, 5.5)}, "unchanged"),
]


@pytest.mark.parametrize("pairs, value", [r[1:] for r in CHANGE_ROWS], ids=[r[0] for r in CHANGE_ROWS])
def test_change_rule(pairs, value):
    assert measurement.change(pairs) == value


def test_change_rule_without_any_pair():
    assert measurement.change({}) is None


def test_difference_is_rounded_to_one_decimal():
    assert float(measurement.difference(4.1, 2.1)) == -2.0
    assert float(measurement.difference(6.0, 4.1)) == -1.9
    assert float(measurement.difference(2.0, 3.95)) == 2.0  # half away from zero


def effect_of(*ms: Measurement, intake_days: int | None = 30):
    f = make(measurements=ms, intake_days=intake_days, onset_days=40 if intake_days is not None else None)
    return measurement.treatment_effect(onset.timeline(f))


def test_treatment_effect_baseline_to_latest_follow_up():
    result = effect_of(measured("nprs", 7, 30), measured("nprs", 6, 10), measured("nprs", 4, 1))
    assert result.value == "improved"
    assert [s.reference for s in result.evidence] == ["Observation/nprs-d30-930", "Observation/nprs-d1-930"]
    assert "NPRS 7 → 4 (−3,0)" in result.explanation["nl"]


def test_treatment_effect_baseline_on_the_intake_day_before_the_intake_time_counts():
    """NPRS at 09:30 on the intake day (intake authored 10:00) is the baseline: days are compared."""
    f = make(measurements=(measured("nprs", 6, 30), measured("nprs", 6, 0)), intake_days=30, onset_days=40)
    tl = onset.timeline(f)
    assert tl.baseline["nprs"].source.day == TODAY - timedelta(days=30)
    assert measurement.treatment_effect(tl).value == "unchanged"


def test_treatment_effect_needs_a_follow_up_on_a_later_day():
    assert effect_of(measured("nprs", 7, 30), measured("nprs", 3, 30, hour=16)) is None
    assert effect_of(measured("nprs", 7, 30)) is None


def test_treatment_effect_measurements_before_treatment_start_are_not_the_baseline():
    result = effect_of(measured("nprs", 9, 35), measured("nprs", 6, 30), measured("nprs", 5, 0))
    assert result.value == "unchanged"  # 6 -> 5, not 9 -> 5


def test_treatment_effect_instrument_without_follow_up_does_not_count():
    result = effect_of(measured("nprs", 7, 30), measured("nprs", 4, 0), measured("psk", 3.0, 30))
    assert result.value == "improved" and "PSK" in result.explanation["nl"]


# ---------------------------------------------------------------------------
# §9 row 1: derived rf-no-improvement-4w
# ---------------------------------------------------------------------------


def flag_for(start_days: int, follow_up_days: int, before: float, after: float):
    f = make(intake_days=start_days, onset_days=start_days + 5,
             measurements=(measured("nprs", before, start_days), measured("nprs", after, follow_up_days)))
    tl = onset.timeline(f)
    return followup.no_improvement_flag(tl, measurement.treatment_effect(tl))


FOLLOWUP_ROWS = [
    ("28 days, follow-up on day 28, unchanged", 28, 0, 6, 6, True),
    ("27 days since treatment-start", 27, 0, 6, 6, False),
    ("follow-up on day 27 after treatment-start", 40, 13, 6, 6, False),
    ("follow-up on day 28 after treatment-start, later today", 40, 12, 6, 6, True),
    ("worsened", 30, 0, 4, 7, True),
    ("improved", 30, 0, 7, 4, False),
]


@pytest.mark.parametrize("start, follow_up, before, after, derived", [r[1:] for r in FOLLOWUP_ROWS],
                         ids=[r[0] for r in FOLLOWUP_ROWS])
def test_followup_row_1(start, follow_up, before, after, derived):
    flag = flag_for(start, follow_up, before, after)
    assert (flag is not None) is derived
    if flag:
        assert flag.value is True and flag.source.kind == "derived"
        # v2: the flag dates from the follow-up that shows it (§1)
        assert flag.source.day == TODAY - timedelta(days=follow_up)
        assert flag.derived_from[0].reference == "QuestionnaireResponse/intake"


def test_followup_without_an_intake_starts_at_the_first_nprs_or_psk_observation():
    """v2 §0.2: an EHR that sends only Observations still gets the §9 rules."""
    f = make(measurements=(measured("psk", 6.0, 41), measured("nprs", 6, 40), measured("nprs", 6, 0)))  # no intake
    tl = onset.timeline(f)
    assert tl.treatment_start.reference == "Observation/psk-d41-930"
    flag = followup.no_improvement_flag(tl, measurement.treatment_effect(tl))
    assert flag is not None and flag.source.day == TODAY


def test_followup_without_intake_or_measurement_has_no_treatment_start():
    f = make(onset_days=10, intake_days=40)
    assert onset.timeline(f).treatment_start is None


def test_followup_measurements_before_the_onset_do_not_start_treatment():
    f = make(onset_days=10, intake_days=40,
             measurements=(measured("nprs", 6, 40), measured("nprs", 6, 0)))
    assert onset.timeline(f).treatment_start.reference == "Observation/nprs-d0-930"


def test_derived_flag_onset_is_the_earliest_follow_up_day_after_which_no_improvement_holds():
    """§1 (v2): an improvement at day 30 that is lost again at day 40: the flag dates from day 40."""
    f = make(intake_days=50, onset_days=55,
             measurements=(measured("nprs", 7, 50), measured("nprs", 7, 22), measured("nprs", 4, 15),
                           measured("nprs", 7, 10), measured("nprs", 7, 2)))
    tl = onset.timeline(f)
    flag = followup.no_improvement_flag(tl, measurement.treatment_effect(tl))
    assert flag.source.day == TODAY - timedelta(days=10)
    # a pattern conclusion between day 22 and day 10 does not cover it
    pattern = answer("pattern-assessment", "pattern-recognisable", 12)
    assert evaluate(make(pattern, intake_days=50, onset_days=55, measurements=tuple(
        m for ms in f.measurements.values() for m in ms))).feature("serious-pathology").value == "unresolved"


def test_derived_flag_replaces_an_answer_and_is_not_covered_by_the_intake_pattern():
    f = make(answer("rf-no-improvement-4w", False, 35), answer("pattern-assessment", "pattern-recognisable", 35),
             intake_days=35, onset_days=40, measurements=(measured("nprs", 6, 35), measured("nprs", 6, 1)))
    result = evaluate(f)
    assert result.facts.fact("rf-no-improvement-4w").value is True
    assert f.fact("rf-no-improvement-4w").value is False  # the input facts are not modified
    assert result.feature("serious-pathology").value == "unresolved"
    assert result.feature("serious-pathology").components == (("pathology-malignancy", ("rf-no-improvement-4w",)),)


# ---------------------------------------------------------------------------
# evaluate: order and derived values
# ---------------------------------------------------------------------------


def test_evaluate_feature_order_and_derived():
    f = make(RECOGNISABLE, answer("adl-impact", "adl-substantial"), answer("trauma-related", True),
             answer("work-related", True), answer("psychosocial-dominant", False), answer("recurrent", True),
             onset_days=60, intake_days=45, birth=date(1970, 3, 11),
             measurements=(measured("nprs", 6, 45), measured("psk", 5.5, 45), measured("nprs", 6, 3)))
    result = evaluate(f)
    assert [x.code for x in result.features] == [
        "serious-pathology", "radicular-syndrome", "grade", "course", "subgroup", "subgroup",
        "psychosocial-dominant", "treatment-profile", "treatment-effect"]
    start = TODAY - timedelta(days=45)
    assert result.derived == {"age": 55, "days-since-onset": 60, "days-since-treatment-start": 45,
                              "baseline-nprs": 6.0, "baseline-psk": 5.5, "follow-up-measured": True,
                              "neck-pain-episode": True,
                              # v2 (docs/case-parameters.md)
                              "today": TODAY, "treatment-start": start, "due-week-4": start + timedelta(days=28),
                              "due-week-6": start + timedelta(days=42), "follow-up-week-4": True,
                              "red-flag-open": False, "no-improvement-open": False,
                              "gp-referral-priority": "urgent", "gp-referral-recommended": False,
                              "flags-judged-recognisable": True, "pattern-conclusion-date": TODAY,
                              "prognosis-answered": False, "radicular-symptoms": False}


def test_evaluate_grade_iv_has_no_profile_and_unknown_values_are_absent():
    result = evaluate(make(answer("pattern-assessment", "pattern-serious")))
    assert result.values("grade") == ["grade-iv"] and result.feature("treatment-profile") is None
    assert result.derived == {"follow-up-measured": False, "neck-pain-episode": False, "today": TODAY,
                              "follow-up-week-4": False, "red-flag-open": False, "no-improvement-open": False,
                              "gp-referral-priority": "urgent", "gp-referral-recommended": True,
                              "flags-judged-recognisable": False, "pattern-conclusion-date": TODAY,
                              "prognosis-answered": False, "radicular-symptoms": False}


# ---------------------------------------------------------------------------
# §0 gathering from FHIR JSON
# ---------------------------------------------------------------------------


def iso(days_ago: int = 0, hour: int = 10, minute: int = 0) -> str:
    return at(days_ago, hour, minute).isoformat()


def patient(pid: str = PID, birth: str | None = "1980-05-01") -> dict:
    res = {"resourceType": "Patient", "id": pid}
    if birth:
        res["birthDate"] = birth
    return res


def ans_value(value) -> dict:
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, int):
        return {"valueInteger": value}
    if isinstance(value, float):
        return {"valueDecimal": value}
    if isinstance(value, date):
        return {"valueDate": value.isoformat()}
    if value in ("pos", "neg"):
        return {"valueCoding": {"system": SNOMED, "code": {"pos": "10828004", "neg": "260385009"}[value]}}
    return {"valueCoding": {"system": LOCAL, "code": value}}


def qr(answers: dict, authored: str | None = None, rid: str = "qr1", status: str = "completed",
       subject: str = SUBJECT, questionnaire: str = INTAKE) -> dict:
    return {
        "resourceType": "QuestionnaireResponse", "id": rid, "questionnaire": questionnaire, "status": status,
        "subject": {"reference": subject}, "authored": authored or iso(0),
        "item": [{"linkId": "group", "item": [{"linkId": k, "answer": [ans_value(v)]} for k, v in answers.items()]}],
    }


def obs(code: dict | str, value: dict, effective: str | None = None, rid: str = "o1", status: str = "final",
        subject: str = SUBJECT, **extra) -> dict:
    coding = {"system": LOCAL, "code": code} if isinstance(code, str) else code
    res = {"resourceType": "Observation", "id": rid, "status": status, "code": {"coding": [coding]},
           "subject": {"reference": subject}, "effectiveDateTime": effective or iso(0, 9, 30)}
    res.update(value)
    res.update(extra)
    return res


def run(*resources: dict, today: date = TODAY):
    return gather(list(resources), SUBJECT, today, CODES)


PRECEDENCE_ROWS = [
    ("Observation later than the QR wins", iso(0, 11), False),
    ("QR later than the Observation wins", iso(0, 9), True),
    ("equal instants: the Observation wins", iso(0, 10), False),
    ("equal instants in another zone: the Observation wins", at(0, 10).astimezone(ZoneInfo("UTC")).isoformat(),
     False),
    ("one minute earlier in UTC notation: the QR wins",
     (at(0, 10) - timedelta(minutes=1)).astimezone(ZoneInfo("UTC")).isoformat().replace("+00:00", "Z"), True),
]


@pytest.mark.parametrize("effective, qr_wins", [r[1:] for r in PRECEDENCE_ROWS], ids=[r[0] for r in PRECEDENCE_ROWS])
def test_observation_versus_questionnaire_precedence(effective, qr_wins):
    facts = run(patient(), qr({"rf-fever": True}, authored=iso(0, 10)),
                obs("rf-fever", {"valueBoolean": False}, effective=effective))
    fact = facts.fact("rf-fever")
    assert fact.value is qr_wins
    assert fact.source.kind == ("answer" if qr_wins else "observation")


def test_latest_answer_per_link_id_over_all_intakes():
    older = qr({"adl-impact": "adl-hardly", "recurrent": True}, authored=iso(20), rid="old")
    newer = qr({"adl-impact": "adl-substantial"}, authored=iso(2), rid="new")
    facts = run(newer, older)
    assert facts.value("adl-impact") == "adl-substantial"
    assert facts.value("recurrent") is True
    assert [s.reference for s in facts.intakes] == ["QuestionnaireResponse/old", "QuestionnaireResponse/new"]


def test_answers_at_any_depth_and_versioned_canonical():
    resource = qr({}, questionnaire=INTAKE + "|0.1.0")
    resource["item"] = [{"linkId": "episode", "item": [
        {"linkId": "work-related", "answer": [{"valueBoolean": True, "item": [
            {"linkId": "sick-leave", "answer": [{"valueBoolean": True, "item": [
                {"linkId": "sick-leave-weeks", "answer": [{"valueInteger": 5}]}]}]}]}]}]}]
    facts = run(resource)
    assert (facts.value("work-related"), facts.value("sick-leave"), facts.value("sick-leave-weeks")) == (True, True, 5)


def test_clinical_test_answers_and_observations():
    facts = run(qr({"test-spurling": "pos"}),
                obs("test-ultt", {"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "260385009"}]}}))
    assert facts.value("test-spurling") == "positive"
    assert facts.value("test-ultt") == "negative"


def test_timezone_an_observation_at_2330_utc_is_the_next_amsterdam_day():
    """onset 2026-01-26T23:30Z is 27 Jan in Amsterdam: 42 days, not 43 (§4 boundary)."""
    onset_obs = obs("onset-date", {"valueDateTime": "2026-01-26T23:30:00Z"}, effective="2026-01-26T23:30:00Z")
    facts = run(patient(), onset_obs, qr({"course-trend": "trend-decreasing"}, authored=iso(40)))
    assert facts.value("onset-date") == date(2026, 1, 27)
    assert facts.fact("onset-date").source.day == date(2026, 1, 27)
    result = evaluate(facts)
    assert result.derived["days-since-onset"] == 42
    assert result.values("course") == ["normal"]


@pytest.mark.parametrize("status", ["preliminary", "registered", "entered-in-error", "cancelled", "unknown"])
def test_observations_with_other_status_are_ignored(status):
    facts = run(patient(), obs("rf-fever", {"valueBoolean": True}, status=status))
    assert facts.fact("rf-fever") is None
    assert any(status in note for note in facts.ignored)


@pytest.mark.parametrize("status", ["final", "amended", "corrected"])
def test_observations_final_amended_corrected_are_read(status):
    assert run(obs("rf-fever", {"valueBoolean": True}, status=status)).value("rf-fever") is True


@pytest.mark.parametrize("status", ["entered-in-error", "stopped"])
def test_questionnaire_responses_entered_in_error_or_stopped_are_ignored(status):
    facts = run(patient(), qr({"rf-fever": True}, status=status))
    assert facts.fact("rf-fever") is None and facts.intakes == []
    assert any(status in note for note in facts.ignored)


def test_case_feature_observations_are_never_read():
    feature_obs = obs("adl-impact", {"valueCodeableConcept": {"coding": [{"system": LOCAL, "code": "adl-hardly"}]}},
                      category=[{"coding": [{"system": LOCAL, "code": "case-feature"}]}])
    facts = run(patient(), feature_obs)
    assert facts.fact("adl-impact") is None and "case feature" in facts.ignored[0]


def test_another_patients_resources_are_ignored():
    facts = run(patient(), patient("p2"), qr({"rf-fever": True}, subject="Patient/p2"),
                obs("rf-dizziness", {"valueBoolean": True}, subject="Patient/p2"),
                obs("rf-nausea", {"valueBoolean": True}, rid="o2", subject=f"Patient/{PID}/_history/3"),
                obs("rf-headache", {"valueBoolean": True}, rid="o3",
                    subject=f"http://example.org/fhir/Patient/{PID}"),
                obs("rf-weight-loss", {"valueBoolean": True}, rid="o4", subject=f"x/Patient/{PID}"))
    assert facts.fact("rf-fever") is None and facts.fact("rf-dizziness") is None
    assert facts.value("rf-nausea") is True  # the subject's version reference counts
    # exact matching (issue 14): an absolute URL ($apply has no fhirServer) or a reference that
    # merely ends in Patient/<id> is another subject
    assert facts.fact("rf-headache") is None and facts.fact("rf-weight-loss") is None
    assert sum("another patient" in note for note in facts.ignored) == 5


def test_nothing_usable_raises_no_data_error():
    with pytest.raises(NoDataError):
        run(patient("p2"), obs("rf-fever", {"valueBoolean": True}, status="preliminary"))
    with pytest.raises(ValueError):
        gather([], "p1", TODAY)


def test_nrs_pain_score_counts_as_nprs():
    painscore = obs({"system": SNOMED, "code": "225908003"}, {"valueInteger": 3},
                    method={"coding": [{"system": "urn:oid:2.16.840.1.113883.2.4.3.11.60.40.4.9.1", "code": "NRS"}]})
    vas = obs({"system": SNOMED, "code": "225908003"}, {"valueInteger": 30}, rid="o2",
              method={"coding": [{"system": "urn:oid:2.16.840.1.113883.2.4.3.11.60.40.4.9.1", "code": "VAS"}]})
    facts = run(patient(), painscore, vas)
    assert facts.value("nprs") == 3
    assert [m.value for m in facts.measurements["nprs"]] == [3.0]


def test_loinc_nprs_psk_quantity_and_intake_answers_are_measurements():
    facts = run(qr({"nprs": 7, "psk": 6.5}, authored=iso(14)),
                obs({"system": LOINC, "code": "72514-3"}, {"valueInteger": 5}, effective=iso(0, 9)),
                obs("psk", {"valueQuantity": {"value": 4.5, "system": "http://unitsofmeasure.org", "code": "{score}"}},
                    rid="o2", effective=iso(0, 9)))
    assert [(m.value, m.source.kind) for m in facts.measurements["nprs"]] == [(7.0, "answer"), (5.0, "observation")]
    assert [m.value for m in facts.measurements["psk"]] == [6.5, 4.5]
    result = evaluate(facts)
    assert result.derived["baseline-nprs"] == 7.0 and result.values("treatment-effect") == ["improved"]


@pytest.mark.parametrize("left, right, limited", [(50, 75, True), (75, 59.5, True), (60, 80, False)])
def test_cervical_rotation_answers_crs_limited_rotation(left, right, limited):
    rotation = obs("cervical-rotation", {"component": [
        {"code": {"coding": [{"system": LOCAL, "code": "cervical-rotation-left"}]},
         "valueQuantity": {"value": left, "system": "http://unitsofmeasure.org", "code": "deg"}},
        {"code": {"coding": [{"system": LOCAL, "code": "cervical-rotation-right"}]},
         "valueQuantity": {"value": right, "system": "http://unitsofmeasure.org", "code": "deg"}}]})
    fact = run(patient(), rotation).fact("crs-limited-rotation")
    assert fact.value is limited and fact.rule and fact.derived_from[0].reference == "Observation/o1"


def test_cervical_rotation_competes_with_the_answer():
    rotation = obs("cervical-rotation", {"component": [
        {"code": {"coding": [{"system": LOCAL, "code": "cervical-rotation-left"}]},
         "valueQuantity": {"value": 40, "code": "deg"}}]}, effective=iso(5))
    assert run(rotation, qr({"crs-limited-rotation": False}, authored=iso(1))).value("crs-limited-rotation") is False
    assert run(rotation, qr({"crs-limited-rotation": False}, authored=iso(6))).value("crs-limited-rotation") is True


def test_also_codings_count_as_the_element():
    facts = run(obs({"system": SNOMED, "code": "386661006"}, {"valueBoolean": True}),
                obs({"system": LOINC, "code": "82237-9"}, {"valueInteger": 20}, rid="o2"))
    assert facts.value("rf-fever") is True and facts.value("ndi") == 20


def test_derived_trauma_history_and_age_flags():
    facts = run(patient(birth="1975-03-10"), qr({"trauma-related": True, "rf-trauma-history": False}))
    trauma = facts.fact("rf-trauma-history")
    assert trauma.value is True and trauma.source.kind == "derived" and trauma.rule
    assert trauma.derived_from[0].reference == "QuestionnaireResponse/qr1"
    assert (facts.value("rf-age-over-50"), facts.value("rf-older-age"), facts.value("pf-older-age")) == \
        (True, False, False)  # 51 today


@pytest.mark.parametrize("birth, over_50, older", [("1976-03-10", False, False), ("1975-03-11", False, False),
                                                   ("1975-03-10", True, False), ("1961-03-11", True, False),
                                                   ("1961-03-10", True, True)])
def test_age_flag_boundaries(birth, over_50, older):
    facts = run(patient(birth=birth))
    assert (facts.value("rf-age-over-50"), facts.value("rf-older-age"), facts.value("pf-older-age")) == \
        (over_50, older, older)
    assert facts.fact("rf-age-over-50").derived_from[0].reference == SUBJECT


@pytest.mark.parametrize("birth", ["1970", "1970-05"])
def test_partial_birth_date_gives_no_age(birth):
    facts = run(patient(birth=birth))
    assert facts.birth_date is None and facts.fact("rf-age-over-50") is None
    assert "age" not in evaluate(facts).derived and "not a full date" in facts.ignored[0]


def test_neck_pain_conditions():
    def condition(rid, code="81680005", clinical="active", verification="confirmed", onset="2026-01-01"):
        return {"resourceType": "Condition", "id": rid, "subject": {"reference": SUBJECT},
                "code": {"coding": [{"system": SNOMED, "code": code}]}, "onsetDateTime": onset,
                "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                               "code": clinical}]},
                "verificationStatus": {"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": verification}]}}
    facts = run(condition("ok"), condition("whiplash", code="39848009", onset="2026-02-01"),
                condition("old", clinical="resolved", onset="2025-01-01"),
                condition("wrong", verification="entered-in-error"), condition("other", code="44054006"))
    assert [s.reference for s in facts.conditions] == ["Condition/ok", "Condition/whiplash"]
    assert onset.timeline(facts).onset == date(2026, 2, 1)  # the most recent onset: the current episode


def test_invalid_values_are_noted_not_read():
    facts = run(qr({"adl-impact": "adl-unknown", "nprs": 11}), obs("rf-fever", {"valueString": "ja"}))
    assert facts.fact("adl-impact") is None and facts.fact("nprs") is None and facts.fact("rf-fever") is None
    assert len(facts.ignored) == 3


def test_element_codes_match_the_data_dictionary():
    dd = yaml.safe_load((Path(__file__).resolve().parent.parent / "dak" / "data-dictionary.yaml")
                        .read_text(encoding="utf-8"))
    for group in dd["groups"]:
        for item in group.get("items", []):
            if "type" not in item:
                continue
            assert CODES.types[item["code"]] == item["type"], item["code"]
            for also in item.get("also", []):
                system, code = also.split("|")
                assert CODES.codings[(system, code)] == item["code"]
            if group["code"] == "red-flags" and item["code"].startswith("rf-"):
                assert CODES.red_flags[item["code"]] == tuple(item["pathologies"])
            if item.get("psychosocial"):
                assert item["code"] in CODES.psychosocial
        for item in group.get("derived", []):
            if "pathologies" in item:
                assert CODES.context_flags[item["code"]] == tuple(item["pathologies"])


def test_whole_years():
    assert whole_years(date(2000, 2, 29), date(2026, 2, 28)) == 25
    assert whole_years(date(2000, 2, 29), date(2026, 3, 1)) == 26


# ---------------------------------------------------------------------------
# §0 (v2) the current episode [A.3]
# ---------------------------------------------------------------------------


def intake(rid: str, days_ago: int, onset_days_ago: int | None = None, status: str = "completed", **answers) -> dict:
    values = dict(answers)
    if onset_days_ago is not None:
        values["onset-date"] = TODAY - timedelta(days=onset_days_ago)
    return qr({k.replace("_", "-"): v for k, v in values.items()}, authored=iso(days_ago), rid=rid, status=status)


def test_an_earlier_episode_is_not_read_except_its_history_flags():
    old = qr({"onset-date": TODAY - timedelta(days=230), "pattern-assessment": "pattern-recognisable",
              "psychosocial-dominant": True, "rf-cancer-history": True, "rf-headache": True},
             authored=iso(200), rid="old")
    new = qr({"onset-date": TODAY - timedelta(days=14), "rf-headache": False}, authored=iso(0), rid="new")
    facts = run(patient(), old, new, obs({"system": LOINC, "code": "72514-3"}, {"valueInteger": 8},
                                         effective=iso(201)))
    assert facts.episode_onsets == (TODAY - timedelta(days=230), TODAY - timedelta(days=14))
    assert facts.fact("pattern-assessment") is None and facts.fact("psychosocial-dominant") is None
    assert facts.value("rf-headache") is False
    # a history flag describes the person: read with its own date
    assert facts.value("rf-cancer-history") is True
    assert facts.fact("rf-cancer-history").source.reference == "QuestionnaireResponse/old"
    assert [s.reference for s in facts.intakes] == ["QuestionnaireResponse/new"]
    assert "nprs" not in facts.measurements
    assert sum("earlier episode" in note for note in facts.ignored) == 2
    result = evaluate(facts)
    assert result.derived["days-since-onset"] == 14
    assert result.values("serious-pathology") == ["unresolved"]  # the old conclusion does not cover it


def test_a_later_no_in_the_earlier_episode_cancels_its_history_flag():
    first = qr({"onset-date": TODAY - timedelta(days=300), "rf-corticosteroids": True}, authored=iso(300), rid="a")
    second = qr({"rf-corticosteroids": False}, authored=iso(280), rid="b")
    new = qr({"onset-date": TODAY - timedelta(days=10)}, authored=iso(0), rid="c")
    assert run(patient(), first, second, new).fact("rf-corticosteroids") is None


def test_an_onset_within_42_days_of_the_episode_onset_is_the_same_episode():
    first = intake("first", 30, onset_days_ago=45, pattern_assessment="pattern-recognisable")
    second = intake("second", 0, onset_days_ago=15, course_trend="trend-decreasing")
    facts = run(patient(), first, second)
    assert facts.episode_onsets == (TODAY - timedelta(days=45),)
    assert facts.value("onset-date") == TODAY - timedelta(days=45)
    assert facts.value("pattern-assessment") == "pattern-recognisable"
    result = evaluate(facts)
    assert result.derived["days-since-onset"] == 45 and result.values("course") == ["abnormal"]
    assert result.derived["treatment-start"] == TODAY - timedelta(days=30)


def test_episodes_are_ordered_by_the_onset_dates_not_the_intakes():
    # written in reverse order: the later intake names the earlier onset
    a = intake("a", 5, onset_days_ago=20)
    b = intake("b", 10, onset_days_ago=100)
    assert run(patient(), a, b).episode_onsets == (TODAY - timedelta(days=100), TODAY - timedelta(days=20))


def test_three_episode_onsets_within_a_year_make_recurrent():
    qrs = [intake("e1", 290, onset_days_ago=300), intake("e2", 140, onset_days_ago=150), intake("e3", 0, onset_days_ago=10)]
    facts = run(patient(), *qrs)
    assert facts.value("recurrent") is True and facts.fact("recurrent").source.kind == "derived"
    assert evaluate(facts).values("course") == ["abnormal"]
    # two onsets a year apart and one more: the first lies outside the 365 days
    qrs = [intake("e1", 390, onset_days_ago=400), intake("e2", 140, onset_days_ago=150), intake("e3", 0, onset_days_ago=10)]
    assert run(patient(), *qrs).fact("recurrent") is None


@pytest.mark.parametrize("status", ["in-progress", "entered-in-error", "stopped"])
def test_only_completed_or_amended_intakes_are_read(status):
    facts = run(patient(), qr({"rf-fever": True}, status=status))
    assert facts.fact("rf-fever") is None and facts.intakes == []


def test_an_amended_intake_is_read():
    assert run(patient(), qr({"rf-fever": True}, status="amended")).value("rf-fever") is True


def test_onset_answers_later_than_their_intake_or_today_are_not_read():
    facts = run(patient(), qr({"onset-date": TODAY - timedelta(days=3)}, authored=iso(5), rid="early"),
                qr({"onset-date": TODAY + timedelta(days=1), "adl-impact": "adl-hardly"}, authored=iso(0), rid="late"))
    assert facts.fact("onset-date") is None
    assert facts.value("adl-impact") == "adl-hardly"
    assert sum("onset-date" in note for note in facts.ignored) == 2


@pytest.mark.parametrize("days_ahead, read", [(1, True), (2, False)])
def test_inputs_more_than_one_day_in_the_future_are_not_read(days_ahead, read):
    future = obs("psychosocial-dominant", {"valueBoolean": True}, effective=iso(-days_ahead, 0, 5))
    facts = run(patient(), qr({"psychosocial-dominant": False}), future)
    assert facts.value("psychosocial-dominant") is read
    assert any("future" in note for note in facts.ignored) is not read


def test_a_birth_date_in_the_future_is_not_read():
    facts = run(patient(birth=(TODAY + timedelta(days=400)).isoformat()), qr({"rf-fever": False}))
    assert facts.birth_date is None and any("future" in note for note in facts.ignored)


def test_with_no_onset_known_every_input_is_read():
    facts = run(patient(), qr({"pattern-assessment": "pattern-recognisable"}, authored=iso(400), rid="old"),
                qr({"adl-impact": "adl-hardly"}, authored=iso(0), rid="new"))
    assert facts.value("pattern-assessment") == "pattern-recognisable" and facts.episode_onsets == ()


# ---------------------------------------------------------------------------
# §1 (v2) flag onset days, weighty flags, urgency
# ---------------------------------------------------------------------------


def test_restating_an_unchanged_flag_does_not_move_its_onset():
    first = qr({"rf-dizziness": True, "pattern-assessment": "pattern-recognisable"}, authored=iso(10), rid="a")
    again = qr({"rf-dizziness": True}, authored=iso(2), rid="b")
    facts = run(patient(), first, again)
    assert facts.flag_onsets["rf-dizziness"] == TODAY - timedelta(days=10)
    assert evaluate(facts).values("serious-pathology") == ["excluded"]


def test_a_flag_absent_then_present_again_dates_from_its_return():
    facts = run(patient(),
                qr({"rf-fever": True, "pattern-assessment": "pattern-recognisable"}, authored=iso(20), rid="a"),
                qr({"rf-fever": False}, authored=iso(10), rid="b"),
                obs("rf-fever", {"valueBoolean": True}, effective=iso(3)))
    assert facts.flag_onsets["rf-fever"] == TODAY - timedelta(days=3)
    assert evaluate(facts).values("serious-pathology") == ["unresolved"]


def test_trauma_history_dates_from_the_earlier_of_its_two_sources():
    facts = run(patient(), qr({"trauma-related": True, "pattern-assessment": "pattern-recognisable"}, authored=iso(9),
                              rid="a"), obs("rf-trauma-history", {"valueBoolean": True}, effective=iso(2)))
    assert facts.flag_onsets["rf-trauma-history"] == TODAY - timedelta(days=9)
    assert evaluate(facts).values("serious-pathology") == ["excluded"]


WEIGHTY_ROWS = [
    ("a neurological flag alone", {"rf-bowel-bladder": True}, True),
    ("double vision alone", {"rf-diplopia": True}, True),
    ("fever alone", {"rf-fever": True}, False),
    ("fever with night sweats", {"rf-fever": True, "rf-night-sweats": True}, True),
    ("fever with an infection risk", {"rf-fever": True, "rf-infection-risk": True}, True),
    ("headache, dizziness and nausea", {"rf-headache": True, "rf-dizziness": True, "rf-nausea": True}, False),
    ("cancer history alone", {"rf-cancer-history": True}, False),
    ("cancer history with weight loss", {"rf-cancer-history": True, "rf-weight-loss": True}, True),
    ("trauma under 65", {"rf-trauma-history": True}, False),
]


@pytest.mark.parametrize("flags, recommended", [r[1:] for r in WEIGHTY_ROWS], ids=[r[0] for r in WEIGHTY_ROWS])
def test_weighty_flags_make_the_gp_option_recommended(flags, recommended):
    result = evaluate(make(*(answer(c, v) for c, v in flags.items())))
    assert result.values("serious-pathology") == ["unresolved"]
    assert result.derived["gp-referral-recommended"] is recommended


def test_trauma_at_65_or_over_is_weighty():
    older = make(answer("rf-trauma-history", True), answer("rf-older-age", True))
    assert evaluate(older).derived["gp-referral-recommended"] is True


def test_a_weighty_pair_reopened_by_a_new_member():
    # cancer history judged recognisable at the intake; weight loss recorded a week later
    facts = make(answer("rf-cancer-history", True, 10), answer("pattern-assessment", "pattern-recognisable", 10),
                 observed("rf-weight-loss", True, 3))
    result = evaluate(facts)
    assert result.values("serious-pathology") == ["unresolved"]
    assert result.derived["gp-referral-recommended"] is True and result.derived["red-flag-open"] is True


@pytest.mark.parametrize("flag, priority", [("rf-widespread-neuro", "stat"), ("rf-bowel-bladder", "stat"),
                                            ("rf-dizziness", "stat"), ("rf-diplopia", "stat"),
                                            ("rf-fever", "urgent"), ("rf-cancer-history", "urgent")])
def test_myelopathy_and_cad_flags_make_the_gp_referral_same_day(flag, priority):
    result = evaluate(make(answer(flag, True), answer("pattern-assessment", "pattern-serious")))
    assert result.values("serious-pathology") == ["suspected"]
    assert result.derived["gp-referral-priority"] == priority


def test_open_flags_tell_the_derived_no_improvement_flag_from_the_others():
    f = make(answer("pattern-assessment", "pattern-recognisable", 35), intake_days=35, onset_days=40,
             measurements=(measured("nprs", 6, 35), measured("nprs", 6, 1)))
    result = evaluate(f)
    assert result.derived["no-improvement-open"] is True and result.derived["red-flag-open"] is False
    with_fever = evaluate(make(answer("pattern-assessment", "pattern-recognisable", 35), observed("rf-fever", True, 2),
                               intake_days=35, onset_days=40,
                               measurements=(measured("nprs", 6, 35), measured("nprs", 6, 1))))
    assert with_fever.derived["no-improvement-open"] is True and with_fever.derived["red-flag-open"] is True


def test_screening_count_leaves_out_the_no_improvement_flag():
    result = serious_pathology.classify(make(answer("rf-fever", False)), CODES)
    total = len(CLINICAL_FLAGS) - 1
    assert f"1 van de {total} rode vlaggen" in result.explanation["nl"]


# ---------------------------------------------------------------------------
# v2 case parameters for the plan
# ---------------------------------------------------------------------------


def test_follow_up_from_week_4_and_due_dates():
    early = evaluate(make(intake_days=45, onset_days=50, measurements=(measured("nprs", 6, 45), measured("nprs", 6, 20))))
    assert early.derived["follow-up-week-4"] is False  # day 25 after the start
    assert early.derived["due-week-4"] == TODAY - timedelta(days=45 - 28)
    late = evaluate(make(intake_days=45, onset_days=50, measurements=(measured("nprs", 6, 45), measured("nprs", 6, 17))))
    assert late.derived["follow-up-week-4"] is True  # day 28 after the start


def test_prognosis_answered_counts_input_items_not_the_derived_age():
    assert evaluate(make(answer("pf-older-age", True))).derived["prognosis-answered"] is False
    assert evaluate(make(answer("pf-high-work-demands", False))).derived["prognosis-answered"] is True


def test_radicular_symptoms_parameter():
    assert evaluate(make(answer("crs-arm-sensory", True))).derived["radicular-symptoms"] is True
    assert evaluate(make(answer("crs-limited-rotation", True))).derived["radicular-symptoms"] is False
