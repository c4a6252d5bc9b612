"""FastAPI application factory for the Nekpijn CDS service."""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.apply.engine import Engine
from service.config import Settings
from service.facts.model import AMSTERDAM
from service.fhir_api import install_error_handlers, outcome_response, router
from service.cds_hooks.routes import router as hooks_router
from service.fhir_api.apply_route import router as apply_router
from service.knowledge import KnowledgeBase
from service.openapi import install_openapi
from service.self_check_page.routes import router as self_check_router
from service.security import PublicRoute, install_security
from service.self_check_page import public as self_check_public
from service.store import Store, StoreUnavailable
from service.store.housekeeping import Housekeeping
from service.store.outage import outage_of
from service.store.rate_limit_guard import RateLimitGuard
from service.store.replay_guard import ReplayGuard

log = logging.getLogger("nekpijn_cds")
access_log = logging.getLogger("nekpijn_cds.access")

DESCRIPTION = (
    "Clinical decision support for the KNGF neck pain guideline (KNGF-richtlijn "
    "Nekpijn 2016). The `/fhir` endpoints serve the FHIR R4 knowledge artifacts "
    "(CodeSystem, ValueSet, Questionnaire, PlanDefinition, ...) read-only."
)


def _safe_path(path: str) -> str:
    """Path for logs: printable characters only, bounded length."""
    return "".join(c if c.isprintable() else "?" for c in path)[:200]


def _frames(exc: BaseException) -> str:
    """Stack locations only: no source lines, locals or exception message."""
    return "\n".join(
        f"  {f.filename}:{f.lineno} in {f.name}"
        for f in traceback.extract_tb(exc.__traceback__)
    )


class RequestLogMiddleware:
    """Logs method, path (no query), status and duration; turns crashes into 500s.

    Nothing else about the request (query, headers, body) is ever logged, and
    the exception message is not logged either (it may contain patient data).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status, started = time.perf_counter(), 500, False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except ClientDisconnect:  # the client went away while its request was read: nobody to answer
            if not started:
                status = 499  # "client closed request", for the access log only
            log.info("client disconnected during %s %s", scope["method"], _safe_path(scope["path"]))
        except Exception as exc:
            log.error("Unhandled %s at\n%s", type(exc).__name__, _frames(exc))
            if started:
                raise
            response = outcome_response(
                500, "exception", "Internal server error; the error has been logged"
            )
            await response(scope, receive, send_wrapper)
        finally:
            access_log.info(
                "%s %s %d %.1fms", scope["method"], _safe_path(scope["path"]),
                status, (time.perf_counter() - start) * 1000,
            )


class HeadAsGetMiddleware:
    """``HEAD`` wherever ``GET`` is allowed: the GET answer, headers only (RFC 9110 §9.3.2).

    FastAPI routes declared with ``@get`` answer only GET (``HEAD /health`` was
    a 405). Installed inside the security middleware, which still sees HEAD.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # drop the body; the last message ends the response
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_headers_only)


#: the root of the service is the patient self-check (the only page for a visitor)
ROOT_PATH = "/"


def public_routes() -> list[PublicRoute]:
    """What needs no token, handed to the security layer: liveness, the root redirect and the
    patient self-check (its page, static files, ``$apply`` and submissions, with their small
    body limit and their rate-limit buckets)."""
    page = self_check_public
    routes = [PublicRoute.of(("GET", "HEAD"), "/health"), PublicRoute.of(("GET", "HEAD"), ROOT_PATH)]
    for (method, path), (max_body, bucket) in page.LIMITED.items():
        routes.append(PublicRoute.of((method,), path, max_body_bytes=max_body, rate_bucket=bucket))
    routes += [PublicRoute.of((method,), path) for method, path in sorted(page.PUBLIC_PATHS)
               if (method, path) not in page.LIMITED]
    routes += [PublicRoute.of((method,), prefix, prefix=True) for method, prefix in sorted(page.PUBLIC_PREFIXES)]
    return routes


