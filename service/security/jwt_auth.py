"""Verification of the CDS Client's JWT bearer (CDS Hooks §Trusting CDS Clients).

:meth:`Verifier.verify` checks, in this order, and stops at the first failure:

1. the header: ``alg`` is ES384 or RS384 (never ``none``, never HMAC, nothing
   else; checked before any key is looked at), ``kid`` present, ``typ`` (if
   present) ``JWT``, no ``crit``/``b64`` extensions;
2. ``iss`` is a trusted issuer; the key named by ``kid`` (from the issuer's
   out-of-band JWK Set, or from ``jku`` if on the issuer's allowlist) fits the
   algorithm (EC P-384 / RSA >= 2048 bits);
3. the signature;
4. ``exp`` (required, in the future), ``iat`` (required, not in the future),
   ``nbf`` (if present), each with :data:`LEEWAY` seconds of clock skew; each
   a finite whole number of seconds between 1970 and 9999 (NaN, ±Infinity,
   1e999 or ±1e20 are refused, never a 500); ``exp − iat`` at most
   ``settings.max_token_lifetime`` seconds (default 300, as CDS Hooks clients
   issue them), so that no jti is kept for years;
5. ``aud`` names one of the audience candidates (the endpoint URL being
   called or a configured audience), comparing URLs without a trailing slash;
6. ``jti`` (required) has not been seen before for this issuer. This comes
   last so that only fully valid tokens are recorded in the replay store.
"""

from __future__ import annotations

import binascii
import functools
import json
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol
from urllib.parse import urlsplit

import jwt
from jwt.exceptions import PyJWTError
from jwt.utils import base64url_decode

import orjson

from service.security.errors import (
    ALGORITHM_NOT_ALLOWED,
    AUDIENCE_MISMATCH,
    BAD_SIGNATURE,
    EXPIRED,
    ISSUED_IN_FUTURE,
    MALFORMED_TOKEN,
    MISSING_CLAIM,
    LIFETIME_TOO_LONG,
    MISSING_KID,
    NOT_YET_VALID,
    REPLAYED,
    UNKNOWN_ISSUER,
    AuthError,
)
from service.security.issuers import TrustedIssuers

ALLOWED_ALGORITHMS = ("ES384", "RS384")
LEEWAY = 60                # seconds of clock skew tolerated on exp, iat and nbf
MAX_TOKEN_LENGTH = 16_384  # characters; longer bearer strings are refused unparsed
MAX_JTI_LENGTH = 255
MIN_RSA_BITS = 2048
MAX_NUMERIC_DATE = 253_402_300_799  # 9999-12-31T23:59:59Z: beyond it datetime cannot represent the claim
DEFAULT_MAX_LIFETIME = 300          # seconds between iat and exp
KEY_CACHE_SIZE = 64                 # parsed public keys kept (per verifier)

__all__ = ["ALLOWED_ALGORITHMS", "AuthError", "Claims", "ReplayCache", "Verifier"]


class ReplayCache(Protocol):
    """Remembers ``jti`` values until the token's expiry (the store implements it)."""

    def seen_jti(self, issuer: str, jti: str, expires_at: datetime) -> bool:
        """Record *jti* for *issuer*; True when it was already recorded (a replay)."""


@dataclass(frozen=True)
class Claims:
    """The verified identity of the caller, for authorization and audit.

    ``sub`` and ``tenant`` are left out of ``repr`` so that a stray log call
    does not write them.
    """

    issuer: str
    jti: str
    sub: str | None = field(default=None, repr=False)
    tenant: str | None = field(default=None, repr=False)
    audience: str = ""
    kid: str = ""
    alg: str = ""
    issued_at: datetime | None = None
    expires_at: datetime | None = None

    def audit(self) -> dict[str, str | None]:
        """The fields to keep in an audit record."""
        return {"issuer": self.issuer, "sub": self.sub, "jti": self.jti, "tenant": self.tenant}


