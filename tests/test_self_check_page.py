"""The patient self-check page in a real browser: headless Chromium driven by Selenium.

The real service runs on a loopback port (uvicorn, a fresh SQLite store,
authentication off); Debian's chromium and chromium-driver (installed by
`make test` through tools/browser.py; Selenium is given the driver's path, so
Selenium Manager never runs or downloads anything) load /zelfcheck and a
visitor fills it in by clicking the labels, or with the keyboard only.

Checked for every row of the decision table of dak/self-check.md: the advice
shown is the one $apply gives for those answers, in the visitor's language,
and the urgent advice is set apart (own style, icon and word, role="alert").
Also: enableWhen, validation, the English switch, a phone-sized screen,
axe-core (no serious or critical violations), and that nothing is stored
unless the visitor sends the answers with consent.

Artifacts: one PNG per outcome (and the phone view) and the axe results in
build/test-artifacts/self-check/. Missing Chromium or driver fails the tests.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import re
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import text

from self_check_support import (
    APPLY_PATH, GATED, OUTCOMES, advice_of, answers, apply_parameters, question_ids, questionnaire,
    questionnaire_response, red_flags,
)
from service.app import create_app
from service.config import Settings
from service.self_check_page.texts import CONSENT_TEXT, CONSENT_VERSION, TEXTS
from service.store import Store
from tools.browser import axe_core, chromedriver, chromium

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "build" / "test-artifacts" / "self-check"
SUBMISSIONS = "/zelfcheck/submissions"
TABLES = ("audit_log", "self_check_submissions", "feedback", "issued_cards", "jti_seen")
WAIT = 15


# -- the service -----------------------------------------------------------------------


class Recorder:
    """ASGI wrapper that records every request (method, path, body) the browser makes."""

    def __init__(self, app) -> None:
        self.app = app
        self.calls: list[dict] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        entry = {"method": scope["method"], "path": scope["path"], "body": bytearray()}
        self.calls.append(entry)

        async def recording_receive():
            message = await receive()
            if message["type"] == "http.request":
                entry["body"].extend(message.get("body", b""))
            return message

        await self.app(scope, recording_receive, send)

    def posts(self, path: str) -> list[dict]:
        return [json.loads(bytes(c["body"])) for c in self.calls if c["method"] == "POST" and c["path"] == path]


@dataclasses.dataclass
class Live:
    base: str
    recorder: Recorder
    store: Store

    def counts(self) -> dict[str, int]:
        with self.store.engine.connect() as conn:
            return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}

    def apply(self, given: dict[str, bool], lang: str) -> dict:
        """What $apply answers for these answers (the oracle for what the page shows)."""
        response = httpx.post(self.base + APPLY_PATH, json=apply_parameters(questionnaire_response(given), lang),
                              headers={"Content-Type": "application/fhir+json"}, timeout=30)
        assert response.status_code == 200, response.text
        return advice_of(response.json())


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    db = tmp_path_factory.mktemp("self-check-page") / "store.db"
    settings = dataclasses.replace(Settings.from_env(), auth="off", database_url=f"sqlite:///{db}")
    app = create_app(settings)
    recorder = Recorder(app)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(recorder, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the service did not start"
        time.sleep(0.05)
    store = Store.from_url(settings.database_url)
    try:
        yield Live(f"http://127.0.0.1:{port}", recorder, store)
    finally:
        store.close()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def driver():
    options = webdriver.ChromeOptions()
    options.binary_location = chromium()  # Debian's chromium; installed by `make test` when missing
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,1000", "--lang=nl"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console: script errors, CSP violations
    # the driver's path is given: Selenium Manager is skipped (it would try to download a driver)
    browser = webdriver.Chrome(service=Service(executable_path=chromedriver()), options=options)
    browser.set_script_timeout(60)
    browser.set_page_load_timeout(30)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture(scope="module")
def axe_source() -> str:
    return axe_core().read_text(encoding="utf-8")


@pytest.fixture
def page(live, driver):
    """The form, freshly loaded, at desktop size; the request log cleared."""
    def open_page(query: str = "") -> webdriver.Chrome:
        driver.get(f"{live.base}/zelfcheck{query}")
        WebDriverWait(driver, WAIT).until(
            lambda d: d.find_element(By.ID, "zelfcheck").get_attribute("data-ready") == "true")
        live.recorder.calls.clear()
        return driver

    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    driver.get_log("browser")  # drop what earlier tests left
    return open_page


def console_errors(driver) -> list[str]:
    """Errors in the browser console since the last call (script errors, CSP violations, failed loads)."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


