"""Rate limiting of the public routes: a fixed window per client address and bucket.

The counting itself is done by a *limiter* the app hands in (the store's
:class:`~service.store.rate_limit_guard.RateLimitGuard`, shared by every
replica on the same database); this module only decides who the client is
and answers 429 OperationOutcome with ``Retry-After``.

Who is the client: the TCP peer, unless the peer is one of the trusted
proxies (``NEKPIJN_TRUSTED_PROXIES``: addresses or networks, ``*`` for any)
and the request carries the client-address header
(``NEKPIJN_CLIENT_IP_HEADER``, default ``X-Forwarded-For``): then the nearest
address in that header that is not itself a trusted proxy. A header from any
other peer is ignored (anyone can send one). Behind a proxy that is *not*
configured as trusted, all clients share the proxy's address and so one budget.

Nothing about the client is logged (its address is personal data); a refusal
is logged with method, path and bucket, at most once a minute per bucket.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from service.fhir_api.outcome import outcome_response
from service.security.public_routes import PublicRoute, RouteTable
from service.store.offload import run_blocking

log = logging.getLogger("nekpijn_cds.security")

LOG_INTERVAL = 60.0  # seconds between two "refused" lines of one bucket
MAX_ADDRESS_CHARS = 64


class Limiter(Protocol):
    def hit(self, bucket: str, client: str, limit: int, window: int) -> float | None:
        """Count one request; None when allowed, else the seconds until the window ends."""


class TrustedProxies:
    """Addresses and networks of the reverse proxies whose client-address header is believed."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.any = False
        self.networks: list = []
        self.names: set[str] = set()
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            if entry == "*":
                self.any = True
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.names.add(entry.lower())  # e.g. a unix socket path

    def __contains__(self, address: str) -> bool:
        if self.any:
            return True
        if address.lower() in self.names:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.networks if net.version == ip.version)


def client_address(scope: Scope, proxies: TrustedProxies, header: str | None) -> str:
    """The client's address for rate limiting (see the module docstring)."""
    client = scope.get("client")
    peer = str(client[0]) if client else "unknown"
    if header and peer in proxies:
        hops = [hop.strip() for value in Headers(scope=scope).getlist(header) for hop in value.split(",")]
        hops = [hop for hop in hops if hop]
        for hop in reversed(hops):  # appended by each proxy: the nearest untrusted hop is the client
            if hop not in proxies:
                return hop[:MAX_ADDRESS_CHARS]
        if hops:
            return hops[0][:MAX_ADDRESS_CHARS]
    return peer[:MAX_ADDRESS_CHARS]


class RateLimitMiddleware:
    """429 for requests to rate-limited public routes beyond their bucket's limit.

    *limits*: bucket → (requests, window seconds); a bucket without a limit is
    not limited. The limiter runs in a worker thread (it may use the database).
    """

    def __init__(self, app: ASGIApp, routes: Sequence[PublicRoute], limits: Mapping[str, tuple[int, int]],
                 limiter: Limiter, trusted_proxies: Iterable[str] = (), client_header: str | None = None) -> None:
        self.app = app
        self.routes = RouteTable(r for r in routes if r.rate_bucket and limits.get(r.rate_bucket))
        self.limits = dict(limits)
        self.limiter = limiter
        self.proxies = TrustedProxies(trusted_proxies)
        self.header = client_header.lower() if client_header else None
        self._logged: dict[str, float] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.match(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        limit, window = self.limits[route.rate_bucket]
        client = client_address(scope, self.proxies, self.header)
        wait = await run_blocking(self.limiter.hit, route.rate_bucket, client, limit, window)
        if wait is None:
            await self.app(scope, receive, send)
            return
        self._log(route.rate_bucket, scope)
        retry_after = max(1, math.ceil(wait))
        response = outcome_response(
            429, "throttled", f"Too many requests; at most {limit} per {window} s from one address. "
                              f"Try again in {retry_after} s.",
            headers={"Retry-After": str(retry_after)})
        await response(scope, receive, send)

    def _log(self, bucket: str, scope: Scope) -> None:
        now = time.monotonic()
        last = self._logged.get(bucket)
        if last is None or now - last >= LOG_INTERVAL:
            self._logged[bucket] = now
            path = "".join(c if c.isprintable() else "?" for c in scope["path"])[:200]
            log.warning("Rate limit %r reached: refusing %s %s with 429 (logged at most once a minute)",
                        bucket, scope["method"], path)
