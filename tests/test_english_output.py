"""English output has no Dutch leftovers (issue 15): with language en (`userLanguage` on $apply,
`Accept-Language` on the hooks, `--lang en` on the CLI) every text a clinician sees is English —
the CarePlan narrative, the displays of our own codings (case-feature Observation category, code
and value, action and request codes), titles, descriptions, notes, guideline references ("table",
"Appendix"), card summaries, details, suggestion and link labels, and the resources the card
suggestions create.

A text is Dutch when it holds a Dutch catalogue text (a label of the local CodeSystem, the data
dictionary or the recommendation catalogue whose English differs) or a Dutch function word that
English never uses. Deliberate exceptions: the guideline's own title ("KNGF-richtlijn Nekpijn
(2016)", a citation) and the displays of the UZI role code system, which has Dutch names only (the
narrative names the role in English).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from apply_support import NOW, TODAY, apply_parameters, cases, data_dictionary
from service.app import create_app
from service.apply.terminology import LOCAL_SYSTEM
from service.config import Settings
from tools.case_bundles import build_case_bundle, build_draft_orders
from tools.hook_requests import ehr_prefetch, hook_request

ROOT = Path(__file__).resolve().parent.parent
PLAN = "/fhir/PlanDefinition/nekpijn-behandelprofiel/$apply"
HOOKS = {"patient-view": "nekpijn-behandelprofiel", "encounter-start": "nekpijn-behandelprofiel-encounter-start",
         "order-select": "nekpijn-orders-select", "order-sign": "nekpijn-orders-sign"}
CITATION = "KNGF-richtlijn Nekpijn (2016)"
# Dutch words that do not occur in English text
DUTCH_WORDS = re.compile(r"\b(?:de|het|een|van|niet|geen|bij|naar|voor|wordt|worden|zijn|nog|uit|aan|ook|en|"
                         r"tabel|bijlage|graad|huisarts|gepland|prioriteit|spoed|verwijs|beoordeel|afgeraden)\b",
                         re.I)
# fields that hold no text for a reader (codes, ids, references, dates, URLs)
NOT_TEXT = {"system", "code", "reference", "url", "id", "resourceType", "status", "intent", "fullUrl", "uuid",
            "resourceId", "type", "priority", "language", "instantiatesCanonical", "selectionBehavior", "indicator",
            "authoredOn", "created", "timingDateTime", "occurrenceDateTime", "effectiveDateTime", "valueCanonical",
            "profile", "end", "start", "valueDateTime", "key", "hookInstance"}


def _pairs(node) -> list[tuple[str, str]]:
    """(nl, en) of every bilingual label in the contract and the knowledge sources."""
    out = []
    if isinstance(node, dict):
        if isinstance(node.get("nl"), str) and isinstance(node.get("en"), str):
            out.append((node["nl"], node["en"]))
        for value in node.values():
            out.extend(_pairs(value))
    elif isinstance(node, list):
        for value in node:
            out.extend(_pairs(value))
    return out


def dutch_texts() -> set[str]:
    sources = [ROOT / "dak" / "data-dictionary.yaml", ROOT / "dak" / "recommendations.yaml",
               ROOT / "knowledge" / "plan-definitions.yaml", ROOT / "knowledge" / "local-codes.yaml"]
    pairs = [p for path in sources for p in _pairs(yaml.safe_load(path.read_text(encoding="utf-8")))]
    codesystem = json.loads((ROOT / "service" / "knowledge" / "fhir" / "CodeSystem-nekpijn.json").read_text(encoding="utf-8"))

    def walk(concepts):
        for c in concepts:
            english = next((d["value"] for d in c.get("designation", []) if d.get("language", "").startswith("en")), None)
            if english:
                pairs.append((c["display"], english))
            walk(c.get("concept", []))
    walk(codesystem.get("concept", []))
    # a Dutch text that is also English ("Laser", "NPRS") or part of its translation is no sign
    return {nl for nl, en in pairs if len(nl) >= 6 and nl != en and nl not in en and not nl.isupper()}


DUTCH = dutch_texts()


def dutch_in(text: str, quoted: tuple[str, ...] = ()) -> str | None:
    """What makes a text Dutch, or None; `quoted`: the EHR's own words a card may quote (a draft
    order's name)."""
    text = re.sub(r"<[^>]+>", " ", text).replace(CITATION, "")
    for words in quoted:
        text = text.replace(words, "")
    word = DUTCH_WORDS.search(text)
    if word:
        return word.group(0)
    return next((nl for nl in DUTCH if nl in text), None)


