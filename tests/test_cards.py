"""CDS Hooks cards (dak/outputs.md "CDS Hooks cards", v2; CDS Hooks 2.0.1) and discovery.

Every reference case of tests/cases/cases.yaml through Engine.apply and render_cards (no
HTTP; "today" fixed: apply_support.TODAY, 12:00 Amsterdam), measured against the v2 card
rules: detail ≤ 700 (profile, red-flag cards) / ≤ 400 (others), each prompt, referral and
consult on exactly one card and every referral / consult with its suggestion, Dutch short
dates, no static lists. Then one test per card kind (grade IV, unresolved, not assessed,
flags judged recognisable, profile with baseline and due date, prompts, follow-up,
referrals, orders) and discovery with its prefetch templates.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from fhir.resources.R4B.communicationrequest import CommunicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest

from apply_support import NOW, TODAY, action_codes, case_bundle, cases
from service.apply.engine import Engine
from service.apply.terminology import LOCAL_SYSTEM
from service.cds_hooks.cards import (
    GUIDELINE_LABEL,
    IssuedCardInfo,
    card_records,
    detail_limit,
    find_empties,
    prune,
    render_cards,
)
from service.cds_hooks.cards.hygiene import prune_card
from service.cds_hooks.cards.wording import short_date, short_label
from service.cds_hooks.discovery import PREFETCH_KEYS, discovery
from service.cds_hooks.draft_orders import judged_orders
from service.cds_hooks.services import plan_of, service_id
from service.knowledge import KnowledgeBase

PROFILE_SERVICE = "nekpijn-behandelprofiel"
PROFILE_PLAN = "nekpijn-behandelprofiel"
ORDERS_SERVICE = "nekpijn-orders-sign"
ORDERS_PLAN = "nekpijn-orders"
SNOMED = "http://snomed.info/sct"
GUIDELINE_URL = "https://www.kngf.nl/kennisplatform/richtlijnen/nekpijn"
REFERRAL = {"system": SNOMED, "code": "3457005", "display": "Patient referral"}
PROFILES = ("profile-a", "profile-b", "profile-c", "profile-d")
OVERRIDE_CODES = ["override-already-addressed", "override-patient-preference", "override-clinical-judgement",
                  "override-data-incomplete", "override-treated-elsewhere"]
HOOKS_LIBRARY = Path("/work/shared/reference/cds-hooks/hooks-library-1.0.1")
NUMERIC_DATE = re.compile(r"\b\d{2}-\d{2}-\d{4}\b|\b\d{4}-\d{2}-\d{2}\b")


@pytest.fixture(scope="module")
def engine():
    return Engine(KnowledgeBase.load())


def resources(case: dict) -> list[dict]:
    return [e["resource"] for e in case_bundle(case)["entry"]]


def apply_case(engine, case: dict, lang: str = "nl", now=NOW):
    return engine.apply(PROFILE_PLAN, resources(case), f"Patient/{case['id']}", now=now, lang=lang)


def cards_of(engine, case_id: str, lang: str = "nl", now=NOW, hook_instance: str = "h") -> list[dict]:
    case = case_by_id(case_id)
    return render_cards(apply_case(engine, case, lang, now), engine, service_id=PROFILE_SERVICE,
                        hook_instance=hook_instance, lang=lang)


def case_by_id(case_id: str) -> dict:
    return next(c for c in cases() if c["id"] == case_id)


def suggestion_resources(card: dict) -> list[dict]:
    return [a["resource"] for s in card.get("suggestions", []) for a in s["actions"] if "resource" in a]


def careplan_of(cards: list[dict]) -> dict | None:
    return next((r for c in cards for r in suggestion_resources(c) if r["resourceType"] == "CarePlan"), None)


def topic(card: dict) -> str:
    return card["source"]["topic"]["code"]


def card_of(cards: list[dict], kind: str) -> dict:
    [card] = [c for c in cards if topic(c) == kind]
    return card


def text_of(card: dict) -> str:
    return card["summary"] + "\n" + card["detail"]


def is_referral(resource: dict) -> bool:
    return resource["resourceType"] == "ServiceRequest" and REFERRAL in resource["code"]["coding"]


def group_actions(careplan: dict) -> list[dict]:
    """Every leaf action of the RequestGroup with its contained request."""
    contained = {r.get("id"): r for r in careplan["contained"]}
    group = careplan["contained"][0]
    out = []
    for section in group.get("action", []):
        for child in section.get("action", []):
            reference = child.get("resource", {}).get("reference", "#")[1:]
            out.append((section["code"][0]["coding"][0]["code"], child, contained.get(reference)))
    return out


def code_of(action: dict) -> str:
    return action["code"][0]["coding"][0]["code"]


# -- the shape every card must have ------------------------------------------------------


def assert_card_shape(card: dict) -> None:
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


def assert_card_rules(card: dict) -> None:
    """outputs.md v2: the detail limit (Python len of the Markdown), short dates, no static lists."""
    limit = 700 if topic(card) in PROFILES or card["indicator"] == "critical" or topic(card) in (
        "rec-assess-pattern", "rec-screen-red-flags", "serious-pathology") else 400
    assert detail_limit(card) == limit
    assert len(card["detail"]) <= limit, f"{topic(card)}: {len(card['detail'])} > {limit}\n{card['detail']}"
    assert not NUMERIC_DATE.search(text_of(card)), "dates on cards are short dates (14 jan 2027)"
    if topic(card) in PROFILES:
        for static in ("Afgeraden", "Dry needling", "Laser", "Beëindiging bespreken", "Advies bij afronding",
                       "Onderbouwing"):
            assert static not in card["detail"], f"no static list on the profile card: {static}"


def appears(card: dict, action: dict, resource: dict | None) -> bool:
    """dak/README.md interpretations: topic = the code, a suggestion creates the request, or the
    title / the first sentence of the description stands in the summary or detail."""
    if topic(card) == code_of(action):
        return True
    if resource is not None and any(r.get("instantiatesCanonical") == resource.get("instantiatesCanonical")
                                    and r.get("code") == resource.get("code") and r["resourceType"] != "CarePlan"
                                    for r in suggestion_resources(card)):
        return True
    text = text_of(card).replace("\\", "")
    first_sentence = action.get("description", "").split(". ")[0]
    return action["title"] in text or (len(first_sentence) > 20 and first_sentence in text)


def creates(card: dict, resource: dict) -> dict | None:
    """The suggestion of a card whose resource is a copy of `resource` (the request of the plan)."""
    for s in card.get("suggestions", []):
        for a in s["actions"]:
            r = a.get("resource")
            if r and r["resourceType"] == resource["resourceType"] and r.get("code") == resource.get("code") \
                    and r.get("instantiatesCanonical") == resource.get("instantiatesCanonical"):
                return {"suggestion": s, "resource": r}
    return None


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


# -- every reference case: the v2 card rules -----------------------------------------------


ONE_CARD_KINDS = ("prompt", "referral", "consult")


@pytest.mark.parametrize("case", cases(), ids=lambda c: c["id"])
def test_every_card_of_every_case_keeps_the_v2_card_rules(engine, case):
    lang = case.get("language", "nl")
    result = apply_case(engine, case, lang)
    cards = render_cards(result, engine, service_id=PROFILE_SERVICE, hook_instance="hook-1", lang=lang)
    patient = f"Patient/{case['id']}"
    assert cards, "every case gets at least one card"
    for card in cards:
        assert_card_shape(card)
        assert_card_rules(card)
    ranks = [("critical", "warning", "info").index(c["indicator"]) for c in cards]
    assert ranks == sorted(ranks), "critical first, then warning, then info"
    assert len({c["uuid"] for c in cards}) == len(cards)

    # each prompt, referral and consult on exactly one card; referrals / consults with their suggestion
    for section, action, resource in group_actions(result.careplan):
        kind = engine.terminology.properties.get(code_of(action), {}).get("recommendation-kind", [None])[0]
        if kind not in ONE_CARD_KINDS:
            continue
        holders = [c for c in cards if appears(c, action, resource)]
        assert len(holders) == 1, f"{code_of(action)} on {len(holders)} cards"
        if kind in ("referral", "consult"):
            made = creates(holders[0], resource)
            assert made, f"{code_of(action)}: its card has a suggestion that creates it"
            assert made["resource"].get("priority") == resource.get("priority"), "the priority the plan made"
            assert_standalone(made["resource"], patient)

    serious = result.case.feature("serious-pathology").value
    profile = result.case.feature("treatment-profile")
    if serious == "suspected":
        [card] = cards
        assert card["indicator"] == "critical" and topic(card) == "grade-iv"
        for pathology, flags in result.case.feature("serious-pathology").components:
            assert short_label(engine.terminology.text(pathology, lang)) in card["detail"]
            for flag in flags:
                assert short_label(engine.element_codes.label(flag, lang)).lower() in card["detail"].lower()
        return
    assert all(c["indicator"] != "critical" for c in cards)
    if serious in ("unresolved", "not-assessed"):
        assert careplan_of(cards) is None, "no treatment card until grade IV is excluded"
        assert not {topic(c) for c in cards} & set(PROFILES)
    elif profile is not None and profile.value in PROFILES:
        card = card_of(cards, profile.value)
        assert card["indicator"] == "info"
        assert card["summary"].startswith(engine.terminology.text(profile.value, lang) + ":")
        [suggestion] = card["suggestions"]
        assert suggestion["isRecommended"] is True
        assert suggestion["actions"][0]["resource"] == result.careplan, "the CarePlan $apply returns"
        baseline = "Nulmeting:" if lang == "nl" else "Baseline:"
        assert baseline in card["detail"]
        assert card["detail"].count("\n- ") <= 5, "at most five plan items"
    else:
        assert card_of(cards, "section-assessment")["indicator"] == "warning", "the prompts block the profile"


# -- dates and wording ------------------------------------------------------------------------


def test_short_dates_in_dutch_and_english():
    from datetime import date
    assert short_date(date(2027, 1, 14), "nl") == "14 jan 2027"
    assert short_date(date(2026, 12, 3), "nl") == "3 dec 2026"
    assert short_date(date(2027, 1, 14), "en") == "14 Jan 2027"
    assert short_date("2026-03-05T10:00:00+01:00", "nl") == "5 mrt 2026"
    assert short_label("Systemische ziekte (herpes zoster, spondylitis)") == "Systemische ziekte"


def test_english_cards_say_table_not_tabel(engine):
    cards = cards_of(engine, "b-abnormal-duration", "en")
    card = card_of(cards, "profile-b")
    assert card["summary"] == "Treatment profile B: neck pain grade II with abnormal course"
    assert "(B.5, table 4)" in card["detail"] and "tabel" not in card["detail"]
    assert "Baseline: NPRS 6 (2 Nov 2026), PSK 5.0." in card["detail"]
    assert card["suggestions"][0]["label"] == "Record the treatment plan"
    for c in cards:
        assert "tabel" not in text_of(c) and "Nulmeting" not in text_of(c)


# -- grade IV ---------------------------------------------------------------------------------


def test_grade_iv_urgent_referral_card(engine):
    [card] = cards_of(engine, "grade-iv-malignancy")
    assert card["summary"] == "Mogelijke ernstige pathologie: verwijs naar de huisarts"
    assert "**Maligne tumor:** kanker in de voorgeschiedenis, onverklaarbaar gewichtsverlies" in card["detail"]
    [suggestion] = card["suggestions"]
    [referral] = suggestion_resources(card)
    assert suggestion["isRecommended"] is True and is_referral(referral)
    assert referral["intent"] == "proposal" and referral["priority"] == "urgent"
    assert "vandaag" not in text_of(card)


def test_grade_iv_with_a_cad_flag_is_referred_the_same_day(engine):
    [card] = cards_of(engine, "v2-cad-stat")
    assert card["summary"] == "Mogelijke ernstige pathologie: verwijs vandaag nog naar de huisarts"
    assert "vandaag nog contact op met de huisarts" in card["detail"] and "112" in card["detail"]
    [referral] = suggestion_resources(card)
    assert referral["priority"] == "stat", "the suggestion carries the priority the plan made (§1 v2)"


# -- serious pathology not excluded ---------------------------------------------------------


def test_unresolved_card_holds_the_prompt_the_flags_and_the_gp_option(engine):
    [card] = cards_of(engine, "red-flag-unresolved")
    assert (topic(card), card["indicator"]) == ("rec-assess-pattern", "warning")
    assert "**Infectie:** koorts" in card["detail"] and "**Systemische ziekte:** koorts" in card["detail"]
    assert "herpes zoster" not in card["detail"], "labels up to their first parenthesis"
    assert "Klachtenpatroon beoordelen" in card["detail"]
    assert "Voorlopig behandelprofiel A" in card["detail"]
    [suggestion] = card["suggestions"]
    assert suggestion["isRecommended"] is False, "no weighty flag: offered, not recommended"
    [referral] = suggestion_resources(card)
    assert is_referral(referral) and referral["intent"] == "option"


def test_unresolved_gp_option_is_recommended_with_a_weighty_flag(engine):
    result = apply_case(engine, case_by_id("v2-fever-night-sweats"))
    assert result.case.derived["gp-referral-recommended"] is True
    card = card_of(render_cards(result, engine, service_id=PROFILE_SERVICE, hook_instance="h"),
                   "rec-assess-pattern")
    assert card["suggestions"][0]["isRecommended"] is True
    assert "aanbevolen" in card["detail"]


def test_a_red_flag_card_never_drops_a_flag(engine):
    """All 21 screening flags present and no pattern conclusion: every flag is named within 700 characters."""
    case = copy.deepcopy(case_by_id("red-flag-unresolved"))
    flags = [f for f in engine.element_codes.red_flags if f != "rf-no-improvement-4w"]
    case["answers"].update({f: True for f in flags})
    cards = render_cards(apply_case(engine, case), engine, service_id=PROFILE_SERVICE, hook_instance="h")
    card = card_of(cards, "rec-assess-pattern")
    assert len(card["detail"]) <= 700
    for flag in flags:
        assert short_label(engine.element_codes.label(flag)).lower() in card["detail"].lower(), flag


def test_not_assessed_card_counts_the_screening_and_names_what_is_missing(engine):
    [card] = cards_of(engine, "red-flags-not-assessed")
    assert (topic(card), card["indicator"]) == ("rec-screen-red-flags", "warning")
    assert "0 van de 21 rode vlaggen nagevraagd" in card["detail"], "without rf-no-improvement-4w (§1 v2)"
    named = card["detail"].split("nog niet: ", 1)[1].split(".\n", 1)[0]
    assert named.endswith("en 13 andere"), "eight named, then the count of the rest"
    assert named.count(",") == 7
    assert "suggestions" not in card


def test_partly_screened_count(engine):
    case = copy.deepcopy(case_by_id("red-flags-not-assessed"))
    case["answers"].update({"rf-fever": False, "rf-dizziness": False, "rf-weight-loss": False})
    card = render_cards(apply_case(engine, case), engine, service_id=PROFILE_SERVICE, hook_instance="h")[0]
    assert "3 van de 21 rode vlaggen nagevraagd" in card["detail"]
    assert "duizeligheid" not in card["detail"] and "koorts" not in card["detail"]


# -- flags judged recognisable (v2) ------------------------------------------------------------


def test_flags_judged_recognisable_stay_in_view(engine):
    cards = cards_of(engine, "v2-flags-judged-recognisable")
    card = cards[0]
    assert card["indicator"] == "warning", "the day of the pattern conclusion"
    assert card["summary"] == "Rode vlaggen aanwezig; klachtenpatroon als herkenbaar beoordeeld op 2 nov 2026"
    assert "**Cervicale arteriële disfunctie:** duizeligheid" in card["detail"]
    [suggestion] = card["suggestions"]
    [referral] = suggestion_resources(card)
    assert suggestion["isRecommended"] is False and is_referral(referral)
    assert "rec-refer-gp-serious-pathology" not in action_codes(
        apply_case(engine, case_by_id("v2-flags-judged-recognisable")).careplan), "a card suggestion only"
    assert topic(cards[1]) == "profile-a", "the treatment card follows it"
    later = cards_of(engine, "v2-flags-judged-recognisable", now=NOW + timedelta(days=3))
    assert later[0]["summary"].endswith("2 nov 2026")
    assert later[0]["indicator"] == "info", "afterwards: info"


# -- the profile card ---------------------------------------------------------------------------


def test_profile_card_reads_in_ten_seconds(engine):
    card = card_of(cards_of(engine, "b-abnormal-duration"), "profile-b")
    detail = card["detail"]
    assert card["summary"] == "Behandelprofiel B: nekpijn graad II met afwijkend beloop"
    why, baseline = detail.split("\n\n")[:2]
    assert why.startswith("Waarom: nekpijn graad II") and why.endswith("(B.5, tabel 4).")
    assert why.count(".") == 2, "one sentence (B.5 is the only other full stop)"
    for word in ("graad II", "afwijkend beloop", "niet dominant"):
        assert detail.count(word) == 1, f"each classification once: {word}"
    assert baseline == "Nulmeting: NPRS 6 (2 nov 2026), PSK 5,0."
    assert detail.index("Oefentherapie") < detail.index("Geruststellen"), "therapy first"
    assert detail.endswith("Meting NPRS en PSK: 30 nov 2026 (week 4).")


def test_profile_d_lists_avoid_provoking_and_the_timeline_first(engine):
    detail = card_of(cards_of(engine, "d-radicular-confirmed"), "profile-d")["detail"]
    items = [line[2:] for line in detail.split("\n") if line.startswith("- ")]
    assert items[:2] == ["Provocerende bewegingen vermijden (C.4)", "Tijdspad afspreken (C.4)"]
    assert len(items) == 5


def test_latest_measurement_with_its_change(engine):
    detail = card_of(cards_of(engine, "follow-up-d-improved"), "profile-d")["detail"]
    [latest] = [line for line in detail.split("\n") if line.startswith("Laatste meting")]
    assert re.fullmatch(r"Laatste meting \(\d+ \w{3} \d{4}\): NPRS \d+ \(−\d,\d\), PSK \d,\d \(.\d,\d\), verbeterd\.",
                        latest), latest


def test_due_line_comes_from_the_request_group_timing(engine):
    """The next due moment is read from RequestGroup.action.timingDateTime (not recomputed)."""
    result = apply_case(engine, case_by_id("b-abnormal-duration"))
    for section in result.careplan["contained"][0]["action"]:
        for child in section.get("action", []):
            if code_of(child) == "rec-measure-week-4":
                child["timingDateTime"] = "2026-11-01"  # in the past: not the next one
            if code_of(child) == "rec-evaluate-end":
                child["timingDateTime"] = "2027-01-14"
    for resource in result.careplan["contained"]:
        resource.pop("restriction", None)
        resource.pop("occurrenceDateTime", None)
    card = card_of(render_cards(result, engine, service_id=PROFILE_SERVICE, hook_instance="h"), "profile-b")
    assert card["detail"].endswith("Evaluatie met NPRS en PSK: 14 jan 2027 (week 10).")


def test_no_due_line_when_every_due_moment_lies_in_the_past(engine):
    result = apply_case(engine, case_by_id("b-abnormal-duration"))
    for section in result.careplan["contained"][0]["action"]:
        for child in section.get("action", []):
            child.pop("timingDateTime", None)
    for resource in result.careplan["contained"]:
        resource.pop("restriction", None)
        resource.pop("occurrenceDateTime", None)
    card = card_of(render_cards(result, engine, service_id=PROFILE_SERVICE, hook_instance="h"), "profile-b")
    assert "Meting NPRS" not in card["detail"] and "Evaluatie" not in card["detail"]


# -- prompts, follow-up, other referrals --------------------------------------------------------


def test_prompt_card_with_the_week_4_due_date(engine):
    cards = cards_of(engine, "b-abnormal-duration")
    prompts = card_of(cards, "section-assessment")
    assert prompts["indicator"] == "info"
    assert "**NPRS en PSK meten in week 4** (uiterlijk 30 nov 2026)" in prompts["detail"]
    assert "NPRS en PSK meten in week 4" not in card_of(cards, "profile-b")["detail"], "the prompt on one card"


def test_undetermined_profile_prompts_are_a_warning(engine):
    [card] = cards_of(engine, "v2-spurling-without-symptoms")
    assert (topic(card), card["indicator"]) == ("section-assessment", "warning")
    assert card["summary"] == "Behandelprofiel nog niet te bepalen: vul eerst de beoordeling aan"
    assert "Radiculair syndroom (graad III) beoordelen" in card["detail"]


def test_follow_up_gp_referral_in_place_of_the_consult(engine):
    cards = cards_of(engine, "follow-up-b-no-improvement")
    [card] = [c for c in cards if c.get("suggestions")]
    assert card["indicator"] == "warning"
    assert card["detail"].startswith("Beëindig de behandeling: zes weken behandeld zonder voldoende effect")
    assert "na akkoord van de patiënt" in card["detail"]
    assert "Geen verbetering na vier weken is een rode vlag" in card["detail"], "names the red flag"
    [suggestion] = card["suggestions"]
    [referral] = suggestion_resources(card)
    assert suggestion["isRecommended"] is True and is_referral(referral) and referral["intent"] == "proposal"
    assert len(cards) == 1, "one GP card, not two competing ones (§9 v2)"


def test_work_referral_and_consult_each_on_a_card_with_its_suggestion(engine):
    cards = cards_of(engine, "b-work-sick-leave")
    physio = card_of(cards, "rec-consider-occupational-physio")
    consult = card_of(cards, "rec-absence-over-4-weeks")
    assert physio["indicator"] == consult["indicator"] == "info"
    assert physio["suggestions"][0]["isRecommended"] is False, "an option is offered, not recommended"
    [resource] = suggestion_resources(consult)
    assert resource["resourceType"] == "CommunicationRequest"
    assert [r["id"] for r in resource["contained"]] == [resource["recipient"][0]["reference"][1:]]


def test_psychosocial_referral_has_a_card_also_while_restricted(engine):
    """outputs.md v2: rec-psychosocial-refer on a card with its suggestion, whatever else the plan holds."""
    case = copy.deepcopy(case_by_id("c-psychosocial-kinesiophobia"))  # profile C, no effect at week 6
    case["intake_days"] = case["onset_days"] = 45
    case["obs"] = [{"code": "nprs", "value": 7, "days": 45}, {"code": "psk", "value": 7.0, "days": 45},
                   {"code": "nprs", "value": 7, "days": 5}, {"code": "psk", "value": 7.0, "days": 5}]
    result = apply_case(engine, case)
    assert "rec-psychosocial-refer" in action_codes(result.careplan)
    cards = render_cards(result, engine, service_id=PROFILE_SERVICE, hook_instance="h")
    card = card_of(cards, "rec-psychosocial-refer")
    assert card["suggestions"] and is_referral(suggestion_resources(card)[0])


# -- uuids and store records ----------------------------------------------------------------


def uuids(cards: list[dict]) -> list[str]:
    return [c["uuid"] for c in cards] + [s["uuid"] for c in cards for s in c.get("suggestions", [])]


@pytest.mark.parametrize("case_id", ["b-work-sick-leave", "follow-up-b-no-improvement", "grade-iv-malignancy"])
def test_uuids_are_stable_per_hook_instance(engine, case_id):
    first = cards_of(engine, case_id, hook_instance="instance-1")
    again = cards_of(engine, case_id, hook_instance="instance-1")
    other = cards_of(engine, case_id, hook_instance="instance-2")
    assert first == again, "a retried call gives the same cards"
    assert not set(uuids(first)) & set(uuids(other))
    assert len(set(uuids(first))) == len(uuids(first))


def test_card_records_hold_what_the_store_needs(engine):
    cards = cards_of(engine, "red-flag-unresolved")
    [record] = card_records(cards)
    assert isinstance(record, IssuedCardInfo)
    assert record.uuid == cards[0]["uuid"] and record.kind == "rec-assess-pattern"
    assert record.override_reasons == tuple(OVERRIDE_CODES)
    assert record.suggestion_uuids == (cards[0]["suggestions"][0]["uuid"],)
    assert record.summary == cards[0]["summary"]


def test_prune_drops_nulls_and_empties_at_any_depth():
    document = {"a": None, "b": "", "c": [], "d": {}, "e": [None, "", {}, [], {"x": None}], "f": {"g": {"h": []}},
                "keep": [0, False, "x", {"y": 0}], "n": 0, "t": False}
    assert prune(document) == {"keep": [0, False, "x", {"y": 0}], "n": 0, "t": False}
    assert find_empties(prune(document)) == []
    assert find_empties({"a": [{"b": ""}]}) == ["$.a[0].b"]
    assert document["a"] is None, "prune copies, it does not change its input"


@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("case", cases(), ids=lambda c: c["id"])
def test_the_careplan_is_built_without_empties(engine, case, lang):
    """The profile card offers the CarePlan of $apply as it is, not a pruned copy
    (hygiene.prune_card): that is safe because no reference case's CarePlan — the case plan
    and the order plan, with the case's draft orders — holds a null or an empty element."""
    for plan in (PROFILE_PLAN, ORDERS_PLAN):
        orders = [draft(case, spec) for spec in case.get("orders", [])] if plan == ORDERS_PLAN else None
        result = engine.apply(plan, resources(case), f"Patient/{case['id']}", now=NOW, lang=lang, orders=orders)
        assert find_empties(result.careplan) == []


