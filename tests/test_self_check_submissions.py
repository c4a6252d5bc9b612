"""The self-check page over HTTP (no browser): the HTML, its headers and static files,
and POST /zelfcheck/submissions (sending with consent), strict on bad input.

The browser tests (tests/test_self_check_page.py) drive the same page in
Chromium; these check what needs no browser, and the input validation in depth.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.consent import Consent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from self_check_support import (
    APPLY_PATH, CANONICAL, GATED, OUTCOMES, advice_of, answers, apply_parameters, questionnaire, questionnaire_response,
    question_ids, red_flags,
)
from service.app import create_app
from service.config import Settings
from service.knowledge import KnowledgeBase
from service.self_check_page import PUBLIC_PATHS, PUBLIC_PREFIXES, is_public
from service.self_check_page import render
from service.self_check_page.questionnaire import UnsupportedQuestionnaire, check_supported
from service.self_check_page.submission import MAX_BYTES
from service.self_check_page.texts import CONSENT_TEXT, CONSENT_VERSION, TEXTS
from service.store import StoreUnavailable

SUBMISSIONS = "/zelfcheck/submissions"
JSON_HEADERS = {"Content-Type": "application/json"}
RECEIPT = re.compile(r"^[2-9A-Z]{4}-[2-9A-Z]{4}$")


# -- a small DOM, enough to check the page's structure --------------------------------

VOID = {"meta", "link", "input", "br", "img", "hr", "source"}


@dataclasses.dataclass
class Node:
    tag: str
    attrs: dict
    parent: Node | None
    children: list = dataclasses.field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def all(self, tag: str | None = None, **attrs):
        for child in self.children:
            if isinstance(child, Node):
                if (tag is None or child.tag == tag) and all(child.attrs.get(k.replace("_", "-")) == v
                                                              for k, v in attrs.items()):
                    yield child
                yield from child.all(tag, **attrs)

    def one(self, tag: str | None = None, **attrs) -> Node:
        found = list(self.all(tag, **attrs))
        assert len(found) == 1, (tag, attrs, len(found))
        return found[0]

    def kids(self, tag: str) -> list[Node]:
        return [c for c in self.children if isinstance(c, Node) and c.tag == tag]


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#document", {}, None)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: (v if v is not None else "") for k, v in attrs}, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        assert node is not None, f"stray </{tag}>"
        self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def dom(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    assert builder.current is builder.root, "unclosed elements"
    return builder.root


# -- fixtures ----------------------------------------------------------------------------


def _app(tmp_path, knowledge=None):
    settings = dataclasses.replace(Settings.from_env(), auth="off", database_url=f"sqlite:///{tmp_path / 'store.db'}")
    return create_app(settings, knowledge=knowledge)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return _app(tmp_path_factory.mktemp("self-check-web"))


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        yield c


@pytest.fixture
def store(app):
    """The app's store, emptied of submissions before the test."""
    from sqlalchemy import text
    with app.state.store.engine.begin() as conn:
        conn.execute(text("DELETE FROM self_check_submissions"))
    return app.state.store


def body_for(outcome: str = "appointment", lang: str = "nl", **overrides) -> dict:
    given, code = OUTCOMES[outcome]
    body = {"questionnaireResponse": questionnaire_response(given), "adviceCode": code, "language": lang,
            "consent": True, "consentVersion": CONSENT_VERSION}
    body.update(overrides)
    return body


def post(client, body, headers=JSON_HEADERS):
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(SUBMISSIONS, content=raw, headers=headers)


def assert_outcome(response, status: int, fragment: str = "") -> None:
    assert response.status_code == status, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert fragment in outcome["issue"][0]["diagnostics"], outcome


# -- the page ----------------------------------------------------------------------------


