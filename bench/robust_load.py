"""Robustness load run: a fixed request rate against the real service, zero errors expected.

    .venv/bin/python -m bench.robust_load --seconds 60 --rate 50

Starts ``nekpijn-cds serve`` (``python -m service.cli serve``) as a separate
process — 2 uvicorn workers when ``serve`` has ``--workers``, else 1 —
with JWT security on (a throw-away ES384 issuer) and an SQLite store in a
temporary folder (or ``--database-url``). Then drives it *open-loop* at
``--rate`` requests per second for ``--seconds`` seconds: request *i* is sent
at ``start + i / rate`` whether or not earlier ones have been answered, so a
slow service cannot slow the load down (latency is measured from the
scheduled send time, no coordinated omission). The mix, by request number:

* 70 % patient-view ``POST /cds-services/nekpijn-behandelprofiel`` with the
  full prefetch of a reference case (the cases of tests/cases/cases.yaml in
  turn, as an EHR fills the prefetch keys);
* 30 % order-sign ``POST /cds-services/nekpijn-orders-sign`` with the full
  prefetch and three draft ServiceRequests.

Every request has a fresh JWT (own ``jti``) and a fresh ``hookInstance``.

An error is: a transport error, no answer within ``--timeout`` (10 s, the
whole request), a status
other than 200, a body that is not ``{"cards": [...]}`` (a patient-view of a
case with a treatment profile must have cards). After the run the service is
stopped with SIGTERM and the store is opened: every answered hook call must
have its audit entry (nothing acknowledged is lost), and the service log must
hold no ERROR line and no traceback.

Prints one line ``PASS: 3000 requests, 0 errors, p50 .. ms, p99 .. ms, max ..
ms, ...`` or ``FAIL: ...`` (exit status 1); ``--json PATH`` also writes the
figures. ``--max-p99-ms`` (default 1000) fails a run whose p99 is above it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timezone
from pathlib import Path

import httpx
import jwt
import yaml
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.cds_hooks.discovery import PREFETCH_KEYS  # noqa: E402
from service.store import Store  # noqa: E402
from tools.case_bundles import build_case_bundle  # noqa: E402

ISSUER = "https://ehr.robust-load.example.org"
KID = "robust-load-es384"
AUDIENCE_BASE = "https://cds.robust-load.example.org/cds-services"
SNOMED = "http://snomed.info/sct"
LOCAL = "https://nekpijn-cds.org/fhir/CodeSystem/nekpijn"
TODAY = date(2026, 11, 2)
ORDER_SLOTS = (2, 5, 8)  # request number mod 10 → order-sign


# -- the service ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _supports_workers() -> bool:
    out = subprocess.run([sys.executable, "-m", "service.cli", "serve", "--help"], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    return "--workers" in out.stdout


def _issuer(folder: Path) -> ec.EllipticCurvePrivateKey:
    key = ec.generate_private_key(ec.SECP384R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": KID, "alg": "ES384", "use": "sig"})
    (folder / "jwks.json").write_text(json.dumps({"keys": [jwk]}), encoding="utf-8")
    (folder / "issuers.json").write_text(json.dumps([{"iss": ISSUER, "jwks_file": str(folder / "jwks.json")}]),
                                         encoding="utf-8")
    return key


def _token(key, aud: str) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "robust-load", "aud": aud, "iat": now, "exp": now + 300,
              "jti": uuid.uuid4().hex}
    return jwt.encode(claims, key, algorithm="ES384", headers={"kid": KID, "typ": "JWT"})


def _start(folder: Path, database_url: str, workers: int) -> tuple[subprocess.Popen, str, Path]:
    port = _free_port()
    audiences = ",".join(f"{AUDIENCE_BASE}/{s}" for s in ("nekpijn-behandelprofiel", "nekpijn-orders-sign"))
    env = {**os.environ, "NEKPIJN_AUTH": "jwt", "NEKPIJN_TRUSTED_ISSUERS_FILE": str(folder / "issuers.json"),
           "NEKPIJN_DATABASE_URL": database_url, "NEKPIJN_AUDIENCES": audiences, "NEKPIJN_LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "service.cli", "serve", "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    log_path = folder / "service.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return proc, base, log_path
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"FAIL: the service did not start: {log_path.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)


# -- the workload ---------------------------------------------------------------------


def _workload() -> list[tuple[str, list[dict]]]:
    """(case id, resources) of every reference case that has a treatment profile (cards expected)."""
    cases = yaml.safe_load((ROOT / "tests" / "cases" / "cases.yaml").read_text(encoding="utf-8"))["cases"]
    dictionary = yaml.safe_load((ROOT / "dak" / "data-dictionary.yaml").read_text(encoding="utf-8"))
    out = []
    for case in cases:
        resources = [e["resource"] for e in build_case_bundle(case, TODAY, dictionary)["entry"]]
        out.append((case["id"], resources))
    return out


def _prefetch(resources: list[dict], hook: str) -> dict:
    out = {}
    for key, template in PREFETCH_KEYS[hook].items():
        rtype = template.split("?")[0].split("/")[0]
        matching = [r for r in resources if r["resourceType"] == rtype]
        if "?" in template:
            out[key] = {"resourceType": "Bundle", "type": "searchset", "total": len(matching),
                        "entry": [{"resource": r} for r in matching]}
        else:
            out[key] = matching[0] if matching else None
    return out


def _drafts(patient: str) -> list[dict]:
    def draft(rid, system, code):
        return {"resourceType": "ServiceRequest", "id": rid, "status": "draft", "intent": "order",
                "code": {"coding": [{"system": system, "code": code}]}, "subject": {"reference": f"Patient/{patient}"}}
    return [draft("dn", SNOMED, "231082000"), draft("col", LOCAL, "int-semi-rigid-collar"),
            draft("ex", SNOMED, "229065009")]


class Requests:
    """The i-th request: (kind, path, audience, body) with a fresh hookInstance."""

    def __init__(self) -> None:
        self.cases = _workload()
        self.prefetch = {(cid, hook): _prefetch(res, hook) for cid, res in self.cases
                         for hook in ("patient-view", "order-sign")}

    def __call__(self, i: int) -> tuple[str, str, dict]:
        case_id, _ = self.cases[i % len(self.cases)]
        hook = "order-sign" if i % 10 in ORDER_SLOTS else "patient-view"
        service = "nekpijn-orders-sign" if hook == "order-sign" else "nekpijn-behandelprofiel"
        context = {"userId": "Practitioner/physio-1", "patientId": case_id}
        if hook == "order-sign":
            drafts = _drafts(case_id)
            context["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                      "entry": [{"resource": d} for d in drafts]}
        body = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context,
                "prefetch": self.prefetch[(case_id, hook)]}
        return hook, service, body


# -- the run --------------------------------------------------------------------------


async def _drive(base: str, key, make: Requests, seconds: float, rate: float, timeout: float) -> dict:
    total = int(seconds * rate)
    results: list[dict] = []
    lag_max = 0.0
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout) as client:
        async def send(i: int, scheduled: float, hook: str, service: str, body: dict, token: str) -> None:
            record = {"i": i, "hook": hook, "instance": body["hookInstance"], "ok": False, "error": None}
            try:
                async with asyncio.timeout(timeout):  # the whole request (httpx' timeout is per operation)
                    response = await client.post(f"/cds-services/{service}", content=json.dumps(body),
                                                 headers={"Authorization": f"Bearer {token}",
                                                          "Content-Type": "application/json"})
                record["status"] = response.status_code
                if response.status_code != 200:
                    record["error"] = f"HTTP {response.status_code}"
                else:
                    cards = response.json().get("cards")
                    if not isinstance(cards, list) or (hook == "patient-view" and not cards):
                        record["error"] = "no cards"
                    else:
                        record["ok"] = True
            except TimeoutError:
                record["error"] = f"no answer within {timeout:g} s"
            except (httpx.HTTPError, ValueError) as exc:
                record["error"] = type(exc).__name__
            record["latency_ms"] = (loop.time() - scheduled) * 1000
            results.append(record)

        loop = asyncio.get_running_loop()
        tasks = []
        start = loop.time() + 0.5
        for i in range(total):
            hook, service, body = make(i)
            token = _token(key, f"{AUDIENCE_BASE}/{service}")
            scheduled = start + i / rate
            delay = scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                lag_max = max(lag_max, -delay)
            tasks.append(asyncio.create_task(send(i, scheduled, hook, service, body, token)))
        sent_in = loop.time() - start
        await asyncio.gather(*tasks)
    return {"results": results, "sent_in_s": sent_in, "lag_max_ms": lag_max * 1000}


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the run (default 60)")
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second (default 50)")
    parser.add_argument("--workers", type=int, default=None,
                        help="uvicorn workers (default: 2 when `serve --workers` exists, else 1)")
    parser.add_argument("--database-url", default=None, help="store URL (default: SQLite in a temporary folder)")
    parser.add_argument("--timeout", type=float, default=10.0, help="client timeout per request, s (default 10)")
    parser.add_argument("--max-p99-ms", type=float, default=1000.0, help="fail above this p99 (default 1000)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)

    workers = args.workers if args.workers is not None else (2 if _supports_workers() else 1)
    make = Requests()
    with tempfile.TemporaryDirectory(prefix="nekpijn-robust-load-") as tmp:
        folder = Path(tmp)
        key = _issuer(folder)
        database_url = args.database_url or f"sqlite:///{folder / 'service.db'}"
        proc, base, log_path = _start(folder, database_url, workers)
        try:
            run = asyncio.run(_drive(base, key, make, args.seconds, args.rate, args.timeout))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        log = log_path.read_text(errors="replace")
        store = Store.from_url(database_url)
        try:
            audited = {e.hook_instance for e in store.audit(limit=len(run["results"]) + 1000)}
        finally:
            store.close()

    results = run["results"]
    errors = [r for r in results if not r["ok"]]
    latencies = [r["latency_ms"] for r in results]
    answered = [r for r in results if r["ok"]]
    not_audited = [r for r in answered if r["instance"] not in audited]
    log_errors = [line for line in log.splitlines() if " ERROR " in line or line.startswith("Traceback")]
    achieved = len(results) / run["sent_in_s"] if run["sent_in_s"] > 0 else float("nan")
    figures = {
        "requests": len(results), "errors": len(errors), "rate": args.rate, "seconds": args.seconds,
        "achieved_rate": round(achieved, 1), "workers": workers,
        "store": "sqlite (temporary)" if args.database_url is None else "given URL",
        "p50_ms": round(_percentile(latencies, 50), 1), "p90_ms": round(_percentile(latencies, 90), 1),
        "p99_ms": round(_percentile(latencies, 99), 1), "max_ms": round(max(latencies, default=float("nan")), 1),
        "patient_view": sum(r["hook"] == "patient-view" for r in results),
        "order_sign": sum(r["hook"] == "order-sign" for r in results),
        "not_audited": len(not_audited), "service_log_errors": len(log_errors),
        "client_lag_max_ms": round(run["lag_max_ms"], 1),
        "error_kinds": sorted({r["error"] for r in errors}),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    problems = []
    if errors:
        problems.append(f"{len(errors)} errors ({', '.join(figures['error_kinds'])})")
    if not_audited:
        problems.append(f"{len(not_audited)} answered hook calls without an audit entry")
    if log_errors:
        problems.append(f"{len(log_errors)} ERROR lines in the service log, e.g. {log_errors[0][:200]!r}")
    if figures["p99_ms"] > args.max_p99_ms:
        problems.append(f"p99 {figures['p99_ms']} ms above {args.max_p99_ms:g} ms")
    if achieved < 0.95 * args.rate:
        problems.append(f"the load generator reached only {achieved:.1f}/s of {args.rate:g}/s")
    summary = (f"{figures['requests']} requests ({figures['patient_view']} patient-view, {figures['order_sign']} "
               f"order-sign) at {args.rate:g}/s for {args.seconds:g} s, {workers} worker(s), {figures['errors']} "
               f"errors, p50 {figures['p50_ms']} ms, p90 {figures['p90_ms']} ms, p99 {figures['p99_ms']} ms, "
               f"max {figures['max_ms']} ms, {figures['not_audited']} not audited, "
               f"{figures['service_log_errors']} service log errors")
    figures["result"] = "FAIL" if problems else "PASS"
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    if problems:
        print(f"FAIL: {summary}; " + "; ".join(problems))
        return 1
    print(f"PASS: {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