def test_prune_card_prunes_all_but_the_resources_its_suggestions_create():
    resource = {"resourceType": "CarePlan", "note": []}  # (a CarePlan never holds an empty: see above)
    card = {"uuid": "u", "summary": "s", "detail": "", "links": [], "source": {"label": "l", "url": None},
            "suggestions": [{"uuid": "v", "label": "", "actions": [{"type": "create", "description": "",
                                                                     "resource": resource}, {}]}, {}]}
    pruned = prune_card(card)
    assert pruned == {"uuid": "u", "summary": "s", "source": {"label": "l"},
                      "suggestions": [{"uuid": "v", "actions": [{"type": "create", "resource": resource}]}]}
    assert pruned["suggestions"][0]["actions"][0]["resource"] is resource, "offered as it is, not copied"
    without = copy.deepcopy(card)
    without["suggestions"][0]["actions"][0]["resource"] = {"resourceType": "CarePlan"}
    assert prune_card(without) == prune(without)


def test_empty_dynamic_values_and_texts_are_left_out():
    """What the input or a FHIRPath result makes empty is not written (no empty element in the CarePlan)."""
    from service.apply.careplan import present
    from service.apply.instantiate import Context, instantiate

    assert present({"a": "", "b": None, "c": [], "d": {"e": ""}, "f": "x", "g": {"h": "", "i": 1}}) == \
        {"f": "x", "g": {"i": 1}}
    ctx = Context(subject="Patient/p", lang="nl", group_id="requestgroup", authored="2026-11-02T12:00:00+01:00")
    for kind in ("ServiceRequest", "CommunicationRequest", "Task"):
        ad = {"resourceType": "ActivityDefinition", "url": "https://x.org/ad", "kind": kind,
              "code": {"coding": [{"system": "https://x.org", "code": "c"}]},
              "relatedArtifact": [{"type": "depends-on", "resource": "https://x.org/StructureDefinition/o"}]}
        request = instantiate(ad, "r", ctx, {}, {}, None, {})
        assert find_empties(request) == [], kind