def test_page_renders_every_question_as_an_accessible_fieldset(client):
    response = client.get("/zelfcheck")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-language"] == "nl"
    doc = dom(response.text)
    assert doc.one("html").attrs["lang"] == "nl"
    form = doc.one("form", id="zelfcheck")
    assert form.attrs["data-questionnaire"] == CANONICAL
    assert form.attrs["data-apply"] == APPLY_PATH.lstrip("/")
    fieldsets = {f.attrs["data-link-id"]: f for f in form.all("fieldset")}
    assert [k for k in fieldsets if k in question_ids()] == question_ids()
    for link_id in question_ids():
        item = next(q for q in questionnaire_items() if q["linkId"] == link_id)
        fieldset = fieldsets[link_id]
        [legend] = fieldset.kids("legend")
        assert legend.text().startswith(item["text"])
        assert "*" in legend.text() and "(verplicht)" in legend.text()  # required, visibly and for screen readers
        radios = list(fieldset.all("input"))
        assert [(r.attrs["type"], r.attrs["name"], r.attrs["value"]) for r in radios] == \
               [("radio", link_id, "true"), ("radio", link_id, "false")]
        assert all("required" in r.attrs for r in radios)
        labels = {lab.attrs["for"]: lab.text() for lab in fieldset.all("label")}
        assert [labels[r.attrs["id"]] for r in radios] == ["Ja", "Nee"]  # every radio has its label
    group = fieldsets["sc-red-flags"]
    assert group.attrs["data-type"] == "group"
    assert group.kids("legend")[0].text() == "Heb je naast je nekpijn ook …"
    assert [f.attrs["data-link-id"] for f in group.kids("fieldset")] == red_flags()
    gated = fieldsets[GATED]
    assert "hidden" in gated.attrs and "disabled" in gated.attrs  # until sc-after-accident = Ja
    assert json.loads(gated.attrs["data-enable-when"]) == [
        {"question": "sc-after-accident", "operator": "=", "answerBoolean": True}]
    assert not any("hidden" in f.attrs for k, f in fieldsets.items() if k != GATED)
    assert doc.one("a", hreflang="en").attrs["href"] == "?lang=en"
    assert "bel 112" in doc.one("aside").text().lower() or "112" in doc.one("aside").text()
    assert "huisartsenpost" in doc.one("aside").text()
    assert doc.one("noscript").text().strip()
    consent = doc.one("input", id="consent")
    assert consent.attrs["type"] == "checkbox" and "checked" not in consent.attrs
    assert doc.one("label", **{"for": "consent"}).text() == CONSENT_TEXT["nl"]


def questionnaire_items():
    out = []

    def walk(items):
        for item in items:
            out.append(item)
            walk(item.get("item", []))

    walk(questionnaire()["item"])
    return out


def _translation(item: dict) -> str:
    ext = item["_text"]["extension"][0]["extension"]
    return next(e["valueString"] for e in ext if e["url"] == "content")


def test_page_in_english(client):
    response = client.get("/zelfcheck?lang=en")
    assert response.headers["content-language"] == "en"
    doc = dom(response.text)
    assert doc.one("html").attrs["lang"] == "en"
    assert doc.one("h1").text() == "Neck complaints self-check"
    legends = {f.attrs["data-link-id"]: f.kids("legend")[0].text() for f in doc.all("fieldset")
               if "data-link-id" in f.attrs}
    for item in questionnaire_items():
        assert legends[item["linkId"]].startswith(_translation(item))
    labels = [lab.text() for lab in doc.one("fieldset", data_link_id="sc-radiating").all("label")]
    assert labels == ["Yes", "No"]
    assert doc.one("a", hreflang="nl").attrs["href"] == "?lang=nl"
    assert doc.one("label", **{"for": "consent"}).text() == CONSENT_TEXT["en"]
    texts = json.loads(doc.one("script", id="zelfcheck-texts").text())
    assert texts["urgent_label"] == "Important"


@pytest.mark.parametrize("query", ["", "?lang=nl", "?lang=fr", "?lang=", "?lang=%3Cscript%3E", "?lang=NL-be"])
def test_page_is_dutch_unless_english_is_asked(client, query):
    response = client.get("/zelfcheck" + query)
    assert response.status_code == 200
    assert dom(response.text).one("html").attrs["lang"] == "nl"
    assert "%3C" not in response.text and "<script>" not in response.text  # the query is never echoed


