"""Benchmark floor: ``POST /cds-services/_floor`` (mounted only with ``NEKPIJN_BENCH_FLOOR=1``).

The cost of HTTP + JWT + JSON alone, for ``bench/service.py``: the request
goes through the same middleware (request log, CORS, body limit, JWT with the
replay cache) as a real hook call, the body is read, parsed and checked with
the same request validation as a hook call of ``nekpijn-behandelprofiel``
(hook, context, prefetch shape), and a fixed card is returned. No engine, no
store write beyond the replay cache, no audit. Never mount it in production.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.cds_hooks.request import HookRequestError, parse_hook_request
from service.fhir_api.apply_route import read_json
from service.fhir_api.outcome import FHIRError

router = APIRouter(tags=["Benchmark"], include_in_schema=False)

FLOOR_HOOKS = ["patient-view", "encounter-start", "order-select", "order-sign"]
FIXED_CARD = {
    "uuid": "00000000-0000-4000-8000-000000000000",
    "summary": "Benchmark floor: fixed card",
    "indicator": "info",
    "source": {"label": "Nekpijn CDS benchmark"},
}


@router.post("/cds-services/_floor", summary="Benchmark floor (HTTP + JWT + JSON only)")
async def floor(request: Request) -> JSONResponse:
    body = await read_json(request)
    try:
        parse_hook_request(body, FLOOR_HOOKS)
    except HookRequestError as exc:
        raise FHIRError(exc.status, "invalid", exc.message, exc.expression) from None
    return JSONResponse({"cards": [FIXED_CARD]})