# -- helpers -------------------------------------------------------------------------------


def choose(driver, link_id: str, yes: bool) -> None:
    """Click the label Ja/Nee of a question (as a visitor would)."""
    label = driver.find_element(By.CSS_SELECTOR, f'label[for="q-{link_id}-{"true" if yes else "false"}"]')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", label)
    label.click()


def fill(driver, given: dict[str, bool]) -> None:
    """Answer in form order; the gated question once it is shown."""
    for link_id in question_ids():
        if link_id in given:
            choose(driver, link_id, given[link_id])


def submit(driver) -> None:
    button = driver.find_element(By.CSS_SELECTOR, "#zelfcheck button[type=submit]")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()


def wait_for_advice(driver) -> dict:
    WebDriverWait(driver, WAIT).until(lambda d: d.find_element(By.ID, "result").is_displayed()
                                      or d.find_element(By.ID, "apply-error").is_displayed())
    assert not driver.find_element(By.ID, "apply-error").is_displayed(), \
        driver.find_element(By.ID, "apply-error").text
    box = driver.find_element(By.ID, "advice")
    style = driver.execute_script(
        "const s = getComputedStyle(arguments[0]);"
        "return {border: s.borderTopColor, width: s.borderTopWidth, background: s.backgroundColor};", box)
    return {
        "code": box.get_attribute("data-advice"),
        "class": box.get_attribute("class"),
        "role": box.get_attribute("role"),
        "label": box.find_element(By.CLASS_NAME, "advice-label").text,
        "icon": len(box.find_elements(By.CLASS_NAME, "advice-icon")),
        "heading": box.find_element(By.ID, "result-title").text,
        "paragraphs": [p.text for p in box.find_elements(By.CSS_SELECTOR, "#advice-text p")],
        "why": [p.text for p in box.find_elements(By.CSS_SELECTOR, "#advice-text p.advice-why")],
        "same_day": box.get_attribute("data-same-day") == "true",
        "style": style,
        "focused": driver.execute_script("return document.activeElement.id"),
    }


def screenshot(driver, name: str) -> Path:
    """Full-page PNG in build/test-artifacts/self-check/."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
    path = ARTIFACTS / f"{name}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    assert path.stat().st_size > 1000
    return path


def axe(driver, axe_source: str, name: str) -> list[dict]:
    """axe-core on the page as it is now (WCAG 2.x A/AA and best practices); the serious or critical violations."""
    driver.execute_script(axe_source)
    result = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa',
                                                                'best-practice']},
                           resultTypes: ['violations']})
          .then(r => done({violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                                               nodes: v.nodes.map(n => n.target.join(' '))})),
                           passes: r.passes.length}))
          .catch(e => done({error: String(e)}));
    """)
    assert "error" not in result, result
    (ARTIFACTS / f"axe-{name}.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"axe {name}: {len(result['violations'])} violation(s)")
    for v in result["violations"]:
        print(f"  [{v['impact']}] {v['id']}: {v['help']} — {', '.join(v['nodes'][:5])}")
    return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]


URGENT_RED = "rgb(164, 0, 29)"


def assert_shows(shown: dict, expected: dict, lang: str) -> None:
    assert shown["code"] == expected["code"]
    assert shown["heading"] == expected["heading"]
    assert shown["paragraphs"] == expected["paragraphs"] and shown["paragraphs"]
    # "Waarom?" (the answers that led to the advice) right after the advice itself
    assert shown["why"] == expected["why"] and len(shown["why"]) == 1
    assert shown["paragraphs"][1] == shown["why"][0]
    assert shown["why"][0].startswith({"nl": "Waarom?", "en": "Why?"}[lang])
    assert shown["focused"] == "result-title"  # focus moved to the advice (announced by screen readers)
    assert shown["same_day"] == expected["same_day"]
    if expected["urgent"]:
        assert "advice-urgent" in shown["class"] and shown["role"] == "alert"
        label = TEXTS[lang]["today_label" if expected["same_day"] else "urgent_label"]
        assert shown["label"].replace("!", "").strip().lower() == label.lower()
        assert shown["icon"] == 1
        assert shown["style"]["border"] == URGENT_RED and shown["style"]["width"] == "4px"
    else:
        assert "advice-normal" in shown["class"] and shown["role"] is None
        assert shown["label"] == TEXTS[lang]["result_label"] and shown["icon"] == 0
        assert shown["style"]["border"] != URGENT_RED


