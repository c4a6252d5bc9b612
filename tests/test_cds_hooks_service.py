"""The CDS Hooks 2.0 service end to end: JWT on, a real store, every reference case."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from apply_support import NOW, TODAY, assert_case, cases
from hooks_support import hook_request, prefetch_for, resources_of
from service.app import create_app
from service.cds_hooks.discovery import PREFETCH_KEYS
from service.config import Settings

BASE = "http://testserver"
BEHANDELPROFIEL = "nekpijn-behandelprofiel"  # patient-view
ENCOUNTER_START = "nekpijn-behandelprofiel-encounter-start"
ORDERS = "nekpijn-orders-sign"
ORDERS_SELECT = "nekpijn-orders-select"
SNOMED = "http://snomed.info/sct"
LOCAL = "https://nekpijn-cds.org/fhir/CodeSystem/nekpijn"


@pytest.fixture(scope="module")
def settings(tmp_path_factory, signer):
    db = tmp_path_factory.mktemp("db") / "hooks.db"
    return Settings(auth="jwt", trusted_issuers_file=signer.issuers_file, database_url=f"sqlite:///{db}",
                    cors_origins=("https://ehr.example.org",), max_body_bytes=2_000_000)


@pytest.fixture(scope="module")
def client(settings):
    return TestClient(create_app(settings=settings, clock=lambda: NOW), raise_server_exceptions=False)


def call(client, signer, service, body, **headers):
    return client.post(f"/cds-services/{service}", content=json.dumps(body),
                       headers={**signer.headers(f"{BASE}/cds-services/{service}"), **headers})


def careplan_of(cards):
    for card in cards:
        for suggestion in card.get("suggestions", []):
            for action in suggestion["actions"]:
                if action.get("resource", {}).get("resourceType") == "CarePlan":
                    return action["resource"]
    return None


def walk(value):
    """Every (key, value) in a JSON document."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield k, v
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v)


def assert_no_nulls_or_empties(document):
    for key, value in walk(document):
        assert value is not None, f"{key} is null"
        if key != "cards":
            assert value != [] and value != {} and value != "", f"{key} is empty"


# -- discovery -----------------------------------------------------------------------

def test_discovery_requires_a_token(client):
    response = client.get("/cds-services")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["resourceType"] == "OperationOutcome"


def test_discovery_lists_the_services_per_hook(client, signer):
    response = client.get("/cds-services", headers=signer.headers(f"{BASE}/cds-services"))
    assert response.status_code == 200
    services = response.json()["services"]
    pairs = [(s["id"], s["hook"]) for s in services]
    assert pairs == [(BEHANDELPROFIEL, "patient-view"), (ENCOUNTER_START, "encounter-start"),
                     (ORDERS_SELECT, "order-select"), (ORDERS, "order-sign")], "one service per hook (outputs.md v2)"
    for service in services:
        assert service["title"] and service["description"]
        for key, template in service["prefetch"].items():
            assert "{{context.patientId}}" in template
    assert_no_nulls_or_empties(response.json())


# -- patient-view for every reference case ---------------------------------------------

def _cards_match_case(cards, case):
    expect = case["expect"]
    assert_no_nulls_or_empties({"cards": cards})
    for card in cards:
        assert len(card["summary"]) < 140 and card["indicator"] in ("info", "warning", "critical")
        assert card["source"]["label"] == "KNGF-richtlijn Nekpijn (2016)"
        assert card["uuid"]
    _suggestions_match_case(cards, case)
    if expect.get("serious-pathology") == "suspected":
        assert cards[0]["indicator"] == "critical"
        return
    careplan = careplan_of(cards)
    if expect.get("treatment-profile") == "undetermined":
        assert cards[0]["indicator"] == "warning", "the prompts block the profile"
        assert careplan is None
        return
    if expect.get("serious-pathology") in ("unresolved", "not-assessed") or expect.get("provisional"):
        assert any(c["indicator"] == "warning" for c in cards)
        assert careplan is None, "no treatment card while grade IV is not excluded"
        return
    assert careplan is not None, "the profile card offers the CarePlan"
    assert_case(careplan, {**case, "expect": {k: v for k, v in expect.items() if k not in CARD_ONLY_KEYS}})


