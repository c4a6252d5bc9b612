"""CDS Hooks 2.0 endpoints: discovery, service calls, feedback.

Protocol only: the case features and the plan come from the engine, the
cards from the cards package; no clinical rule lives here. One CDS service
per hook (services.py): the service id names the hook and the PlanDefinition.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.apply.engine import Engine
from service.apply.operation import negotiate_language
from service.cds_hooks.cards import card_records, render_cards
from service.cds_hooks.discovery import PREFETCH_KEYS, discovery
from service.cds_hooks.draft_orders import judged_orders, unchecked
from service.cds_hooks.feedback import FeedbackError, parse_feedback
from service.cds_hooks.fetch import PrefetchUnavailable, gather_resources
from service.cds_hooks.request import HookRequestError, parse_hook_request
from service.cds_hooks.services import CdsService, service as find_service
from service.cds_hooks.validation import invalid_resource
from service.facts.gather import NoDataError
from service.fhir_api.apply_route import read_json
from service.fhir_api.outcome import FHIRError
from service.store import IssuedCard, StoreUnavailable
from service.store.outage import outage_of
from service.store.recording import audit, store_safely

router = APIRouter(tags=["CDS Hooks"])
ORDER_HOOKS = {"order-select", "order-sign", "order-dispatch"}


def service_plan(engine: Engine, service_id: str) -> CdsService | None:
    """The CDS service of an id, or None: one service per named-event trigger of a plan
    (discovery lists exactly these; the patient self-check is not one)."""
    return find_service(engine, service_id)


def _json(body: dict, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


@router.get("/cds-services", summary="CDS Hooks discovery")
def discovery_endpoint(request: Request) -> JSONResponse:
    return _json(discovery(request.app.state.engine))


@router.post("/cds-services/{service_id}", summary="Call a CDS service")
async def call_service(service_id: str, request: Request) -> JSONResponse:
    started = time.perf_counter()
    engine: Engine = request.app.state.engine
    service = service_plan(engine, service_id)
    if service is None:
        raise FHIRError(404, "not-found", f"no CDS service '{service_id}'")
    body = await read_json(request)
    try:
        hook = parse_hook_request(body, [service.hook])
    except HookRequestError as exc:
        instance = body.get("hookInstance") if isinstance(body, dict) else None
        audit(request, service=service_id, hook=body.get("hook") if isinstance(body, dict) else None,
              hook_instance=instance if isinstance(instance, str) else None, patient=None, profile=None,
              summaries=[], started=started, outcome=str(exc.status), status=exc.status)
        raise FHIRError(exc.status, "invalid", exc.message, exc.expression) from None
    patient = hook.patient
    lang = negotiate_language(request.headers.get("accept-language"))
    settings = request.app.state.settings
    try:
        fetched = await gather_resources(hook, PREFETCH_KEYS[hook.hook], settings)
    except PrefetchUnavailable as exc:
        audit(request, service=service_id, hook=hook.hook, hook_instance=hook.hook_instance, patient=patient,
              profile=None, summaries=[], started=started, outcome="412", status=412)
        raise FHIRError(412, "incomplete", f"required data could not be obtained: {exc}") from None
    # decision-logic §11 v2: only ServiceRequests / Procedures of this patient are judged; other
    # draft orders (MedicationRequest, …) are never read, validated or a reason to fail
    orders = judged_orders(fetched.draft_orders, patient) if hook.hook in ORDER_HOOKS else None
    skipped = {id(r) for r in unchecked(fetched.draft_orders)}
    resources = [r for r in fetched.resources if id(r) not in skipped] if skipped else fetched.resources
    try:
        result = engine.apply(service.plan_id, resources, patient, now=request.app.state.clock(), lang=lang,
                              encounter=hook.encounter, practitioner=hook.practitioner, orders=orders)
        cards = render_cards(result, engine, service_id=service.id, plan_id=service.plan_id,
                             hook_instance=hook.hook_instance, lang=lang)
    except NoDataError:
        cards = []  # nothing known about this patient's neck pain: nothing to say
        audit(request, service=service_id, hook=hook.hook, hook_instance=hook.hook_instance, patient=patient,
              profile=None, summaries=[], started=started, outcome="no-data", status=200)
        return _json({"cards": cards})
    except (AttributeError, TypeError, KeyError, IndexError, ValueError):
        invalid = invalid_resource(fetched, orders or [])  # the data is not FHIR (client: 400, FHIR server: 412), or a bug
        if invalid is None:
            raise
        audit(request, service=service_id, hook=hook.hook, hook_instance=hook.hook_instance, patient=patient,
              profile=None, summaries=[], started=started, outcome=str(invalid.status), status=invalid.status)
        raise FHIRError(invalid.status, "structure", invalid.message, invalid.expression) from None
    issued_at = datetime.now(timezone.utc)
    records = [IssuedCard(uuid=r.uuid, service=service_id, hook_instance=hook.hook_instance, kind=r.kind,
                          override_reasons=list(r.override_reasons), suggestion_uuids=list(r.suggestion_uuids),
                          issued_at=issued_at) for r in card_records(cards)]
    store_safely(request, "cards", lambda store: store.remember_cards(records))
    profile = result.case.feature("treatment-profile")
    audit(request, service=service_id, hook=hook.hook, hook_instance=hook.hook_instance, patient=patient,
          profile=str(profile.value) if profile else None, summaries=[c["summary"] for c in cards],
          started=started, outcome="ok", status=200)
    return _json({"cards": cards})


@router.post("/cds-services/{service_id}/feedback", summary="Feedback on cards")
async def feedback(service_id: str, request: Request) -> JSONResponse:
    if service_plan(request.app.state.engine, service_id) is None:
        raise FHIRError(404, "not-found", f"no CDS service '{service_id}'")
    body = await read_json(request)
    store = request.app.state.store
    outage = outage_of(store)
    try:
        if not outage.should_try():  # a known outage: answer at once, the client retries
            raise StoreUnavailable("record_feedback", "store outage")
        items = parse_feedback(body, service_id, store)
        for item in items:
            store.record_feedback(**item)
    except FeedbackError as exc:
        raise FHIRError(exc.status, "invalid", exc.message, exc.expression) from None
    except StoreUnavailable as exc:
        if outage.should_try():
            outage.failed("feedback", exc, count=False)  # not lost: the client is told to retry
        raise FHIRError(503, "transient", "feedback cannot be stored right now; please retry") from None
    outage.recovered(store)
    return _json({})


@router.get("/cds-services/{service_id}/feedback/summary", summary="Feedback summary for quality review")
def feedback_summary(service_id: str, request: Request) -> JSONResponse:
    if service_plan(request.app.state.engine, service_id) is None:
        raise FHIRError(404, "not-found", f"no CDS service '{service_id}'")
    store = request.app.state.store
    outage = outage_of(store)
    try:
        if not outage.should_try():
            raise StoreUnavailable("feedback_summary", "store outage")
        rows = store.feedback_summary(service_id)
    except StoreUnavailable as exc:
        if outage.should_try():
            outage.failed("feedback", exc, count=False)
        raise FHIRError(503, "transient", "the feedback store is unavailable right now") from None
    return _json({"service": service_id, "cards": rows})
