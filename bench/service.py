"""Service benchmark: server CPU milliseconds per request, scenario by scenario.

    .venv/bin/python -m bench.service                 # ~5 min: the table on stdout, nothing written
    .venv/bin/python -m bench.service --save          # the same, and bench/results/service.json
    .venv/bin/python -m bench.service --quick         # smoke run, ~1 min
    .venv/bin/python -m bench.service --memory-requests 100000 --rounds 0   # RSS growth alone

Two ``nekpijn-cds serve`` processes (uvicorn, one worker each, a fresh SQLite
store each, access log on): one with ``NEKPIJN_AUTH=off``, one with JWT
security (a throw-away ES384 issuer). The scenarios (:data:`SCENARIOS`):

  patient-view      ``POST /cds-services/nekpijn-behandelprofiel``, a prefetch of 24
                    resources (Patient, 2 intake QuestionnaireResponses, 20
                    Observations, the neck-pain Condition), auth off and with JWT;
  discovery         ``GET /cds-services`` with JWT: the floor of an authenticated call;
  $apply            ``POST /fhir/PlanDefinition/nekpijn-behandelprofiel/$apply``, the
                    same 24 resources as a Parameters ``data`` Bundle, auth off;
  order-sign        ``POST /cds-services/nekpijn-orders-sign``, the same prefetch and
                    5 draft ServiceRequests, auth off.

The scenarios run *interleaved*: round after round, each scenario sends
``--requests`` calls (discovery ``--requests`` x 2) one after the other on one
keep-alive connection (concurrency 1), so that a change in the machine's speed
or load hits every scenario alike. Around each scenario's share of a round the
server's CPU time (utime + stime from ``/proc/<pid>/stat`` of the server process
and its children) is read: **server CPU ms per request** is the first figure
(median over rounds, and the range), latency (p50, p95 of every call) the second.
Every JWT call has a fresh token (the service refuses a replayed ``jti``); tokens
are signed before the rounds, in this process, so minting costs the client only.
Every hook call has a fresh ``hookInstance``. A first round is a warm-up and not
counted.

``--memory-requests N``: afterwards, N more patient-view calls (auth off) against
the auth-off server, resident memory (VmRSS from ``/proc``) sampled every tenth;
growth is reported from after a warm-up of 2 000 calls.

Results are written only with ``--save`` (``bench/results/service.json``, the
committed figures) or ``--json FILE``.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import HOOK_INSTANCE_MARKER, TOKEN_LIFETIME, RawConnection, TokenPool, generate_key  # noqa: E402
from service.cds_hooks.discovery import PREFETCH_KEYS  # noqa: E402
from service.facts.model import AMSTERDAM  # noqa: E402
from tools.case_bundles import build_case_bundle  # noqa: E402

AUDIENCE = "https://cds.bench.example.org/cds-services"
PATIENT_ID = "bench-patient-1"
SNOMED = "http://snomed.info/sct"
LOCAL = "https://nekpijn-cds.org/fhir/CodeSystem/nekpijn"


@dataclass(frozen=True)
class Scenario:
    name: str
    method: str
    path: str
    body: str  # key of bodies()
    auth: str  # "off" or "jwt": which server it runs against
    weight: int = 1  # requests per round = --requests x weight
    target_ms: float | None = None  # issue 17's target, server CPU ms per request

    @property
    def content_type(self) -> str:
        return "application/fhir+json" if self.body == "$apply" else "application/json"


SCENARIOS = [
    Scenario("patient-view, auth off", "POST", "/cds-services/nekpijn-behandelprofiel", "patient-view", "off",
             target_ms=2.5),
    Scenario("patient-view, JWT", "POST", "/cds-services/nekpijn-behandelprofiel", "patient-view", "jwt",
             target_ms=3.5),
    Scenario("discovery, JWT", "GET", "/cds-services", "discovery", "jwt", weight=2, target_ms=1.2),
    Scenario("$apply, auth off", "POST", "/fhir/PlanDefinition/nekpijn-behandelprofiel/$apply", "$apply", "off",
             target_ms=3.5),
    Scenario("order-sign 5 drafts, auth off", "POST", "/cds-services/nekpijn-orders-sign", "order-sign", "off",
             target_ms=3.0),
]

# -- workload -------------------------------------------------------------------------

CASE = {
    "id": PATIENT_ID, "age": 47, "onset_days": 60, "intake_days": 42,
    "answers": {
        "trauma-related": False, "work-related": True, "sick-leave": True, "sick-leave-weeks": 2,
        "recurrent": False, "course-trend": "trend-unchanged", "adl-impact": "adl-substantial",
        "pattern-assessment": "pattern-recognisable", "crs-arm-sensory": False, "crs-radiating-arm-pain": True,
        "psychosocial-dominant": False, "pf-high-work-demands": True, "rf-trauma-history": False,
        "rf-headache": False, "comorbidities": "Hypertensie",
    },
    "tests": {"test-spurling": "neg", "test-traction-distraction": "neg", "test-ultt": "neg"},
    "obs": [{"code": "nprs", "value": v, "days": d} for v, d in ((7, 42), (7, 35), (6, 28), (6, 21), (5, 14), (5, 7), (4, 1))]
    + [{"code": "psk", "value": v, "days": d} for v, d in ((7.0, 42), (6.0, 28), (5.0, 14), (4.0, 1))]
    + [{"code": "ndi", "value": v, "days": d} for v, d in ((22, 42), (14, 1))]
    + [{"code": "cervical-rotation", "value": v, "days": d} for v, d in (((55, 70), 42), ((65, 70), 21), ((70, 75), 1))]
    + [{"code": "tsk", "value": 34, "days": 42}],
}
# a second intake QuestionnaireResponse two weeks ago: updated course and ADL answers
FOLLOW_UP = {"id": PATIENT_ID, "age": 47, "onset_days": 60, "intake_days": 14,
             "answers": {"course-trend": "trend-decreasing", "adl-impact": "adl-substantial",
                         "psychosocial-dominant": False}}


def case_resources() -> list[dict]:
    """Patient, 2 QuestionnaireResponses, 20 Observations, Condition (24 resources), dated from today."""
    dictionary = yaml.safe_load((ROOT / "dak" / "data-dictionary.yaml").read_text(encoding="utf-8"))
    today = datetime.now(AMSTERDAM).date()
    resources = [e["resource"] for e in build_case_bundle(CASE, today, dictionary)["entry"]]
    follow_up = next(e["resource"] for e in build_case_bundle(FOLLOW_UP, today, dictionary)["entry"]
                     if e["resource"]["resourceType"] == "QuestionnaireResponse")
    follow_up["id"] = f"{PATIENT_ID}-intake-2"
    resources.insert(2, follow_up)
    return resources


def _codes(resource: dict) -> set[str]:
    return {f"{c.get('system')}|{c.get('code')}" for c in (resource.get("code") or {}).get("coding", [])}


def prefetch(resources: list[dict], templates: dict[str, str]) -> dict:
    """Every prefetch key filled as an EHR would: reads with the resource, searches with a
    searchset of the resources the search (type and, for Observations, code) would find."""
    out = {}
    for key, template in templates.items():
        path, _, query = template.partition("?")
        rtype = path.split("/")[0]
        if not query:
            out[key] = next((r for r in resources if r["resourceType"] == rtype), None)
            continue
        params = dict(p.split("=", 1) for p in query.split("&"))
        wanted = set(params["code"].split(",")) if rtype == "Observation" and "code" in params else None
        found = [r for r in resources if r["resourceType"] == rtype and (wanted is None or _codes(r) & wanted)]
        out[key] = {"resourceType": "Bundle", "type": "searchset", "total": len(found),
                    "entry": [{"fullUrl": f"http://ehr.example.org/fhir/{r['resourceType']}/{r['id']}",
                               "resource": r} for r in found]}
    return out


def _draft(rid: str, system: str, code: str) -> dict:
    return {"resourceType": "ServiceRequest", "id": rid, "status": "draft", "intent": "order",
            "code": {"coding": [{"system": system, "code": code}]}, "subject": {"reference": f"Patient/{PATIENT_ID}"}}


DRAFT_ORDERS = [_draft("dn", SNOMED, "231082000"), _draft("ex", LOCAL, "int-exercise-therapy"),
                _draft("ms", LOCAL, "int-massage"), _draft("ls", LOCAL, "int-laser"),
                _draft("kt", LOCAL, "int-kinesiotape")]


def hook_body(hook: str, resources: list[dict], drafts: list[dict] | None = None) -> dict:
    context = {"userId": "Practitioner/physio-1", "patientId": PATIENT_ID}
    if drafts is not None:
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": d} for d in drafts]}
    return {"hook": hook, "hookInstance": HOOK_INSTANCE_MARKER, "context": context,
            "prefetch": prefetch(resources, PREFETCH_KEYS[hook])}


def bodies() -> dict[str, bytes]:
    """The request bodies: patient-view, $apply (the same 24 resources) and order-sign (+ 5 drafts)."""
    resources = case_resources()
    apply = {"resourceType": "Parameters", "parameter": [
        {"name": "subject", "valueString": f"Patient/{PATIENT_ID}"},
        {"name": "data", "resource": {"resourceType": "Bundle", "type": "collection",
                                      "entry": [{"resource": r} for r in copy.deepcopy(resources)]}}]}
    return {
        "patient-view": json.dumps(hook_body("patient-view", resources)).encode(),
        "$apply": json.dumps(apply).encode(),
        "order-sign": json.dumps(hook_body("order-sign", resources, DRAFT_ORDERS)).encode(),
        "discovery": b"",
    }



# -- the service process ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid: int) -> list[int]:
    """*pid* and every process below it (uvicorn's supervisor and workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def memory(pid: int) -> dict:
    """VmRSS (KiB) of the server process tree: per process and in total."""
    per = {p: rss_kib(p) for p in descendants(pid)}
    per = {p: v for p, v in per.items() if v is not None}
    return {"total_kib": sum(per.values()), "processes": {str(p): v for p, v in sorted(per.items())}}


TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process *pid* (0 when gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return 0.0




def server_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) the server processes have used so far."""
    return sum(process_cpu(p) for p in pids)


class Server:
    """``nekpijn-cds serve`` (one uvicorn worker) in a process session of its own."""

    def __init__(self, auth: str, folder: Path, issuers: Path, database_url: str | None, log_level: str,
                 root: Path = ROOT):
        self.auth, self.folder, self.root = auth, folder, root
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        db = database_url or f"sqlite:///{folder / f'bench-{auth}-{self.port}.db'}"
        # the service of *root* (``--baseline``: another source tree), with this virtualenv's packages
        pythonpath = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
        self.env = {**os.environ, "PYTHONPATH": pythonpath, "NEKPIJN_AUTH": auth, "NEKPIJN_TRUSTED_ISSUERS_FILE": str(issuers),
                    "NEKPIJN_DATABASE_URL": db, "NEKPIJN_AUDIENCES": AUDIENCE,
                    "NEKPIJN_LOG_LEVEL": log_level, "NEKPIJN_MAX_BODY_BYTES": "5000000",
                    # tokens are signed before the rounds (bench/load.py TOKEN_LIFETIME)
                    "NEKPIJN_MAX_TOKEN_LIFETIME": str(TOKEN_LIFETIME)}
        self.log_path = folder / f"server-{auth}-{self.port}.log"  # (the port tells the trees apart)
        self.proc: subprocess.Popen | None = None
        self.pids: list[int] = []
        self.module = "service.cli"  # bench/breakdown.py: bench.stage_timer, the same service with stage clocks

    def start(self) -> float:
        """Spawn and wait for the first 200 on /health; seconds it took."""
        log = self.log_path.open("wb")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, "serve", "--port", str(self.port), "--workers", "1"],
            env=self.env, cwd=self.root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        with httpx.Client(timeout=10) as client:
            while True:
                try:
                    if client.get(f"{self.base}/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"service did not start; log: {self.log_path}\n"
                                       + self.log_path.read_text(errors="replace")[-3000:])
                time.sleep(0.01)
        self.pids = descendants(self.proc.pid)
        return time.perf_counter() - t0

    def cpu(self) -> float:
        return server_cpu(self.pids)

    def memory(self) -> dict:
        return memory(self.proc.pid)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)  # our own session: the server and its children
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


# -- rounds ---------------------------------------------------------------------------------


@dataclass
class Tally:
    """One scenario over all counted rounds."""

    cpu_ms: list[float] = field(default_factory=list)  # per round: server CPU ms per request
    latencies_ms: list[float] = field(default_factory=list)  # every call
    errors: dict[str, int] = field(default_factory=dict)
    requests: int = 0

    def summary(self) -> dict:
        lat = sorted(self.latencies_ms)

        def pct(p: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))], 3) if lat else None

        return {"cpu_ms_per_request": round(statistics.median(self.cpu_ms), 3) if self.cpu_ms else None,
                "cpu_ms_min": round(min(self.cpu_ms), 3) if self.cpu_ms else None,
                "cpu_ms_max": round(max(self.cpu_ms), 3) if self.cpu_ms else None,
                "cpu_ms_rounds": [round(v, 3) for v in self.cpu_ms],
                "latency_p50_ms": pct(50), "latency_p95_ms": pct(95),
                "requests": self.requests, "errors": self.errors}


def request_head(server: Server, scenario: Scenario, body: bytes) -> bytes:
    head = f"{scenario.method} {scenario.path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAccept: application/json\r\n"
    if scenario.method == "POST":
        head += f"Content-Type: {scenario.content_type}\r\nContent-Length: {len(body)}\r\n"
    return head.encode()


async def send_calls(server: Server, scenario: Scenario, body: bytes, n: int, tokens: list[str],
                     tally: Tally | None) -> None:
    """*n* calls one after the other on one keep-alive connection; latencies and errors into *tally*."""
    marker = HOOK_INSTANCE_MARKER.encode()
    head = request_head(server, scenario, body)
    loop = asyncio.get_running_loop()
    conn = RawConnection("127.0.0.1", server.port, timeout=30.0)
    try:
        for _ in range(n):
            payload = body.replace(marker, str(uuid.uuid4()).encode()) if marker in body else body
            auth = b"Authorization: Bearer " + tokens.pop().encode() + b"\r\n" if scenario.auth == "jwt" else b""
            t0 = loop.time()
            try:
                status: int | str = await conn.post(head + auth + b"\r\n", payload)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                status = type(exc).__name__
            if tally is not None:
                tally.latencies_ms.append((loop.time() - t0) * 1000)
                tally.requests += 1
                if status != 200:
                    tally.errors[str(status)] = tally.errors.get(str(status), 0) + 1
    finally:
        conn.close()


def run_round(servers: dict[tuple[str, str], Server], variants: list[str], payloads: dict[str, bytes],
              requests: int, tokens: list[str], tallies: dict[tuple[str, str], Tally] | None, flip: bool) -> None:
    """Every scenario once on every variant's server, in order (variants alternate their order from
    round to round: *flip*); server CPU read right before and after each."""
    for s in SCENARIOS:
        for variant in (list(reversed(variants)) if flip else variants):
            server, n = servers[(variant, s.auth)], requests * s.weight
            before = server.cpu()
            asyncio.run(send_calls(server, s, payloads[s.body], n, tokens,
                                   tallies[(variant, s.name)] if tallies is not None else None))
            used = server.cpu() - before
            if tallies is not None:
                tallies[(variant, s.name)].cpu_ms.append(used * 1000 / n)


def memory_run(server: Server, body: bytes, requests: int) -> dict:
    """RSS of the server before and after *requests* patient-view calls (auth off), after a warm-up."""
    scenario = SCENARIOS[0]
    idle = server.memory()["total_kib"]
    warm = min(2000, max(200, requests // 10))
    asyncio.run(send_calls(server, scenario, body, warm, [], None))
    baseline = server.memory()["total_kib"]
    samples = [{"requests": 0, "rss_kib": baseline}]
    step, done, t0 = max(1, requests // 10), 0, time.perf_counter()
    while done < requests:
        n = min(step, requests - done)
        asyncio.run(send_calls(server, scenario, body, n, [], None))
        done += n
        samples.append({"requests": done, "rss_kib": server.memory()["total_kib"]})
        print(f"  memory run: {done} calls, RSS {samples[-1]['rss_kib'] / 1024:.1f} MiB", flush=True)
    final = samples[-1]["rss_kib"]
    return {"requests": done, "warmup_requests": warm, "idle_kib": idle, "baseline_kib": baseline,
            "final_kib": final, "growth_pct": round(100 * (final - baseline) / baseline, 2),
            "growth_from_idle_pct": round(100 * (final - idle) / idle, 2),
            "seconds": round(time.perf_counter() - t0, 1), "samples": samples}


def fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def print_table(results: dict[str, dict[str, dict]]) -> None:
    """*results*: variant → scenario → summary."""
    head = (f"{'scenario':<32} {'tree':<9} {'CPU ms/req':>10} {'(rounds min–max)':>17} {'target':>7}  "
            f"{'p50 ms':>7} {'p95 ms':>7} {'calls':>6} {'errors':>6}")
    print(head)
    print("-" * len(head))
    for s in SCENARIOS:
        for variant, per in results.items():
            r = per[s.name]
            spread = f"{fmt(r['cpu_ms_min'])}–{fmt(r['cpu_ms_max'])}"
            target = f"≤{s.target_ms:g}" if s.target_ms else ""
            print(f"{s.name:<32} {variant:<9} {fmt(r['cpu_ms_per_request']):>10} {spread:>17} {target:>7}  "
                  f"{fmt(r['latency_p50_ms']):>7} {fmt(r['latency_p95_ms']):>7} {r['requests']:>6} "
                  f"{sum(r['errors'].values()):>6}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10, help="counted rounds (default 10; 0: none)")
    parser.add_argument("--requests", type=int, default=100,
                        help="calls per scenario per round (default 100; discovery twice as many)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 rounds of 30 calls")
    parser.add_argument("--memory-requests", type=int, default=0,
                        help="patient-view calls for the RSS growth run afterwards (0, default: none; "
                             "the issue's 100000 take about 20 minutes)")
    parser.add_argument("--database-url", help="store URL for both servers (default: a fresh SQLite file each)")
    parser.add_argument("--log-level", default="info", help="service log level (default info: access log on)")
    parser.add_argument("--baseline", type=Path,
                        help="another source tree (e.g. `git archive <commit> | tar -x -C DIR`): its service runs "
                             "in the same interleaved rounds, as the 'baseline' rows")
    parser.add_argument("--save", action="store_true",
                        help="write the results to bench/results/service.json (the committed figures)")
    parser.add_argument("--json", type=Path, help="write the results to this file instead")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks: stop the servers
    if args.quick:
        args.rounds, args.requests = min(args.rounds, 3), min(args.requests, 30)
    started = time.perf_counter()
    payloads = bodies()
    roots = {"this"} if args.baseline is None else {"this", "baseline"}
    variants = [v for v in ("this", "baseline") if v in roots]
    root_of = {"this": ROOT, "baseline": args.baseline.resolve() if args.baseline else None}
    jwt_per_round = len(variants) * sum(args.requests * s.weight for s in SCENARIOS if s.auth == "jwt")
    results: dict[str, dict[str, dict]] = {}
    startup: dict[str, float] = {}
    memory_result = None
    with tempfile.TemporaryDirectory(prefix="nekpijn-bench-") as tmp:
        folder = Path(tmp)
        pem, issuers = generate_key(folder)
        pool = TokenPool(pem, AUDIENCE)
        pool.fill(jwt_per_round * (args.rounds + 1) + 10)
        tokens = pool.tokens
        servers = {(v, auth): Server(auth, folder, issuers, args.database_url, args.log_level, root_of[v])
                   for v in variants for auth in ("off", "jwt")}
        try:
            for (variant, auth), server in servers.items():
                startup[f"{variant}, auth {auth}"] = round(server.start(), 3)
            print(f"servers up ({', '.join(f'{k} {v:.2f} s' for k, v in startup.items())} to /health); "
                  f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
            tallies = {(v, s.name): Tally() for v in variants for s in SCENARIOS}
            if args.rounds:
                run_round(servers, variants, payloads, args.requests, tokens, None, False)  # warm-up, not counted
            for i in range(args.rounds):
                run_round(servers, variants, payloads, args.requests, tokens, tallies, flip=bool(i % 2))
                print(f"  round {i + 1}/{args.rounds}: " + ", ".join(
                    f"{s.name} {'/'.join(f'{tallies[(v, s.name)].cpu_ms[-1]:.2f}' for v in variants)}"
                    for s in SCENARIOS) + f" (server CPU ms/call, {'/'.join(variants)})", flush=True)
            results = {v: {s.name: tallies[(v, s.name)].summary() for s in SCENARIOS} for v in variants}
            if args.memory_requests > 0:
                memory_result = memory_run(servers[("this", "off")], payloads["patient-view"], args.memory_requests)
        finally:
            for server in servers.values():
                server.stop()

    if args.rounds:
        print(f"\n== server CPU ms per request (median of {args.rounds} interleaved rounds of {args.requests} "
              f"calls; one worker, one keep-alive connection, concurrency 1), then latency")
        print_table(results)
    if memory_result:
        print(f"\n== memory: {memory_result['requests']} patient-view calls: RSS idle "
              f"{memory_result['idle_kib'] / 1024:.1f} MiB, after {memory_result['warmup_requests']} warm-up calls "
              f"{memory_result['baseline_kib'] / 1024:.1f} MiB, after {memory_result['final_kib'] / 1024:.1f} MiB "
              f"({memory_result['growth_pct']:+.1f} % from warm-up, {memory_result['growth_from_idle_pct']:+.1f} % "
              f"from idle)")
    elapsed = time.perf_counter() - started
    print(f"\nbenchmark took {elapsed:.0f} s")
    report = {
        "date": datetime.now().isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_average_at_end": os.getloadavg()},
        "settings": {"rounds": args.rounds, "requests_per_round": args.requests, "log_level": args.log_level,
                     "database": args.database_url or "sqlite (temp folder)", "workers": 1, "concurrency": 1},
        "startup_health_s": startup,
        "scenarios": results.get("this"),
        "baseline": {"tree": str(args.baseline), "scenarios": results["baseline"]} if "baseline" in results else None,
        "memory_run": memory_result,
        "elapsed_s": round(elapsed, 1),
    }
    target = args.json or (ROOT / "bench" / "results" / "service.json" if args.save else None)
    if target is None:  # the committed figures change only when asked (--save)
        print("results not written (use --save or --json FILE)")
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
