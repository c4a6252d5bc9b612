"""The public surfaces (issue 14, findings 1 and 7): per-route body limits enforced while reading,
friendly redirects, HEAD where GET is allowed, the public routes handed to the security layer by
the app, and a clear log line for a refused CORS preflight."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import subprocess
import sys
from urllib.parse import urljoin

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from self_check_support import APPLY_PATH, OUTCOMES, apply_parameters, questionnaire_response
from service.app import create_app, public_routes
from service.config import Settings
from service.security import BodyLimitMiddleware, PublicRoute, install_security
from service.self_check_page.texts import CONSENT_VERSION

SMALL = 64 * 1024
BASE = "http://testserver"
ORIGIN = "https://ehr.example.org"
HOOK = "/cds-services/nekpijn-behandelprofiel"
AUTH_APPLY = "/fhir/PlanDefinition/nekpijn-behandelprofiel/$apply"
FHIR = {"Content-Type": "application/fhir+json"}


@pytest.fixture(scope="module")
def client(tmp_path_factory, signer):
    """JWT on, as in production; rate limits off (tests/test_rate_limit.py)."""
    db = tmp_path_factory.mktemp("db") / "public.db"
    settings = Settings(auth="jwt", trusted_issuers_file=signer.issuers_file, database_url=f"sqlite:///{db}",
                        cors_origins=(ORIGIN,), rate_limit_apply=None, rate_limit_submissions=None)
    with TestClient(create_app(settings), base_url=BASE, raise_server_exceptions=False) as c:
        yield c


def padded_apply(size: int) -> bytes:
    """A valid self-check $apply body, padded with whitespace to *size* bytes."""
    raw = json.dumps(apply_parameters(questionnaire_response(OUTCOMES["appointment"][0]))).encode()
    return raw + b" " * (size - len(raw))


def assert_outcome(response, status: int, fragment: str = "") -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome" and fragment in body["issue"][0]["diagnostics"], body
    return body


# -- per-route body limits --------------------------------------------------------------------


def test_public_self_check_apply_takes_64_kB_at_most(client):
    assert client.post(APPLY_PATH, content=padded_apply(SMALL - 10), headers=FHIR).status_code == 200
    body = assert_outcome(client.post(APPLY_PATH, content=padded_apply(SMALL + 1), headers=FHIR), 413,
                          f"larger than {SMALL} bytes")
    assert body["issue"][0]["code"] == "too-costly"


def test_public_apply_without_content_length_is_cut_off_at_64_kB(client):
    def chunks():  # chunked transfer: no Content-Length, counted while read
        body = padded_apply(4 * SMALL)
        for i in range(0, len(body), 8192):
            yield body[i:i + 8192]

    assert_outcome(client.post(APPLY_PATH, content=chunks(), headers=FHIR), 413, f"larger than {SMALL} bytes")


def test_submissions_take_64_kB_at_most(client):
    body = json.dumps({"questionnaireResponse": {}, "pad": "x" * (SMALL + 10)})
    assert_outcome(client.post("/zelfcheck/submissions", content=body, headers={"Content-Type": "application/json"}),
                   413, f"larger than {SMALL} bytes")


def test_authenticated_calls_keep_the_large_global_limit(client, signer):
    """A 200 kB hook call and authenticated $apply are read (and answered on their merits), not 413."""
    pad = " " * 200_000
    hook = client.post(HOOK, content='{"hook": "patient-view"' + pad + "}",
                       headers={**FHIR, **signer.headers(BASE + HOOK)})
    assert hook.status_code == 400, hook.text  # read and judged: not a valid hook request
    apply = client.post(AUTH_APPLY, content='{"resourceType": "Parameters"' + pad + "}",
                        headers={**FHIR, **signer.headers(BASE + AUTH_APPLY)})
    assert apply.status_code not in (401, 413), apply.text
    assert client.post(HOOK, content=b"x" * 5_000_001, headers={**FHIR, **signer.headers(BASE + HOOK)}
                       ).status_code == 413  # the global limit still holds


def test_the_route_limit_stops_reading_just_past_it():
    """Chunked: the app is handed no more than the route's limit (plus one chunk), then 413."""
    received = []

    async def app(scope, receive, send):
        while True:
            received.append(await receive())

    async def receive():
        return {"type": "http.request", "body": b"y" * 1000, "more_body": True}

    sent = []

    async def send(message):
        sent.append(message)

    route = PublicRoute.of(("POST",), "/small", max_body_bytes=5000)
    mw = BodyLimitMiddleware(app, max_bytes=1_000_000, routes=[route])
    asyncio.run(mw({"type": "http", "method": "POST", "path": "/small", "headers": []}, receive, send))
    assert sent[0]["status"] == 413 and len(received) == 5  # 5 000 bytes read; the 6th chunk refused
    received.clear(), sent.clear()
    big = asyncio.run(asyncio.wait_for(_read_some(mw, "/other"), 5))
    assert big > 5000  # another path: the global limit