# -- the outcomes (every row of the decision table) ----------------------------------------

#: the essentials of each advice text (dak/self-check.md, "text essentials"), in Dutch
ESSENTIALS = {
    "advice-gp": ["huisarts"],
    "advice-assessment": ["arts", "fysiotherapeut"],
    "advice-appointment": ["afspraak", "fysiotherapeut"],
    "advice-self-care": ["bewegen", "warmte", "drie weken"],
}


@pytest.mark.parametrize("outcome", list(OUTCOMES))
def test_each_outcome_shows_the_right_advice(page, live, axe_source, outcome):
    given, code = OUTCOMES[outcome]
    driver = page()
    before = live.counts()
    fill(driver, given)
    submit(driver)
    shown = wait_for_advice(driver)
    applied, submitted = live.recorder.posts(APPLY_PATH), live.recorder.posts(SUBMISSIONS)
    expected = live.apply(given, "nl")
    assert expected["code"] == code  # the decision table, through $apply
    assert_shows(shown, expected, "nl")
    if code == "advice-gp":
        assert expected["urgent"]
        # v2: double vision (and both limbs, bladder/bowel) — today; other red flags — soon
        assert expected["same_day"] == (outcome in ("gp", "gp-everything-yes"))
        assert ("vandaag nog" in shown["paragraphs"][0]) == expected["same_day"]
        assert ("binnenkort" in shown["paragraphs"][0]) != expected["same_day"]
    if outcome == "gp-soon":  # issue 12: only the answer given, not the whole list of red flags
        assert shown["why"] == ["Waarom? Je gaf aan: moeite met slikken. Dat moet een arts beoordelen."]
    if code in ("advice-self-care", "advice-appointment"):
        assert not expected["urgent"]
    words = " ".join(shown["paragraphs"]).lower()
    assert all(w in words for w in ESSENTIALS[code]), (code, words)
    # the request the page made: one $apply, with exactly the answers given (groups nested)
    [sent] = applied
    assert not submitted
    params = {p["name"]: p for p in sent["parameter"]}
    assert params["userLanguage"]["valueCode"] == "nl"
    response = params["data"]["resource"]["entry"][0]["resource"]
    assert params["subject"]["valueString"] == response["subject"]["reference"]
    assert re.fullmatch(r"Patient/zelfcheck-[0-9a-f-]{36}", response["subject"]["reference"])
    assert _answers(response) == given
    assert [i["linkId"] for i in response["item"] if "item" in i] == ["sc-red-flags"]
    # the send section is offered, but nothing was stored
    assert driver.find_element(By.ID, "send").is_displayed()
    assert not driver.find_element(By.ID, "consent").is_selected()
    assert live.counts() == before
    assert console_errors(driver) == []  # no script error, nothing blocked by the Content-Security-Policy
    screenshot(driver, f"outcome-{outcome}")
    serious = axe(driver, axe_source, f"result-{outcome}")
    assert serious == [], serious


def _answers(response: dict) -> dict[str, bool]:
    out = {}

    def walk(items):
        for item in items:
            if "answer" in item:
                out[item["linkId"]] = item["answer"][0]["valueBoolean"]
            walk(item.get("item", []))

    walk(response["item"])
    return out


def test_enable_when_shows_and_hides_the_accident_question(page, live):
    driver = page()
    gated = driver.find_element(By.ID, f"q-{GATED}")
    gated_yes = driver.find_element(By.ID, f"q-{GATED}-true")
    assert not gated.is_displayed() and not gated_yes.is_enabled()
    choose(driver, "sc-after-accident", True)
    assert gated.is_displayed() and gated_yes.is_enabled()
    choose(driver, GATED, True)
    assert gated_yes.is_selected()
    choose(driver, "sc-after-accident", False)
    assert not gated.is_displayed() and not gated_yes.is_enabled()
    assert not gated_yes.is_selected()  # a hidden question keeps no answer
    fill(driver, answers())  # everything else: no
    submit(driver)
    shown = wait_for_advice(driver)
    assert shown["code"] == "advice-self-care"  # not "assessment": the hidden answer was not sent
    [sent] = live.recorder.posts(APPLY_PATH)
    response = sent["parameter"][1]["resource"]["entry"][0]["resource"]
    assert GATED not in _answers(response) and _answers(response)["sc-after-accident"] is False
    # shown again: it must be answered again
    driver.find_element(By.ID, "change-answers").click()
    choose(driver, "sc-after-accident", True)
    assert gated.is_displayed() and not gated_yes.is_selected()