def texts(node, path: str = "") -> list[tuple[str, str]]:
    """(path, text) of every reader-facing string; codings of other systems than ours keep their
    own displays (the UZI roles have Dutch names only, SNOMED CT English ones)."""
    out = []
    if isinstance(node, dict):
        foreign = "system" in node and node.get("system") != LOCAL_SYSTEM
        for key, value in node.items():
            if key in NOT_TEXT or (foreign and key == "display"):
                continue
            out.extend(texts(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.extend(texts(value, f"{path}[{i}]"))
    elif isinstance(node, str):
        out.append((path, node))
    return out


def leftovers(node, quoted: tuple[str, ...] = ()) -> list[str]:
    return [f"{path}: {dutch_in(text, quoted)!r} in {text[:120]!r}" for path, text in texts(node)
            if dutch_in(text, quoted)]


def order_names(orders: list[dict]) -> tuple[str, ...]:
    """The draft orders' own texts and displays (the EHR's words, in the EHR's language)."""
    names = [o["code"].get("text") for o in orders if "code" in o]
    names += [c.get("display") for o in orders for c in o.get("code", {}).get("coding", [])
              if c.get("system") != LOCAL_SYSTEM]
    return tuple(n for n in names if n)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    db = tmp_path_factory.mktemp("english") / "store.db"
    return TestClient(create_app(settings=Settings(auth="off", database_url=f"sqlite:///{db}"), clock=lambda: NOW))


def test_the_detector_finds_dutch():
    assert "Afgeleid kenmerk" in DUTCH and "Nekpijn graad II" in DUTCH
    assert dutch_in("KNGF-richtlijn Nekpijn (2016), B.3, tabel 2") == "tabel"
    assert dutch_in("Nekpijn graad II") and dutch_in("<b>NIET UITVOEREN</b>: Laser")
    assert dutch_in("Afgeleid kenmerk") == "Afgeleid kenmerk"
    assert dutch_in(f"{CITATION}, B.3, table 2") is None
    assert dutch_in("DO NOT PERFORM: Imaging (X-ray, MRI, CT, ultrasound)") is None
    assert leftovers({"coding": [{"system": LOCAL_SYSTEM, "code": "grade-ii", "display": "Nekpijn graad II"}]})
    assert not leftovers({"coding": [{"system": "http://fhir.nl/fhir/NamingSystem/uzi-rolcode", "code": "01.015",
                                      "display": "Huisarts"}]})


@pytest.mark.parametrize("case", cases(), ids=lambda c: c["id"])
def test_apply_careplan_in_english(client, case):
    response = client.post(PLAN, json=apply_parameters(case, lang="en"), headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == 200, response.text
    careplan = response.json()
    assert careplan["language"] == "en"
    found = leftovers(careplan)
    assert not found, "\n".join(found[:20])


@pytest.mark.parametrize("case", cases(), ids=lambda c: c["id"])
def test_cards_in_english(client, case):
    services = {s["id"]: s for s in client.get("/cds-services").json()["services"]}
    resources = [e["resource"] for e in build_case_bundle(case, TODAY, data_dictionary())["entry"]]
    orders = build_draft_orders(case, data_dictionary())
    shown = 0
    for hook, service in HOOKS.items():
        if hook.startswith("order") and not orders:
            continue
        prefetch = ehr_prefetch(resources, services[service].get("prefetch", {}), case["id"])
        body = hook_request(hook, case["id"], prefetch=prefetch, draft_orders=orders or None,
                            hook_instance="00000000-0000-4000-8000-000000000000")
        response = client.post(f"/cds-services/{service}", content=json.dumps(body),
                               headers={"Content-Type": "application/json", "Accept-Language": "en"})
        assert response.status_code == 200, response.text
        cards = response.json()["cards"]
        shown += len(cards)
        found = leftovers(cards, order_names(orders))
        assert not found, f"{hook}:\n" + "\n".join(found[:20])
    assert shown  # every reference case gets at least one card


def test_evaluate_cli_in_english(capsys):
    from service.cli import main
    from tools.make_examples import EXAMPLES

    found = []
    for case in cases():
        assert main(["evaluate", str(EXAMPLES / f"{case['id']}.json"), "--lang", "en"]) == 0
        for line in capsys.readouterr().out.splitlines():
            if dutch_in(line):
                found.append(f"{case['id']}: {dutch_in(line)!r} in {line.strip()[:120]!r}")
    assert not found, "\n".join(found[:20])


NUMERIC_DAY = re.compile(r"\b\d{2}-\d{2}-\d{4}\b")  # the Dutch way of writing a day


@pytest.mark.parametrize("case_id, english, dutch", [
    ("v2-b-work-week-2", "dated in the future (7 Nov 2026); not read", "gedateerd in de toekomst (07-11-2026)"),
    ("v2-earlier-episode-intake", "before the current onset 19 Oct 2026", "vóór het huidige ontstaan 19-10-2026"),
])
def test_dates_in_the_notes_follow_the_language(client, case_id, english, dutch):
    """decision-logic §0 notes (inputs not read) name a day: in English as the English text does
    elsewhere ("2 Nov 2026"), not as a Dutch numeric day; the Dutch note keeps 07-11-2026."""
    case = next(c for c in cases() if c["id"] == case_id)
    texts_of = {}
    for lang in ("en", "nl"):
        response = client.post(PLAN, json=apply_parameters(case, lang=lang),
                               headers={"Content-Type": "application/fhir+json"})
        assert response.status_code == 200, response.text
        texts_of[lang] = json.dumps(response.json(), ensure_ascii=False)
    assert english in texts_of["en"] and dutch in texts_of["nl"]
    assert not NUMERIC_DAY.findall(texts_of["en"])


def test_note_days_are_written_as_the_rules_write_them():
    """service.facts.gather.fmt_iso (notes) and service.rules.common.fmt_day (explanations) agree."""
    from datetime import date, timedelta

    from service.facts.gather import fmt_iso
    from service.rules.common import fmt_day

    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(0, 365, 17)]
    assert all(fmt_iso(d, "en") == fmt_day(d, "en") and fmt_iso(d) == fmt_day(d, "nl") for d in days)
    assert fmt_iso(date(2026, 6, 5), "en") == "5 Jun 2026" and fmt_iso(date(2026, 6, 5)) == "05-06-2026"
    assert fmt_iso("2026-13-01", "en") == "2026-13-01"  # not a day: as given