def normalize_url(url: str) -> str:
    """URL for audience comparison: lower-case scheme and host, no default port,
    no trailing slash on the path. Non-URL strings are compared as they are
    (minus a trailing slash)."""
    url = url.strip()
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return url.rstrip("/")
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        return url.rstrip("/")
    if port is not None and (scheme, port) not in (("https", 443), ("http", 80)):
        host = f"{host}:{port}"
    path = parts.path.rstrip("/")
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{host}{path}{query}"


def _numeric_date(value: object) -> int | None:
    """A JWT NumericDate we accept: a finite whole number of seconds in 0..9999-12-31."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return None
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= MAX_NUMERIC_DATE:
        return None
    return value


def _optional_str(claims: dict, name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise AuthError(MISSING_CLAIM)
    return value


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def _check_key_fits(jwk: dict, alg: str) -> None:
    """The JWK must be of the kind the algorithm uses (no cross-type confusion)."""
    if "alg" in jwk and jwk["alg"] != alg:
        raise AuthError(ALGORITHM_NOT_ALLOWED)
    if alg == "ES384" and (jwk.get("kty") != "EC" or jwk.get("crv") != "P-384"):
        raise AuthError(ALGORITHM_NOT_ALLOWED)
    if alg == "RS384" and jwk.get("kty") != "RSA":
        raise AuthError(ALGORITHM_NOT_ALLOWED)


class Verifier:
    """Verifies CDS Hooks JWT bearers against the trusted issuers.

    *replay* implements :class:`ReplayCache`. *issuers* defaults to the ones
    configured in *settings*; *clock* returns the current Unix time.
    """

    def __init__(
        self,
        settings,
        replay: ReplayCache,
        *,
        issuers: TrustedIssuers | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if replay is None:
            raise ValueError("a replay cache is required for JWT verification")
        self.settings = settings
        self.replay = replay
        self.issuers = issuers if issuers is not None else TrustedIssuers.from_settings(settings)
        self.clock = clock
        self.max_lifetime = getattr(settings, "max_token_lifetime", DEFAULT_MAX_LIFETIME)
        # (id(jwk), alg) -> (jwk, parsed key): a JWK is parsed into a key object once, not per call;
        # the cache holds the jwk itself, so its id cannot be reused while the entry lives
        self._keys: dict[tuple[int, str], tuple[dict, jwt.PyJWK]] = {}
        self._keys_lock = threading.Lock()

    def verify(self, token: str, audience_candidates: Iterable[str]) -> Claims:
        """The verified claims of *token*, or :class:`AuthError` with the reason."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise AuthError(MALFORMED_TOKEN)
        header, claims, signing_input, signature = _decode(token)

        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
            raise AuthError(ALGORITHM_NOT_ALLOWED)
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError(MISSING_KID)
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
            raise AuthError(MALFORMED_TOKEN)
        if "crit" in header or "b64" in header:
            raise AuthError(MALFORMED_TOKEN)
        jku = header.get("jku")
        if jku is not None and not isinstance(jku, str):
            raise AuthError(MALFORMED_TOKEN)

        iss = claims.get("iss")
        if not isinstance(iss, str) or not iss:
            raise AuthError(MISSING_CLAIM)
        if iss not in self.issuers:
            raise AuthError(UNKNOWN_ISSUER)
        jwk = self.issuers.key(iss, kid, jku)
        _check_key_fits(jwk, alg)
        key = self._public_key(jwk, alg)
        # the signature over the very bytes decoded above (the token is parsed once)
        if not key.Algorithm.verify(signing_input, key.key, signature):
            raise AuthError(BAD_SIGNATURE)

        now = self.clock()
        exp, iat, nbf = (_numeric_date(claims.get(n)) for n in ("exp", "iat", "nbf"))
        if exp is None or iat is None or ("nbf" in claims and nbf is None):
            raise AuthError(MISSING_CLAIM)
        if exp - iat > self.max_lifetime:
            raise AuthError(LIFETIME_TOO_LONG)
        if now > exp + LEEWAY:
            raise AuthError(EXPIRED)
        if iat > now + LEEWAY:
            raise AuthError(ISSUED_IN_FUTURE)
        if nbf is not None and nbf > now + LEEWAY:
            raise AuthError(NOT_YET_VALID)

        audience = self._match_audience(claims.get("aud"), audience_candidates)

        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
            raise AuthError(MISSING_CLAIM)
        sub, tenant = _optional_str(claims, "sub"), _optional_str(claims, "tenant")
        expires_at = _utc(exp + LEEWAY)  # remembered as long as the token is acceptable
        if self.replay.seen_jti(iss, jti, expires_at):
            raise AuthError(REPLAYED)
        return Claims(
            issuer=iss, jti=jti, sub=sub, tenant=tenant, audience=audience,
            kid=kid, alg=alg, issued_at=_utc(iat), expires_at=_utc(exp),
        )

    def _public_key(self, jwk: dict, alg: str) -> jwt.PyJWK:
        """The parsed public key of *jwk* for *alg* (cached), or AuthError when it cannot serve *alg*."""
        cached = self._keys.get((id(jwk), alg))
        if cached is not None and cached[0] is jwk:
            return cached[1]
        try:
            key = jwt.PyJWK(jwk, algorithm=alg)
        except PyJWTError:
            raise AuthError(ALGORITHM_NOT_ALLOWED) from None
        if alg == "RS384" and key.key.key_size < MIN_RSA_BITS:
            raise AuthError(ALGORITHM_NOT_ALLOWED)
        with self._keys_lock:
            if len(self._keys) >= KEY_CACHE_SIZE:  # key rotation over a long uptime: start afresh
                self._keys.clear()
            self._keys[(id(jwk), alg)] = (jwk, key)
        return key

    @staticmethod
    def _match_audience(aud: object, candidates: Iterable[str]) -> str:
        if isinstance(aud, str):
            values = [aud]
        elif isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud):
            values = aud
        else:
            raise AuthError(MISSING_CLAIM)
        wanted = {normalized_url(c) for c in candidates if c}
        for value in values:
            if normalized_url(value) in wanted:
                return value
        raise AuthError(AUDIENCE_MISMATCH)