def test_unanswered_questions_give_an_error_summary_and_no_request(page, live, axe_source):
    driver = page()
    submit(driver)
    summary = driver.find_element(By.ID, "error-summary")
    WebDriverWait(driver, WAIT).until(lambda d: summary.is_displayed())
    assert driver.execute_script("return document.activeElement.id") == "error-summary"
    shown_questions = [q for q in question_ids() if q != GATED]
    links = summary.find_elements(By.CSS_SELECTOR, "#error-list a")
    assert len(links) == len(shown_questions)
    assert links[0].text == questionnaire()["item"][0]["text"]
    rf_text = f"Heb je naast je nekpijn ook … {questionnaire()['item'][-1]['item'][0]['text']}"
    assert rf_text in [a.text for a in links]  # a red flag named with its group's lead-in
    errors = driver.find_elements(By.CSS_SELECTOR, ".field-error:not([hidden])")
    assert len(errors) == len(shown_questions) and errors[0].text == TEXTS["nl"]["answer_missing"]
    assert driver.find_element(By.ID, "q-sc-radiating-true").get_attribute("aria-invalid") == "true"
    screenshot(driver, "validation-errors")
    serious = axe(driver, axe_source, "validation-errors")
    assert serious == [], serious
    # the link takes the visitor to the question
    links[2].click()
    assert driver.execute_script("return document.activeElement.id") == f"q-{shown_questions[2]}-true"
    # answer all but the red flags: the summary lists only those
    fill(driver, {k: v for k, v in answers().items() if k not in red_flags()})
    submit(driver)
    WebDriverWait(driver, WAIT).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#error-list a")) == len(red_flags()))
    assert driver.find_element(By.ID, "q-sc-radiating-true").get_attribute("aria-invalid") is None
    assert not live.recorder.posts(APPLY_PATH)  # nothing was sent while answers were missing
    assert not driver.find_element(By.ID, "result").is_displayed()


