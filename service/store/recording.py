"""Recording from the HTTP layer: audit entries and other writes that must never
cost the clinician an answer (a store failure is logged, not raised).

During a store outage (``outage.py``) writes are not attempted but counted;
the outage is recorded in the audit log once the store is back."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime, timezone

from starlette.requests import Request

from service.store.audit import AuditEntry
from service.store.errors import StoreUnavailable
from service.store.feedback import IssuedCard
from service.store.outage import outage_of

log = logging.getLogger("nekpijn_cds.store")


def _issuer(request: Request) -> str | None:
    auth = request.scope.get("state", {}).get("auth")
    return getattr(auth, "issuer", None)


def store_safely(request: Request, what: str | tuple[str, ...], fn) -> None:
    """``fn(store)``; a failure (or a known outage) is counted as lost under each of *what*."""
    store = request.app.state.store
    outage = outage_of(store)
    whats = (what,) if isinstance(what, str) else what
    if not outage.should_try():
        for w in whats:
            outage.skipped(w)
        return
    try:
        fn(store)
    except StoreUnavailable as exc:
        for w in whats:
            outage.failed(w, exc)
        return
    outage.recovered(store)


def audit(request: Request, *, service: str, hook: str | None, hook_instance: str | None, patient: str | None,
          profile: str | None, summaries: list[str], started: float, outcome: str, status: int,
          cards: Sequence[IssuedCard] = ()) -> None:
    """One audit entry (no raw patient reference: a keyed hash; no token) and the call's issued
    cards, in one transaction: both are stored before the answer leaves, or both counted lost."""
    def write(store):
        store.record_call(AuditEntry(
            at=datetime.now(timezone.utc), service=service, hook=hook, hook_instance=hook_instance,
            issuer=_issuer(request), patient_hash=store.patient_hash(patient) if patient else None,
            profile=profile, card_summaries=summaries, duration_ms=(time.perf_counter() - started) * 1000,
            outcome=outcome, status=status), cards)
    store_safely(request, ("audit", "cards") if cards else "audit", write)
