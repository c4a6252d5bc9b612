"""Every reference case of tests/cases/cases.yaml as a CDS Hooks call (contract v2).

* patient-view (service `nekpijn-behandelprofiel`) with a full prefetch — every key the
  discovery document advertises for the service, answered the way a FHIR server answers the
  query — for every case: its `expect` as far as cards show it (hooks_support /
  assert_hook_case: the CarePlan the profile card creates, priorities and isRecommended of
  the suggestions, the referrals, the prompts on a card, nothing of recs_out on a card);
* order-select (`nekpijn-orders-select`, every draft order selected) and order-sign
  (`nekpijn-orders-sign`) for every case with `orders`: `expect_orders` per order.

"Today" is fixed by the test (apply_support.TODAY, the service clock NOW). The plan the cards
are compared with is the `$apply` result for the same Bundle and day.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from apply_support import NOW, TODAY, apply_parameters, assert_case, cases, data_dictionary, due_day, amsterdam_day, \
    features, request_due
from hooks_support import (GP_ROLE, ONE_CARD_KINDS, appears, careplans_of, catalogue_kinds, created,
                           ehr_prefetch, hook_request, is_referral, plan_items, referral_role,
                           resources_of, suggestions_creating, text_of)
from service.app import create_app
from service.config import Settings
from tools.case_bundles import build_draft_orders, order_reference

BASE = "http://testserver"
PATIENT_VIEW = "nekpijn-behandelprofiel"
ORDER_SERVICES = {"order-select": "nekpijn-orders-select", "order-sign": "nekpijn-orders-sign"}
PLAN = "/fhir/PlanDefinition/nekpijn-behandelprofiel/$apply"
FHIR_JSON = {"Content-Type": "application/fhir+json"}
ORDER_CASES = [c for c in cases() if c.get("orders")]
PROFILES = ("profile-a", "profile-b", "profile-c", "profile-d")


@pytest.fixture(scope="module")
def client(tmp_path_factory, signer):
    db = tmp_path_factory.mktemp("db") / "hooks.db"
    settings = Settings(auth="jwt", trusted_issuers_file=signer.issuers_file, database_url=f"sqlite:///{db}",
                        max_body_bytes=2_000_000)
    return TestClient(create_app(settings=settings, clock=lambda: NOW), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def apply_client():
    return TestClient(create_app(clock=lambda: NOW))


@pytest.fixture(scope="module")
def discovery(client, signer) -> dict[str, dict]:
    response = client.get("/cds-services", headers=signer.headers(f"{BASE}/cds-services"))
    assert response.status_code == 200, response.text
    return {s["id"]: s for s in response.json()["services"]}


def call(client, signer, service: str, body: dict, lang: str | None = None):
    headers = signer.headers(f"{BASE}/cds-services/{service}")
    if lang:
        headers["Accept-Language"] = lang
    return client.post(f"/cds-services/{service}", content=json.dumps(body), headers=headers)


def plan_of(apply_client, case: dict) -> dict:
    response = apply_client.post(PLAN, json=apply_parameters(case, lang=case.get("language")), headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    return response.json()


def prefetch(discovery, service: str, hook: str, case: dict) -> dict:
    assert service in discovery, f"discovery has no service {service}"
    assert discovery[service]["hook"] == hook
    return ehr_prefetch(resources_of(case, TODAY), discovery[service].get("prefetch", {}), case["id"])


# -- patient-view -----------------------------------------------------------------------

def feature_value(plan: dict, code: str):
    values = features(plan).get(code, [])
    return values[0] if values else None


def assert_hook_case(cards: list[dict], case: dict, plan: dict) -> None:
    """The case's expectations as a patient-view response shows them (cases.yaml header, v2)."""
    cid, expect = case["id"], case["expect"]
    assert cards, f"{cid}: no card"
    serious = feature_value(plan, "serious-pathology")
    profile = feature_value(plan, "treatment-profile")
    offered = careplans_of(cards)
    assert len(offered) <= 1, f"{cid}: {len(offered)} CarePlans offered"
    if serious in ("suspected", "unresolved", "not-assessed"):
        assert not offered, f"{cid}: a treatment card while grade IV is not excluded (outputs.md)"
    elif serious == "excluded" and profile in PROFILES:
        assert offered, f"{cid}: the profile card offers no CarePlan"
        careplan = offered[0]
        suggestion = next(s for card in cards for s, r in created(card) if r is careplan)
        assert suggestion.get("isRecommended") is True, f"{cid}: the CarePlan suggestion is not recommended"
        assert_case(careplan, case)  # features, recs, referrals, provisional, priority, due, note
        assert [i.code for i in plan_items(careplan)] == [i.code for i in plan_items(plan)], \
            f"{cid}: the CarePlan of the card is not the $apply plan"
    in_plan = {i.code: i for i in plan_items(plan)}
    for code in expect.get("recs_in", []):
        item = in_plan.get(code)
        if item is not None and item.kind in ONE_CARD_KINDS:
            assert any(appears(card, item, plan) for card in cards), f"{cid}: {code} ({item.kind}) on no card"
    for code in expect.get("recs_out", []):
        on = [c["summary"] for c in cards if ((c.get("source") or {}).get("topic") or {}).get("code") == code]
        assert not on, f"{cid}: {code} must not be in the plan, yet a card is about it: {on}"
        # (a suggestion may still create it: the GP option on the card of flags judged
        # recognisable is a card suggestion, not a RequestGroup action — dak/README.md)
    suggested_roles = {referral_role(r) for card in cards for _s, r in created(card) if is_referral(r)}
    missing = set(expect.get("referral", [])) - suggested_roles
    assert not missing, f"{cid}: no card suggestion creates the referral(s) {missing}"
    for code, priority in (expect.get("priority") or {}).items():
        made = suggestions_creating(cards, code, plan)
        assert made, f"{cid}: no card suggestion creates {code}"
        for card, _s, resource in made:
            assert resource.get("priority") == priority, \
                f"{cid}: {code} suggested with priority {resource.get('priority')}, expected {priority} ({card['summary']})"
    for code, recommended in (expect.get("recommended") or {}).items():
        made = suggestions_creating(cards, code, plan)
        assert made, f"{cid}: no card suggestion creates {code}"
        for card, suggestion, _r in made:
            assert (suggestion.get("isRecommended") is True) is recommended, \
                f"{cid}: {code} isRecommended {suggestion.get('isRecommended')}, expected {recommended} ({card['summary']})"
    for code, days in (expect.get("due") or {}).items():
        for _card, _s, resource in suggestions_creating(cards, code, plan):
            dates = request_due(resource)
            if days is None:
                assert not dates, f"{cid}: suggested {code} has a due date {dates}"
            else:
                assert dates and all(amsterdam_day(d) == due_day(case, days) for d in dates), \
                    f"{cid}: suggested {code} due {dates}, expected {due_day(case, days)}"