def test_page_headers_scripts_and_static_files(client):
    response = client.get("/zelfcheck")
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'" and directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert "set-cookie" not in response.headers
    doc = dom(response.text)
    for script in doc.all("script"):  # no inline script: a file, or a JSON data block
        assert "src" in script.attrs or script.attrs.get("type") == "application/json"
    assert not list(doc.all("style")) and not [n for n in doc.all() if "style" in n.attrs]
    for node in doc.all():
        for attr in ("src", "href", "action"):
            value = node.attrs.get(attr)
            if value is not None:
                assert not re.match(r"^(https?:)?//", value), f"external reference {value}"  # nothing from elsewhere
    urls = [s.attrs["src"] for s in doc.all("script") if "src" in s.attrs] + \
           [lk.attrs["href"] for lk in doc.all("link") if lk.attrs["rel"] == "stylesheet"]
    assert len(urls) == 2
    for url in urls:
        static = client.get("/" + url)
        assert static.status_code == 200 and static.content
        kind = "text/javascript" if ".js" in url else "text/css"
        assert static.headers["content-type"].startswith(kind)
        assert static.headers["x-content-type-options"] == "nosniff"
    assert client.get("/zelfcheck/static/nothing.js").status_code == 404
    assert client.get("/zelfcheck/static/..%2Fapp.py").status_code == 404
    assert client.head("/zelfcheck").status_code == 200


def test_viewing_and_getting_advice_store_nothing(client, store):
    from sqlalchemy import text

    def counts():
        with store.engine.connect() as conn:
            return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                    for t in ("audit_log", "self_check_submissions", "feedback", "issued_cards", "jti_seen")}

    before = counts()
    client.get("/zelfcheck")
    client.get("/zelfcheck?lang=en")
    for given, code in OUTCOMES.values():
        response = client.post(APPLY_PATH, json=apply_parameters(questionnaire_response(given)),
                               headers={"Content-Type": "application/fhir+json"})
        assert response.status_code == 200, response.text
    assert counts() == before


def test_page_without_the_questionnaire_says_it_is_unavailable(tmp_path):
    full = KnowledgeBase.load()
    kb = KnowledgeBase([r for r in full.all() if r.get("id") != "nekklachten-zelfcheck"
                        or r["resourceType"] != "Questionnaire"], version=full.version)
    with TestClient(_app(tmp_path, kb)) as c:
        response = c.get("/zelfcheck")
        assert response.status_code == 503
        assert "niet beschikbaar" in response.text and "112" in response.text
        assert response.headers["content-security-policy"]
        assert_outcome(post(c, body_for()), 503, "not available")


def test_public_paths_for_the_auth_middleware():
    assert ("GET", "/zelfcheck") in PUBLIC_PATHS and ("POST", "/zelfcheck/submissions") in PUBLIC_PATHS
    assert ("GET", "/zelfcheck/static/") in PUBLIC_PREFIXES
    assert is_public("GET", "/zelfcheck") and is_public("HEAD", "/zelfcheck")
    assert is_public("GET", "/zelfcheck/static/zelfcheck.js")
    assert is_public("POST", "/zelfcheck/submissions")
    assert not is_public("POST", "/zelfcheck") and not is_public("GET", "/zelfcheck/submissions")
    assert not is_public("GET", "/fhir/metadata") and not is_public("POST", "/zelfcheck/static/x")
    assert not is_public("GET", "/zelfcheck/static/a/b") and not is_public("GET", "/zelfcheckx")
    import subprocess
    import sys
    loaded = subprocess.run(  # the middleware can import it without loading the page (or anything else)
        [sys.executable, "-c", "import sys, service.self_check_page.public as p; "
                               "print(sorted(m for m in sys.modules if m.startswith('service')))"],
        capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['service', 'service.self_check_page', 'service.self_check_page.public']"


# -- the renderer, generic over the Questionnaire ---------------------------------------------


def _translated(text: str, en: str) -> dict:
    return {"text": text, "_text": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/translation",
                                                   "extension": [{"url": "lang", "valueCode": "en"},
                                                                 {"url": "content", "valueString": en}]}]}}


