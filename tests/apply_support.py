"""Helpers for the $apply tests: reference cases as $apply calls, and CarePlan readers."""

from __future__ import annotations

import re

from datetime import date, datetime, time, timedelta
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
#: keys of `expect` that are not case features (cases.yaml header, v2)
PLAN_KEYS = ("recs_in", "recs_out", "referral", "provisional", "priority", "due", "recommended", "note_left_out")
FUTURE_TOLERANCE_DAYS = 1  # decision-logic §0: tomorrow is read, the day after is "dated in the future"
SAME_EPISODE_DAYS = 42     # decision-logic §0 [A.3]
READ_STATUSES = ("completed", "amended")


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


def request_group(careplan: dict) -> dict:
    return next(r for r in careplan["contained"] if r["resourceType"] == "RequestGroup")


def actions_by_code(careplan: dict) -> dict[str, list[dict]]:
    """recommendation code → the RequestGroup actions with that code (any depth)."""
    out: dict[str, list[dict]] = {}

    def walk(actions):
        for a in actions:
            out.setdefault(a["code"][0]["coding"][0]["code"], []).append(a)
            walk(a.get("action", []))
    walk(request_group(careplan).get("action", []))
    return out


def request_of(careplan: dict, action: dict) -> dict:
    """The contained request an action points to (`resource` = #id)."""
    target = action["resource"]["reference"]
    assert target.startswith("#"), f"action {action['code'][0]['coding'][0]['code']}: resource {target} is not contained"
    return next(r for r in careplan["contained"] if r["id"] == target[1:])


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


def amsterdam_day(value: str) -> date:
    """The Europe/Amsterdam calendar day of a FHIR date or dateTime."""
    if len(value) == 10:
        return date.fromisoformat(value)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:  # a dateTime without offset: read as Amsterdam local time
        return moment.date()
    return moment.astimezone(AMSTERDAM).date()


# FHIR date fields that carry an item's due moment (outputs.md: Task restriction.period.end,
# CommunicationRequest occurrenceDateTime; a ServiceRequest's occurrence too)
def request_due(request: dict) -> list[str]:
    rtype = request["resourceType"]
    dates = []
    if rtype == "Task":
        period = (request.get("restriction") or {}).get("period") or {}
        if "end" in period:
            dates.append(period["end"])
    elif rtype in ("CommunicationRequest", "ServiceRequest"):
        if "occurrenceDateTime" in request:
            dates.append(request["occurrenceDateTime"])
        if "end" in (request.get("occurrencePeriod") or {}):
            dates.append(request["occurrencePeriod"]["end"])
    return dates


def intake_days(case: dict) -> int:
    return int(case.get("intake_days", case.get("onset_days", 0) or 0))


def due_day(case: dict, days_after_intake: int, today: date = TODAY) -> date:
    """`due: {code: N}` → the calendar day N days after the (first) intake."""
    return today - timedelta(days=intake_days(case)) + timedelta(days=int(days_after_intake))


def left_out_references(case: dict, today: date = TODAY) -> set[str]:
    """The inputs of a case that decision-logic §0 does not read and the CarePlan note must
    list: dated before the current episode's onset (an earlier episode) or more than one day
    in the future. A small oracle of §0 item 0 over the case's own Bundle: onsets are the
    onset-date answers of completed / amended intakes not dated in the future and not later
    than their own intake or today, ordered by date; an onset more than 42 days after the
    current one starts a new episode; without one, the Condition's onset."""
    resources = [e["resource"] for e in case_bundle(case, today)["entry"]]
    horizon = today + timedelta(days=FUTURE_TOLERANCE_DAYS)

    def day_of(r: dict) -> date | None:
        value = r.get("authored") or r.get("effectiveDateTime")
        return amsterdam_day(value) if value else None

    onsets = []
    for r in resources:
        if r["resourceType"] != "QuestionnaireResponse" or r["status"] not in READ_STATUSES or day_of(r) > horizon:
            continue
        for group in r.get("item", []):
            for item in group.get("item", []):
                if item["linkId"] == "onset-date":
                    onset = date.fromisoformat(item["answer"][0]["valueDate"])
                    if onset <= today and onset <= day_of(r):
                        onsets.append(onset)
    current = None
    for onset in sorted(onsets):
        if current is None or (onset - current).days > SAME_EPISODE_DAYS:
            current = onset
    if current is None:
        conditions = [date.fromisoformat(r["onsetDateTime"][:10]) for r in resources
                      if r["resourceType"] == "Condition" and "onsetDateTime" in r]
        current = max(conditions) if conditions else None
    out = set()
    for r in resources:
        day = day_of(r)
        if day is None:
            continue
        if day > horizon or (current is not None and day < current):
            out.add(f"{r['resourceType']}/{r['id']}")
    return out


