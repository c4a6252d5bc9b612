"""The rate limiter of the public endpoints: counted in the store, with a local fallback.

Replicas share the counts through the database (``rate_limit.py``), so a
client's budget is the same whichever replica it reaches. When the store is
unavailable the limit is still applied, by this process alone, in memory
(the outage is reported by ``outage.py`` as for every other store call); a
rate-limit count is no write anyone waits for, so nothing is counted as lost.

The client is stored as a keyed hash of its address (``Store.client_hash``);
the local fallback keeps the address in memory only, for the current window.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from service.store.errors import StoreUnavailable
from service.store.outage import outage_of
from service.store.rate_limit import window_end

LOCAL_MAX_KEYS = 10_000  # local fallback: windows kept in memory at most


class RateLimitGuard:
    def __init__(self, store, housekeeping=None, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.housekeeping = housekeeping
        self.clock = clock
        self._local: dict[tuple[str, str, int], int] = {}
        self._lock = threading.Lock()

    def hit(self, bucket: str, client: str, limit: int, window: int) -> float | None:
        """Count one request; None when within *limit* per *window* s, else the seconds until the window ends."""
        now = self.clock()
        outage = outage_of(self.store)
        if not outage.should_try():
            return self._verdict(*self._hit_locally(bucket, client, window, now), limit, now)
        try:
            hits, end = self.store.rate_limit_hit(bucket, self.store.client_hash(client), window, now)
        except StoreUnavailable as exc:
            outage.failed("rate-limit", exc, count=False)
            return self._verdict(*self._hit_locally(bucket, client, window, now), limit, now)
        outage.recovered(self.store)
        if self.housekeeping is not None:
            self.housekeeping.run_when_due()
        return self._verdict(hits, end, limit, now)

    @staticmethod
    def _verdict(hits: int, end: int, limit: int, now: float) -> float | None:
        return None if hits <= limit else max(end - now, 0.0)

    def _hit_locally(self, bucket: str, client: str, window: int, now: float) -> tuple[int, int]:
        end = window_end(now, window)
        with self._lock:
            if len(self._local) >= LOCAL_MAX_KEYS:
                for key in [k for k in self._local if k[2] <= now]:
                    del self._local[key]
                if len(self._local) >= LOCAL_MAX_KEYS:  # a flood of addresses: start over (fail open, bounded)
                    self._local.clear()
            key = (bucket, client, end)
            self._local[key] = self._local.get(key, 0) + 1
            return self._local[key], end
