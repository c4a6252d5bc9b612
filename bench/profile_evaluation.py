"""CPU per call of the evaluation path, in process: validation, engine, cards, the answer.

    python -m bench.profile_evaluation                 # CPU ms per call, by part and whole
    python -m bench.profile_evaluation --lang en       # the same in English (Accept-Language / userLanguage)
    python -m bench.profile_evaluation --profile b     # + a cProfile of scenario b (top 25)

The bodies are bench/service.py's (the 24-resource case): (a) patient-view, (b) `$apply`,
(c) order-sign with 5 draft orders. "whole" goes through the app (Starlette TestClient,
NEKPIJN_AUTH=off, a throw-away SQLite store), so it includes the request floor
(middleware, JSON, store writes: area P1) and the TestClient's own client-side work; the
parts call the route's functions directly ("CarePlan assembly" is the part of engine.apply
after the decision logic: the RequestGroup, its requests, the case-feature Observations and
the narrative, `service.apply.careplan.careplan`). CPU is `time.process_time` over N calls
(the TestClient runs the app in a thread of this process, so its CPU is counted too).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import cProfile
import dataclasses
import io
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NEKPIJN_AUTH", "off")
os.environ.setdefault("NEKPIJN_RATE_LIMIT_APPLY", "off")
os.environ.setdefault("NEKPIJN_RATE_LIMIT_SUBMISSIONS", "off")

from bench.service import DRAFT_ORDERS, PATIENT_ID, case_resources, hook_body  # noqa: E402

#: scenario -> (name, path)
SCENARIOS = {
    "a": ("patient-view", "/cds-services/nekpijn-behandelprofiel"),
    "b": ("$apply", "/fhir/PlanDefinition/nekpijn-behandelprofiel/$apply"),
    "c": ("order-sign", "/cds-services/nekpijn-orders-sign"),
}

HOOK_INSTANCE = "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"


def bodies() -> dict[str, dict]:
    """bench/service.py's bodies: the 24-resource case as a hook prefetch and as $apply data."""
    resources = case_resources()
    apply = {"resourceType": "Parameters", "parameter": [
        {"name": "subject", "valueString": f"Patient/{PATIENT_ID}"},
        {"name": "data", "resource": {"resourceType": "Bundle", "type": "collection",
                                      "entry": [{"resource": r} for r in copy.deepcopy(resources)]}}]}
    view = hook_body("patient-view", resources)
    sign = hook_body("order-sign", resources, DRAFT_ORDERS)
    for body in (view, sign):
        body["hookInstance"] = HOOK_INSTANCE
    return {"a": view, "b": apply, "c": sign}


def cpu_ms(fn, n: int) -> float:
    """CPU ms per call of `fn` over `n` calls (after 5 warm-up calls)."""
    for _ in range(5):
        fn()
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n * 1000


def _assembly(engine, apply_call):
    """A repeatable call of the CarePlan assembly with the arguments `apply_call` gives it."""
    import service.apply.engine as module

    seen = []
    original = module.careplan
    module.careplan = lambda *args: seen.append(args) or original(*args)
    try:
        apply_call()
    finally:
        module.careplan = original
    plan, groups, features, ctx, terms, title, notes = seen[0]
    return lambda: original(plan, groups, features, dataclasses.replace(ctx, roles={}), terms, title, notes)