def test_english_switch_shows_english_questions_and_advice(page, live, axe_source):
    driver = page()
    switch = driver.find_element(By.CSS_SELECTOR, "a.language-switch")
    assert switch.text == "English"
    switch.click()
    WebDriverWait(driver, WAIT).until(lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en")
    WebDriverWait(driver, WAIT).until(
        lambda d: d.find_element(By.ID, "zelfcheck").get_attribute("data-ready") == "true")
    live.recorder.calls.clear()
    assert driver.find_element(By.TAG_NAME, "h1").text == "Neck complaints self-check"
    legend = driver.find_element(By.CSS_SELECTOR, "#q-sc-radiating legend").text
    assert legend.startswith("Does the pain radiate to your shoulder or arm?")
    assert driver.find_element(By.CSS_SELECTOR, 'label[for="q-sc-radiating-true"]').text == "Yes"
    given, _ = OUTCOMES["gp"]
    fill(driver, given)
    submit(driver)
    shown = wait_for_advice(driver)
    [sent] = live.recorder.posts(APPLY_PATH)
    expected = live.apply(given, "en")
    assert_shows(shown, expected, "en")
    assert "call today" in shown["label"].lower() and "GP" in shown["heading"]  # double vision: today (v2)
    assert shown["why"] == [expected["why"][0]] and "double vision" in shown["why"][0]
    assert "cancer" not in shown["why"][0]
    assert sent["parameter"][2] == {"name": "userLanguage", "valueCode": "en"}
    assert driver.find_element(By.CSS_SELECTOR, 'label[for="consent"]').text == CONSENT_TEXT["en"]
    screenshot(driver, "outcome-gp-english")
    serious = axe(driver, axe_source, "result-gp-english")
    assert serious == [], serious
    assert driver.find_element(By.CSS_SELECTOR, "a.language-switch").text == "Nederlands"


def test_keyboard_only(page, live):
    """Tab to each question, Space for Ja, arrow key for Nee, Enter on the button."""
    driver = page()
    given = answers(["sc-longer-than-3-weeks"])
    keys = ActionChains(driver)
    active = lambda: driver.execute_script(  # noqa: E731
        "const e = document.activeElement; return {id: e.id, name: e.name || '', type: e.type || '', "
        "tag: e.tagName, outline: e.labels && e.labels[0] ? getComputedStyle(e.labels[0]).outlineStyle : "
        "getComputedStyle(e).outlineStyle}")
    seen: list[str] = []
    for _ in range(80):
        keys.send_keys(Keys.TAB).perform()
        now = active()
        if now["type"] == "radio":
            assert now["outline"] == "solid", now  # focus is visible
            seen.append(now["name"])
            if given[now["name"]]:
                keys.send_keys(Keys.SPACE).perform()
            else:
                keys.send_keys(Keys.ARROW_DOWN).perform()  # moves to Nee and selects it
        elif now["tag"] == "BUTTON" and now["type"] == "submit":
            assert now["outline"] == "solid", now
            keys.send_keys(Keys.ENTER).perform()
            break
    else:
        pytest.fail(f"never reached the submit button; answered {seen}")
    assert seen == [q for q in question_ids() if q != GATED]
    shown = wait_for_advice(driver)
    assert shown["code"] == "advice-appointment" and shown["focused"] == "result-title"
    # and on to the send section with the keyboard: the consent box is reachable
    for _ in range(10):
        keys.send_keys(Keys.TAB).perform()
        if active()["id"] == "consent":
            break
    else:
        pytest.fail("the consent box cannot be reached with Tab")


def test_phone_sized_screen(page, live, axe_source):
    driver = page()
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 360, "height": 740, "deviceScaleFactor": 2, "mobile": True})
    try:
        driver.refresh()
        WebDriverWait(driver, WAIT).until(
            lambda d: d.find_element(By.ID, "zelfcheck").get_attribute("data-ready") == "true")
        width = lambda: driver.execute_script(  # noqa: E731
            "return [document.documentElement.scrollWidth, window.innerWidth]")
        scroll, inner = width()
        assert inner == 360 and scroll <= inner, (scroll, inner)  # no horizontal scrolling
        small = driver.execute_script(
            "return Array.from(document.querySelectorAll('.option label, button, .language-switch'))"
            ".filter(e => e.offsetParent && e.getBoundingClientRect().height < 44).length")
        assert small == 0  # touch targets of at least 44 px
        screenshot(driver, "mobile-form")
        given, _ = OUTCOMES["gp"]
        fill(driver, given)
        submit(driver)
        shown = wait_for_advice(driver)
        assert shown["code"] == "advice-gp" and shown["role"] == "alert"
        scroll, inner = width()
        assert scroll <= inner, (scroll, inner)
        screenshot(driver, "mobile-gp")
        serious = axe(driver, axe_source, "mobile-gp")
        assert serious == [], serious
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_axe_on_the_form(page, axe_source, lang):
    driver = page(f"?lang={lang}")
    assert console_errors(driver) == []
    screenshot(driver, f"form-{lang}")
    serious = axe(driver, axe_source, f"form-{lang}")
    assert serious == [], serious


def test_axe_finds_what_it_should(page, axe_source):
    """The check itself works: a radio without its label and grey-on-white text are caught."""
    driver = page()
    driver.execute_script("""
        document.querySelector('label[for="q-sc-radiating-true"]').remove();
        document.querySelector('.intro').setAttribute('class', 'intro broken');
        document.querySelector('.intro').style.color = '#c8c8c8';
    """)
    found = {v["id"] for v in axe(driver, axe_source, "deliberately-broken")}
    assert {"label", "color-contrast"} <= found, found


def test_a_server_error_is_shown_readably(page, live):
    driver = page()
    driver.execute_script(
        "document.getElementById('zelfcheck').setAttribute('data-apply', 'fhir/PlanDefinition/unknown/$apply')")
    fill(driver, answers())
    submit(driver)
    box = driver.find_element(By.ID, "apply-error")
    WebDriverWait(driver, WAIT).until(lambda d: box.is_displayed())
    assert driver.execute_script("return document.activeElement.id") == "apply-error"
    assert TEXTS["nl"]["result_error_title"] in box.text
    assert "PlanDefinition/unknown is not known" in box.text  # the server's OperationOutcome, as text
    assert not driver.find_element(By.ID, "result").is_displayed()


