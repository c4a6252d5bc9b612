"""Helpers for the $apply tests: reference cases as $apply calls, and CarePlan readers."""

from __future__ import annotations

from datetime import date, datetime, time
from functools import lru_cache
from pathlib import Path

import yaml

from service.facts.model import AMSTERDAM
from tools.case_bundles import build_case_bundle

ROOT = Path(__file__).resolve().parent.parent
# "today" for the case tests: deliberately not the examples' evaluation day,
# and a day whose 90-day history crosses the switch to winter time
TODAY = date(2026, 11, 2)
NOW = datetime.combine(TODAY, time(12, 0), AMSTERDAM)
SNOMED = "http://snomed.info/sct"


@lru_cache
def cases() -> list[dict]:
    return yaml.safe_load((ROOT / "tests" / "cases" / "cases.yaml").read_text(encoding="utf-8"))["cases"]


@lru_cache
def data_dictionary() -> dict:
    return yaml.safe_load((ROOT / "dak" / "data-dictionary.yaml").read_text(encoding="utf-8"))


def case_bundle(case: dict, today: date = TODAY) -> dict:
    return build_case_bundle(case, today, data_dictionary())


def apply_parameters(case: dict, today: date = TODAY, lang: str | None = None) -> dict:
    params = [{"name": "subject", "valueString": f"Patient/{case['id']}"},
              {"name": "data", "resource": case_bundle(case, today)}]
    if lang:
        params.append({"name": "userLanguage", "valueCode": lang})
    return {"resourceType": "Parameters", "parameter": params}


def contained(careplan: dict, resource_type: str) -> list[dict]:
    return [r for r in careplan["contained"] if r["resourceType"] == resource_type]


def features(careplan: dict) -> dict[str, list]:
    """case-feature code → values (codes or booleans) of the contained Observations."""
    out: dict[str, list] = {}
    for obs in contained(careplan, "Observation"):
        code = obs["code"]["coding"][0]["code"]
        value = obs["valueCodeableConcept"]["coding"][0]["code"] if "valueCodeableConcept" in obs else obs["valueBoolean"]
        out.setdefault(code, []).append(value)
    return out


def action_codes(careplan: dict) -> list[str]:
    group = next(r for r in careplan["contained"] if r["resourceType"] == "RequestGroup")
    codes = []

    def walk(actions):
        for a in actions:
            codes.append(a["code"][0]["coding"][0]["code"])
            walk(a.get("action", []))
    walk(group.get("action", []))
    return codes


def referral_roles(careplan: dict) -> set[str]:
    roles = set()
    for sr in contained(careplan, "ServiceRequest"):
        if {"system": SNOMED, "code": "3457005", "display": "Patient referral"} in sr["code"]["coding"]:
            roles.add(sr["performerType"]["coding"][0]["code"])
    return roles


def assert_case(careplan: dict, case: dict) -> None:
    """Every expectation of a reference case holds for a CarePlan."""
    expect = case["expect"]
    got = features(careplan)
    for key, value in expect.items():
        if key in ("recs_in", "recs_out", "referral", "provisional"):
            continue
        if value is None:
            assert key not in got, f"{case['id']}: {key} should be absent, got {got.get(key)}"
        else:
            wanted = value if isinstance(value, list) else [value]
            assert sorted(map(str, got.get(key, []))) == sorted(map(str, wanted)), \
                f"{case['id']}: {key} = {got.get(key)}, expected {wanted}"
    codes = action_codes(careplan)
    missing = [c for c in expect.get("recs_in", []) if c not in codes]
    assert not missing, f"{case['id']}: missing recommendations {missing}; plan has {codes}"
    unwanted = [c for c in expect.get("recs_out", []) if c in codes]
    assert not unwanted, f"{case['id']}: unexpected recommendations {unwanted}"
    if "referral" in expect:
        assert referral_roles(careplan) == set(expect["referral"]), f"{case['id']}: referrals {referral_roles(careplan)}"
    if "provisional" in expect:
        profile = next(o for o in contained(careplan, "Observation") if o["code"]["coding"][0]["code"] == "treatment-profile")
        assert (profile["status"] == "preliminary") is expect["provisional"], f"{case['id']}: status {profile['status']}"