#: expect keys this test checks on the cards (or leaves to the $apply tests), not through assert_case
CARD_ONLY_KEYS = ("provisional", "recommended", "priority", "due", "note_left_out")


def _suggestions_match_case(cards, case):
    """`recommended` / `priority` of the case file: the card suggestion that creates the item."""
    expect = case["expect"]
    made = {}
    for card in cards:
        for suggestion in card.get("suggestions", []):
            for action in suggestion["actions"]:
                resource = action.get("resource", {})
                for canonical in [resource.get("instantiatesCanonical")] if resource.get("instantiatesCanonical") else []:
                    url = (canonical[0] if isinstance(canonical, list) else canonical).split("|")[0]
                    made[url.rsplit("/", 1)[1]] = (suggestion, resource)
    for code, recommended in (expect.get("recommended") or {}).items():
        assert code in made, f"{case['id']}: no suggestion creates {code}"
        assert made[code][0]["isRecommended"] is recommended, code
    for code, priority in (expect.get("priority") or {}).items():
        if code in made:
            assert made[code][1].get("priority") == priority, code


@pytest.mark.parametrize("case", cases(), ids=lambda c: c["id"])
def test_patient_view_with_full_prefetch(client, signer, case):
    prefetch = prefetch_for(resources_of(case, TODAY), PREFETCH_KEYS["patient-view"])
    response = call(client, signer, BEHANDELPROFIEL, hook_request("patient-view", case["id"], prefetch=prefetch))
    assert response.status_code == 200, response.text
    _cards_match_case(response.json()["cards"], case)


@pytest.mark.parametrize("case", cases(), ids=lambda c: c["id"])
def test_patient_view_fetches_from_the_fhir_server_without_prefetch(client, signer, case):
    from fhir_test_server import fhir_server

    with fhir_server(resources_of(case, TODAY), token="ehr-token") as url:
        body = hook_request("patient-view", case["id"], fhir_server=url, token="ehr-token")
        response = call(client, signer, BEHANDELPROFIEL, body)
    assert response.status_code == 200, response.text
    _cards_match_case(response.json()["cards"], case)


def test_partial_and_null_prefetch(client, signer):
    case = next(c for c in cases() if c["id"] == "b-work-sick-leave")
    resources = resources_of(case, TODAY)
    full = prefetch_for(resources, PREFETCH_KEYS["patient-view"])
    keys = list(full)
    partial = {k: v for k, v in full.items() if k != keys[-1]}  # one key absent: fetched
    from fhir_test_server import fhir_server

    with fhir_server(resources, token="t") as url:
        fetched = call(client, signer, BEHANDELPROFIEL, hook_request("patient-view", case["id"], prefetch=partial,
                                                                     fhir_server=url, token="t"))
    assert fetched.status_code == 200, fetched.text
    _cards_match_case(fetched.json()["cards"], case)
    # a null key means "no such data": nothing is fetched, and the advice reflects the missing data
    nulls = {k: (None if "Observation" in PREFETCH_KEYS["patient-view"][k] else v) for k, v in full.items()}
    response = call(client, signer, BEHANDELPROFIEL, hook_request("patient-view", case["id"], prefetch=nulls))
    assert response.status_code == 200, response.text
    text = json.dumps(response.json())
    assert "rec-measure-baseline" in text or "Nulmeting" in text


def test_missing_data_without_fhir_server_is_412(client, signer):
    body = hook_request("patient-view", "a-normal-course", prefetch={})
    response = call(client, signer, BEHANDELPROFIEL, body)
    assert response.status_code == 412
    assert response.json()["resourceType"] == "OperationOutcome"


def test_encounter_start(client, signer):
    case = next(c for c in cases() if c["id"] == "d-radicular-confirmed")
    prefetch = prefetch_for(resources_of(case, TODAY), PREFETCH_KEYS["encounter-start"])
    response = call(client, signer, ENCOUNTER_START,
                    hook_request("encounter-start", case["id"], prefetch=prefetch, encounter="enc-7"))
    assert response.status_code == 200, response.text
    careplan = careplan_of(response.json()["cards"])
    assert careplan["encounter"] == {"reference": "Encounter/enc-7"}
    _cards_match_case(response.json()["cards"], case)