async def _read_some(mw, path) -> int:
    count = 0

    async def app(scope, receive, send):
        nonlocal count
        for _ in range(20):
            count += len((await receive())["body"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive():
        return {"type": "http.request", "body": b"y" * 1000, "more_body": True}

    async def send(message):
        pass

    mw.app = app
    await mw({"type": "http", "method": "POST", "path": path, "headers": []}, receive, send)
    return count


# -- a visitor's paths --------------------------------------------------------------------------


@pytest.mark.parametrize("path, location", [("/", "zelfcheck"), ("/zelfcheck/", "../zelfcheck"),
                                            ("/zelfcheck/?lang=en", "../zelfcheck?lang=en")])
def test_root_and_trailing_slash_redirect_to_the_self_check(client, path, location):
    response = client.get(path, follow_redirects=False)  # no token: a visitor
    assert response.status_code in (301, 302), response.text
    assert response.headers["location"] == location
    assert urljoin(BASE + path, location).split("?")[0] == BASE + "/zelfcheck"
    page = client.get(path)  # followed: the page itself
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]


def test_head_where_get_is_allowed(client, signer):
    for path, token in [("/health", False), ("/zelfcheck", False), ("/zelfcheck/static/zelfcheck.js", False),
                        ("/fhir/metadata", True), ("/cds-services", True)]:
        get = client.get(path, headers=signer.headers(BASE + path) if token else {})
        head = client.head(path, headers=signer.headers(BASE + path) if token else {})  # a fresh jti each
        assert get.status_code == 200, (path, get.text)
        assert head.status_code == 200, (path, head.text)
        assert head.content == b"", path
        assert head.headers["content-type"] == get.headers["content-type"], path
        assert head.headers["x-content-type-options"] == "nosniff"
    assert client.head("/fhir/metadata").status_code == 401  # HEAD is no way around the token
    assert client.head("/zelfcheck/submissions").status_code == 401  # POST-only: not public for HEAD


def test_head_on_a_post_only_route_is_405(tmp_path):
    settings = dataclasses.replace(Settings.from_env(), auth="off", database_url=f"sqlite:///{tmp_path / 's.db'}")
    with TestClient(create_app(settings)) as c:
        response = c.head(HOOK)
        assert response.status_code == 405 and response.content == b""


# -- the public routes come from the app ------------------------------------------------------


def test_the_security_middleware_does_not_import_the_self_check():
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, service.security.middleware; "
                               "print(sorted(m for m in sys.modules if m.startswith('service.self_check')))"],
        capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_install_security_makes_public_only_what_the_app_hands_it(tmp_path, signer):
    settings = Settings(auth="jwt", trusted_issuers_file=signer.issuers_file)

    def build(**kwargs) -> TestClient:
        app = FastAPI()
        app.get("/health")(lambda: {"status": "ok"})
        app.get("/open")(lambda: {"open": True})
        install_security(app, settings, replay=_NoReplay(), **kwargs)
        return TestClient(app)

    default = build()
    assert default.get("/health").status_code == 200 and default.get("/open").status_code == 401
    handed = build(public=[PublicRoute.of(("GET",), "/open")])
    assert handed.get("/open").status_code == 200 and handed.get("/health").status_code == 401
    paths = {(m, r.path) for r in public_routes() for m in r.methods}
    assert {("GET", "/health"), ("HEAD", "/health"), ("GET", "/"), ("GET", "/zelfcheck"), ("GET", "/zelfcheck/"),
            ("POST", APPLY_PATH), ("POST", "/zelfcheck/submissions")} <= paths
    assert ("POST", AUTH_APPLY) not in paths
    limited = {r.path: (r.max_body_bytes, r.rate_bucket) for r in public_routes() if r.max_body_bytes}
    assert limited == {APPLY_PATH: (SMALL, "self-check-apply"),
                       "/zelfcheck/submissions": (SMALL, "self-check-submissions")}


