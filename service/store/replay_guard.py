"""The JWT replay check, shared through the store, with a local fallback.

Replicas share the replay cache through the database. When the database is
unavailable, hook calls must still be answered (the clinician keeps getting
advice), so this process falls back to its own in-memory cache until the
database is back; the failure is logged once per outage.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone

from service.store.errors import StoreUnavailable

log = logging.getLogger("nekpijn_cds.store")


class ReplayGuard:
    def __init__(self, store):
        self.store = store
        self._local: dict[tuple[str, str], datetime] = {}
        self._lock = threading.Lock()
        self._degraded = False

    def seen_jti(self, issuer: str, jti: str, expires_at: datetime) -> bool:
        try:
            seen = self.store.seen_jti(issuer, jti, expires_at)
        except StoreUnavailable:
            if not self._degraded:
                log.error("store unavailable: JWT replay check falls back to this process only")
                self._degraded = True
            return self._seen_locally(issuer, jti, expires_at)
        if self._degraded:
            log.warning("store available again: JWT replay check shared again")
            self._degraded = False
        # a jti this process saw during an outage is a replay too
        return seen or self._seen_locally(issuer, jti, expires_at, record=False)

    def _seen_locally(self, issuer: str, jti: str, expires_at: datetime, record: bool = True) -> bool:
        now = datetime.now(timezone.utc)
        with self._lock:
            for key in [k for k, exp in self._local.items() if exp <= now]:
                del self._local[key]
            if (issuer, jti) in self._local:
                return True
            if record:
                self._local[(issuer, jti)] = expires_at
            return False