def test_english_cards_on_accept_language(client, signer):
    case = next(c for c in cases() if c["id"] == "b-abnormal-duration")
    prefetch = prefetch_for(resources_of(case, TODAY), PREFETCH_KEYS["patient-view"])
    response = call(client, signer, BEHANDELPROFIEL, hook_request("patient-view", case["id"], prefetch=prefetch),
                    **{"Accept-Language": "en"})
    summaries = [c["summary"] for c in response.json()["cards"]]
    assert any("Treatment profile B" in s for s in summaries)


# -- order-sign ----------------------------------------------------------------------------

def _draft(rid, system, code, category=None):
    order = {"resourceType": "ServiceRequest", "id": rid, "status": "draft", "intent": "order",
             "code": {"coding": [{"system": system, "code": code}]}, "subject": {"reference": "Patient/d-trauma"}}
    if category:
        order["category"] = [{"coding": [{"system": SNOMED, "code": category}]}]
    return order


def test_order_sign_flags_discouraged_imaging_and_collar_after_trauma(client, signer):
    case = next(c for c in cases() if c["id"] == "d-trauma")
    drafts = [_draft("dn", SNOMED, "231082000"), _draft("et", LOCAL, "int-electrotherapy"),
              _draft("img", "http://loinc.org", "24627-2", category="363679005"),
              _draft("col", LOCAL, "int-semi-rigid-collar"), _draft("ex", SNOMED, "229065009")]
    prefetch = prefetch_for(resources_of(case, TODAY), PREFETCH_KEYS["order-sign"])
    response = call(client, signer, ORDERS, hook_request("order-sign", case["id"], prefetch=prefetch, draft_orders=drafts))
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    assert_no_nulls_or_empties({"cards": cards})
    assert len(cards) == 4, [c["summary"] for c in cards]
    deletes = {rid for c in cards for s in c.get("suggestions", []) for a in s["actions"] if a["type"] == "delete"
               for rid in ([a["resourceId"]] if isinstance(a["resourceId"], str) else a["resourceId"])}
    assert {"ServiceRequest/dn", "ServiceRequest/et", "ServiceRequest/img"} <= deletes
    assert all(c["indicator"] == "warning" for c in cards), "collar after trauma is a warning too"


# -- protocol errors ------------------------------------------------------------------------

def test_unknown_service_is_404(client, signer):
    response = call(client, signer, "nope", hook_request("patient-view", "x", prefetch={}))
    assert response.status_code == 404 and response.json()["resourceType"] == "OperationOutcome"


def test_wrong_hook_for_the_service_is_400(client, signer):
    response = call(client, signer, ORDERS, hook_request("patient-view", "a-normal-course", prefetch={}))
    assert response.status_code == 400
    # one hook per service id (outputs.md v2): encounter-start is not answered by the patient-view service
    body = hook_request("encounter-start", "a-normal-course", prefetch={}, encounter="enc-1")
    assert call(client, signer, BEHANDELPROFIEL, body).status_code == 400
    assert call(client, signer, ORDERS, hook_request("order-select", "d-trauma", prefetch={},
                                                     draft_orders=[_draft("x", LOCAL, "int-laser")])).status_code == 400


def test_the_v1_shared_service_id_is_gone(client, signer):
    response = call(client, signer, "nekpijn-orders", hook_request("order-sign", "d-trauma", prefetch={}))
    assert response.status_code == 404


def test_order_select_has_its_own_service(client, signer):
    case = next(c for c in cases() if c["id"] == "d-trauma")
    prefetch = prefetch_for(resources_of(case, TODAY), PREFETCH_KEYS["order-select"])
    body = hook_request("order-select", case["id"], prefetch=prefetch, draft_orders=[_draft("dn", SNOMED, "231082000")])
    response = call(client, signer, ORDERS_SELECT, body)
    assert response.status_code == 200, response.text
    [card] = response.json()["cards"]
    assert card["indicator"] == "warning"


