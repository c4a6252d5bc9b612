"""Pure ASGI security middleware: CORS, request body limit, JWT authentication.

:func:`install_security` adds them so that they run in this order::

    nosniff  ->  CORS  ->  body limit  ->  rate limit  ->  authentication  ->  (the app)

CORS is outermost so that every response, 401, 413 and 429 included, carries
the CORS headers a browser needs to read it. The body limit comes before
authentication so that a request whose Content-Length is over the limit is
refused without verifying anything (a chunked body is only read, and counted,
once authentication has passed and the app reads it). The rate limit
(public routes only, ``rate_limit.py``) comes before anything is read.

What is public, and the smaller body limits and rate-limit buckets of the
public routes, the app declares (``public=``, :class:`PublicRoute`): this
layer knows no page or plan of its own.

What is logged: method, path, reason category. Never the token, its claims or
anything from the request body.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.fhir_api.outcome import outcome_response
from service.store.offload import run_blocking
from service.security.errors import DUPLICATE_AUTHORIZATION, MISSING_TOKEN, AuthError
from service.security.jwt_auth import ReplayCache, Verifier
from service.security.public_routes import DEFAULT_PUBLIC, PublicRoute, RouteTable
from service.security.rate_limit import Limiter, RateLimitMiddleware

log = logging.getLogger("nekpijn_cds.security")

AUTH_OFF_WARNING = "AUTHENTICATION IS OFF — development only"
AUTH_OFF_INTERVAL = 60.0  # seconds between two repeats of the warning
CORS_METHODS = "GET, POST, OPTIONS"
CORS_HEADERS = "authorization, content-type"
CORS_MAX_AGE = "600"
CORS_LOG_INTERVAL = 60.0  # seconds between two log lines about the same refused origin


def _safe_path(path: str) -> str:
    """Path for logs: printable characters only, bounded length."""
    return "".join(c if c.isprintable() else "?" for c in path)[:200]


def is_preflight(scope: Scope) -> bool:
    """A CORS preflight: OPTIONS with Origin and Access-Control-Request-Method."""
    if scope["method"] != "OPTIONS":
        return False
    headers = Headers(scope=scope)
    return "origin" in headers and "access-control-request-method" in headers


# -- CORS ---------------------------------------------------------------------


class CORSMiddleware:
    """CORS for the configured origins (``"*"`` for any).

    Preflights are answered here (204) and never reach the app. An allowed
    origin gets ``Access-Control-Allow-Origin`` (the origin itself plus
    ``Vary: Origin``, or ``*``); any other origin gets no CORS headers at all
    (and its preflight a 403).
    No credentials mode: the JWT travels in the Authorization header.
    """

    def __init__(self, app: ASGIApp, origins: Iterable[str] = ()) -> None:
        self.app = app
        origins = [o.strip().rstrip("/") for o in origins if o.strip()]
        self.any_origin = "*" in origins
        self.origins = frozenset(o.lower() for o in origins if o != "*")
        self._refused_logged: dict[str, float] = {}

    def allow_origin(self, origin: str | None) -> str | None:
        """The Access-Control-Allow-Origin value for *origin*, or None."""
        if not origin:
            return None
        if self.any_origin:
            return "*"
        return origin if origin.lower() in self.origins else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = Headers(scope=scope).get("origin")
        allowed = self.allow_origin(origin)
        if is_preflight(scope):
            await self._preflight(allowed, scope, receive, send)
            return
        if origin is None:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if allowed is not None:
                    headers["Access-Control-Allow-Origin"] = allowed
                    headers["Access-Control-Expose-Headers"] = "WWW-Authenticate"
                if allowed != "*":
                    headers.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, allowed: str | None, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {"Vary": "Origin"} if allowed != "*" else {}
        if allowed is None:
            self._log_refused(Headers(scope=scope).get("origin"), scope)
            response = outcome_response(403, "forbidden", "CORS origin not allowed", headers=headers)
        else:
            headers.update({
                "Access-Control-Allow-Origin": allowed,
                "Access-Control-Allow-Methods": CORS_METHODS,
                "Access-Control-Allow-Headers": CORS_HEADERS,
                "Access-Control-Max-Age": CORS_MAX_AGE,
            })
            response = Response(status_code=204, headers=headers)
        await response(scope, receive, send)


    def _log_refused(self, origin: str | None, scope: Scope) -> None:
        """One clear line per refused origin (at most once a minute each): which origin, which setting."""
        shown = "".join(c if c.isprintable() else "?" for c in (origin or ""))[:200]
        now = time.monotonic()
        last = self._refused_logged.get(shown)
        if last is not None and now - last < CORS_LOG_INTERVAL:
            return
        if len(self._refused_logged) > 1000:  # bounded memory under a flood of made-up origins
            self._refused_logged.clear()
        self._refused_logged[shown] = now
        configured = "it is empty, CORS is off" if not (self.origins or self.any_origin) else \
            f"allowed: {', '.join(sorted(self.origins))}"
        log.warning("CORS preflight refused (403) for %s %s: origin %r is not in NEKPIJN_CORS_ORIGINS (%s); "
                    "add the EHR's origin there if its browser app calls this service",
                    scope["method"], _safe_path(scope["path"]), shown, configured)


# -- body limit ----------------------------------------------------------------


class _BodyTooLarge(HTTPException):
    """Raised into the app by the limited ``receive``. An HTTPException, so a
    Starlette/FastAPI app answers it as a handled 413 (no crash log)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"Request body larger than {max_bytes} bytes")