def test_fhir_base_adds_links_to_the_knowledge(engine):
    case = case_by_id("grade-iv-malignancy")
    cards = render_cards(apply_case(engine, case), engine, service_id=PROFILE_SERVICE, hook_instance="h",
                         fhir_base="https://cds.example.org/fhir/")
    urls = [link["url"] for link in cards[0]["links"]]
    assert urls[-1] == "https://cds.example.org/fhir/ActivityDefinition/rec-refer-gp-serious-pathology"


# -- nekpijn-orders (decision-logic §11) ------------------------------------------------------


def draft(case: dict, spec: dict) -> dict:
    """A draft order of the case file's `orders` list (its header documents the keys)."""
    rtype = spec.get("type", "ServiceRequest")
    order = {"resourceType": rtype, "id": spec["id"], "status": "draft" if rtype == "ServiceRequest" else "preparation",
             "subject": {"reference": "Patient/someone-else" if spec.get("subject") == "other" else f"Patient/{case['id']}"}}
    if rtype == "ServiceRequest":
        order["intent"] = "order"
    codings = []
    if "code" in spec:
        codings.append({"system": LOCAL_SYSTEM, "code": spec["code"]})
    if "snomed" in spec:
        codings.append({"system": SNOMED, "code": spec["snomed"]})
    if "coding" in spec:
        codings.append(spec["coding"])
    code = ({"coding": codings} if codings else {}) | ({"text": spec["text"]} if "text" in spec else {})
    if code:
        order["code"] = code
    if spec.get("category") == "imaging":
        order["category"] = [{"coding": [{"system": SNOMED, "code": "363679005"}]}]
    return order


