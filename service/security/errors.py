"""The authentication error and its reason categories.

A reason is a fixed, short phrase naming *why* a request was refused. It is
safe to log and to return to the client: it never contains the token, a claim
value or anything else taken from the request.
"""

from __future__ import annotations

MISSING_TOKEN = "missing bearer token"
MALFORMED_TOKEN = "malformed token"
ALGORITHM_NOT_ALLOWED = "algorithm not allowed"
MISSING_KID = "missing kid"
UNKNOWN_ISSUER = "unknown issuer"
UNKNOWN_KEY = "unknown key"
JKU_NOT_ALLOWED = "jku not allowed"
KEYS_UNAVAILABLE = "issuer keys unavailable"
BAD_SIGNATURE = "bad signature"
MISSING_CLAIM = "missing or invalid claim"
EXPIRED = "expired"
ISSUED_IN_FUTURE = "issued in the future"
NOT_YET_VALID = "not yet valid"
AUDIENCE_MISMATCH = "audience mismatch"
REPLAYED = "replayed"
LIFETIME_TOO_LONG = "token lifetime too long"
DUPLICATE_AUTHORIZATION = "more than one authorization header"

REASONS = frozenset({
    MISSING_TOKEN, MALFORMED_TOKEN, ALGORITHM_NOT_ALLOWED, MISSING_KID,
    UNKNOWN_ISSUER, UNKNOWN_KEY, JKU_NOT_ALLOWED, KEYS_UNAVAILABLE,
    BAD_SIGNATURE, MISSING_CLAIM, EXPIRED, ISSUED_IN_FUTURE, NOT_YET_VALID,
    AUDIENCE_MISMATCH, REPLAYED, LIFETIME_TOO_LONG, DUPLICATE_AUTHORIZATION,
})


class AuthError(Exception):
    """A request's credentials were refused; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str) -> None:
        if reason not in REASONS:  # programming error: keep messages fixed
            raise ValueError(f"unknown auth failure reason {reason!r}")
        super().__init__(reason)
        self.reason = reason
