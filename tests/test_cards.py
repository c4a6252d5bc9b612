"""CDS Hooks cards and discovery (dak/outputs.md "CDS Hooks cards"; CDS Hooks 2.0.1).

Every reference case of tests/cases/cases.yaml through Engine.apply and
render_cards ("today" fixed: apply_support.TODAY, 12:00 Amsterdam); draft
orders through the order checks; discovery and its prefetch templates
against the spec's query subset and the hooks library's prefetch tokens.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from fhir.resources.R4B.communicationrequest import CommunicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest

from apply_support import NOW, action_codes, assert_case, case_bundle, cases
from service.apply.engine import Engine
from service.apply.terminology import LOCAL_SYSTEM
from service.cds_hooks.cards import (
    GUIDELINE_LABEL,
    IssuedCardInfo,
    card_records,
    find_empties,
    prune,
    render_cards,
)
from service.cds_hooks.discovery import PREFETCH_KEYS, discovery
from service.knowledge import KnowledgeBase

PROFILE_SERVICE = "nekpijn-behandelprofiel"
ORDERS_SERVICE = "nekpijn-orders"
SNOMED = "http://snomed.info/sct"
GUIDELINE_URL = "https://www.kngf.nl/kennisplatform/richtlijnen/nekpijn"
REFERRAL = {"system": SNOMED, "code": "3457005", "display": "Patient referral"}
PROFILES = ("profile-a", "profile-b", "profile-c", "profile-d")
OVERRIDE_CODES = ["override-already-addressed", "override-patient-preference", "override-clinical-judgement",
                  "override-data-incomplete", "override-treated-elsewhere"]
HOOKS_LIBRARY = Path("/work/shared/reference/cds-hooks/hooks-library-1.0.1")


@pytest.fixture(scope="module")
def engine():
    return Engine(KnowledgeBase.load())


def resources(case: dict) -> list[dict]:
    return [e["resource"] for e in case_bundle(case)["entry"]]


def apply_case(engine, case: dict, lang: str = "nl"):
    return engine.apply(PROFILE_SERVICE, resources(case), f"Patient/{case['id']}", now=NOW, lang=lang)


def case_by_id(case_id: str) -> dict:
    return next(c for c in cases() if c["id"] == case_id)


def suggestion_resources(card: dict) -> list[dict]:
    return [a["resource"] for s in card.get("suggestions", []) for a in s["actions"] if "resource" in a]


def careplan_of(cards: list[dict]) -> dict | None:
    return next((r for c in cards for r in suggestion_resources(c) if r["resourceType"] == "CarePlan"), None)


def topic(card: dict) -> str:
    return card["source"]["topic"]["code"]


def is_referral(resource: dict) -> bool:
    return resource["resourceType"] == "ServiceRequest" and REFERRAL in resource["code"]["coding"]


# -- the shape every card must have ------------------------------------------------------


def assert_card_shape(card: dict, lang: str = "nl") -> None:
    assert find_empties(card) == [], "no nulls and no empty strings, arrays or objects"
    assert prune(card) == card
    json.dumps(card, allow_nan=False)
    assert set(card) <= {"uuid", "summary", "detail", "indicator", "source", "suggestions", "selectionBehavior",
                         "overrideReasons", "links"}
    assert str(uuid.UUID(card["uuid"])) == card["uuid"]
    assert isinstance(card["summary"], str) and 0 < len(card["summary"]) < 140
    assert card["indicator"] in ("info", "warning", "critical")
    assert isinstance(card["detail"], str) and card["detail"].strip()
    source = card["source"]
    assert source["label"] == GUIDELINE_LABEL and source["url"] == GUIDELINE_URL
    assert source["topic"]["system"] == LOCAL_SYSTEM and source["topic"]["code"] and source["topic"]["display"]
    # override reasons: the codes of the CodeSystem, with a display in the card language (cds-resp-4)
    reasons = card["overrideReasons"]
    assert [r["code"] for r in reasons] == OVERRIDE_CODES
    assert all(r["system"] == LOCAL_SYSTEM and r["display"] for r in reasons)
    for link in card.get("links", []):
        assert link["type"] == "absolute" and link["url"].startswith("https://") and link["label"]
        assert "appContext" not in link  # cds-resp-3
    suggestions = card.get("suggestions", [])
    if suggestions:
        assert card["selectionBehavior"] == "at-most-one"  # cds-resp-6
        assert sum(1 for s in suggestions if s.get("isRecommended")) <= 1  # cds-resp-1
    else:
        assert "selectionBehavior" not in card
    for s in suggestions:
        assert str(uuid.UUID(s["uuid"])) == s["uuid"] and s["label"] and isinstance(s["isRecommended"], bool)
        assert s["actions"]
        for action in s["actions"]:
            assert action["type"] in ("create", "update", "delete") and action["description"]  # cds-resp-5
            if action["type"] == "delete":
                assert isinstance(action["resourceId"], str) and "resource" not in action  # cds-resp-2
                assert re.fullmatch(r"[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}", action["resourceId"])
            else:
                assert "resourceType" in action["resource"] and "resourceId" not in action


def assert_standalone(resource: dict, patient: str) -> None:
    """A request offered on its own: no contained-only id or basedOn, every local reference resolvable."""
    assert "id" not in resource
    assert all(not r["reference"].startswith("#") for r in resource.get("basedOn", []))
    assert resource.get("subject") == {"reference": patient}
    text = json.dumps(resource)
    contained = {r["id"] for r in resource.get("contained", [])}
    for ref in re.findall(r'"reference": "#([^"]+)"', text):
        assert ref in contained, f"#{ref} is not contained"
    model = {"ServiceRequest": ServiceRequest, "CommunicationRequest": CommunicationRequest}[resource["resourceType"]]
    model.model_validate(resource)


# -- every reference case -----------------------------------------------------------------


@pytest.mark.parametrize("case", cases(), ids=lambda c: c["id"])
def test_cards_of_every_case_follow_the_contract(engine, case):
    lang = case.get("language", "nl")
    result = apply_case(engine, case, lang)
    cards = render_cards(result, engine, service_id=PROFILE_SERVICE, hook_instance="hook-1", lang=lang)
    patient = f"Patient/{case['id']}"
    assert cards, "every case gets at least one card"
    for card in cards:
        assert_card_shape(card, lang)
    ranks = [("critical", "warning", "info").index(c["indicator"]) for c in cards]
    assert ranks == sorted(ranks), "critical first, then warning, then info"
    kinds = [topic(c) for c in cards]
    assert len({c["uuid"] for c in cards}) == len(cards)

    serious = result.case.feature("serious-pathology").value
    profile = result.case.feature("treatment-profile")
    actions = action_codes(result.careplan)
    if serious == "suspected":
        first = cards[0]
        assert first["indicator"] == "critical" and topic(first) == "grade-iv"
        assert len(cards) == 1
        [suggestion] = first["suggestions"]
        assert suggestion["isRecommended"] is True
        [referral] = suggestion_resources(first)
        assert is_referral(referral) and referral["intent"] == "proposal"
        assert_standalone(referral, patient)
        for pathology, flags in result.case.feature("serious-pathology").components:
            assert engine.terminology.text(pathology, lang) in first["detail"]
            for flag in flags:
                assert engine.terminology.text(flag, lang).lower() in first["detail"].lower()
        assert careplan_of(cards) is None
        return

    assert all(c["indicator"] != "critical" for c in cards)
    if serious in ("unresolved", "not-assessed"):
        assert careplan_of(cards) is None, "no treatment card until grade IV is excluded"
        assert not set(kinds) & set(PROFILES)
        prompt = cards[0]
        assert prompt["indicator"] == "warning"
        assert topic(prompt) == ("rec-assess-pattern" if serious == "unresolved" else "rec-screen-red-flags")
        if serious == "unresolved":
            [suggestion] = prompt["suggestions"]
            assert suggestion["isRecommended"] is False, "the GP referral is an option, not recommended"
            [referral] = suggestion_resources(prompt)
            assert is_referral(referral)
            assert_standalone(referral, patient)
            for pathology, _ in result.case.feature("serious-pathology").components:
                assert engine.terminology.text(pathology, lang) in prompt["detail"]
        else:
            assert "suggestions" not in prompt
        if profile is not None and profile.value in PROFILES:  # the provisional profile is named
            assert engine.terminology.text(profile.value, lang) in prompt["detail"]
        assert kinds.count("section-assessment") == 0, "the prompts are on the restricted card"
    elif profile is not None and profile.value in PROFILES:
        [card] = [c for c in cards if topic(c) == profile.value]
        assert card["indicator"] == "info"
        assert card["summary"].startswith(engine.terminology.text(profile.value, lang) + ":")
        [suggestion] = card["suggestions"]
        assert suggestion["isRecommended"] is True
        [action] = suggestion["actions"]
        assert action["type"] == "create" and action["resource"] == result.careplan, "the CarePlan $apply returns"
        assert careplan_of(cards) == result.careplan
        # sections and their recommendations, the evidence
        for item in result.careplan["contained"][0]["action"]:
            assert item["title"] in card["detail"]
            for child in item["action"]:
                assert child["title"].replace("*", "\\*") in card["detail"]
        assert "**Onderbouwing**" in card["detail"] or "**Evidence**" in card["detail"]
        if "section-assessment" in actions:
            [prompts] = [c for c in cards if topic(c) == "section-assessment"]
            assert prompts["indicator"] in ("info", "warning")
        else:
            assert "section-assessment" not in kinds
        assert_case(careplan_of(cards), case)
    else:  # profile undetermined: the prompts block the profile
        [prompts] = [c for c in cards if topic(c) == "section-assessment"]
        assert prompts["indicator"] == "warning"
        assert careplan_of(cards) is None

    for code in ("rec-stop-contact-gp", "rec-refer-back-gp"):
        follow_up = [c for c in cards if topic(c) == code]
        assert len(follow_up) == (1 if code in actions else 0)
        for card in follow_up:
            assert card["indicator"] == "warning"
            [suggestion] = card["suggestions"]
            assert suggestion["isRecommended"] is True
            [resource] = suggestion_resources(card)
            assert_standalone(resource, patient)


def test_case_with_a_follow_up_consult_gets_its_own_warning_card(engine):
    case = case_by_id("follow-up-b-no-improvement")
    cards = render_cards(apply_case(engine, case), engine, service_id=PROFILE_SERVICE, hook_instance="h")
    assert [(topic(c), c["indicator"]) for c in cards] == [("rec-assess-pattern", "warning"),
                                                           ("rec-stop-contact-gp", "warning")]
    [consult] = suggestion_resources(cards[1])
    assert consult["resourceType"] == "CommunicationRequest"
    # the recipient PractitionerRole travels inside the consult
    assert consult["recipient"][0]["reference"] == "#role-01.015"
    assert [r["id"] for r in consult["contained"]] == ["role-01.015"]


def test_profile_card_lists_prognostic_factors_and_psychosocial_judgement(engine):
    case = case_by_id("c-psychosocial-kinesiophobia")
    cards = render_cards(apply_case(engine, case), engine, service_id=PROFILE_SERVICE, hook_instance="h")
    [card] = [c for c in cards if topic(c) == "profile-c"]
    assert card["summary"] == "Behandelprofiel C: nekpijn graad II met afwijkend beloop"
    factors = card["detail"].split("**Prognostische factoren**")[1].split("**Onderbouwing**")[0]
    assert "kinesiofobie" in factors and "Catastroferen" in factors
    assert "dominant" not in factors, "the psychosocial judgement is evidence, not a factor"
    assert "Psychosociale herstelbelemmerende factoren dominant aanwezig" in card["detail"]
    [prompts] = [c for c in cards if topic(c) == "section-assessment"]
    assert prompts["indicator"] == "info" and prompts["summary"].startswith("Vul de beoordeling aan: TSK overwegen")


def test_summary_example_of_the_contract(engine):
    cards = render_cards(apply_case(engine, case_by_id("b-abnormal-duration")), engine,
                         service_id=PROFILE_SERVICE, hook_instance="h")
    assert cards[0]["summary"] == "Behandelprofiel B: nekpijn graad II met afwijkend beloop"


# -- uuids and store records ----------------------------------------------------------------


def uuids(cards: list[dict]) -> list[str]:
    return [c["uuid"] for c in cards] + [s["uuid"] for c in cards for s in c.get("suggestions", [])]


@pytest.mark.parametrize("case_id", ["b-work-sick-leave", "follow-up-b-no-improvement", "grade-iv-malignancy"])
def test_uuids_are_stable_per_hook_instance(engine, case_id):
    case = case_by_id(case_id)
    first = render_cards(apply_case(engine, case), engine, service_id=PROFILE_SERVICE, hook_instance="instance-1")
    again = render_cards(apply_case(engine, case), engine, service_id=PROFILE_SERVICE, hook_instance="instance-1")
    other = render_cards(apply_case(engine, case), engine, service_id=PROFILE_SERVICE, hook_instance="instance-2")
    assert first == again, "a retried call gives the same cards"
    assert uuids(first) == uuids(again)
    assert not set(uuids(first)) & set(uuids(other))
    assert len(set(uuids(first))) == len(uuids(first))


def test_card_records_hold_what_the_store_needs(engine):
    case = case_by_id("red-flag-unresolved")
    cards = render_cards(apply_case(engine, case), engine, service_id=PROFILE_SERVICE, hook_instance="h")
    records = card_records(cards)
    assert [r.uuid for r in records] == [c["uuid"] for c in cards]
    [record] = records
    assert isinstance(record, IssuedCardInfo)
    assert record.kind == "rec-assess-pattern"
    assert record.override_reasons == tuple(OVERRIDE_CODES)
    assert record.suggestion_uuids == (cards[0]["suggestions"][0]["uuid"],)
    assert record.summary == cards[0]["summary"]


# -- prune ------------------------------------------------------------------------------------


def test_prune_drops_nulls_and_empties_at_any_depth():
    document = {"a": None, "b": "", "c": [], "d": {}, "e": [None, "", {}, [], {"x": None}], "f": {"g": {"h": []}},
                "keep": [0, False, "x", {"y": 0}], "n": 0, "t": False}
    assert prune(document) == {"keep": [0, False, "x", {"y": 0}], "n": 0, "t": False}
    assert find_empties(prune(document)) == []
    assert find_empties({"a": [{"b": ""}]}) == ["$.a[0].b"]
    assert document["a"] is None, "prune copies, it does not change its input"


# -- English ------------------------------------------------------------------------------------


def test_english_cards(engine):
    case = case_by_id("b-abnormal-duration")
    cards = render_cards(apply_case(engine, case, "en"), engine, service_id=PROFILE_SERVICE,
                         hook_instance="h", lang="en")
    card = cards[0]
    assert_card_shape(card, "en")
    assert card["summary"] == "Treatment profile B: neck pain grade II with abnormal course"
    assert card["source"]["topic"]["display"] == "Treatment profile B"
    assert [r["display"] for r in card["overrideReasons"]][0] == "Already addressed"
    assert "**Evidence**" in card["detail"] and "**Discouraged therapy**" in card["detail"]
    assert "Onderbouwing" not in card["detail"] and "Afgeraden" not in card["detail"]
    assert card["suggestions"][0]["label"] == "Record the treatment plan"

    grade_iv = render_cards(apply_case(engine, case_by_id("grade-iv-malignancy"), "en"), engine,
                            service_id=PROFILE_SERVICE, hook_instance="h", lang="en")[0]
    assert grade_iv["summary"] == "Possible serious pathology (grade IV neck pain): refer to the GP"
    assert "**Red flags per pathology**" in grade_iv["detail"] and "Malignancy" in grade_iv["detail"]


def test_fhir_base_adds_links_to_the_knowledge(engine):
    case = case_by_id("grade-iv-malignancy")
    cards = render_cards(apply_case(engine, case), engine, service_id=PROFILE_SERVICE, hook_instance="h",
                         fhir_base="https://cds.example.org/fhir/")
    urls = [link["url"] for link in cards[0]["links"]]
    assert urls == [GUIDELINE_URL, "https://cds.example.org/fhir/ActivityDefinition/rec-refer-gp-serious-pathology"]


# -- nekpijn-orders ------------------------------------------------------------------------------


def draft(case_id: str, rid: str, system: str, code: str, *, category: str | None = None,
          resource_type: str = "ServiceRequest") -> dict:
    order = {"resourceType": resource_type, "id": rid, "status": "draft" if resource_type == "ServiceRequest"
             else "preparation", "code": {"coding": [{"system": system, "code": code}]},
             "subject": {"reference": f"Patient/{case_id}"}}
    if resource_type == "ServiceRequest":
        order["intent"] = "order"
    if category:
        order["category"] = [{"coding": [{"system": SNOMED, "code": category}]}]
    return order


def order_cards(engine, case_id: str, drafts: list[dict], lang: str = "nl", hook_instance: str = "orders-1"):
    case = case_by_id(case_id)
    result = engine.apply(ORDERS_SERVICE, resources(case) + drafts, f"Patient/{case_id}", now=NOW, lang=lang)
    return render_cards(result, engine, service_id=ORDERS_SERVICE, hook_instance=hook_instance, lang=lang)


def deletes(card: dict) -> list[str]:
    return [a["resourceId"] for s in card.get("suggestions", []) for a in s["actions"] if a["type"] == "delete"]


def order_of(card: dict) -> str:
    first_line = card["detail"].split("\n", 1)[0]
    assert first_line.startswith("**Order:**")
    return re.search(r"(ServiceRequest|Procedure)/[A-Za-z0-9\-.]+", first_line).group(0)


def test_order_cards_one_per_flagged_order(engine):
    c = "d-trauma"
    drafts = [draft(c, "dn", SNOMED, "231082000"),                              # dry needling
              draft(c, "tens", LOCAL_SYSTEM, "int-tens"),                        # electrotherapy (TENS)
              draft(c, "img", "http://loinc.org", "24627-2", category="363679005"),  # imaging by category
              draft(c, "collar", LOCAL_SYSTEM, "int-semi-rigid-collar"),          # collar, trauma-related
              draft(c, "hcm", LOCAL_SYSTEM, "int-high-cervical-manipulation"),
              draft(c, "massage", LOCAL_SYSTEM, "int-massage"),                   # nothing to say
              draft(c, "proc", SNOMED, "231082000", resource_type="Procedure")]  # a Procedure being prepared
    cards = order_cards(engine, c, drafts)
    for card in cards:
        assert_card_shape(card)
    by_order = {order_of(card): card for card in cards}
    assert len(by_order) == len(cards) == 6, "one card per flagged order, none for massage"
    expected = {
        "ServiceRequest/dn": ("warning", "dis-dry-needling", True),
        "ServiceRequest/tens": ("warning", "dis-electrotherapy", True),
        "ServiceRequest/img": ("warning", "dis-imaging", True),
        "ServiceRequest/collar": ("warning", "chk-collar-trauma", False),
        "ServiceRequest/hcm": ("info", "chk-high-cervical-manipulation", False),
        "Procedure/proc": ("warning", "dis-dry-needling", True),
    }
    for reference, (indicator, kind, delete) in expected.items():
        card = by_order[reference]
        assert (card["indicator"], topic(card)) == (indicator, kind), reference
        if delete:
            [suggestion] = card["suggestions"]
            assert suggestion["isRecommended"] is True
            assert deletes(card) == [reference]
        else:
            assert "suggestions" not in card
    assert "Dry needling wordt bij nekpijn afgeraden" in by_order["ServiceRequest/dn"]["detail"]
    assert "wees terughoudend" in by_order["ServiceRequest/hcm"]["detail"]
    assert [c["indicator"] for c in cards] == sorted((c["indicator"] for c in cards), key=["warning", "info"].index)
    # stable per hook instance
    assert uuids(cards) == uuids(order_cards(engine, c, drafts))
    assert not set(uuids(cards)) & set(uuids(order_cards(engine, c, drafts, hook_instance="orders-2")))
    assert all(r.kind.startswith(("dis-", "chk-")) for r in card_records(cards))


def test_collar_without_trauma_and_manipulation_are_info(engine):
    c = "b-abnormal-duration"
    cards = order_cards(engine, c, [draft(c, "collar", LOCAL_SYSTEM, "int-semi-rigid-collar"),
                                    draft(c, "manip", SNOMED, "118745001")])
    assert [(topic(x), x["indicator"], "suggestions" in x) for x in cards] == [
        ("chk-collar", "info", False), ("chk-manipulation", "info", False)]
    assert "twee weken" in cards[0]["detail"]


def test_no_card_when_nothing_is_flagged(engine):
    c = "b-abnormal-duration"
    assert order_cards(engine, c, [draft(c, "massage", LOCAL_SYSTEM, "int-massage")]) == []
    assert order_cards(engine, c, []) == []


def test_order_cards_in_english(engine):
    c = "a-normal-course"
    [card] = order_cards(engine, c, [draft(c, "laser", LOCAL_SYSTEM, "int-laser")], lang="en")
    assert_card_shape(card, "en")
    assert card["summary"] == "Discouraged therapy: Laser"
    assert "Laser therapy is discouraged for neck pain" in card["detail"]
    assert card["suggestions"][0]["label"] == "Remove the draft order"
    assert card["suggestions"][0]["actions"][0]["description"].startswith("Remove the draft order")


# -- discovery --------------------------------------------------------------------------------------

#: hooks library 1.0.1, "Prefetch Token: Yes" context fields per hook
PREFETCH_TOKENS = {
    "patient-view": {"userId", "patientId", "encounterId"},
    "encounter-start": {"userId", "patientId", "encounterId"},
    "order-select": {"userId", "patientId", "encounterId"},
    "order-sign": {"userId", "patientId", "encounterId"},
}
USER_TOKENS = {"userPractitionerId", "userPractitionerRoleId", "userPatientId", "userRelatedPersonId"}
ALLOWED_PARAMETERS = {"patient", "subject", "code", "questionnaire", "_count", "_sort", "date", "status"}


def tokens_from_hooks_library(hook: str) -> set[str]:
    text = (HOOKS_LIBRARY / f"{hook}.md").read_text(encoding="utf-8")
    context = text.split("#### Context", 1)[1]
    return {m.group(1) for m in re.finditer(r"^`(\w+)`\s*\|\s*\w+\s*\|\s*Yes\s*\|", context, re.M)}


@pytest.mark.skipif(not HOOKS_LIBRARY.is_dir(), reason="hooks library reference not available")
@pytest.mark.parametrize("hook", sorted(PREFETCH_TOKENS))
def test_prefetch_token_table_is_the_hooks_library(hook):
    assert tokens_from_hooks_library(hook) == PREFETCH_TOKENS[hook]


def test_discovery_lists_a_service_per_plan_and_hook(engine):
    document = discovery(engine)
    assert find_empties(document) == [] and prune(document) == document
    services = document["services"]
    assert {(s["id"], s["hook"]) for s in services} == {
        (PROFILE_SERVICE, "patient-view"), (PROFILE_SERVICE, "encounter-start"),
        (ORDERS_SERVICE, "order-select"), (ORDERS_SERVICE, "order-sign")}
    for service in services:
        plan = engine.knowledge.get("PlanDefinition", service["id"])
        assert service["title"] == plan["title"] and service["description"] == plan["description"]
        assert "Vereist" in service["usageRequirements"] or "Controleert" in service["usageRequirements"]
        assert "nekpijn-intake" in service["usageRequirements"]
        assert service["prefetch"] == PREFETCH_KEYS[service["hook"]]


@pytest.mark.parametrize("hook", sorted(PREFETCH_TOKENS))
def test_prefetch_templates_use_allowed_tokens_and_the_query_subset(hook):
    templates = PREFETCH_KEYS[hook]
    assert {"patient", "intake", "conditions"} <= set(templates)
    assert templates["patient"] == "Patient/{{context.patientId}}"
    for key, template in templates.items():
        for token in re.findall(r"\{\{([^}]*)\}\}", template):
            if token.startswith("context."):
                assert token.split(".", 1)[1] in PREFETCH_TOKENS[hook], (key, token)
            else:
                assert token in USER_TOKENS, (key, token)
        assert len(template) < 2000, key
        if "?" not in template:
            assert re.fullmatch(r"[A-Z][A-Za-z]+/\{\{context\.\w+\}\}", template)
            continue
        resource_type, query = template.split("?", 1)
        assert re.fullmatch(r"[A-Z][A-Za-z]+", resource_type)
        for parameter in query.split("&"):
            name, value = parameter.split("=", 1)
            assert name in ALLOWED_PARAMETERS, f"{key}: {name} (no modifiers, chains or includes)"
            if name == "code":  # token equality, system|code, OR-ed
                for token in value.split(","):
                    assert re.fullmatch(r"https?://[^|,]+\|[^|,]+", token), token


def codes_of(template: str) -> set[tuple[str, str]]:
    query = dict(p.split("=", 1) for p in template.split("?", 1)[1].split("&"))
    return {tuple(t.split("|", 1)) for t in query["code"].split(",")}


def test_observation_prefetch_covers_every_element_coding(engine):
    templates = PREFETCH_KEYS["patient-view"]
    observation_codes = set().union(*(codes_of(t) for t in templates.values() if t.startswith("Observation?")))
    assert set(engine.element_codes.codings) <= observation_codes
    assert (SNOMED, "225908003") in observation_codes  # Nictiz zib PainScore
    assert ("http://loinc.org", "72514-3") in observation_codes
    for local in ("psk", "cervical-rotation", "test-spurling", "test-traction-distraction", "test-ultt"):
        assert (LOCAL_SYSTEM, local) in observation_codes
    keys = [k for k, t in templates.items() if t.startswith("Observation?")]
    assert len(keys) <= 6, "grouped into a few keys"
    all_codes = [c for k in keys for c in codes_of(templates[k])]
    assert len(all_codes) == len(set(all_codes)), "every code in one key only (no overlapping results)"


@pytest.mark.parametrize("case", cases(), ids=lambda c: c["id"])
def test_prefetch_queries_find_the_resources_of_every_case(case):
    """What the queries ask for is what the case's bundle holds (nothing the service reads is missed)."""
    templates = PREFETCH_KEYS["patient-view"]
    observation_codes = set().union(*(codes_of(t) for t in templates.values() if t.startswith("Observation?")))
    condition_codes = codes_of(templates["conditions"])
    questionnaire = dict(p.split("=", 1) for p in templates["intake"].split("?", 1)[1].split("&"))["questionnaire"]
    for resource in resources(case):
        if resource["resourceType"] == "Observation":
            codings = {(c["system"], c["code"]) for c in resource["code"]["coding"]}
            assert codings & observation_codes, resource["id"]
        elif resource["resourceType"] == "Condition":
            assert {(c["system"], c["code"]) for c in resource["code"]["coding"]} & condition_codes
        elif resource["resourceType"] == "QuestionnaireResponse":
            assert resource["questionnaire"].split("|")[0] == questionnaire


def test_language_tags_are_reduced_to_their_language(engine):
    case = case_by_id("a-normal-course")
    cards = render_cards(apply_case(engine, case, "en"), engine, service_id=PROFILE_SERVICE, hook_instance="h",
                         lang="en-GB")
    assert cards[0]["summary"].startswith("Treatment profile A")
    dutch = render_cards(apply_case(engine, case), engine, service_id=PROFILE_SERVICE, hook_instance="h", lang="fr")
    assert dutch[0]["summary"].startswith("Behandelprofiel A")