def rate_limits(settings: Settings) -> dict[str, tuple[int, int]]:
    """Rate-limit bucket → (requests, window seconds) per client address; buckets switched off are left out."""
    limits = {self_check_public.APPLY_BUCKET: settings.rate_limit_apply,
              self_check_public.SUBMISSIONS_BUCKET: settings.rate_limit_submissions}
    return {bucket: limit for bucket, limit in limits.items() if limit}


def create_app(
    settings: Settings | None = None,
    knowledge: KnowledgeBase | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """Build the app; knowledge and engine are loaded here, once (fail fast).

    `clock` returns the evaluation instant ("now", and so "today" in
    Europe/Amsterdam); tests inject a fixed one.
    """
    settings = settings if settings is not None else Settings.from_env()
    if knowledge is None:
        start = time.perf_counter()
        knowledge = KnowledgeBase.load(settings.knowledge_dir)
        log.info(
            "Loaded %d knowledge artifacts in %.0f ms",
            len(knowledge), (time.perf_counter() - start) * 1000,
        )
    # FastAPI's native OpenTelemetry is not used (no provider is configured): switched off, its per-request
    # check (tracer, meter and logger provider look-ups, reading os.environ each call) cost ~2 % of a
    # discovery call's CPU (docs/performance.md, issue 17)
    app = FastAPI(title="Nekpijn CDS", version=knowledge.version, description=DESCRIPTION,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.settings = settings
    app.state.knowledge = knowledge
    app.state.started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    app.state.engine = Engine(knowledge)
    app.state.clock = clock or (lambda: datetime.now(AMSTERDAM))
    # httpx logs request URLs at INFO; FHIR search URLs hold patient ids
    logging.getLogger("httpx").setLevel(logging.WARNING)
    store = Store.from_settings(settings)
    try:
        store.migrate()
    except StoreUnavailable as exc:  # keep serving advice; the store migrates on first use
        log.error("store unavailable at start-up (%s); retrying on first use", type(exc).__name__)
        outage_of(store).failed("migrate", exc, count=False)  # calls skip the store until a probe reaches it
    app.state.store = store
    housekeeping = Housekeeping(store, settings.submission_retention_days)
    if outage_of(store).should_try():
        housekeeping.run_when_due()  # start-up: purge sent self-checks past their retention
    app.state.housekeeping = housekeeping
    install_error_handlers(app)
    app.add_middleware(HeadAsGetMiddleware)  # innermost: the security layer sees the HEAD
    # security inside the request log, so refused requests are logged too
    install_security(app, settings, ReplayGuard(store), public=public_routes(),
                     rate_limiter=RateLimitGuard(store, housekeeping), rate_limits=rate_limits(settings))
    app.add_middleware(RequestLogMiddleware)
    app.include_router(apply_router)
    if os.environ.get("NEKPIJN_BENCH_FLOOR") == "1":  # benchmark floor endpoint (bench/service.py) only
        from service.bench_floor import router as floor_router

        app.include_router(floor_router)  # before the hooks router: /cds-services/{service_id} would match
    app.include_router(hooks_router)
    app.include_router(router)
    app.include_router(self_check_router)  # the patient self-check page (GET /zelfcheck)

    @app.get(ROOT_PATH, include_in_schema=False)
    def root(request: Request) -> RedirectResponse:
        """A visitor's browser at the root: the patient self-check (relative, also behind a path prefix)."""
        query = request.url.query
        return RedirectResponse("zelfcheck" + (f"?{query}" if query else ""), status_code=302)

    @app.get("/health", tags=["Service"], summary="Liveness, knowledge and store status")
    def health() -> dict:
        return {"status": "ok", "version": knowledge.version, "artifacts": len(knowledge),
                "store": "ok" if outage_of(store).should_try() and store.ping() else "unavailable"}

    install_openapi(app)
    return app