def order_cards(engine, case: dict, drafts: list[dict], lang: str = "nl", hook_instance: str = "orders-1"):
    patient = f"Patient/{case['id']}"
    result = engine.apply(ORDERS_PLAN, resources(case) + drafts, patient, now=NOW, lang=lang,
                          orders=judged_orders(drafts, patient))
    return render_cards(result, engine, service_id=ORDERS_SERVICE, hook_instance=hook_instance, lang=lang)


def order_of(card: dict) -> str:
    first_line = card["detail"].split("\n", 1)[0]
    assert first_line.startswith("**Order:**")
    return re.search(r"(ServiceRequest|Procedure)/[A-Za-z0-9\-.]+", first_line).group(0).split("/")[1]


def deletes(card: dict) -> list[str]:
    return [a["resourceId"] for s in card.get("suggestions", []) for a in s["actions"] if a["type"] == "delete"]


ORDER_CASES = [c for c in cases() if c.get("orders")]


@pytest.mark.parametrize("case", ORDER_CASES, ids=lambda c: c["id"])
def test_order_cards_of_every_order_case(engine, case):
    drafts = [draft(case, spec) for spec in case["orders"]]
    cards = order_cards(engine, case, drafts)
    by_order = {}
    for card in cards:
        assert_card_shape(card)
        assert_card_rules(card)
        assert order_of(card) not in by_order, "one card per flagged draft order"
        by_order[order_of(card)] = card
    for order_id, expected in case["expect_orders"].items():
        card = by_order.get(order_id)
        if expected["indicator"] == "none":
            assert card is None, order_id
            continue
        assert card is not None and card["indicator"] == expected["indicator"], order_id
        text = text_of(card).lower().replace("\\", "")
        for mention in expected.get("mentions", []):
            options = mention if isinstance(mention, list) else [mention]
            assert any(o.lower() in text for o in options), (order_id, mention)
        for absent in expected.get("not_mentions", []):
            assert absent.lower() not in text, (order_id, absent)
        if "delete_suggestion" in expected:
            assert bool(deletes(card)) == expected["delete_suggestion"], order_id
            if deletes(card):
                assert set(deletes(card)) == {f"ServiceRequest/{order_id}"}
        referrals = [(s, r) for s in card.get("suggestions", []) for a in s["actions"]
                     if (r := a.get("resource")) and is_referral(r)]
        if "gp_referral_suggestion" in expected:
            assert bool(referrals) == expected["gp_referral_suggestion"], order_id
        if referrals and "recommended" in expected:
            assert referrals[0][0]["isRecommended"] is expected["recommended"]
            assert referrals[0][1]["priority"] in ("urgent", "stat")


