"""POST /fhir/PlanDefinition/{id}/$apply → CarePlan (R4)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request

from service.apply.engine import Engine, UnknownPlan
from service.apply.operation import ApplyInputError, negotiate_language, parse_apply
from service.evaluation_date import EvaluationDateError, evaluation_instant
from service.facts.gather import NoDataError
from service.fhir_api.invalid_data import add_notes, screen_apply_body
from service.fhir_api.outcome import FHIRError, FHIRResponse
from service.fhir_api.routes import check_format
from service.jsonio import loads
from service.self_check_page.public import ANONYMOUS_APPLY_PLANS
from service.store.offload import run_blocking, run_public
from service.store.recording import audit

JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")

router = APIRouter(prefix="/fhir", tags=["FHIR operations"], dependencies=[Depends(check_format)])


#: deepest nesting of arrays and objects accepted in a body (FHIR content needs about 20)
MAX_JSON_DEPTH = 100
#: bodies above this are parsed in a worker thread (a 5 MB body takes tens of ms to parse)
LARGE_BODY_BYTES = 256 * 1024


def _depth_exceeds(value: object, limit: int) -> bool:
    """Whether arrays/objects nest deeper than `limit` (level by level: no recursion on hostile
    input, and no tuple per node — half the time of a stack of (node, depth) pairs)."""
    level = [value] if type(value) is dict or type(value) is list else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        below = []
        for node in level:
            for child in (node.values() if type(node) is dict else node):
                if type(child) is dict or type(child) is list:
                    below.append(child)
        level = below
    return False


async def read_json(request: Request) -> object:
    """The request body as JSON; 415 for another media type, 400 for bad JSON.

    Strict JSON: no NaN/Infinity (Python accepts them, nothing can answer
    them), and no nesting deeper than MAX_JSON_DEPTH (recursive processing
    of such a body would fail with a RecursionError, a 500).
    """
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in JSON_TYPES:
        raise FHIRError(415, "not-supported", f"Content-Type must be application/fhir+json, got {media or 'none'!r}")
    raw = await request.body()
    # a large body (hook calls and authenticated $apply take up to 5 MB) is parsed off the
    # event loop, so that one big request does not stall the others
    return (await run_blocking(parse_json, raw)) if len(raw) > LARGE_BODY_BYTES else parse_json(raw)


def parse_json(raw: bytes) -> object:
    """Strict JSON of a body (see read_json), or FHIRError 400."""
    try:
        body = loads(raw)  # orjson; the standard library's answer where orjson has none (service/jsonio.py)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FHIRError(400, "structure", f"the body is not valid JSON: {exc.__class__.__name__} at position "
                                          f"{getattr(exc, 'pos', '?')}") from None
    except RecursionError:  # nested beyond the parser's own limit
        raise FHIRError(400, "too-costly", f"the body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels") \
            from None
    if _depth_exceeds(body, MAX_JSON_DEPTH):
        raise FHIRError(400, "too-costly", f"the body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels")
    return body


async def _work(public: bool, fn, *args, **kwargs):
    """CPU work of a call (validation, evaluation) off the event loop: for the public
    (anonymous) plans in the public endpoints' own small pool, so anonymous callers can
    never take the threads authenticated calls use (service/store/offload.py)."""
    if public:
        return await run_public(fn, *args, **kwargs)
    return await run_blocking(fn, *args, **kwargs)


def _parse(body: object):
    """The $apply input, and the resources left out as not valid R4 (service/fhir_api/invalid_data.py)."""
    accepted: set[int] = set()  # each resource validated once: the Parameters check skips these
    cleaned, left_out = screen_apply_body(body, accepted)
    return parse_apply(cleaned, accepted), left_out


@router.post("/PlanDefinition/{plan_id}/$apply", summary="Apply a PlanDefinition to a patient's data")
async def apply_plan(plan_id: str, request: Request) -> FHIRResponse:
    """R4 `$apply`: returns a CarePlan with a contained RequestGroup, requests and case features.

    For the anonymous plans (the patient self-check) the call is public (see the
    security middleware) and leaves no trace in the store: no audit row.
    """
    engine: Engine = request.app.state.engine
    anonymous = plan_id in ANONYMOUS_APPLY_PLANS
    try:
        engine.plan(plan_id)
    except UnknownPlan:
        raise FHIRError(404, "not-found", f"PlanDefinition/{plan_id} is not known") from None
    body = await read_json(request)
    try:
        args, left_out = await _work(anonymous, _parse, body)  # FHIR validation
    except ApplyInputError as exc:
        raise FHIRError(exc.status, exc.code, exc.message, exc.expression) from None
    lang = args.lang or negotiate_language(request.headers.get("accept-language"))
    started = time.perf_counter()
    service = f"$apply:{plan_id}"
    try:
        now = evaluation_instant(request.headers, request.app.state.settings.allow_evaluation_date,
                                 request.app.state.clock)
    except EvaluationDateError as exc:
        raise FHIRError(400, "invalid", str(exc)) from None
    try:
        result = await _work(anonymous, engine.apply, plan_id, args.resources, args.subject, now=now, lang=lang,
                             encounter=args.encounter, practitioner=args.practitioner)
    except NoDataError as exc:
        if not anonymous:
            await run_blocking(audit, request, service=service, hook="$apply", hook_instance=None,
                               patient=args.subject, profile=None, summaries=[], started=started,
                               outcome="no-data", status=422)
        raise FHIRError(422, "not-found", str(exc)) from None
    add_notes(result.careplan, left_out, lang)
    if not anonymous:
        profile = result.case.feature("treatment-profile")
        await run_blocking(audit, request, service=service, hook="$apply", hook_instance=None,
                           patient=args.subject, profile=str(profile.value) if profile else None,
                           summaries=[result.careplan["title"]], started=started, outcome="ok", status=200)
    return FHIRResponse(result.careplan, headers={"Content-Language": lang})
