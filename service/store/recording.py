"""Recording from the HTTP layer: audit entries and other writes that must never
cost the clinician an answer (a store failure is logged, not raised)."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

from starlette.requests import Request

from service.store.audit import AuditEntry
from service.store.errors import StoreUnavailable

log = logging.getLogger("nekpijn_cds.store")


def _issuer(request: Request) -> str | None:
    auth = request.scope.get("state", {}).get("auth")
    return getattr(auth, "issuer", None)


def store_safely(request: Request, what: str, fn) -> None:
    try:
        fn(request.app.state.store)
    except StoreUnavailable as exc:
        log.error("store unavailable while saving %s: %s", what, type(exc).__name__)


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