def _parts(engine, settings, scenario: str, body: dict, lang: str = "nl") -> dict:
    """The evaluation path's steps as callables, in order (each one repeatable)."""
    from service.apply.operation import negotiate_language  # noqa: F401 (same imports as the routes)
    from service.cds_hooks.cards import render_cards
    from service.cds_hooks.discovery import PREFETCH_KEYS
    from service.cds_hooks.draft_orders import judged_orders
    from service.cds_hooks.fetch import gather_resources
    from service.cds_hooks.request import parse_hook_request
    from service.cds_hooks.routes import service_plan
    from service.cds_hooks.subjects import localise
    from service.cds_hooks.validation import screen
    from service.fhir_api.apply_route import _parse
    from service.facts.model import AMSTERDAM
    from datetime import datetime

    now = datetime(2026, 12, 7, 10, 0, tzinfo=AMSTERDAM)
    if scenario == "b":
        parsed = _parse(body)
        args = parsed[0]
        apply = lambda: engine.apply("nekpijn-behandelprofiel", args.resources, args.subject, now=now,  # noqa: E731
                                     lang=lang)
        return {
            "validation (_parse)": lambda: _parse(body),
            "engine.apply": apply,
            "  of it: CarePlan assembly": _assembly(engine, apply),
        }
    service = service_plan(engine, SCENARIOS[scenario][1].rsplit("/", 1)[1])
    hook = parse_hook_request(body, [service.hook])
    loop = asyncio.new_event_loop()  # one loop for every call (asyncio.run costs ~0.25 ms itself)
    fetched = loop.run_until_complete(gather_resources(hook, PREFETCH_KEYS[hook.hook], settings))
    orders = judged_orders(fetched.draft_orders, hook.patient, hook.fhir_server) if scenario == "c" else None
    resources = localise(fetched.resources, hook.patient, hook.fhir_server)
    apply = lambda: engine.apply(service.plan_id, resources, hook.patient, now=now, orders=orders,  # noqa: E731
                                 lang=lang)
    result = apply()
    return {
        "parse_hook_request": lambda: parse_hook_request(body, [service.hook]),
        "gather_resources (prefetch)": lambda: loop.run_until_complete(
            gather_resources(hook, PREFETCH_KEYS[hook.hook], settings)),
        "validation (screen)": lambda: screen(fetched, orders or [], hook.patient),
        "engine.apply": apply,
        "  of it: CarePlan assembly": _assembly(engine, apply),
        "render_cards": lambda: render_cards(result, engine, service_id=service.id, plan_id=service.plan_id,
                                             hook_instance=HOOK_INSTANCE, lang=lang),
        "answer json.dumps": lambda: json.dumps({"cards": render_cards(
            result, engine, service_id=service.id, plan_id=service.plan_id, hook_instance=HOOK_INSTANCE,
            lang=lang)}),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=200, help="calls per figure (default 200)")
    parser.add_argument("--scenarios", default="abc")
    parser.add_argument("--lang", default="nl", choices=["nl", "en"], help="the output language (default nl)")
    parser.add_argument("--profile", default="", help="scenarios to profile with cProfile (whole call)")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        os.environ["NEKPIJN_DATABASE_URL"] = f"sqlite:///{folder}/bench.db"
        from fastapi.testclient import TestClient

        from service.app import create_app
        app = create_app()
        client = TestClient(app)
        parsed = bodies()
        raw = {scenario: json.dumps(body).encode() for scenario, body in parsed.items()}
        counter = iter(range(10**9))

        def call(scenario: str):
            path = SCENARIOS[scenario][1]
            data = raw[scenario].replace(HOOK_INSTANCE.encode(), f"bench-{next(counter)}".encode())
            ctype = "application/fhir+json" if scenario == "b" else "application/json"
            response = client.post(path, content=data, headers={"Content-Type": ctype, "Accept-Language": args.lang})
            assert response.status_code == 200, (scenario, response.status_code, response.text[:300])

        for scenario in args.scenarios:
            body = json.loads(raw[scenario])
            print(f"({scenario}) {SCENARIOS[scenario][0]}")
            for name, fn in _parts(app.state.engine, app.state.settings, scenario, body, args.lang).items():
                print(f"  {name:32} {cpu_ms(fn, args.n):7.3f} ms CPU")
            print(f"  {'whole call (TestClient)':32} {cpu_ms(lambda: call(scenario), args.n):7.3f} ms CPU")
        for scenario in args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(args.n):
                call(scenario)
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.top)
            print(f"\n== cProfile ({scenario}) {SCENARIOS[scenario][0]}, {args.n} calls ==")
            print(out.getvalue())
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
