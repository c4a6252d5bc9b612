"""Recording from the HTTP layer: audit entries and other writes that must never
cost the clinician an answer (a store failure is logged, not raised).

During a store outage (``outage.py``) writes are not attempted but counted;
the outage is recorded in the audit log once the store is back."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

from starlette.requests import Request

from service.store.audit import AuditEntry
from service.store.errors import StoreUnavailable
from service.store.outage import outage_of

log = logging.getLogger("nekpijn_cds.store")


def _issuer(request: Request) -> str | None:
    auth = request.scope.get("state", {}).get("auth")
    return getattr(auth, "issuer", None)


def store_safely(request: Request, what: str, fn) -> None:
    store = request.app.state.store
    outage = outage_of(store)
    if not outage.should_try():
        outage.skipped(what)
        return
    try:
        fn(store)
    except StoreUnavailable as exc:
        outage.failed(what, exc)
        return
    outage.recovered(store)


def audit(request: Request, *, service: str, hook: str | None, hook_instance: str | None, patient: str | None,
          profile: str | None, summaries: list[str], started: float, outcome: str, status: int) -> None:
    """One audit entry: no raw patient reference (a keyed hash), no token."""
    def write(store):
        store.record_audit(AuditEntry(
            at=datetime.now(timezone.utc), service=service, hook=hook, hook_instance=hook_instance,
            issuer=_issuer(request), patient_hash=store.patient_hash(patient) if patient else None,
            profile=profile, card_summaries=summaries, duration_ms=(time.perf_counter() - started) * 1000,
            outcome=outcome, status=status))
    store_safely(request, "audit", write)
