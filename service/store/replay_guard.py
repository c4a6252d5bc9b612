"""The JWT replay check, shared through the store, with a local fallback.

Replicas share the replay cache through the database. When the database is
unavailable, hook calls must still be answered (the clinician keeps getting
advice), so this process falls back to its own in-memory cache until the
database is back; the failure is logged once per outage. During a known
outage (``outage.py``) the database is not asked at all until a probe finds
it answering again, so a hung database does not cost every call a connect
timeout.

Expired rows are purged here too, at most once per ``purge_interval`` seconds
per process (one indexed ``DELETE``), so the shared table holds only tokens
that are still valid. Several replicas purging is harmless.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone

from service.store.errors import StoreUnavailable
from service.store.outage import outage_of

log = logging.getLogger("nekpijn_cds.store")


#: seconds between purges of expired replay-cache rows (per process)
PURGE_INTERVAL = 300.0


class ReplayGuard:
    def __init__(self, store, purge_interval: float = PURGE_INTERVAL):
        self.store = store
        self._local: dict[tuple[str, str], datetime] = {}
        self._lock = threading.Lock()
        self._degraded = False
        self.purge_interval = purge_interval
        self._purge_lock = threading.Lock()
        self._next_purge = time.monotonic() + purge_interval

    def seen_jti(self, issuer: str, jti: str, expires_at: datetime) -> bool:
        outage = outage_of(self.store)
        if not outage.should_try():  # a known outage: do not wait for the database on every call
            outage.skipped("jti")
            return self._seen_locally(issuer, jti, expires_at)
        try:
            seen = self.store.seen_jti(issuer, jti, expires_at)
        except StoreUnavailable as exc:
            if not self._degraded:
                log.error("store unavailable: JWT replay check falls back to this process only")
                self._degraded = True
            outage.failed("jti", exc)
            return self._seen_locally(issuer, jti, expires_at)
        outage.recovered(self.store)
        if self._degraded:
            log.warning("store available again: JWT replay check shared again")
            self._degraded = False
        self._purge_when_due()
        # a jti this process saw during an outage is a replay too
        return seen or self._seen_locally(issuer, jti, expires_at, record=False)

    def _purge_when_due(self) -> None:
        """Delete expired replay-cache rows when the interval has passed (one thread does it)."""
        if time.monotonic() < self._next_purge or not self._purge_lock.acquire(blocking=False):
            return
        try:
            self._next_purge = time.monotonic() + self.purge_interval
            deleted = self.store.purge_expired()
            if deleted:
                log.debug("purged %d expired replay-cache entries", deleted)
        except StoreUnavailable as exc:  # the next call's check reports the outage; retry next interval
            log.warning("purging the replay cache failed (%s)", type(exc).__name__)
        finally:
            self._purge_lock.release()

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