def test_order_cards_one_per_flagged_order_and_stable(engine):
    case = case_by_id("d-trauma")
    specs = [{"id": "dn", "snomed": "231082000"}, {"id": "tens", "code": "int-tens"},
             {"id": "img", "coding": {"system": "http://loinc.org", "code": "24627-2"}, "category": "imaging"},
             {"id": "collar", "code": "int-semi-rigid-collar"}, {"id": "hcm", "code": "int-high-cervical-manipulation"},
             {"id": "massage", "code": "int-massage"}, {"id": "proc", "snomed": "231082000", "type": "Procedure"}]
    drafts = [draft(case, s) for s in specs]
    cards = order_cards(engine, case, drafts)
    by_order = {order_of(c): c for c in cards}
    assert set(by_order) == {"dn", "tens", "img", "collar", "hcm", "proc"}, "none for massage"
    assert {k: (c["indicator"], topic(c)) for k, c in by_order.items()} == {
        "dn": ("warning", "dis-dry-needling"), "tens": ("warning", "dis-electrotherapy"),
        "img": ("warning", "dis-imaging"), "collar": ("warning", "chk-collar-trauma"),
        "hcm": ("info", "chk-high-cervical-manipulation"), "proc": ("warning", "dis-dry-needling")}
    assert deletes(by_order["proc"]) == ["Procedure/proc"]
    assert "suggestions" not in by_order["collar"] and "suggestions" not in by_order["hcm"]
    assert "terughoudend" in by_order["hcm"]["detail"]
    assert uuids(cards) == uuids(order_cards(engine, case, drafts))
    assert not set(uuids(cards)) & set(uuids(order_cards(engine, case, drafts, hook_instance="orders-2")))