class _NoReplay:
    def seen_jti(self, issuer, jti, expires_at) -> bool:
        return False


# -- CORS: a clear line when a preflight is refused -------------------------------------------------


def test_a_refused_preflight_is_logged_once_with_origin_and_setting(client, caplog):
    evil = "https://intranet.example.com"
    headers = {"Origin": evil, "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "authorization, content-type",
               "Authorization": "Bearer secret-token-value"}
    with caplog.at_level(logging.INFO, logger="nekpijn_cds"):
        assert client.options(HOOK, headers=headers).status_code == 403
        assert client.options(HOOK, headers=headers).status_code == 403
        assert client.options(HOOK, headers={**headers, "Origin": ORIGIN}).status_code == 204
    records = [r for r in caplog.records if "CORS preflight refused" in r.getMessage()]
    assert len(records) == 1, records  # the same origin again within a minute: not repeated
    line = records[0].getMessage()
    assert records[0].levelno == logging.WARNING
    assert evil in line and "NEKPIJN_CORS_ORIGINS" in line and ORIGIN in line  # what was refused, what to set
    assert "secret-token-value" not in caplog.text


def test_a_refused_preflight_with_cors_off_says_so(tmp_path, caplog):
    settings = dataclasses.replace(Settings.from_env(), auth="off", database_url=f"sqlite:///{tmp_path / 's.db'}")
    with TestClient(create_app(settings)) as c, caplog.at_level(logging.INFO, logger="nekpijn_cds"):
        c.options(HOOK, headers={"Origin": "https://a.example", "Access-Control-Request-Method": "POST"})
    assert "NEKPIJN_CORS_ORIGINS (it is empty, CORS is off)" in caplog.text


def test_valid_submission_still_stored_under_the_limits(client):
    """The small limit leaves room for a real self-check (answers + consent + contact)."""
    given, code = OUTCOMES["appointment"]
    body = {"questionnaireResponse": questionnaire_response(given), "adviceCode": code, "language": "nl",
            "consent": True, "consentVersion": CONSENT_VERSION,
            "contact": {"name": "A. Jansen", "phoneOrEmail": "a.jansen@example.nl"}}
    raw = json.dumps(body)
    assert len(raw) < SMALL / 2
    response = client.post("/zelfcheck/submissions", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text


# -- the public endpoints' own thread pool ----------------------------------------------------------


def test_the_public_pool_runs_one_job_at_a_time_and_refuses_a_long_queue(monkeypatch):
    import threading
    import time as _time

    from service.store import offload

    monkeypatch.setattr(offload, "PUBLIC_QUEUE", 3)
    monkeypatch.setattr(offload, "_public", offload._PublicPool())
    running, peak, lock = [0], [0], threading.Lock()

    def job():
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        _time.sleep(0.05)
        with lock:
            running[0] -= 1
        return "done"

    async def main():
        return await asyncio.gather(*(offload.run_public(job) for _ in range(8)), return_exceptions=True)

    results = asyncio.run(main())
    assert peak[0] == offload.PUBLIC_THREADS == 1
    assert results.count("done") >= 3 and any(isinstance(r, offload.PublicBusy) for r in results)
    assert asyncio.run(offload.run_blocking(sum, [1, 2, 3])) == 6


def test_a_full_public_pool_answers_503_with_retry_after(client, monkeypatch):
    """PublicBusy from the pool becomes one 503 OperationOutcome, on $apply and on submissions alike."""
    from service.fhir_api import apply_route
    from service.self_check_page import routes as page_routes
    from service.store.offload import PublicBusy

    async def full(*_args, **_kwargs):
        raise PublicBusy()

    monkeypatch.setattr(apply_route, "run_public", full)
    monkeypatch.setattr(page_routes, "run_public", full)
    given, code = OUTCOMES["appointment"]
    submission = json.dumps({"questionnaireResponse": questionnaire_response(given), "adviceCode": code,
                             "language": "nl", "consent": True, "consentVersion": CONSENT_VERSION})
    for response in (client.post(APPLY_PATH, content=padded_apply(1000), headers=FHIR),
                     client.post("/zelfcheck/submissions", content=submission,
                                 headers={"Content-Type": "application/json"})):
        body = assert_outcome(response, 503, "busy")
        assert body["issue"][0]["code"] == "transient" and response.headers["Retry-After"] == "1"