def test_unchecked_draft_orders_never_fail_the_call(client, signer):
    """decision-logic §11 v2: a MedicationRequest that is not valid R4 (category not a list, as the
    reference sandbox sends it) is not checked and does not make the call fail; an order of
    another patient gets no card."""
    case = next(c for c in cases() if c["id"] == "d-trauma")
    medication = {"resourceType": "MedicationRequest", "id": "med-1", "status": "draft", "intent": "order",
                  "category": {"coding": [{"code": "outpatient"}]}, "medicationCodeableConcept": {"text": "x"},
                  "subject": {"reference": "Patient/d-trauma"}}
    other = _draft("dn-other", SNOMED, "231082000") | {"subject": {"reference": "Patient/someone-else"}}
    prefetch = prefetch_for(resources_of(case, TODAY), PREFETCH_KEYS["order-sign"])
    for service, hook in ((ORDERS, "order-sign"), (ORDERS_SELECT, "order-select")):
        body = hook_request(hook, case["id"], prefetch=prefetch, draft_orders=[medication, other])
        response = call(client, signer, service, body)
        assert response.status_code == 200, response.text
        assert response.json()["cards"] == []
        body = hook_request(hook, case["id"], prefetch=prefetch,
                            draft_orders=[medication, other, _draft("dn", SNOMED, "231082000")])
        cards = call(client, signer, service, body).json()["cards"]
        assert [c["detail"].split("\n")[0] for c in cards] == ["**Order:** Dry needling (ServiceRequest/dn)"]


def test_a_checked_draft_order_without_a_readable_code_gets_no_card(client, signer):
    case = next(c for c in cases() if c["id"] == "d-trauma")
    bad = _draft("bad", SNOMED, "231082000") | {"code": "dry needling"}  # code is not a CodeableConcept
    prefetch = prefetch_for(resources_of(case, TODAY), PREFETCH_KEYS["order-sign"])
    response = call(client, signer, ORDERS, hook_request("order-sign", case["id"], prefetch=prefetch, draft_orders=[bad]))
    assert response.status_code == 200, response.text
    assert response.json()["cards"] == []


def test_get_on_a_service_is_405(client, signer):
    response = client.get(f"/cds-services/{BEHANDELPROFIEL}", headers=signer.headers(f"{BASE}/cds-services/{BEHANDELPROFIEL}"))
    assert response.status_code == 405 and response.json()["resourceType"] == "OperationOutcome"


def test_wrong_media_type_is_415(client, signer):
    headers = {**signer.headers(f"{BASE}/cds-services/{BEHANDELPROFIEL}"), "Content-Type": "text/plain"}
    response = client.post(f"/cds-services/{BEHANDELPROFIEL}", content="hello", headers=headers)
    assert response.status_code == 415 and response.json()["resourceType"] == "OperationOutcome"


def test_too_large_body_is_413(client, signer):
    body = hook_request("patient-view", "a-normal-course", prefetch={"x": {"resourceType": "Basic", "text": "a" * 2_100_000}})
    response = call(client, signer, BEHANDELPROFIEL, body)
    assert response.status_code == 413 and response.json()["resourceType"] == "OperationOutcome"