def test_unchecked_and_foreign_orders_are_not_judged(engine):
    case = case_by_id("b-abnormal-duration")
    patient = f"Patient/{case['id']}"
    medication = {"resourceType": "MedicationRequest", "id": "med", "status": "draft", "intent": "order",
                  "category": {"coding": [{"code": "outpatient"}]}, "subject": {"reference": patient}}
    foreign = draft(case, {"id": "dn-other", "code": "int-dry-needling", "subject": "other"})
    no_subject = draft(case, {"id": "dn-none", "code": "int-dry-needling"})
    no_subject.pop("subject")
    # judged as a copy that names the context patient (dak/README.md §11; R4 requires a subject)
    assert judged_orders([medication, foreign, no_subject], patient) == [{**no_subject, "subject": {"reference": patient}}]
    assert "subject" not in no_subject  # the request's own resource is not changed
    cards = order_cards(engine, case, [medication, foreign, no_subject])
    assert [order_of(c) for c in cards] == ["dn-none"], "an order without subject is the patient's"


def test_order_cards_in_english(engine):
    case = case_by_id("a-normal-course")
    [card] = order_cards(engine, case, [draft(case, {"id": "laser", "code": "int-laser"})], lang="en")
    assert_card_shape(card)
    assert card["summary"] == "Discouraged therapy: Laser"
    assert "Laser therapy is discouraged for neck pain" in card["detail"]
    assert card["suggestions"][0]["label"] == "Remove the draft order"


