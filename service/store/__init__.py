"""Layer 5, the store: audit log, issued cards, feedback, JWT replay cache, sent self-checks.

SQLite by default (``sqlite:///var/nekpijn-cds.db``), PostgreSQL by URL
(``postgresql+psycopg://...``); versioned migrations in ``migrations.py``.
No raw patient reference is ever stored: the audit log keeps an HMAC of it
(a sent self-check names only the random per-visit id of its page visit).
Every database failure surfaces as :class:`StoreUnavailable`.
"""

from service.store.audit import AuditEntry
from service.store.errors import StoreUnavailable
from service.store.feedback import Feedback, IssuedCard
from service.store.migrations import LATEST as SCHEMA_VERSION
from service.store.self_check import SelfCheckSubmission
from service.store.store import Store

__all__ = ["SCHEMA_VERSION", "AuditEntry", "Feedback", "IssuedCard", "SelfCheckSubmission", "Store",
           "StoreUnavailable"]
