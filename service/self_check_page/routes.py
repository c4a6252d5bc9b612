"""Routes of the patient self-check: the page, its static files, sending with consent.

Nothing is stored by viewing the page or by getting the advice (the page
posts to the public ``$apply`` of PlanDefinition ``nekklachten-zelfcheck``,
which stores nothing); only ``POST /zelfcheck/submissions``, with consent,
writes a row. Neither the answers nor contact details are ever logged.
"""

from __future__ import annotations

import hashlib
from datetime import timezone
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from service.apply.engine import UnknownPlan
from service.facts.gather import NoDataError
from service.fhir_api.outcome import FHIRError
from service.self_check_page import render
from service.self_check_page.public import PAGE_PATH, PAGE_SLASH_PATH, PLAN_ID, STATIC_PREFIX, SUBMISSIONS_PATH
from service.self_check_page.questionnaire import UnsupportedQuestionnaire, check_supported
from service.self_check_page.submission import (
    MAX_BYTES, SubmissionError, advice_of, check, parse_json, submission,
)
from service.self_check_page.texts import DEFAULT_LANGUAGE, LANGUAGES
from service.store import StoreUnavailable
from service.store.offload import run_blocking, run_public
from service.store.outage import outage_of

QUESTIONNAIRE_ID = "nekklachten-zelfcheck"
#: relative to the page (works behind a proxy that mounts the service under a path prefix)
APPLY_URL = f"fhir/PlanDefinition/{PLAN_ID}/$apply"

STATIC_DIR = Path(__file__).parent / "static"
_MEDIA = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
STATIC_FILES = {p.name: p for p in STATIC_DIR.iterdir() if p.suffix in _MEDIA} if STATIC_DIR.is_dir() else {}

#: no inline script or style, nothing from elsewhere, no framing
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

router = APIRouter(tags=["Patient self-check"])


def _static_urls() -> dict[str, str]:
    """Static file → its URL relative to the page, with a content hash (cache busting)."""
    urls = {}
    for name, path in STATIC_FILES.items():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        urls[name] = f"zelfcheck/static/{name}?v={digest}"
    return urls


_STATIC_URLS = _static_urls()


def _language(request: Request) -> str:
    lang = (request.query_params.get("lang") or "").strip().lower()[:5].split("-")[0]
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


@router.api_route(PAGE_PATH, methods=["GET", "HEAD"], include_in_schema=False)
def self_check_page(request: Request) -> HTMLResponse:
    """The self-check: the Questionnaire as a form, Dutch unless ``?lang=en``."""
    lang = _language(request)
    headers = {**SECURITY_HEADERS, "Content-Language": lang, "Cache-Control": "no-store"}
    questionnaire = request.app.state.knowledge.get("Questionnaire", QUESTIONNAIRE_ID)
    try:
        if questionnaire is None:
            raise UnsupportedQuestionnaire(f"Questionnaire/{QUESTIONNAIRE_ID} is not loaded")
        check_supported(questionnaire)
    except UnsupportedQuestionnaire:
        return HTMLResponse(render.unavailable_page(lang, _STATIC_URLS), status_code=503, headers=headers)
    html = render.page(questionnaire, lang, apply_url=APPLY_URL, submissions_url=SUBMISSIONS_PATH.lstrip("/"),
                       static=_STATIC_URLS)
    return HTMLResponse(html, headers=headers)


@router.api_route(PAGE_SLASH_PATH, methods=["GET", "HEAD"], include_in_schema=False)
def self_check_page_slash(request: Request) -> RedirectResponse:
    """``/zelfcheck/`` → ``/zelfcheck`` (relative: also right behind a proxy's path prefix), query kept."""
    query = request.url.query
    return RedirectResponse("../zelfcheck" + (f"?{query}" if query else ""), status_code=301)


@router.api_route(STATIC_PREFIX + "{name}", methods=["GET", "HEAD"], include_in_schema=False)
def self_check_static(name: str) -> Response:
    path = STATIC_FILES.get(name)
    if path is None:
        raise FHIRError(404, "not-found", "no such file")
    return Response(path.read_bytes(), media_type=_MEDIA[path.suffix],
                    headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})


async def _bounded_body(request: Request) -> bytes:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ("application/json", "application/fhir+json"):
        raise SubmissionError(415, "not-supported", "Content-Type must be application/json")
    length = request.headers.get("content-length")
    if length is not None and length.strip().isdigit() and int(length) > MAX_BYTES:
        raise SubmissionError(413, "too-costly", f"the body is larger than {MAX_BYTES} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BYTES:
            raise SubmissionError(413, "too-costly", f"the body is larger than {MAX_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(SUBMISSIONS_PATH, include_in_schema=False, status_code=201)
async def self_check_submission(request: Request) -> JSONResponse:
    """Store a self-check the visitor chose to send, with their consent; 201 with a receipt."""
    questionnaire = request.app.state.knowledge.get("Questionnaire", QUESTIONNAIRE_ID)
    if questionnaire is None:
        raise FHIRError(503, "not-found", "the self-check is not available")
    try:
        raw = await _bounded_body(request)
        # parsing, FHIR validation and the advice: CPU work, off the event loop (the public pool)
        checked, advice = await run_public(_checked, request, raw, questionnaire)
    except SubmissionError as exc:
        raise FHIRError(exc.status, exc.code, exc.message, exc.expression) from None
    now = request.app.state.clock().astimezone(timezone.utc)
    store = request.app.state.store
    outage = outage_of(store)
    try:
        if not outage.should_try():
            raise StoreUnavailable("record_self_check", "store outage")
        receipt = await run_blocking(  # a database write: off the event loop
            store.record_self_check, submission(checked, str(checked.response["questionnaire"]), advice, now))
    except StoreUnavailable as exc:
        if outage.should_try():
            outage.failed("self-check", exc, count=False)  # not lost: the visitor is told to try again
        raise FHIRError(503, "transient", "the self-check cannot be stored right now; please try again later") \
            from None
    outage.recovered(store)
    housekeeping = getattr(request.app.state, "housekeeping", None)
    if housekeeping is not None:  # purge self-checks past their retention (at most once per interval)
        await run_blocking(housekeeping.run_when_due)
    return JSONResponse({"receipt": receipt, "advice": advice,
                         "stored": now.isoformat(timespec="seconds").replace("+00:00", "Z")},
                        status_code=201, headers={"Cache-Control": "no-store"})


def _checked(request: Request, raw: bytes, questionnaire: dict):
    """(the checked submission, its advice); SubmissionError for anything wrong. Runs in a worker thread."""
    checked = check(parse_json(raw), questionnaire)
    return checked, _advice(request, checked)


def _advice(request: Request, checked) -> str:
    """The advice for the answers, computed again here; it must be the one the page showed."""
    engine = request.app.state.engine
    try:
        result = engine.apply(PLAN_ID, [checked.response], checked.subject, now=request.app.state.clock(),
                              lang=checked.language)
    except UnknownPlan:
        raise SubmissionError(503, "not-found", "the self-check advice is not available") from None
    except NoDataError:
        raise SubmissionError(422, "business-rule", "no advice can be given for these answers",
                              "questionnaireResponse") from None
    advice = advice_of(result.careplan)
    if advice is None:
        raise SubmissionError(422, "business-rule", "no advice can be given for these answers",
                              "questionnaireResponse")
    if advice != checked.advice:
        raise SubmissionError(422, "business-rule", "adviceCode is not the advice for these answers: reload the "
                                                    "page and do the self-check again", "adviceCode")
    return advice
