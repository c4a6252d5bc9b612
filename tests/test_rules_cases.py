"""Every reference case of tests/cases/cases.yaml through gather + evaluate.

The Bundle is built by tools.case_bundles for a fixed evaluation day that is
deliberately not the examples' day (2026-06-15), and every expected case
feature of `expect` is checked (feature: value, a list when several apply,
null = no such Feature), plus `provisional` (treatment-profile status
preliminary). recs_in / recs_out / referral belong to the PlanDefinition.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from service.facts.gather import gather
from service.rules import evaluate
from tools.case_bundles import build_case_bundle

ROOT = Path(__file__).resolve().parent.parent
CASES = yaml.safe_load((ROOT / "tests" / "cases" / "cases.yaml").read_text(encoding="utf-8"))["cases"]
DATA_DICTIONARY = yaml.safe_load((ROOT / "dak" / "data-dictionary.yaml").read_text(encoding="utf-8"))
TODAY = date(2026, 3, 10)
FEATURES = ("serious-pathology", "radicular-syndrome", "grade", "course", "subgroup",
            "psychosocial-dominant", "treatment-profile", "treatment-effect")
# plan contents and protocol expectations: tests/test_apply_cases.py and the hook tests
NOT_FEATURES = ("recs_in", "recs_out", "referral", "provisional", "priority", "due", "recommended", "note_left_out")


def run(case: dict, today: date = TODAY):
    bundle = build_case_bundle(case, today, DATA_DICTIONARY)
    resources = [entry["resource"] for entry in bundle["entry"]]
    return evaluate(gather(resources, f"Patient/{case['id']}", today))


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case_features(case: dict) -> None:
    result = run(case)
    expect = case["expect"]
    for key, expected in expect.items():
        if key in NOT_FEATURES:
            continue
        assert key in FEATURES, f"unknown expectation {key}"
        values = result.values(key)
        if expected is None:
            assert values == [], f"{key}: expected no feature, got {values}"
        elif isinstance(expected, list):
            assert sorted(values) == sorted(expected), key
        else:
            assert values == [expected], f"{key}: expected {expected!r}, got {values}"
    profile = result.feature("treatment-profile")
    if expect.get("provisional"):
        assert profile is not None and profile.status == "preliminary"
    elif profile is not None:
        assert profile.status == "final"


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case_contract_shape(case: dict) -> None:
    """outputs.md order, a rule and nl/en explanation on every feature, derived keys."""
    result = run(case)
    order = [f.code for f in result.features]
    assert order == sorted(order, key=FEATURES.index)
    assert order[:4] == ["serious-pathology", "radicular-syndrome", "grade", "course"]
    for feature in result.features:
        assert feature.rule.startswith("decision-logic §")
        assert feature.explanation["nl"] and feature.explanation["en"]
        assert len({s.reference for s in feature.evidence}) == len(feature.evidence)
        assert all(s.reference for s in feature.evidence)
    assert set(result.derived) <= {"age", "days-since-onset", "days-since-treatment-start", "baseline-nprs",
                                   "baseline-psk", "follow-up-measured", "neck-pain-episode",
                                   # v2 (docs/case-parameters.md)
                                   "today", "treatment-start", "due-week-4", "due-week-6", "follow-up-week-4",
                                   "gp-referral-priority", "gp-referral-recommended", "red-flag-open",
                                   "no-improvement-open", "flags-judged-recognisable", "pattern-conclusion-date",
                                   "prognosis-answered", "radicular-symptoms"}
    assert isinstance(result.derived["follow-up-measured"], bool)
    assert result.derived["neck-pain-episode"] is True
    assert result.derived["age"] == case["age"]


@pytest.mark.parametrize("today", [date(2026, 6, 15), date(2026, 10, 26), date(2027, 3, 29)])
def test_cases_do_not_depend_on_the_day(today: date) -> None:
    """The same outcomes on other days, including both DST transitions."""
    for case in CASES:
        reference = {f.code: f.value for f in run(case).features}
        assert {f.code: f.value for f in run(case, today).features} == reference, case["id"]