def _note_text(careplan: dict) -> str:
    return "\n".join(n.get("text", "") for n in careplan.get("note", []))


def names(text: str, reference: str) -> bool:
    """The text names a resource: its id as a whole word (alone or as Type/id)."""
    rid = re.escape(reference.split("/", 1)[1])
    return re.search(rf"(?<![\w.-]){rid}(?![\w.-])|/{rid}(?![\w.-])", text) is not None


def assert_features(careplan: dict, case: dict) -> None:
    expect = case["expect"]
    got = features(careplan)
    for key, value in expect.items():
        if key in PLAN_KEYS:
            continue
        if value is None:
            assert key not in got, f"{case['id']}: {key} should be absent, got {got.get(key)}"
        else:
            wanted = value if isinstance(value, list) else [value]
            assert sorted(map(str, got.get(key, []))) == sorted(map(str, wanted)), \
                f"{case['id']}: {key} = {got.get(key)}, expected {wanted}"


def assert_case(careplan: dict, case: dict, today: date = TODAY) -> None:
    """Every expectation of a reference case (cases.yaml header, v2) that a CarePlan can show.

    `recommended` is about card suggestions: the hook tests check it (hooks_support).
    """
    cid = case["id"]
    expect = case["expect"]
    assert_features(careplan, case)
    codes = action_codes(careplan)
    missing = [c for c in expect.get("recs_in", []) if c not in codes]
    assert not missing, f"{cid}: missing recommendations {missing}; plan has {codes}"
    unwanted = [c for c in expect.get("recs_out", []) if c in codes]
    assert not unwanted, f"{cid}: unexpected recommendations {unwanted}"
    if "referral" in expect:
        assert referral_roles(careplan) == set(expect["referral"]), f"{cid}: referrals {referral_roles(careplan)}"
    if "provisional" in expect:
        profiles = [o for o in contained(careplan, "Observation") if o["code"]["coding"][0]["code"] == "treatment-profile"]
        assert profiles, f"{cid}: no treatment-profile Observation to be (not) provisional"
        assert (profiles[0]["status"] == "preliminary") is expect["provisional"], f"{cid}: status {profiles[0]['status']}"
    by_code = actions_by_code(careplan)
    for code, priority in (expect.get("priority") or {}).items():
        assert code in by_code, f"{cid}: priority of {code}, which is not in the plan"
        for action in by_code[code]:
            assert action.get("priority") == priority, f"{cid}: {code} action priority {action.get('priority')}, expected {priority}"
            request = request_of(careplan, action)
            assert request.get("priority") == priority, \
                f"{cid}: {code} {request['resourceType']} priority {request.get('priority')}, expected {priority}"
    for code, days in (expect.get("due") or {}).items():
        assert code in by_code, f"{cid}: due moment of {code}, which is not in the plan"
        for action in by_code[code]:
            request = request_of(careplan, action)
            timing = {k: v for k, v in action.items() if k.startswith("timing")}
            dates = request_due(request)
            if days is None:
                assert not timing, f"{cid}: {code} should have no due moment, action has {timing}"
                assert not dates, f"{cid}: {code} should have no due moment, {request['resourceType']} has {dates}"
                continue
            wanted = due_day(case, days, today)
            assert "timingDateTime" in action, f"{cid}: {code} action has no timingDateTime (due {wanted})"
            assert amsterdam_day(action["timingDateTime"]) == wanted, \
                f"{cid}: {code} timingDateTime {action['timingDateTime']}, expected {wanted} (intake + {days} days)"
            assert dates, f"{cid}: {code} {request['resourceType']} carries no due date (expected {wanted})"
            assert all(amsterdam_day(d) == wanted for d in dates), \
                f"{cid}: {code} {request['resourceType']} date {dates}, expected {wanted}"
    if "note_left_out" in expect:
        note = _note_text(careplan)
        left_out = left_out_references(case, today)
        if expect["note_left_out"]:
            assert left_out, f"{cid}: the case has no input that is not read (harness)"
            unnamed = [ref for ref in sorted(left_out) if not names(note, ref)]
            assert not unnamed, f"{cid}: CarePlan.note does not list the inputs not read {unnamed}; note: {note!r}"
        else:
            named = [ref for ref in sorted(left_out) if names(note, ref)]
            assert not named, f"{cid}: CarePlan.note lists {named} as not read"