SYNTHETIC = {
    "resourceType": "Questionnaire", "url": "https://example.org/Questionnaire/x", "language": "nl",
    "title": "Test <b>titel</b>",
    "item": [
        {"linkId": "intro", "type": "display", "text": "Lees dit eerst & goed"},
        {"linkId": "a", "type": "boolean", "required": True, **_translated("Vraag <a>?", "Question <a>?")},
        {"linkId": "b", "type": "choice", "text": "Hoe erg?", "answerOption": [
            {"valueCoding": {"system": "s", "code": "mild", "display": "Mild"}},
            {"valueCoding": {"system": "s", "code": "zwaar", "display": "Zwaar"}}]},
        {"linkId": "g", "type": "group", "text": "Groep", "enableWhen": [
            {"question": "a", "operator": "exists", "answerBoolean": False}], "item": [
            {"linkId": "g1", "type": "boolean", "text": "Alleen zonder a"}]},
        {"linkId": "c", "type": "boolean", "text": "Na b zwaar", "enableBehavior": "any", "enableWhen": [
            {"question": "b", "operator": "=", "answerCoding": {"system": "s", "code": "zwaar"}},
            {"question": "a", "operator": "=", "answerBoolean": True}]},
    ],
}


def test_renderer_is_generic_and_escapes_everything():
    check_supported(SYNTHETIC)
    static = {"zelfcheck.css": "s.css", "zelfcheck.js": "s.js"}
    html = render.page(SYNTHETIC, "nl", apply_url="x/$apply", submissions_url="y", static=static)
    doc = dom(html)
    assert doc.one("title").text() == "Test <b>titel</b>" and "<b>titel" not in html  # escaped
    assert doc.one("p", data_link_id="intro").text() == "Lees dit eerst & goed"
    a = doc.one("fieldset", data_link_id="a")
    assert a.kids("legend")[0].text().startswith("Vraag <a>?")
    b = doc.one("fieldset", data_link_id="b")
    assert "*" not in b.kids("legend")[0].text()  # not required
    assert [lab.text() for lab in b.all("label")] == ["Mild", "Zwaar"]
    assert [json.loads(i.attrs["data-answer"]) for i in b.all("input")] == [
        {"valueCoding": {"system": "s", "code": "mild", "display": "Mild"}},
        {"valueCoding": {"system": "s", "code": "zwaar", "display": "Zwaar"}}]
    assert "hidden" not in doc.one("fieldset", data_link_id="g").attrs  # "a does not exist" holds when empty
    assert "hidden" in doc.one("fieldset", data_link_id="c").attrs
    assert doc.one("fieldset", data_link_id="g1").attrs["data-label"] == "Groep Alleen zonder a"
    english = dom(render.page(SYNTHETIC, "en", apply_url="x", submissions_url="y", static=static))
    assert english.one("fieldset", data_link_id="a").kids("legend")[0].text().startswith("Question <a>?")
    assert english.one("fieldset", data_link_id="b").kids("legend")[0].text() == "Hoe erg?"  # no translation


@pytest.mark.parametrize("item", [
    {"linkId": "x", "type": "string", "text": "Naam"},
    {"linkId": "x", "type": "choice", "text": "Zonder opties"},
    {"linkId": "x", "type": "boolean", "text": "Vaak", "repeats": True},
    {"type": "boolean", "text": "Geen linkId"},
])
def test_renderer_refuses_what_it_cannot_render(item):
    with pytest.raises(UnsupportedQuestionnaire):
        check_supported({**SYNTHETIC, "item": [item]})


# -- sending, with consent ---------------------------------------------------------------------


