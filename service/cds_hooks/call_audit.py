"""A hook call is audited once, from one place, whatever branch it ends in.

`audited_call(request, service_id)` is an async context manager around the whole call; the
route fills in what it learns (hook, hookInstance, patient, profile, card summaries,
outcome, the issued cards) on the :class:`CallRecord` it yields. On the way out — an answer,
an FHIRError (400, 412, 415, …) or an unexpected exception (500) — exactly one audit row is
written, with the call's issued cards in the same transaction, off the event loop, before
the answer is sent (the route returns its response only after this block). Unknown service ids (404) and refused tokens (401, in the security layer)
never reach it: they are no call of a service.
"""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from starlette.requests import Request

from service.fhir_api.outcome import FHIRError
from service.store.feedback import IssuedCard
from service.store.offload import run_blocking
from service.store.recording import audit

log = logging.getLogger("nekpijn_cds.hooks")
#: longest hook / hookInstance kept from a body that failed validation (they are client text)
MAX_LABEL = 128


@dataclass
class CallRecord:
    service: str
    started: float = field(default_factory=time.perf_counter)
    hook: str | None = None
    hook_instance: str | None = None
    patient: str | None = None
    profile: str | None = None
    summaries: list[str] = field(default_factory=list)
    outcome: str | None = None  # "ok", "no-data"; None: from the status
    status: int = 200
    cards: list[IssuedCard] = field(default_factory=list)  # stored with the audit row (one transaction)

    def from_body(self, body: object) -> None:
        """hook and hookInstance of a body not yet validated (strings only, cut to MAX_LABEL)."""
        if isinstance(body, dict):
            for name, attr in (("hook", "hook"), ("hookInstance", "hook_instance")):
                value = body.get(name)
                if isinstance(value, str):
                    setattr(self, attr, value[:MAX_LABEL])


@asynccontextmanager
async def audited_call(request: Request, service_id: str):
    record = CallRecord(service_id)
    try:
        yield record
    except FHIRError as exc:
        record.status, record.outcome = exc.status, str(exc.status)
        raise
    except BaseException:
        record.status, record.outcome = 500, "error"
        raise
    finally:
        try:
            await run_blocking(audit, request, service=record.service, hook=record.hook,
                               hook_instance=record.hook_instance, patient=record.patient, profile=record.profile,
                               summaries=record.summaries, started=record.started,
                               outcome=record.outcome or str(record.status), status=record.status,
                               cards=record.cards)
        except Exception:  # noqa: BLE001 - the audit must never cost the clinician the answer
            log.exception("audit of a hook call failed")
