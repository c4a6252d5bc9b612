"""Do large public requests slow the service down? (issue 14, finding 1)

Starts ``nekpijn-cds serve`` (1 worker, JWT on, SQLite in a temporary folder,
the public rate limits off so that nothing but the body limits and the
off-loop work is measured), then:

1. idle: ``GET /health`` and a patient-view hook call (full prefetch, fresh
   JWT) one after the other, for ``--idle`` seconds;
2. under load: the same, while ``--clients`` threads send large public
   requests as fast as they are answered, each in turn: a valid self-check
   ``$apply`` filled with FHIR up to just under the 64 kB limit (every
   resource validated, then evaluated), a 4.9 MB ``$apply`` body of FHIR
   with Content-Length (refused at once), the same chunked (cut off at 64 kB
   while read) and a valid submission padded to just under 64 kB (validated,
   evaluated, stored).

Prints p50 / p95 / max of ``/health`` and of the hook call in both phases,
what the flood got (statuses, requests/s) and the service's CPU use (from
/proc). ``measure()`` is also what ``tests/test_public_load.py`` runs.

    .venv/bin/python -m bench.public_load --idle 5 --load 10 --clients 4
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # self_check_support: the page's QuestionnaireResponse

from bench.robust_load import AUDIENCE_BASE, Requests, _issuer, _start, _token  # noqa: E402
from bench.service import process_cpu  # noqa: E402

PUBLIC_APPLY = "/fhir/PlanDefinition/nekklachten-zelfcheck/$apply"
SUBMISSIONS = "/zelfcheck/submissions"
HOOK_SERVICE = "nekpijn-behandelprofiel"
LIMIT = 64 * 1024
HUGE = 4_900_000
FHIR = {"Content-Type": "application/fhir+json"}


def _pad(raw: bytes, size: int) -> bytes:
    return raw + b" " * max(0, size - len(raw))  # JSON whitespace: parsed, then ignored


def public_bodies(base: str) -> dict[str, bytes]:
    from self_check_support import OUTCOMES, apply_parameters, questionnaire_response

    from service.self_check_page.texts import CONSENT_VERSION

    given, advice = OUTCOMES["appointment"]
    response = questionnaire_response(given)
    submission = json.dumps({"questionnaireResponse": response, "adviceCode": advice, "language": "nl",
                             "consent": True, "consentVersion": CONSENT_VERSION}).encode()
    return {"apply": _filled(response, LIMIT - 64), "submission": _pad(submission, LIMIT - 64),
            "huge": _filled(response, HUGE)}


def _filled(response: dict, size: int) -> bytes:
    """A self-check $apply whose data Bundle holds as many copies of the response as fit in *size*
    bytes: FHIR to validate all the way (the costly kind of body), padded to exactly *size*."""
    from self_check_support import apply_parameters

    one = len(json.dumps({"resource": response})) + 2
    parameters = apply_parameters(response)
    bundle = parameters["parameter"][1]["resource"]
    copies = max(1, (size - len(json.dumps(parameters))) // one)
    bundle["entry"] = [{"resource": {**response, "id": f"{response['id']}-{i}"}} for i in range(copies)]
    raw = json.dumps(parameters).encode()
    while len(raw) > size:
        bundle["entry"].pop()
        raw = json.dumps(parameters).encode()
    return _pad(raw, size)


def _percentiles(values: list[float]) -> dict:
    values = sorted(values)
    if not values:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "max_ms": None}

    def at(p: float) -> float:
        return round(values[min(len(values) - 1, int(p * len(values)))] * 1000, 1)

    return {"n": len(values), "p50_ms": at(0.5), "p95_ms": at(0.95), "max_ms": round(values[-1] * 1000, 1)}


class Probe:
    """/health and a hook call, one after the other, timing each."""

    def __init__(self, base: str, key) -> None:
        self.base, self.key = base, key
        self.requests = Requests()
        self.client = httpx.Client(base_url=base, timeout=30)

    def run(self, seconds: float) -> dict:
        health, hook, errors = [], [], Counter()
        deadline = time.monotonic() + seconds
        i = 0
        while time.monotonic() < deadline:
            start = time.perf_counter()
            r = self.client.get("/health")
            health.append(time.perf_counter() - start)
            if r.status_code != 200:
                errors[f"health {r.status_code}"] += 1
            _, service, body = self.requests(i * 10)  # patient-view bodies (i*10 mod 10 = 0)
            token = _token(self.key, f"{AUDIENCE_BASE}/{service}")
            raw = json.dumps(body).encode()
            start = time.perf_counter()
            r = self.client.post(f"/cds-services/{service}", content=raw,
                                 headers={**FHIR, "Authorization": f"Bearer {token}"})
            hook.append(time.perf_counter() - start)
            if r.status_code != 200 or "cards" not in r.json():
                errors[f"hook {r.status_code}"] += 1
            i += 1
            time.sleep(0.02)
        return {"health": _percentiles(health), "hook": _percentiles(hook), "errors": dict(errors)}


def _flood(base: str, bodies: dict[str, bytes], stop: threading.Event, statuses: Counter, lock) -> None:
    def chunked():
        for i in range(0, len(bodies["huge"]), 65536):
            yield bodies["huge"][i:i + 65536]

    kinds = ["apply", "huge", "chunked", "submission"]
    n = 0
    with httpx.Client(base_url=base, timeout=30) as client:
        while not stop.is_set():
            kind = kinds[n % len(kinds)]
            n += 1
            try:
                if kind == "submission":
                    r = client.post(SUBMISSIONS, content=bodies["submission"],
                                    headers={"Content-Type": "application/json"})
                elif kind == "chunked":
                    r = client.post(PUBLIC_APPLY, content=chunked(), headers=FHIR)
                else:
                    r = client.post(PUBLIC_APPLY, content=bodies[kind], headers=FHIR)
                key = f"{kind} {r.status_code}"
            except httpx.HTTPError as exc:  # the server closes after a 413 while the client still sends
                key = f"{kind} {type(exc).__name__}"
            with lock:
                statuses[key] += 1


def measure(idle: float = 5.0, load: float = 10.0, clients: int = 4, workers: int = 1,
            rate_limits: bool = False) -> dict:
    """*rate_limits*: keep the default public rate limits (a flood from one address is then
    mostly answered 429); off by default, so that the worst case is measured."""
    folder = Path(tempfile.mkdtemp(prefix="nekpijn-public-load-"))
    key = _issuer(folder)
    saved = {k: os.environ.get(k) for k in ("NEKPIJN_RATE_LIMIT_APPLY", "NEKPIJN_RATE_LIMIT_SUBMISSIONS")}
    for k in saved:
        os.environ.pop(k, None)
    if not rate_limits:
        os.environ.update({"NEKPIJN_RATE_LIMIT_APPLY": "off", "NEKPIJN_RATE_LIMIT_SUBMISSIONS": "off"})
    try:
        proc, base, log_path = _start(folder, f"sqlite:///{folder / 'store.db'}", workers)
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    try:
        bodies = public_bodies(base)
        probe = Probe(base, key)
        probe.run(1.0)  # warm-up (first calls compile and cache)
        idle_result = probe.run(idle)
        stop, lock, statuses = threading.Event(), threading.Lock(), Counter()
        threads = [threading.Thread(target=_flood, args=(base, bodies, stop, statuses, lock), daemon=True)
                   for _ in range(clients)]
        cpu0, t0 = process_cpu(proc.pid), time.perf_counter()
        for t in threads:
            t.start()
        time.sleep(0.5)  # the flood is under way
        load_result = probe.run(load)
        stop.set()
        for t in threads:
            t.join(60)
        elapsed = time.perf_counter() - t0
        service_cpu = (process_cpu(proc.pid) - cpu0) / elapsed
        return {"clients": clients, "workers": workers, "idle": idle_result, "load": load_result,
                "flood": dict(sorted(statuses.items())),
                "flood_per_s": round(sum(statuses.values()) / elapsed, 1),
                "service_cpu_pct": round(100 * service_cpu)}
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except Exception:  # noqa: BLE001
            proc.kill()


def report(result: dict) -> str:
    lines = [f"{'':14}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}"]
    for phase in ("idle", "load"):
        for what in ("health", "hook"):
            r = result[phase][what]
            lines.append(f"{phase + ' ' + what:14}{r['n']:>6}{r['p50_ms']:>10}{r['p95_ms']:>10}{r['max_ms']:>10}")
    lines.append(f"flood ({result['clients']} clients, {result['flood_per_s']} req/s): {result['flood']}")
    lines.append(f"service CPU during the load: {result['service_cpu_pct']} % of one core "
                 f"({result['workers']} worker(s)); probe errors idle {result['idle']['errors']}, "
                 f"load {result['load']['errors']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle measurement")
    parser.add_argument("--load", type=float, default=10.0, help="seconds of measurement under load")
    parser.add_argument("--clients", type=int, default=4, help="threads sending large public requests")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers")
    parser.add_argument("--rate-limits", action="store_true",
                        help="keep the default public rate limits (default: off, the worst case)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    result = measure(args.idle, args.load, args.clients, args.workers, args.rate_limits)
    print(report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