def test_no_order_card_when_nothing_is_flagged(engine):
    case = case_by_id("b-abnormal-duration")
    assert order_cards(engine, case, [draft(case, {"id": "m", "code": "int-massage"})]) == []
    assert order_cards(engine, case, []) == []


def test_service_ids_follow_the_outputs_table():
    assert service_id("nekpijn-behandelprofiel", "patient-view") == "nekpijn-behandelprofiel"
    assert service_id("nekpijn-behandelprofiel", "encounter-start") == "nekpijn-behandelprofiel-encounter-start"
    assert service_id("nekpijn-orders", "order-select") == "nekpijn-orders-select"
    assert service_id("nekpijn-orders", "order-sign") == "nekpijn-orders-sign"


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


def test_discovery_lists_one_service_per_hook_with_its_own_id(engine):
    """outputs.md v2 table: one CDS service per hook, each id its own (still from the triggers)."""
    document = discovery(engine)
    assert find_empties(document) == [] and prune(document) == document
    services = document["services"]
    assert [(s["id"], s["hook"]) for s in services] == [
        ("nekpijn-behandelprofiel", "patient-view"), ("nekpijn-behandelprofiel-encounter-start", "encounter-start"),
        ("nekpijn-orders-select", "order-select"), ("nekpijn-orders-sign", "order-sign")]
    assert len({s["id"] for s in services}) == len(services), "no id shared by two hooks"
    for service in services:
        plan = engine.knowledge.get("PlanDefinition", plan_of(engine, service["id"]))
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
