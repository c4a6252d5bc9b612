"""Trusted JWT issuers and their public keys (CDS Hooks §Trusting CDS Clients).

The allowlist comes from ``Settings.trusted_issuers_file``, a JSON list::

    [{"iss": "https://ehr.example.org",
      "jwks_file": "keys/ehr.jwks.json",          # or "jwks_url": "https://..."
      "jku": ["https://ehr.example.org/jwks"]}]   # optional allowlist

plus, when ``Settings.trust_sandbox`` is set, the public CDS Hooks sandbox
(``https://sandbox.cds-hooks.org``) with the JWK Set bundled in this package.
Every sandbox token names its own key set in a ``jku`` header
(:data:`SANDBOX_JKU`); that one URL is allowed and *pinned*: it resolves to the
bundled set, so nothing is fetched (the service works offline and a network
attacker cannot swap the keys).

Keys are found by ``kid``. A JWK Set URL is fetched with httpx (short timeout,
no redirects, bounded size), cached for :data:`JWKS_TTL` seconds and fetched
again, at most every :data:`REFETCH_INTERVAL` seconds, when a token names an
unknown ``kid`` (key rotation). A token's ``jku`` header is followed only when
it is on that issuer's allowlist; the keys then come from that URL alone (or,
for a pinned URL, from the key set known out of band for it).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from service.security.errors import JKU_NOT_ALLOWED, KEYS_UNAVAILABLE, UNKNOWN_ISSUER, UNKNOWN_KEY, AuthError

log = logging.getLogger("nekpijn_cds.security")

SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SANDBOX_JWKS = "sandbox-jwks.json"
#: the `jku` header of every sandbox token (cds-hooks/sandbox, src/retrieve-data-helpers/jwt-generator.js)
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
JWKS_TTL = 600.0            # seconds a fetched JWK Set is used before fetching it again
REFETCH_INTERVAL = 30.0     # minimum seconds between two fetches of one URL
FETCH_TIMEOUT = 3.0         # seconds, per JWK Set request
MAX_JWKS_BYTES = 256 * 1024
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


class IssuerConfigError(ValueError):
    """The trusted-issuers configuration is invalid."""


def normalize_iss(iss: str) -> str:
    """Issuer identifiers compare without a trailing slash."""
    return iss.rstrip("/")


def check_jwks_url(url: object, what: str = "jwks_url") -> str:
    """A key URL must be https (plain http only on the loopback interface)."""
    if not isinstance(url, str) or not url:
        raise IssuerConfigError(f"{what} must be a non-empty string")
    parts = urlsplit(url)
    if not parts.hostname or parts.scheme not in ("https", "http"):
        raise IssuerConfigError(f"{what} must be an absolute https URL: {url!r}")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        raise IssuerConfigError(f"{what} must use https: {url!r}")
    return url


def parse_jwks(data: object, source: str) -> dict[str, dict]:
    """Keys of a JWK Set by ``kid``; symmetric, kid-less and non-signing keys are dropped."""
    if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list):
        raise ValueError(f"{source}: not a JWK Set (no 'keys' list)")
    keys: dict[str, dict] = {}
    for jwk in data["keys"]:
        if not isinstance(jwk, Mapping):
            continue
        kid, kty = jwk.get("kid"), jwk.get("kty")
        if not isinstance(kid, str) or not kid or kty not in ("EC", "RSA"):
            continue  # "oct" (shared secret) keys are never acceptable
        if jwk.get("use", "sig") != "sig" or "d" in jwk:
            continue  # encryption keys; private keys published by mistake
        if kid in keys:
            log.warning("%s: duplicate kid %r; the first key is used", source, kid)
            continue
        keys[kid] = dict(jwk)
    return keys


class KeySet(Protocol):
    def get(self, kid: str) -> dict | None: ...


@dataclass
class StaticKeys:
    """A JWK Set exchanged out of band (a file, or the bundled sandbox set)."""

    keys: dict[str, dict]

    def get(self, kid: str) -> dict | None:
        return self.keys.get(kid)


class RemoteKeys:
    """A JWK Set at a URL: fetched on first use, cached, refetched on unknown kid.

    Fetches are rate-limited to one per :data:`REFETCH_INTERVAL` seconds; when a
    fetch fails, the keys from the last successful fetch stay in use.
    """

    def __init__(
        self,
        url: str,
        client: httpx.Client,
        *,
        ttl: float = JWKS_TTL,
        refetch_interval: float = REFETCH_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url, self._client, self._clock = url, client, clock
        self._ttl, self._interval = ttl, refetch_interval
        self._keys: dict[str, dict] | None = None
        self._fetched_at = 0.0
        self._attempted_at: float | None = None
        self._lock = threading.Lock()

    def get(self, kid: str) -> dict | None:
        with self._lock:
            now = self._clock()
            if self._keys is None or now - self._fetched_at >= self._ttl:
                self._refresh(now)
            if self._keys is None:
                raise AuthError(KEYS_UNAVAILABLE)
            key = self._keys.get(kid)
            if key is None and self._refresh(now):
                key = self._keys.get(kid)
            return key

    def _refresh(self, now: float) -> bool:
        """Fetch the set unless fetched too recently; True when fetched."""
        if self._attempted_at is not None and now - self._attempted_at < self._interval:
            return False
        self._attempted_at = now
        try:
            keys = parse_jwks(self._fetch(), self.url)
        except (httpx.HTTPError, ValueError) as exc:
            # The URL is configuration, not request data: safe to log.
            log.warning(
                "Fetching JWK Set %s failed (%s)%s", self.url, type(exc).__name__,
                "; keeping the cached keys" if self._keys is not None else "",
            )
            return False
        self._keys, self._fetched_at = keys, now
        log.info("Fetched JWK Set %s: %d key(s)", self.url, len(keys))
        return True

    def _fetch(self) -> object:
        with self._client.stream(
            "GET", self.url, headers={"Accept": "application/jwk-set+json, application/json"}
        ) as response:
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise ValueError("JWK Set too large")
        return json.loads(bytes(body))


@dataclass
class Issuer:
    """One trusted ``iss`` with its out-of-band keys and allowed ``jku`` URLs.

    ``pinned_jku`` maps allowed ``jku`` URLs to a key set known out of band:
    a token naming such a URL is verified with that set and the URL is never
    fetched. Only ``jku`` values in ``jku`` or ``pinned_jku`` are accepted.
    """

    iss: str
    keys: KeySet | None = None
    jku: frozenset[str] = field(default_factory=frozenset)
    pinned_jku: Mapping[str, KeySet] = field(default_factory=dict)


class TrustedIssuers:
    """The allowlist of issuers; :meth:`key` finds the public JWK for a token."""

    def __init__(self, issuers: Iterable[Issuer], client: httpx.Client | None = None) -> None:
        self._client = client or httpx.Client(timeout=FETCH_TIMEOUT, follow_redirects=False)
        self._issuers: dict[str, Issuer] = {}
        for issuer in issuers:
            name = normalize_iss(issuer.iss)
            if name in self._issuers:
                raise IssuerConfigError(f"issuer {issuer.iss!r} listed twice")
            self._issuers[name] = issuer
        # one cache per allowlisted jku URL (bounded by the configuration)
        self._jku: dict[str, RemoteKeys] = {}
        for issuer in self._issuers.values():
            for url in issuer.jku:
                if url not in self._jku and url not in issuer.pinned_jku:
                    self._jku[url] = RemoteKeys(url, self._client)

    @classmethod
    def from_settings(cls, settings, client: httpx.Client | None = None) -> TrustedIssuers:
        """Issuers from ``settings.trusted_issuers_file`` (+ the sandbox if trusted)."""
        client = client or httpx.Client(timeout=FETCH_TIMEOUT, follow_redirects=False)
        issuers: list[Issuer] = []
        if settings.trusted_issuers_file is not None:
            issuers.extend(load_issuers_file(Path(settings.trusted_issuers_file), client))
        if settings.trust_sandbox:
            if any(normalize_iss(i.iss) == SANDBOX_ISS for i in issuers):
                log.info("Sandbox issuer configured in the issuers file; that entry is used")
            else:
                issuers.append(sandbox_issuer())
            # The sandbox publishes its private key (it signs in the browser): anyone can
            # mint a token it would accept, so this is for development and demos only.
            log.warning("NEKPIJN_TRUST_SANDBOX is on: tokens signed with the public CDS Hooks "
                        "sandbox key are accepted; anyone can create them. Development only.")
        trusted = cls(issuers, client)
        if trusted:
            log.info("Trusted JWT issuers: %s", ", ".join(sorted(trusted.names())))
        return trusted

    def __len__(self) -> int:
        return len(self._issuers)

    def __contains__(self, iss: object) -> bool:
        return isinstance(iss, str) and normalize_iss(iss) in self._issuers

    def names(self) -> list[str]:
        return [i.iss for i in self._issuers.values()]

    def get(self, iss: str) -> Issuer | None:
        return self._issuers.get(normalize_iss(iss))

    def key(self, iss: str, kid: str, jku: str | None = None) -> dict:
        """The issuer's public JWK named *kid*, or :class:`AuthError`."""
        issuer = self.get(iss)
        if issuer is None:
            raise AuthError(UNKNOWN_ISSUER)
        if jku is not None:
            if jku in issuer.pinned_jku:
                source: KeySet | None = issuer.pinned_jku[jku]
            elif jku in issuer.jku:
                source = self._jku[jku]
            else:
                raise AuthError(JKU_NOT_ALLOWED)
        else:
            source = issuer.keys
        key = source.get(kid) if source is not None else None
        if key is None:
            raise AuthError(UNKNOWN_KEY)
        return key