def _json(data: bytes) -> object:
    """JSON as ``json.loads`` reads it (NaN, Infinity and 1e999 too: the claim checks refuse them by
    name), with orjson's speed for the usual token."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def _segment(data: bytes) -> bytes:
    try:
        return base64url_decode(data)
    except (binascii.Error, ValueError, TypeError):
        raise AuthError(MALFORMED_TOKEN) from None


def _decode(token: str) -> tuple[dict, dict, bytes, bytes]:
    """Header, claims, signing input and signature of a compact JWS, decoded once.

    Split as PyJWS splits (the last dot ends the signing input, the first dot
    the header); anything that does not decode to a JSON object header and
    claims is MALFORMED_TOKEN. Nothing here is trusted until the signature over
    ``signing_input`` has been checked.
    """
    raw = token.encode("utf-8")
    signing_input, dot, crypto = raw.rpartition(b".")
    header_segment, dot2, payload_segment = signing_input.partition(b".")
    if not dot or not dot2:
        raise AuthError(MALFORMED_TOKEN)
    try:
        header = _json(_segment(header_segment))
        claims = _json(_segment(payload_segment))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise AuthError(MALFORMED_TOKEN) from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise AuthError(MALFORMED_TOKEN)
    return header, claims, signing_input, _segment(crypto)


@functools.lru_cache(maxsize=1024)
def normalized_url(url: str) -> str:
    """:func:`normalize_url`, memoised: the configured audiences and endpoint URLs recur on every call."""
    return normalize_url(url)