@pytest.mark.parametrize("case", cases(), ids=lambda c: c["id"])
def test_case_as_patient_view(client, apply_client, signer, discovery, case):
    body = hook_request("patient-view", case["id"], prefetch=prefetch(discovery, PATIENT_VIEW, "patient-view", case))
    response = call(client, signer, PATIENT_VIEW, body, lang=case.get("language"))
    assert response.status_code == 200, response.text
    assert_hook_case(response.json()["cards"], case, plan_of(apply_client, case))


@pytest.mark.parametrize("case", cases(), ids=lambda c: c["id"])
def test_full_prefetch_holds_every_input_of_the_case(discovery, case):
    """The advertised prefetch queries ask for every resource a case has (nothing is lost
    between the EHR and the service)."""
    resources = resources_of(case, TODAY)
    got = set()
    for value in prefetch(discovery, PATIENT_VIEW, "patient-view", case).values():
        if value is None:
            continue
        for r in [e["resource"] for e in value.get("entry", [])] if value["resourceType"] == "Bundle" else [value]:
            got.add(f"{r['resourceType']}/{r['id']}")
    assert {f"{r['resourceType']}/{r['id']}" for r in resources} == got


# -- order-select / order-sign -------------------------------------------------------------

def _deletes(suggestion: dict, reference: str) -> bool:
    for action in suggestion.get("actions", []):
        if action.get("type") != "delete":
            continue
        ids = action.get("resourceId")
        if reference in (ids if isinstance(ids, list) else [ids]):
            return True
    return False


