"""CDS Hooks 2.0 endpoints: discovery, service calls, feedback.

Protocol only: the case features and the plan come from the engine, the
cards from the cards package; no clinical rule lives here. One CDS service
per hook (services.py): the service id names the hook and the PlanDefinition.
"""

from __future__ import annotations

from datetime import datetime, timezone

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from service.apply.engine import Engine
from service.apply.operation import negotiate_language
from service.cds_hooks.cards import card_records, render_cards
from service.cds_hooks.discovery import PREFETCH_KEYS, discovery_answer
from service.cds_hooks.draft_orders import judged_orders, unchecked
from service.cds_hooks.feedback import FeedbackError, parse_feedback
from service.cds_hooks.fetch import PrefetchUnavailable, gather_resources
from service.cds_hooks.request import HookRequestError, parse_hook_request
from service.cds_hooks.services import CdsService, service as find_service
from service.cds_hooks.call_audit import audited_call
from service.cds_hooks.subjects import localise
from service.cds_hooks.validation import screen
from service.evaluation_date import EvaluationDateError, evaluation_instant
from service.facts.gather import NoDataError
from service.fhir_api.apply_route import LARGE_BODY_BYTES, read_json
from service.fhir_api.invalid_data import add_notes
from service.fhir_api.outcome import FHIRError
from service.jsonio import JSONAnswer
from service.store import IssuedCard, StoreUnavailable
from service.store.offload import run_blocking
from service.store.outage import outage_of

router = APIRouter(tags=["CDS Hooks"])
ORDER_HOOKS = {"order-select", "order-sign", "order-dispatch"}


def service_plan(engine: Engine, service_id: str) -> CdsService | None:
    """The CDS service of an id, or None: one service per named-event trigger of a plan
    (discovery lists exactly these; the patient self-check is not one)."""
    return find_service(engine, service_id)


def _json(body: dict, status: int = 200) -> JSONResponse:
    return JSONAnswer(body, status_code=status)  # orjson (service/jsonio.py)


@router.get("/cds-services", summary="CDS Hooks discovery")
async def discovery_endpoint(request: Request) -> Response:
    # the document depends on the knowledge only: serialised once (discovery.py); no thread needed
    return Response(discovery_answer(request.app.state.engine), media_type="application/json")


@router.post("/cds-services/{service_id}", summary="Call a CDS service")
async def call_service(service_id: str, request: Request) -> JSONResponse:
    engine: Engine = request.app.state.engine
    service = service_plan(engine, service_id)
    if service is None:
        raise FHIRError(404, "not-found", f"no CDS service '{service_id}'")
    async with audited_call(request, service_id) as record:  # one audit row, whatever the branch
        body = await read_json(request)
        record.from_body(body)
        try:
            hook = parse_hook_request(body, [service.hook])
        except HookRequestError as exc:
            raise FHIRError(exc.status, "invalid", exc.message, exc.expression) from None
        record.hook, record.hook_instance, record.patient = hook.hook, hook.hook_instance, hook.patient
        settings = request.app.state.settings
        try:  # the same switch and answer as $apply (service/evaluation_date.py)
            now = evaluation_instant(request.headers, settings.allow_evaluation_date, request.app.state.clock)
        except EvaluationDateError as exc:
            raise FHIRError(400, "invalid", str(exc)) from None
        lang = negotiate_language(request.headers.get("accept-language"))
        try:
            fetched = await gather_resources(hook, PREFETCH_KEYS[hook.hook], settings)
        except PrefetchUnavailable as exc:
            # the details (timeout, refused, HTTP status…) only in the log (fetch.py): the answer must not
            # tell a closed port from an open one, nor anything else about the network behind fhirServer
            raise FHIRError(412, "incomplete", exc.public) from None
        # data from the FHIR server or a large body: screened off the event loop (the body read above is cached)
        large = bool(fetched.fetched_keys) or len(await request.body()) > LARGE_BODY_BYTES
        result, cards = await _evaluate(engine, service, hook, fetched, now, lang, record, large)
        if result is None:
            return _json({"cards": []})
        issued_at = datetime.now(timezone.utc)
        # stored with the audit row, in one transaction, before the answer leaves (call_audit.py)
        record.cards = [IssuedCard(uuid=r.uuid, service=service_id, hook_instance=hook.hook_instance, kind=r.kind,
                                   override_reasons=list(r.override_reasons),
                                   suggestion_uuids=list(r.suggestion_uuids), issued_at=issued_at,
                                   issuer=_issuer_of(request)) for r in card_records(cards)]
        profile = result.case.feature("treatment-profile")
        record.profile = str(profile.value) if profile else None
        record.summaries, record.outcome = [c["summary"] for c in cards], "ok"
        return _json({"cards": cards})


