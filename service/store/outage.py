"""A store outage, as the HTTP layer lives through it: fail fast, count, report.

When the database is down, hook calls must still be answered, at normal
speed. The first failure starts an *outage* (per store object, i.e. per
process):

* from then on, callers ask :meth:`Outage.should_try` and skip the store
  (the replay check goes local, audit and card writes are counted as not
  stored, feedback is answered 503) instead of waiting for a dead or hung
  database on every request (a connect timeout is 5 s by default);
* a background thread pings the store every ``PROBE_INTERVAL`` seconds;
  once it answers, callers try again;
* the first write that succeeds ends the outage: it is logged and recorded
  in the audit log as one entry with ``outcome`` ``store-outage`` (``at`` =
  the first failure, ``duration_ms`` = its length, ``card_summaries`` = what
  was not stored), so the audit log shows where it has a gap. Should that
  entry fail, the outage goes on.

Logging: the first failure is an error (operation and kind of failure only,
never data), a reminder with the counts at most once a minute, and the
recovery a warning.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import Counter
from datetime import datetime, timezone

from service.store.audit import AuditEntry
from service.store.errors import StoreUnavailable

log = logging.getLogger("nekpijn_cds.store")

OUTAGE_SERVICE = "nekpijn-cds"
OUTAGE_OUTCOME = "store-outage"
PROBE_INTERVAL = 1.0  # seconds between two pings while the store is down
REMINDER_INTERVAL = 60.0  # seconds between two "still unavailable" log lines
WHAT = {"audit": "audit entries", "cards": "issued-card records", "jti": "replay-cache records"}


class Outage:
    """The outage state of one store in this process (see the module docstring)."""

    def __init__(self, store) -> None:
        self._store = weakref.ref(store)
        self.lock = threading.Lock()
        self.started: datetime | None = None  # None: no outage
        self.answering = False  # the probe reached the store again: try it
        self.lost: Counter[str] = Counter()
        self._reminded = 0.0
        self._prober: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return self.started is not None

    def should_try(self) -> bool:
        """Whether to use the store now (no outage, or the probe says it answers again)."""
        return self.started is None or self.answering

    def failed(self, what: str, exc: StoreUnavailable, *, count: bool = True) -> None:
        """A store call failed; `count`: a write that is now lost (not one the client is told to retry)."""
        with self.lock:
            if count:
                self.lost[what] += 1
            if self.started is None:
                self.started = datetime.now(timezone.utc)
                self._reminded = time.monotonic()
                log.error("store unavailable (%s: %s); hook calls are still answered, writes are counted "
                          "until the store is back", exc.operation, exc.reason)
            self.answering = False
            self._start_prober()

    def skipped(self, what: str) -> None:
        """A write not attempted during the outage (lost)."""
        with self.lock:
            if self.started is None:
                return
            self.lost[what] += 1
            if time.monotonic() - self._reminded >= REMINDER_INTERVAL:
                self._reminded = time.monotonic()
                log.warning("store still unavailable since %s; not stored so far: %s",
                            self.started.isoformat(timespec="seconds"), _counts(self.lost))

    def recovered(self, store) -> None:
        """A store call succeeded: end the outage, with an audit entry about it."""
        if self.started is None:  # the usual case, without taking the lock
            return
        with self.lock:
            if self.started is None:
                return
            started, lost = self.started, self.lost
            self.started, self.lost, self.answering = None, Counter(), False
        ended = datetime.now(timezone.utc)
        counts = _counts(lost) or "nothing"
        entry = AuditEntry(
            at=started, service=OUTAGE_SERVICE, hook=None, hook_instance=None, issuer=None, patient_hash=None,
            card_summaries=[f"store unavailable from {started.isoformat(timespec='seconds')} to "
                            f"{ended.isoformat(timespec='seconds')} (process {os.getpid()})",
                            f"not stored: {counts}"],
            duration_ms=(ended - started).total_seconds() * 1000, outcome=OUTAGE_OUTCOME, status=503)
        try:
            store.record_audit(entry)
        except StoreUnavailable as exc:  # gone again: the outage goes on, from its first failure
            with self.lock:
                self.started = min(started, self.started) if self.started else started
                self.lost.update(lost)
                self.answering = False
                self._start_prober()
            log.debug("store unavailable again while recording the outage (%s)", exc.reason)
            return
        log.warning("store available again after %.1f s; not stored meanwhile: %s (recorded in the audit log)",
                    entry.duration_ms / 1000, counts)

    # -- the probe --------------------------------------------------------------

    def _start_prober(self) -> None:  # with self.lock held
        if self._prober is None:
            self._prober = threading.Thread(target=self._probe, name="nekpijn-store-probe", daemon=True)
            self._prober.start()

    def _probe(self) -> None:
        while True:
            time.sleep(PROBE_INTERVAL)
            store = self._store()
            answers = store is not None and self.started is not None and store.ping()
            with self.lock:
                if store is None or self.started is None or answers:
                    if answers and self.started is not None:
                        self.answering = True
                    self._prober = None
                    return


def _counts(lost: Counter) -> str:
    return ", ".join(f"{n} {WHAT.get(what, what)}" for what, n in sorted(lost.items()))


_outages: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_outages_lock = threading.Lock()


def outage_of(store) -> Outage:
    """The outage state of `store` in this process."""
    outage = _outages.get(store)
    if outage is None:
        with _outages_lock:
            outage = _outages.get(store)
            if outage is None:
                outage = _outages[store] = Outage(store)
    return outage