def test_expired_and_replayed_tokens_are_401(client, signer):
    aud = f"{BASE}/cds-services"
    assert client.get("/cds-services", headers=signer.headers(aud, exp=1)).status_code == 401
    token = signer.token(aud)
    assert client.get("/cds-services", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get("/cds-services", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_cors_preflight(client):
    response = client.options(f"/cds-services/{BEHANDELPROFIEL}", headers={
        "Origin": "https://ehr.example.org", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert response.status_code in (200, 204)
    assert response.headers["access-control-allow-origin"] == "https://ehr.example.org"
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed


# -- feedback and audit ----------------------------------------------------------------------

def _profile_card(client, signer, case_id="b-abnormal-duration"):
    case = next(c for c in cases() if c["id"] == case_id)
    prefetch = prefetch_for(resources_of(case, TODAY), PREFETCH_KEYS["patient-view"])
    body = hook_request("patient-view", case["id"], prefetch=prefetch)
    cards = call(client, signer, BEHANDELPROFIEL, body).json()["cards"]
    return next(c for c in cards if c.get("suggestions")), body


def _feedback(client, signer, items):
    return client.post(f"/cds-services/{BEHANDELPROFIEL}/feedback", content=json.dumps({"feedback": items}),
                       headers=signer.headers(f"{BASE}/cds-services/{BEHANDELPROFIEL}/feedback"))


def test_feedback_accepted_and_overridden_are_stored_and_summarised(client, signer):
    card, _ = _profile_card(client, signer)
    accepted = {"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": "2026-11-02T11:05:31Z",
                "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}]}
    assert _feedback(client, signer, [accepted]).status_code == 200
    other, _ = _profile_card(client, signer)
    reason = card["overrideReasons"][0]
    overridden = {"card": other["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-02T11:06:00Z",
                  "overrideReason": {"reason": reason, "userComment": "al besproken"}}
    assert _feedback(client, signer, [overridden]).status_code == 200
    summary = client.get(f"/cds-services/{BEHANDELPROFIEL}/feedback/summary",
                         headers=signer.headers(f"{BASE}/cds-services/{BEHANDELPROFIEL}/feedback/summary")).json()
    rows = summary["cards"]
    assert sum(r["accepted"] for r in rows) >= 1 and sum(r["overridden"] for r in rows) >= 1
    assert any(reason["code"] in json.dumps(r) for r in rows)


@pytest.mark.parametrize("item, message", [
    ({"outcome": "accepted", "outcomeTimestamp": "2026-11-02T11:05:31Z"}, "acceptedSuggestions"),
    ({"outcome": "overridden", "outcomeTimestamp": "2026-11-02T11:05:31Z",
      "overrideReason": {"reason": {"system": LOCAL, "code": "made-up", "display": "x"}}}, "not offered"),
    ({"outcome": "ignored", "outcomeTimestamp": "2026-11-02T11:05:31Z"}, "outcome"),
    ({"outcome": "overridden"}, "outcomeTimestamp"),
])
def test_invalid_feedback_is_400(client, signer, item, message):
    card, _ = _profile_card(client, signer)
    response = _feedback(client, signer, [{"card": card["uuid"], **item}])
    assert response.status_code == 400 and message in response.json()["issue"][0]["diagnostics"]


def test_feedback_for_an_unknown_card_is_400(client, signer):
    response = _feedback(client, signer, [{"card": "0000", "outcome": "overridden", "outcomeTimestamp": "2026-11-02T11:05:31Z"}])
    assert response.status_code == 400


def test_feedback_and_audit_survive_a_restart(settings, signer):
    first = TestClient(create_app(settings=settings, clock=lambda: NOW))
    card, body = _profile_card(first, signer)
    item = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-02T11:07:00Z"}
    assert _feedback(first, signer, [item]).status_code == 200
    second = TestClient(create_app(settings=settings, clock=lambda: NOW))  # a new process on the same database
    store = second.app.state.store
    assert store.issued_card(card["uuid"]) is not None
    entries = store.audit(limit=1000, service=BEHANDELPROFIEL)
    assert any(e.hook_instance == body["hookInstance"] for e in entries)


def test_audit_holds_no_patient_id_and_logs_no_token(client, signer, caplog):
    caplog.set_level(logging.DEBUG)
    case = next(c for c in cases() if c["id"] == "d-radicular-confirmed")
    prefetch = prefetch_for(resources_of(case, TODAY), PREFETCH_KEYS["patient-view"])
    body = hook_request("patient-view", case["id"], prefetch=prefetch)
    headers = signer.headers(f"{BASE}/cds-services/{BEHANDELPROFIEL}")
    response = client.post(f"/cds-services/{BEHANDELPROFIEL}", content=json.dumps(body), headers=headers)
    assert response.status_code == 200
    entry = next(e for e in client.app.state.store.audit(limit=1000) if e.hook_instance == body["hookInstance"])
    assert entry.patient_hash and case["id"] not in entry.patient_hash
    assert entry.issuer == "https://ehr.example.org" and entry.outcome == "ok" and entry.profile == "profile-d"
    assert entry.card_summaries and entry.duration_ms > 0
    token = headers["Authorization"].split()[1]
    for record in caplog.records:
        text = record.getMessage()
        assert token not in text and case["id"] not in text


# -- the card rules of the spec, on every card this service can produce -----------------------

ABSOLUTE = ("https://", "http://")


def _all_cards(client, signer):
    for lang in ("nl", "en"):
        for case in cases():
            prefetch = prefetch_for(resources_of(case, TODAY), PREFETCH_KEYS["patient-view"])
            body = hook_request("patient-view", case["id"], prefetch=prefetch)
            yield from call(client, signer, BEHANDELPROFIEL, body, **{"Accept-Language": lang}).json()["cards"]
        case = next(c for c in cases() if c["id"] == "d-trauma")
        drafts = [_draft("dn", SNOMED, "231082000"), _draft("col", LOCAL, "int-semi-rigid-collar"),
                  _draft("man", LOCAL, "int-high-cervical-manipulation")]
        prefetch = prefetch_for(resources_of(case, TODAY), PREFETCH_KEYS["order-sign"])
        body = hook_request("order-sign", case["id"], prefetch=prefetch, draft_orders=drafts)
        yield from call(client, signer, ORDERS, body, **{"Accept-Language": lang}).json()["cards"]


def _coding(value, display_required=False):
    assert isinstance(value, dict) and isinstance(value["code"], str) and isinstance(value["system"], str)
    if display_required:
        assert isinstance(value["display"], str) and value["display"].strip()


def test_card_shapes_meet_the_spec(client, signer):
    cards = list(_all_cards(client, signer))
    assert len(cards) > 30
    uuids = [c["uuid"] for c in cards]
    assert len(set(uuids)) == len(uuids), "card uuids are unique"
    for card in cards:
        assert_no_nulls_or_empties(card)
        assert isinstance(card["uuid"], str)
        assert isinstance(card["summary"], str) and len(card["summary"]) < 140
        assert isinstance(card.get("detail", ""), str) and "<" not in card.get("detail", ""), "Markdown, no HTML"
        assert card["indicator"] in ("info", "warning", "critical")
        source = card["source"]
        assert isinstance(source["label"], str)
        assert source["url"].startswith(ABSOLUTE)
        assert "icon" not in source or source["icon"].startswith(ABSOLUTE)
        _coding(source["topic"])
        assert ("suggestions" in card) == ("selectionBehavior" in card)
        if "suggestions" in card:
            assert card["selectionBehavior"] in ("at-most-one", "any")
            for suggestion in card["suggestions"]:
                assert isinstance(suggestion["label"], str) and isinstance(suggestion["uuid"], str)
                assert isinstance(suggestion["isRecommended"], bool)
                assert isinstance(suggestion["actions"], list) and suggestion["actions"]
                for action in suggestion["actions"]:
                    assert action["type"] in ("create", "update", "delete")
                    assert isinstance(action["description"], str)
                    if action["type"] == "create":
                        assert "resourceType" in action["resource"] and "id" not in action["resource"] \
                            or action["resource"]["resourceType"] == "CarePlan", "a new resource"
                    if action["type"] == "delete":
                        assert "resource" not in action
                        assert isinstance(action["resourceId"], str) and "/" in action["resourceId"]
        for reason in card.get("overrideReasons", []):
            _coding(reason, display_required=True)
        for link in card.get("links", []):
            assert isinstance(link["label"], str) and isinstance(link["type"], str)
            assert link["type"] in ("absolute", "smart")
            assert link["url"].startswith(ABSOLUTE)
            if link["type"] == "absolute":
                assert "appContext" not in link
            else:
                assert isinstance(link.get("appContext", ""), str)
        assert "extension" not in card or isinstance(card["extension"], dict)


def test_apply_and_refused_hook_calls_are_audited(client, signer):
    case = next(c for c in cases() if c["id"] == "b-abnormal-duration")
    from apply_support import apply_parameters

    path = f"/fhir/PlanDefinition/{BEHANDELPROFIEL}/$apply"
    response = client.post(path, content=json.dumps(apply_parameters(case)),
                           headers={**signer.headers(f"{BASE}{path}"), "Content-Type": "application/fhir+json"})
    assert response.status_code == 200, response.text
    bad = hook_request("patient-view", "b-abnormal-duration", prefetch={})
    del bad["context"]["userId"]
    assert call(client, signer, BEHANDELPROFIEL, bad).status_code == 400
    entries = client.app.state.store.audit(limit=1000)
    applied = [e for e in entries if e.service == f"$apply:{BEHANDELPROFIEL}"]
    assert applied and applied[0].profile == "profile-b" and applied[0].patient_hash
    refused = [e for e in entries if e.hook_instance == bad["hookInstance"]]
    assert refused and refused[0].status == 400 and refused[0].patient_hash is None
