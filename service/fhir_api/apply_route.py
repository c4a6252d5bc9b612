"""POST /fhir/PlanDefinition/{id}/$apply → CarePlan (R4)."""

from __future__ import annotations

import json
import time

from fastapi import APIRouter, Depends, Request

from service.apply.engine import Engine, UnknownPlan
from service.apply.operation import ApplyInputError, negotiate_language, parse_apply
from service.facts.gather import NoDataError
from service.fhir_api.outcome import FHIRError, FHIRResponse
from service.fhir_api.routes import check_format
from service.store.recording import audit

JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")

router = APIRouter(prefix="/fhir", tags=["FHIR operations"], dependencies=[Depends(check_format)])


async def read_json(request: Request) -> object:
    """The request body as JSON; 415 for another media type, 400 for bad JSON."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in JSON_TYPES:
        raise FHIRError(415, "not-supported", f"Content-Type must be application/fhir+json, got {media or 'none'!r}")
    raw = await request.body()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FHIRError(400, "structure", f"the body is not valid JSON: {exc.__class__.__name__} at position "
                                          f"{getattr(exc, 'pos', '?')}") from None


@router.post("/PlanDefinition/{plan_id}/$apply", summary="Apply a PlanDefinition to a patient's data")
async def apply_plan(plan_id: str, request: Request) -> FHIRResponse:
    """R4 `$apply`: returns a CarePlan with a contained RequestGroup, requests and case features."""
    engine: Engine = request.app.state.engine
    try:
        engine.plan(plan_id)
    except UnknownPlan:
        raise FHIRError(404, "not-found", f"PlanDefinition/{plan_id} is not known") from None
    body = await read_json(request)
    try:
        args = parse_apply(body)
    except ApplyInputError as exc:
        raise FHIRError(exc.status, exc.code, exc.message, exc.expression) from None
    lang = args.lang or negotiate_language(request.headers.get("accept-language"))
    started = time.perf_counter()
    service = f"$apply:{plan_id}"
    try:
        result = engine.apply(plan_id, args.resources, args.subject, now=request.app.state.clock(), lang=lang,
                              encounter=args.encounter, practitioner=args.practitioner)
    except NoDataError as exc:
        audit(request, service=service, hook="$apply", hook_instance=None, patient=args.subject, profile=None,
              summaries=[], started=started, outcome="no-data", status=422)
        raise FHIRError(422, "not-found", str(exc)) from None
    profile = result.case.feature("treatment-profile")
    audit(request, service=service, hook="$apply", hook_instance=None, patient=args.subject,
          profile=str(profile.value) if profile else None, summaries=[result.careplan["title"]],
          started=started, outcome="ok", status=200)
    return FHIRResponse(result.careplan, headers={"Content-Language": lang})