def test_submission_with_consent_is_stored_with_the_consent(client, store, app):
    body = body_for("gp", lang="en", contact={"name": "  Anna   de Vries ", "phoneOrEmail": "anna@example.org"})
    response = post(client, body)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert RECEIPT.fullmatch(answer["receipt"]) and answer["advice"] == "advice-gp"
    assert response.headers["cache-control"] == "no-store"
    [row] = store.self_check_submissions()
    assert row.receipt == answer["receipt"] and row.advice == "advice-gp" and row.language == "en"
    assert row.response == body["questionnaireResponse"]
    assert (row.contact_name, row.contact) == ("Anna de Vries", "anna@example.org")
    assert row.questionnaire == CANONICAL
    assert row.consent_version == CONSENT_VERSION and row.consent_language == "en"
    assert row.consent_text_sha256 == hashlib.sha256(CONSENT_TEXT["en"].encode()).hexdigest()
    assert abs((row.consent_at - row.received_at).total_seconds()) < 1
    consent = row.consent
    Consent.model_validate(consent)  # a valid FHIR Consent
    assert consent["status"] == "active" and consent["provision"]["type"] == "permit"
    assert consent["patient"] == body["questionnaireResponse"]["subject"]
    assert consent["sourceAttachment"]["language"] == "en"
    import base64
    assert base64.b64decode(consent["sourceAttachment"]["data"]).decode() == CONSENT_TEXT["en"]


@pytest.mark.parametrize("reach", ["0612345678", "06 1234 5678", "+31 6 1234 5678", "(020) 123 4567",
                                   "020-1234567", "naam.achternaam@example.nl"])
def test_phone_numbers_and_e_mail_addresses_are_accepted(client, store, reach):
    response = post(client, body_for(contact={"phoneOrEmail": reach}))
    assert response.status_code == 201, response.text
    assert store.self_check_submission(response.json()["receipt"]).contact == reach


def test_submission_without_contact_details(client, store):
    response = post(client, body_for("self-care"))
    assert response.status_code == 201, response.text
    [row] = store.self_check_submissions()
    assert (row.contact_name, row.contact, row.advice) == (None, None, "advice-self-care")


@pytest.mark.parametrize("flag, same_day", [("sc-rf-both-limbs", True), ("sc-rf-bladder-bowel", True),
                                            ("sc-rf-double-vision", True), ("sc-rf-swallowing", False),
                                            ("sc-rf-cancer", False)])
def test_gp_advice_today_or_soon_is_sent_as_advice_gp(client, store, flag, same_day):
    """v2: the same-day GP advice keeps the contract's code advice-gp; the page sends what it showed."""
    chosen = answers([flag])
    reply = client.post("/fhir/PlanDefinition/nekklachten-zelfcheck/$apply",
                        json=apply_parameters(questionnaire_response(chosen)),
                        headers={"Content-Type": "application/fhir+json"})
    shown = advice_of(reply.json())
    assert shown["code"] == "advice-gp" and shown["same_day"] is same_day
    assert ("vandaag nog" in shown["paragraphs"][0]) is same_day
    assert shown["why"][0].startswith("Waarom? Je gaf aan: ") and shown["why"][0].count(",") == 0
    body = {"questionnaireResponse": questionnaire_response(chosen), "adviceCode": "advice-gp", "language": "nl",
            "consent": True, "consentVersion": CONSENT_VERSION}
    response = post(client, body)
    assert response.status_code == 201, response.text
    assert response.json()["advice"] == "advice-gp"
    [row] = store.self_check_submissions()
    assert row.advice == "advice-gp" and row.response == body["questionnaireResponse"]


@pytest.mark.parametrize("claimed", ["advice-appointment", "advice-gp-today", "advice-self-care"])
def test_same_day_answers_with_another_advice_code_are_refused(client, store, claimed):
    body = body_for("gp", adviceCode=claimed)  # double vision: advice-gp (today)
    assert_outcome(post(client, body), 422, "adviceCode is not the advice for these answers")
    assert store.count_self_check_submissions() == 0


@pytest.mark.parametrize("consent", [False, None, "true", 1, "yes"])
def test_without_consent_nothing_is_stored(client, store, consent):
    body = body_for()
    if consent is None:
        del body["consent"]
    else:
        body["consent"] = consent
    assert_outcome(post(client, body), 422, "consent is required")
    assert store.count_self_check_submissions() == 0


def _qr(mutate):
    def make():
        body = body_for()
        mutate(body["questionnaireResponse"])
        return body
    return make


def _set(path, value):
    def mutate(body):
        body[path] = value
    return mutate


