"""Periodic clean-up of the store, done by the requests themselves (no scheduler, no extra process).

Like the replay cache's purge (``replay_guard.py``): at most once per
``interval`` seconds per process, by whichever request comes first
(:meth:`Housekeeping.run_when_due`, non-blocking: a second thread does not
wait, it skips), and once at start-up. Several replicas doing it is harmless
(each ``DELETE`` is indexed and idempotent).

* sent self-checks older than the retention period
  (``NEKPIJN_SUBMISSION_RETENTION_DAYS``, default 90) are deleted;
* rate-limit windows that have ended are deleted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from service.store.errors import StoreUnavailable

log = logging.getLogger("nekpijn_cds.store")

#: seconds between two clean-ups (per process)
INTERVAL = 300.0


class Housekeeping:
    def __init__(self, store, retention_days: int, interval: float = INTERVAL,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        if retention_days <= 0:
            raise ValueError("retention_days must be positive")
        self.store = store
        self.retention = timedelta(days=retention_days)
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._next = 0.0  # due at once (start-up)

    def run_when_due(self) -> None:
        """Clean up if the interval has passed and no other thread is at it; never raises StoreUnavailable."""
        if time.monotonic() < self._next or not self._lock.acquire(blocking=False):
            return
        try:
            self._next = time.monotonic() + self.interval
            self.run()
        except StoreUnavailable as exc:  # retried next interval; the outage is reported by the callers
            log.warning("store clean-up failed (%s); retrying in %.0f s", type(exc).__name__, self.interval)
        finally:
            self._lock.release()

    def run(self) -> tuple[int, int]:
        """Purge now: (sent self-checks deleted, rate-limit windows deleted)."""
        now = self.clock()
        submissions = self.store.purge_self_checks(now - self.retention)
        windows = self.store.purge_rate_limits(now.timestamp())
        if submissions:
            log.info("purged %d sent self-check(s) older than %d days", submissions, self.retention.days)
        if windows:
            log.debug("purged %d ended rate-limit windows", windows)
        return submissions, windows