def sandbox_issuer() -> Issuer:
    """The public CDS Hooks sandbox, with its bundled JWK Set, also for its own ``jku``."""
    text = resources.files("service.security").joinpath(SANDBOX_JWKS).read_text("utf-8")
    keys = StaticKeys(parse_jwks(json.loads(text), SANDBOX_JWKS))
    return Issuer(SANDBOX_ISS, keys, pinned_jku={SANDBOX_JKU: keys})


def load_issuers_file(path: Path, client: httpx.Client) -> list[Issuer]:
    """Parse the issuers file; ``jwks_file`` paths are relative to its folder."""
    try:
        entries = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise IssuerConfigError(f"cannot read trusted issuers file {path}: {exc}") from None
    if not isinstance(entries, list):
        raise IssuerConfigError(f"{path}: expected a JSON list of issuers")
    issuers = []
    for n, entry in enumerate(entries):
        where = f"{path} [{n}]"
        if not isinstance(entry, Mapping):
            raise IssuerConfigError(f"{where}: expected an object")
        unknown = set(entry) - {"iss", "jwks_file", "jwks_url", "jku"}
        if unknown:
            raise IssuerConfigError(f"{where}: unknown field(s) {sorted(unknown)}")
        iss = entry.get("iss")
        if not isinstance(iss, str) or not iss.strip():
            raise IssuerConfigError(f"{where}: 'iss' must be a non-empty string")
        jku = entry.get("jku", [])
        if not isinstance(jku, list):
            raise IssuerConfigError(f"{where}: 'jku' must be a list of URLs")
        jku_urls = frozenset(check_jwks_url(u, f"{where} jku") for u in jku)
        if "jwks_file" in entry and "jwks_url" in entry:
            raise IssuerConfigError(f"{where}: give 'jwks_file' or 'jwks_url', not both")
        keys: KeySet | None = None
        if "jwks_file" in entry:
            file = entry["jwks_file"]
            if not isinstance(file, str) or not file:
                raise IssuerConfigError(f"{where}: 'jwks_file' must be a path")
            jwks_path = path.parent / file
            try:
                keys = StaticKeys(parse_jwks(json.loads(jwks_path.read_text("utf-8")), str(jwks_path)))
            except (OSError, ValueError) as exc:
                raise IssuerConfigError(f"{where}: cannot load {jwks_path}: {exc}") from None
        elif "jwks_url" in entry:
            keys = RemoteKeys(check_jwks_url(entry["jwks_url"], f"{where} jwks_url"), client)
        elif not jku_urls:
            raise IssuerConfigError(f"{where}: needs 'jwks_file', 'jwks_url' or 'jku'")
        issuers.append(Issuer(iss.strip(), keys, jku_urls))
    return issuers