BAD_BODIES = {
    "not-json": (lambda: b"{nope", 400, "not valid JSON"),
    "nan": (lambda: json.dumps(body_for()).replace('"consent": true', '"consent": NaN').encode(), 400, "JSON"),
    "duplicate-key": (lambda: json.dumps(body_for())[:-1].encode() + b', "language": "en"}', 400, "JSON"),
    "not-utf8": (lambda: b'{"consent": "\xff"}', 400, "UTF-8"),
    "array": (lambda: [body_for()], 400, "JSON object"),
    "too-deep": (lambda: {**body_for(), "contact": json.loads("[" * 40 + "]" * 40)}, 400, "deeper"),
    "unknown-field": (lambda: {**body_for(), "extra": 1}, 400, "unknown field 'extra'"),
    "old-consent-text": (lambda: body_for(consentVersion="2020-1"), 422, "consent text has changed"),
    "language": (lambda: body_for(language="fr"), 400, "language"),
    "advice-code": (lambda: body_for(adviceCode=["advice-gp"]), 400, "adviceCode"),
    "advice-not-for-these-answers": (lambda: body_for("gp", adviceCode="advice-self-care"), 422,
                                     "not the advice for these answers"),
    "contact-not-object": (lambda: body_for(contact="06 12345678"), 400, "contact must be an object"),
    "contact-unknown-field": (lambda: body_for(contact={"address": "x"}), 400, "contact.address"),
    "contact-bad": (lambda: body_for(contact={"phoneOrEmail": "call me maybe"}), 400, "phone number or an e-mail"),
    "contact-too-long": (lambda: body_for(contact={"name": "x" * 101}), 400, "longer than 100"),
    "contact-control": (lambda: body_for(contact={"name": "a\u0000b"}), 400, "control characters"),
    "no-response": (lambda: body_for(questionnaireResponse=None), 400, "must be a QuestionnaireResponse"),
    "response-not-fhir": (_qr(_set("authored", "yesterday")), 400, "not valid FHIR"),
    "other-questionnaire": (_qr(_set("questionnaire", "https://nekpijn-cds.org/fhir/Questionnaire/nekpijn-intake")),
                            422, "must answer"),
    "in-progress": (_qr(_set("status", "in-progress")), 422, "status must be 'completed'"),
    "real-patient": (_qr(_set("subject", {"reference": "Patient/123"})), 422, "Patient/zelfcheck-"),
    "unknown-item": (_qr(lambda r: r["item"].append({"linkId": "sc-other", "answer": [{"valueBoolean": True}]})),
                     422, "'sc-other' is not in"),
    "red-flag-outside-group": (_qr(lambda r: r["item"].append(
        {"linkId": "sc-rf-fever", "answer": [{"valueBoolean": True}]})), 422, "elsewhere in"),
    "gated-answered-while-hidden": (_qr(lambda r: r["item"].append(
        {"linkId": GATED, "answer": [{"valueBoolean": True}]})), 422, "not enabled"),
    "required-missing": (_qr(lambda r: r["item"].pop(0)), 422, "required question"),
    "duplicate-item": (_qr(lambda r: r["item"].insert(0, copy.deepcopy(r["item"][0]))), 422, "more than once"),
    "wrong-answer-type": (_qr(lambda r: r["item"][0].update(answer=[{"valueString": "ja"}])), 422,
                          "needs valueBoolean"),
    "two-answers": (_qr(lambda r: r["item"][0].update(answer=[{"valueBoolean": True}, {"valueBoolean": False}])),
                    422, "exactly one answer"),
    "group-with-answer": (_qr(lambda r: r["item"][-1].update(answer=[{"valueBoolean": True}])), 422,
                          "cannot have an answer"),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_bad_submissions_get_a_clear_outcome_and_store_nothing(client, store, case):
    make, status, fragment = BAD_BODIES[case]
    assert_outcome(post(client, make()), status, fragment)
    assert store.count_self_check_submissions() == 0


def test_submission_limits(client, store):
    big = body_for(contact={"name": "x" * 10})
    big["questionnaireResponse"]["item"][0]["text"] = "x" * MAX_BYTES
    assert_outcome(post(client, big), 413, "larger than")
    assert_outcome(post(client, body_for(), headers={"Content-Type": "text/plain"}), 415, "Content-Type")
    assert store.count_self_check_submissions() == 0


def test_store_unavailable_gives_503_and_nothing_is_lost_silently(tmp_path, monkeypatch):
    app = _app(tmp_path)

    def down(*args, **kwargs):
        raise StoreUnavailable("record_self_check", "OperationalError: test")

    monkeypatch.setattr(app.state.store, "record_self_check", down)
    with TestClient(app) as c:
        assert_outcome(post(c, body_for()), 503, "try again later")


def test_answers_and_contact_details_are_never_logged(client, store, caplog):
    caplog.set_level(logging.DEBUG)
    secret_name, secret_phone = "Geheime Naam", "+31 6 1111 2222"
    assert post(client, body_for("gp", contact={"name": secret_name, "phoneOrEmail": secret_phone})).status_code == 201
    assert post(client, body_for("gp", consent=False, contact={"name": secret_name})).status_code == 422
    assert post(client, body_for("gp", contact={"name": secret_name, "phoneOrEmail": "nope"})).status_code == 400
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (secret_name, secret_phone, "sc-rf-double-vision", "zelfcheck-"):
        assert secret not in logged


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_json_body_gives_a_clean_answer(client, data):
    base = body_for()
    json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                               lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8),
                                                                                             inner, max_size=3),
                               max_leaves=10)
    choice = data.draw(st.sampled_from(["anything", "field", "item"]))
    if choice == "anything":
        body = data.draw(json_values)
    elif choice == "field":
        key = data.draw(st.sampled_from(sorted(base)))
        body = {**base, key: data.draw(json_values)}
    else:
        body = copy.deepcopy(base)
        item = data.draw(st.sampled_from(body["questionnaireResponse"]["item"]))
        item[data.draw(st.sampled_from(["linkId", "answer", "item", "text"]))] = data.draw(json_values)
    before = client.app.state.store.count_self_check_submissions()
    response = post(client, body)
    assert response.status_code < 500, response.text
    if response.status_code != 201:
        assert response.json()["resourceType"] == "OperationOutcome"
        assert client.app.state.store.count_self_check_submissions() == before