class BodyLimitMiddleware:
    """413 for request bodies over *max_bytes*.

    A Content-Length over the limit is refused before any of the body is read.
    Without one (chunked transfer), the body is counted as the app reads it and
    reading stops at the limit; whatever the app then answers is replaced by
    the 413.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, routes: Iterable[PublicRoute] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # routes with a smaller limit of their own (e.g. the public self-check: 64 kB)
        self.routes = RouteTable(r for r in routes if r.max_body_bytes is not None)

    def limit_for(self, scope: Scope) -> int:
        route = self.routes.match(scope["method"], scope["path"])
        return min(route.max_body_bytes, self.max_bytes) if route is not None else self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit_for(scope)
        length = Headers(scope=scope).get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                response = outcome_response(400, "invalid", "Invalid Content-Length header")
                await response(scope, receive, send)
                return
            if int(length) > max_bytes:
                await self._too_large(max_bytes, scope, receive, send)
                return

        received, exceeded, started, replaced = 0, False, False, False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise _BodyTooLarge(max_bytes)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    exceeded = True
                    raise _BodyTooLarge(max_bytes)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started, replaced
            if exceeded and not started:
                # the app answered the interrupted read (400/500): answer 413 instead
                if not replaced:
                    replaced = True
                    await self._too_large(max_bytes, scope, receive, send)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
            if not started and not replaced:
                await self._too_large(max_bytes, scope, receive, send)

    async def _too_large(self, max_bytes: int, scope: Scope, receive: Receive, send: Send) -> None:
        log.info("Refused %s %s: body over %d bytes", scope["method"],
                 _safe_path(scope["path"]), max_bytes)
        response = outcome_response(
            413, "too-costly", f"Request body larger than {max_bytes} bytes",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


# -- authentication -------------------------------------------------------------


def audience_candidates(scope: Scope, base_url: str | None, audiences: Iterable[str]) -> list[str]:
    """The full URL called (no query) plus the configured extra audiences.

    With ``base_url`` set the URL is ``base_url + path``; otherwise it is built
    from the request's own scheme and Host header.
    """
    path = scope["path"]
    if base_url:
        url = base_url.rstrip("/") + path
    else:
        headers = Headers(scope=scope)
        host = headers.get("host")
        if not host:
            server = scope.get("server") or ("localhost", None)
            host = f"{server[0]}:{server[1]}" if server[1] else server[0]
        url = f"{scope.get('scheme', 'http')}://{host}{path}"
    return [url, *audiences]


def _bearer(scope: Scope) -> str | None:
    values = Headers(scope=scope).getlist("authorization")
    if len(values) > 1:  # which one would a proxy, the app or a log have used? refuse
        raise AuthError(DUPLICATE_AUTHORIZATION)
    value = values[0] if values else None
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


class AuthMiddleware:
    """Requires a verified JWT bearer on every request but the *public* routes the app
    declares (default: ``GET /health``) and CORS preflights; puts the
    :class:`~service.security.jwt_auth.Claims` in ``scope["state"]["auth"]``.

    With ``verifier=None`` (``Settings.auth == "off"``) nothing is checked,
    ``auth`` is ``None`` and a warning is logged at most once a minute.
    """

    def __init__(self, app: ASGIApp, settings, verifier: Verifier | None,
                 public: Iterable[PublicRoute] = DEFAULT_PUBLIC) -> None:
        self.app = app
        self.verifier = verifier
        self.public = RouteTable(public)
        self.base_url = settings.base_url
        self.audiences = tuple(settings.audiences)
        self._warned_at = time.monotonic()  # install_security has just warned

    def _public(self, scope: Scope) -> bool:
        return self.public.match(scope["method"], scope["path"]) is not None or is_preflight(scope)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and self.verifier is not None:
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["auth"] = None
        if self.verifier is None:
            now = time.monotonic()
            if now - self._warned_at >= AUTH_OFF_INTERVAL:
                self._warned_at = now
                log.warning(AUTH_OFF_WARNING)
            await self.app(scope, receive, send)
            return
        if self._public(scope):
            await self.app(scope, receive, send)
            return
        try:
            token = _bearer(scope)
            if token is None:
                raise AuthError(MISSING_TOKEN)
            candidates = audience_candidates(scope, self.base_url, self.audiences)
            # off the event loop: the replay-cache insert may wait for the database
            claims = await run_blocking(self.verifier.verify, token, candidates)
        except AuthError as exc:
            await self._refuse(exc.reason, scope, receive, send)
            return
        state["auth"] = claims
        await self.app(scope, receive, send)

    async def _refuse(self, reason: str, scope: Scope, receive: Receive, send: Send) -> None:
        log.info("Refused %s %s: %s", scope["method"], _safe_path(scope["path"]), reason)
        if reason == MISSING_TOKEN:
            code, challenge = "login", "Bearer"
        else:
            # RFC 6750 §3: reason is a fixed phrase, safe to quote
            code, challenge = "security", f'Bearer error="invalid_token", error_description="{reason}"'
        response = outcome_response(
            401, code, f"Authentication failed: {reason}",
            headers={"WWW-Authenticate": challenge},
        )
        await response(scope, receive, send)


# -- response headers ------------------------------------------------------------


class NoSniffMiddleware:
    """``X-Content-Type-Options: nosniff`` on every response: a browser must never
    guess another type for a JSON (FHIR, CDS Hooks) answer or an error body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_nosniff(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Content-Type-Options"] = "nosniff"
            await send(message)

        await self.app(scope, receive, send_nosniff)


# -- installation ----------------------------------------------------------------


def install_security(app, settings, replay: ReplayCache | None, *, verifier: Verifier | None = None,
                     public: Iterable[PublicRoute] = DEFAULT_PUBLIC, rate_limiter: Limiter | None = None,
                     rate_limits: Mapping[str, tuple[int, int]] | None = None) -> Verifier | None:
    """Add CORS, body limits, rate limits and authentication to *app* (a Starlette/FastAPI app).

    *public*: the routes that need no token (with their own body limit and
    rate-limit bucket, if any); *rate_limiter* and *rate_limits* (bucket →
    (requests, window seconds)) enable the rate limit of the public routes.
    With ``settings.auth == "jwt"`` the trusted issuers are loaded now (fail
    fast on a bad issuers file) and *replay* is required. Returns the
    verifier (None when authentication is off).
    """
    public = tuple(public)
    if settings.auth == "off":
        verifier = None
        log.warning(AUTH_OFF_WARNING)
    else:
        if verifier is None:
            verifier = Verifier(settings, replay)
        if not len(verifier.issuers):
            log.warning("No trusted JWT issuers configured: every authenticated request will be refused")
        if not settings.base_url:
            log.warning(
                "NEKPIJN_BASE_URL is not set: the JWT audience is checked against the "
                "request's Host header; set the public base URL in production"
            )
    # add_middleware puts each new middleware outside the previous ones
    app.add_middleware(AuthMiddleware, settings=settings, verifier=verifier, public=public)
    if rate_limiter is not None and rate_limits:
        app.add_middleware(RateLimitMiddleware, routes=public, limits=rate_limits, limiter=rate_limiter,
                           trusted_proxies=settings.trusted_proxies,
                           client_header=getattr(settings, "client_ip_header", None))
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, routes=public)
    app.add_middleware(CORSMiddleware, origins=settings.cors_origins)
    app.add_middleware(NoSniffMiddleware)
    return verifier