def cards_about(cards: list[dict], reference: str) -> list[dict]:
    """The cards about one draft order: a suggestion deletes it, or the card names its reference."""
    return [c for c in cards if any(_deletes(s, reference) for s in c.get("suggestions", []))
            or reference in text_of(c)]


def _mentioned(text: str, phrase) -> bool:
    options = phrase if isinstance(phrase, list) else [phrase]
    return any(str(option).lower() in text.lower() for option in options)


def assert_order_cards(cards: list[dict], case: dict) -> None:
    cid = case["id"]
    orders = {o["id"]: order_reference(o) for o in build_draft_orders(case, data_dictionary())}
    for card in cards:
        about = [oid for oid, ref in orders.items() if card in cards_about([card], ref)]
        assert len(about) == 1, f"{cid}: card {card['summary']!r} is about {about or 'no draft order'}"
    for oid, want in case["expect_orders"].items():
        reference = orders[oid]
        mine = cards_about(cards, reference)
        if want["indicator"] == "none":
            assert not mine, f"{cid}/{oid}: expected no card, got {[c['summary'] for c in mine]}"
            continue
        assert len(mine) == 1, f"{cid}/{oid}: expected one card, got {len(mine)}"
        card = mine[0]
        text = text_of(card)
        assert card["indicator"] == want["indicator"], f"{cid}/{oid}: indicator {card['indicator']}: {card['summary']}"
        deleting = [s for s in card.get("suggestions", []) if _deletes(s, reference)]
        if "delete_suggestion" in want:
            assert bool(deleting) is want["delete_suggestion"], f"{cid}/{oid}: delete suggestion {bool(deleting)}"
        gp = [s for s, r in created(card) if is_referral(r, GP_ROLE)]
        if "gp_referral_suggestion" in want:
            assert bool(gp) is want["gp_referral_suggestion"], f"{cid}/{oid}: GP referral suggestion {bool(gp)}"
        if "recommended" in want:
            assert gp, f"{cid}/{oid}: no GP referral suggestion to be (not) recommended"
            for suggestion in gp:
                assert (suggestion.get("isRecommended") is True) is want["recommended"], \
                    f"{cid}/{oid}: GP referral isRecommended {suggestion.get('isRecommended')}"
        for phrase in want.get("mentions", []):
            assert _mentioned(text, phrase), f"{cid}/{oid}: {phrase!r} not on the card: {text!r}"
        for phrase in want.get("not_mentions", []):
            assert not _mentioned(text, phrase), f"{cid}/{oid}: {phrase!r} on the card: {text!r}"


@pytest.mark.parametrize("hook", list(ORDER_SERVICES))
@pytest.mark.parametrize("case", ORDER_CASES, ids=lambda c: c["id"])
def test_case_as_order_hook(client, signer, discovery, case, hook):
    service = ORDER_SERVICES[hook]
    drafts = build_draft_orders(case, data_dictionary())
    body = hook_request(hook, case["id"], prefetch=prefetch(discovery, service, hook, case), draft_orders=drafts,
                        selections=[order_reference(o) for o in drafts])
    response = call(client, signer, service, body, lang=case.get("language"))
    assert response.status_code == 200, response.text
    assert_order_cards(response.json()["cards"], case)