def test_texts_are_complete_in_both_languages():
    assert set(TEXTS["nl"]) == set(TEXTS["en"])
    assert all(v.strip() for lang in TEXTS.values() for v in lang.values())
    assert set(CONSENT_TEXT) == {"nl", "en"}
    assert answers()  # every outcome's answers are complete for the Questionnaire
    for given, _ in OUTCOMES.values():
        assert set(given) | {GATED} >= set(question_ids()) - {GATED}


# -- under NEKPIJN_AUTH=jwt: the page, its files and sending need no account ------------


def test_page_static_files_and_sending_are_public_under_jwt(tmp_path):
    from hooks_support import Signer
    (tmp_path / "keys").mkdir()
    signer = Signer.create(tmp_path / "keys")
    settings = Settings(auth="jwt", trusted_issuers_file=signer.issuers_file,
                        database_url=f"sqlite:///{tmp_path / 'jwt.db'}")
    app = create_app(settings=settings)
    client = TestClient(app, raise_server_exceptions=False)
    page = client.get("/zelfcheck")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert client.get("/zelfcheck?lang=en").status_code == 200
    assets = re.findall(r'(?:src|href)="/?(zelfcheck/static/[^"?]+)', page.text)  # relative to the page
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets), assets
    for asset in assets:
        assert client.get(f"/{asset}").status_code == 200, asset
    sent = post(client, body_for("gp"))
    assert sent.status_code == 201, sent.text
    # everything else still asks for a token
    for method, path in [("POST", "/zelfcheck"), ("GET", "/zelfcheck/submissions"),
                         ("GET", "/zelfcheck/static/../../fhir/metadata"), ("GET", "/fhir/metadata"),
                         ("GET", "/fhir/Questionnaire/nekklachten-zelfcheck")]:
        response = client.request(method, path)
        assert response.status_code == 401, (method, path, response.status_code)
