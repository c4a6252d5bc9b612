"""``nekpijn-cds serve`` with a CPU clock around each stage of a request (for bench/breakdown.py).

    python -m bench.stage_timer serve --port 8080      # what bench/breakdown.py starts

Before the service starts, the functions a request passes through are wrapped: each
wrapper adds the *thread* CPU time (``time.thread_time``) of its call to a tally, so a
stage's figure is the CPU the serving process spent in it, on whichever thread it ran
(the event loop, or a worker thread for the audit write and the JWT check). Stages nest:
a figure includes the stages inside it; a stage run on a worker thread is
tallied apart, as "<stage> [worker]". Every 0.2 s the tallies are written as JSON to
``$NEKPIJN_STAGE_FILE``.

A wrapper costs ~1 µs; about 30 stages are timed per call, so the instrumented server is
~1-2 % slower than the plain one. The service itself is unchanged: the wrappers replace
module globals and methods of this process only. A stage list that no longer matches the
code fails at start-up (AttributeError), not silently.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
import threading
import time
from typing import Any, Callable

#: "stage name" (event loop thread) or "stage name [worker]" -> [calls, thread CPU seconds]
TALLY: dict[str, list] = {}
WORKER = " [worker]"
_MAIN = threading.main_thread().ident  # uvicorn's event loop runs on the main thread

#: (module whose global or class attribute is replaced, attribute, stage name). A function
#: imported by name into another module is wrapped where it is looked up at call time.
STAGES: tuple[tuple[str, str, str], ...] = (
    # uvicorn: everything of a request after its HTTP head is parsed
    ("uvicorn.protocols.http.httptools_impl", "RequestResponseCycle.run_asgi", "asgi app (middleware, routing, endpoint)"),
    ("service.app", "RequestLogMiddleware.__call__", "request log middleware (and everything inside)"),
    ("starlette.routing", "Router.__call__", "router (and everything inside)"),
    ("fastapi.routing", "run_endpoint_function", "endpoint"),
    # the hook call (service/cds_hooks/routes.py)
    ("service.cds_hooks.routes", "read_json", "request JSON (orjson, depth check)"),
    ("service.cds_hooks.routes", "parse_hook_request", "hook request checks"),
    ("service.cds_hooks.routes", "gather_resources", "prefetch"),
    ("service.cds_hooks.routes", "screen", "R4 screening of the input"),
    ("service.cds_hooks.routes", "render_cards", "cards"),
    ("service.cds_hooks.call_audit", "run_blocking", "audit: thread hop, loop side"),
    ("service.cds_hooks.call_audit", "audit", "audit + issued cards, one SQLite transaction"),
    # $apply (service/fhir_api/apply_route.py)
    ("service.fhir_api.apply_route", "read_json", "request JSON (orjson, depth check)"),
    ("service.fhir_api.apply_route", "_parse", "R4 screening of the input"),
    ("service.fhir_api.apply_route", "audit", "audit + issued cards, one SQLite transaction"),
    # the engine (service/apply/engine.py)
    ("service.apply.engine", "Engine.apply", "engine: $apply"),
    ("service.apply.plans", "CompiledPlan.applicable", "engine: plan variables + conditions"),
    ("service.apply.engine", "careplan", "engine: CarePlan, RequestGroup, narrative"),
    # the answer
    ("service.jsonio", "dumps", "answer JSON (orjson)"),
    # JWT (service/security/jwt_auth.py), in a worker thread
    ("service.security.jwt_auth", "Verifier.verify", "JWT: whole check"),
    ("jwt.algorithms", "ECAlgorithm.verify", "JWT: ES384 signature (OpenSSL)"),
    ("service.store.replay_guard", "ReplayGuard.seen_jti", "JWT: replay-cache insert (SQLite)"),
)
#: the decision tables are fields of a frozen dataclass (service/rules/__init__.py)
TABLES = (("gather", "engine: facts (§0)"), ("evaluate", "engine: decision tables (§1-§9)"))


def _timed(fn: Callable, stage: str) -> Callable:
    if asyncio.iscoroutinefunction(fn):
        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return await fn(*args, **kwargs)
            finally:
                _add(stage, time.thread_time() - start)
        timed_async.__wrapped__ = fn  # type: ignore[attr-defined]
        return timed_async

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            _add(stage, time.thread_time() - start)
    timed.__wrapped__ = fn  # type: ignore[attr-defined]
    return timed


def _add(stage: str, seconds: float) -> None:
    if threading.get_ident() != _MAIN:
        stage += WORKER
    tally = TALLY.get(stage)
    if tally is None:
        tally = TALLY.setdefault(stage, [0, 0.0])
    tally[0] += 1  # (the GIL makes these two updates safe enough for a benchmark)
    tally[1] += seconds


def install() -> None:
    for module_name, attribute, stage in STAGES:
        owner: Any = importlib.import_module(module_name)
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        setattr(owner, name, _timed(getattr(owner, name), stage))
    from service import rules

    for field, stage in TABLES:
        object.__setattr__(rules.GUIDELINE, field, _timed(getattr(rules.GUIDELINE, field), stage))


def _writer(path: str) -> None:
    while True:
        time.sleep(0.2)
        snapshot = {stage: list(tally) for stage, tally in list(TALLY.items())}
        tmp = f"{path}.tmp"
        with open(tmp, "w") as out:
            json.dump(snapshot, out)
        os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    install()
    path = os.environ.get("NEKPIJN_STAGE_FILE")
    if path:
        threading.Thread(target=_writer, args=(path,), daemon=True, name="stage-timer").start()
    from service.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