def test_every_expect_key_is_known():
    """A new key in cases.yaml must not be silently ignored by this harness."""
    known = {"serious-pathology", "radicular-syndrome", "grade", "course", "subgroup", "psychosocial-dominant",
             "treatment-profile", "treatment-effect", "recs_in", "recs_out", "referral", "provisional", "priority",
             "due", "recommended", "note_left_out"}
    order_keys = {"indicator", "delete_suggestion", "gp_referral_suggestion", "recommended", "mentions", "not_mentions"}
    case_keys = {"id", "title", "age", "onset_days", "intake_days", "intake_time", "intake_status", "answers", "tests",
                 "tests_days", "tests_in_qr", "obs", "extra_qrs", "condition", "condition_onset_days", "no_onset_answer",
                 "empty_qr", "language", "expect", "orders", "expect_orders"}
    kinds = catalogue_kinds()
    for case in cases():
        assert set(case) <= case_keys, (case["id"], set(case) - case_keys)
        assert set(case["expect"]) <= known, (case["id"], set(case["expect"]) - known)
        for key in ("recs_in", "recs_out"):
            unknown = [c for c in case["expect"].get(key, []) if c not in kinds]
            assert not unknown, f"{case['id']}: {key} names codes outside the catalogue: {unknown}"
        for oid, want in case.get("expect_orders", {}).items():
            assert set(want) <= order_keys, (case["id"], oid)


def _case(case_id: str, **changes) -> dict:
    case = next(c for c in cases() if c["id"] == case_id)
    return {**case, **changes}


@pytest.mark.parametrize("case_id, wrong", [
    ("red-flag-unresolved", {"recommended": {"rec-refer-gp-serious-pathology": True}}),
    ("grade-iv-malignancy", {"recommended": {"rec-refer-gp-serious-pathology": False}}),
    ("v2-cad-stat", {"priority": {"rec-refer-gp-serious-pathology": "urgent"}}),
    ("b-abnormal-duration", {"due": {"rec-measure-week-4": 29}}),
    ("b-work-sick-leave", {"referral": ["01.008"]}),
    ("a-normal-course", {"recs_in": ["rec-screen-red-flags"]}),
    ("b-abnormal-duration", {"recs_out": ["rec-exercise-mobilisation"]}),
])
def test_the_hook_harness_rejects_a_wrong_expectation(client, apply_client, signer, discovery, case_id, wrong):
    case = _case(case_id)
    body = hook_request("patient-view", case["id"], prefetch=prefetch(discovery, PATIENT_VIEW, "patient-view", case))
    cards = call(client, signer, PATIENT_VIEW, body).json()["cards"]
    plan = plan_of(apply_client, case)
    assert_hook_case(cards, case, plan)
    with pytest.raises(AssertionError):
        assert_hook_case(cards, {**case, "expect": {**case["expect"], **wrong}}, plan)


@pytest.mark.parametrize("oid, wrong", [
    ("o1", {"indicator": "info"}),
    ("o1", {"delete_suggestion": False}),
    ("o2", {"gp_referral_suggestion": True}),
    ("o3", {"indicator": "none"}),
    ("o5", {"indicator": "warning"}),
    ("o4", {"mentions": ["graad IV"]}),
    ("o1", {"not_mentions": [["dry needling", "nooit"]]}),
])
def test_the_order_harness_rejects_a_wrong_expectation(client, signer, discovery, oid, wrong):
    case = _case("v2-orders-profile-a")
    drafts = build_draft_orders(case, data_dictionary())
    body = hook_request("order-sign", case["id"], prefetch=prefetch(discovery, ORDER_SERVICES["order-sign"], "order-sign", case),
                        draft_orders=drafts)
    cards = call(client, signer, ORDER_SERVICES["order-sign"], body).json()["cards"]
    assert_order_cards(cards, case)
    expect_orders = {**case["expect_orders"], oid: {**case["expect_orders"][oid], **wrong}}
    with pytest.raises(AssertionError):
        assert_order_cards(cards, {**case, "expect_orders": expect_orders})