async def _evaluate(engine: Engine, service: CdsService, hook, fetched, now, lang: str, record, large: bool):
    """(result, cards) of a call; (None, []) when nothing is known about the patient's neck pain.

    The invalid-data policy (validation.py): resources that are not valid R4 are left out and
    named in the CarePlan note; an invalid Patient of the context patient refuses the call."""
    patient = hook.patient
    # decision-logic §11 v2: only ServiceRequests / Procedures of this patient are judged; other
    # draft orders (MedicationRequest, …) are never read, validated or a reason to fail
    orders = judged_orders(fetched.draft_orders, patient, hook.fhir_server) if hook.hook in ORDER_HOOKS else None
    skipped = {id(r) for r in unchecked(fetched.draft_orders)}
    # large data is screened off the event loop, as read_json parses a large body; the usual prefetch
    # (25 KB: ~0.5 ms) here: a thread hop costs 0.15-0.2 ms of CPU itself (docs/performance.md)
    screened = await run_blocking(screen, fetched, orders or [], patient) if large else \
        screen(fetched, orders or [], patient)
    if screened.refused is not None:
        bad = screened.refused
        raise FHIRError(bad.status, "structure", bad.message, bad.expression)
    left_out = skipped | screened.invalid
    resources = [r for r in fetched.resources if id(r) not in left_out] if left_out else fetched.resources
    resources = localise(resources, patient, hook.fhir_server)
    if orders is not None:
        orders = localise([o for o in orders if id(o) not in screened.invalid], patient, hook.fhir_server)
    try:
        # large data is evaluated off the event loop too (issue 14: one request must not stall the others)
        args = (service.plan_id, resources, patient)
        options = dict(now=now, lang=lang, encounter=hook.encounter, practitioner=hook.practitioner, orders=orders)
        result = await run_blocking(engine.apply, *args, **options) if large else engine.apply(*args, **options)
    except NoDataError:
        record.outcome = "no-data"  # nothing known about this patient's neck pain: nothing to say
        return None, []
    add_notes(result.careplan, screened.notes, lang)
    cards = render_cards(result, engine, service_id=service.id, plan_id=service.plan_id,
                         hook_instance=hook.hook_instance, lang=lang)
    return result, cards


def _issuer_of(request: Request) -> str | None:
    """The authenticated caller (None with NEKPIJN_AUTH=off): cards are bound to it for feedback."""
    return getattr(request.scope.get("state", {}).get("auth"), "issuer", None)


@router.post("/cds-services/{service_id}/feedback", summary="Feedback on cards")
async def feedback(service_id: str, request: Request) -> JSONResponse:
    if service_plan(request.app.state.engine, service_id) is None:
        raise FHIRError(404, "not-found", f"no CDS service '{service_id}'")
    body = await read_json(request)
    store = request.app.state.store
    outage = outage_of(store)
    issuer, now = _issuer_of(request), request.app.state.clock()
    try:
        if not outage.should_try():  # a known outage: answer at once, the client retries
            raise StoreUnavailable("record_feedback", "store outage")
        # store reads and writes off the event loop (service/store/offload.py)
        await run_blocking(_record_feedback, body, service_id, store, issuer, now)
    except FeedbackError as exc:
        raise FHIRError(exc.status, exc.code, exc.message, exc.expression) from None
    except StoreUnavailable as exc:
        if outage.should_try():
            outage.failed("feedback", exc, count=False)  # not lost: the client is told to retry
        raise FHIRError(503, "transient", "feedback cannot be stored right now; please retry") from None
    outage.recovered(store)
    return _json({})


def _record_feedback(body: object, service_id: str, store, issuer: str | None, now: datetime) -> None:
    for item in parse_feedback(body, service_id, store, issuer, now):
        store.record_feedback(**item)


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