def test_a_rate_limited_answer_is_a_plain_dutch_sentence(page, live):
    """429 (rate limit) or 503 (busy): the visitor reads "too busy, try again", not the server's English."""
    driver = page()
    driver.execute_script("""
        window.fetch = function () {
            var body = JSON.stringify({resourceType: 'OperationOutcome', issue: [{severity: 'error',
                code: 'throttled', diagnostics: 'Too many requests; at most 30 per 60 s from one address.'}]});
            return Promise.resolve(new Response(body, {status: 429,
                headers: {'Content-Type': 'application/fhir+json', 'Retry-After': '30'}}));
        };""")
    fill(driver, answers())
    submit(driver)
    box = driver.find_element(By.ID, "apply-error")
    WebDriverWait(driver, WAIT).until(lambda d: box.is_displayed())
    assert TEXTS["nl"]["too_many"] in box.text
    assert "Too many requests" not in box.text


# -- sending to the practice ------------------------------------------------------------------


def _advice_then_send_section(page, live, outcome="appointment"):
    driver = page()
    given, _ = OUTCOMES[outcome]
    fill(driver, given)
    submit(driver)
    wait_for_advice(driver)
    return driver, given


def test_sending_without_consent_stores_nothing(page, live):
    driver, _ = _advice_then_send_section(page, live)
    before = live.counts()
    driver.find_element(By.ID, "contact-name").send_keys("Piet Zonder Toestemming")
    driver.find_element(By.ID, "contact").send_keys("0612345678")
    driver.find_element(By.CSS_SELECTOR, "#send-form button[type=submit]").click()
    error = driver.find_element(By.ID, "send-error")
    WebDriverWait(driver, WAIT).until(lambda d: error.is_displayed())
    assert error.text == TEXTS["nl"]["consent_missing"]
    assert driver.execute_script("return document.activeElement.id") == "consent"
    assert driver.find_element(By.ID, "consent").get_attribute("aria-invalid") == "true"
    time.sleep(0.5)
    assert not live.recorder.posts(SUBMISSIONS)  # the browser sent nothing
    assert live.counts() == before
    assert not driver.find_element(By.ID, "receipt").is_displayed()


def test_sending_with_consent_stores_one_row_with_the_consent(page, live):
    driver, given = _advice_then_send_section(page, live, "gp")
    before = live.counts()
    driver.find_element(By.CSS_SELECTOR, 'label[for="consent"]').click()
    assert driver.find_element(By.ID, "consent").is_selected()
    driver.find_element(By.ID, "contact-name").send_keys("Marie Jansen")
    driver.find_element(By.ID, "contact").send_keys("06 1234 5678")
    driver.find_element(By.CSS_SELECTOR, "#send-form button[type=submit]").click()
    receipt = driver.find_element(By.ID, "receipt")
    WebDriverWait(driver, WAIT).until(lambda d: receipt.is_displayed())
    number = driver.find_element(By.ID, "receipt-number").text
    assert re.fullmatch(r"[2-9A-Z]{4}-[2-9A-Z]{4}", number)
    assert driver.execute_script("return document.activeElement.id") == "receipt"
    screenshot(driver, "sent-with-consent")
    [sent] = live.recorder.posts(SUBMISSIONS)
    assert sent["consent"] is True and sent["consentVersion"] == CONSENT_VERSION
    after = live.counts()
    assert after["self_check_submissions"] == before["self_check_submissions"] + 1
    assert {k: v for k, v in after.items() if k != "self_check_submissions"} == \
           {k: v for k, v in before.items() if k != "self_check_submissions"}
    row = live.store.self_check_submission(number)
    assert row is not None and row.advice == "advice-gp" and row.language == "nl"
    assert (row.contact_name, row.contact) == ("Marie Jansen", "06 1234 5678")
    assert _answers(row.response) == given
    assert row.consent_version == CONSENT_VERSION and row.consent_language == "nl"
    assert row.consent["resourceType"] == "Consent" and row.consent["status"] == "active"
    assert row.consent["patient"] == row.response["subject"]


def test_chromium_and_driver_are_debians():
    """The browser tests need Debian's chromium and chromium-driver (tools/browser.py installs them)."""
    import subprocess
    browser = subprocess.run([chromium(), "--version"], capture_output=True, text=True, timeout=60).stdout
    driver = subprocess.run([chromedriver(), "--version"], capture_output=True, text=True, timeout=60).stdout
    major = re.search(r"(\d+)\.", browser).group(1)
    assert f"ChromeDriver {major}." in driver, (browser, driver)

