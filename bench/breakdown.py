"""Where the server CPU of a served request goes, stage by stage (issue 17: each miss explained).

    .venv/bin/python -m bench.breakdown                   # every scenario, ~1 min
    .venv/bin/python -m bench.breakdown --only patient    # scenarios whose name contains "patient"
    .venv/bin/python -m bench.breakdown --json out.json

The servers are bench/service.py's (``nekpijn-cds serve``, one uvicorn worker, a fresh
SQLite store, the access log on; one with auth off, one with ES384 JWT), started through
:mod:`bench.stage_timer`, which puts a thread-CPU clock around each stage of a request.
The scenarios and bodies are bench/service.py's, plus ``discovery, auth off``: the
smallest call through the same stack, the floor of any request. Rounds interleave the
scenarios; each scenario's figures are the sum over its rounds divided by its calls:

* **process** — server CPU per call from ``/proc/<pid>/stat`` (utime + stime, every
  thread), as bench/service.py reports it; then the split between the event-loop thread
  and the worker threads (``/proc/<pid>/task``);
* **stages** — thread CPU per call inside each timed function, nested (a stage includes
  the stages below it; ``rest`` is the parent's own part: the code between its timed
  children). Stages on worker threads (the audit write, the JWT check; `$apply`'s
  validation and evaluation) are listed apart.
* ``outside the app`` (event-loop thread minus the ASGI app): httptools parsing the
  request, uvloop reading and writing the socket, the loop's own bookkeeping, the
  garbage collector when it runs between requests.

Thread CPU of the loop thread around an ``await`` counts what the loop did meanwhile; at
concurrency 1 that is the same request's work (its thread hop's completion), which is why
the calls are sent one after the other.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench.load import TokenPool, generate_key
from bench.service import AUDIENCE, SCENARIOS, TICK, Scenario, Server, bodies, send_calls
from bench.stage_timer import WORKER

FLOOR = replace(SCENARIOS[2], name="discovery, auth off", auth="off", target_ms=None)

#: (depth, stage) in the order printed; `rest` rows are computed for every parent
LOOP_LAYOUT = (
    (0, "asgi app (middleware, routing, endpoint)"),
    (1, "request log middleware (and everything inside)"),
    (2, "router (and everything inside)"),
    (3, "endpoint"),
    (4, "request JSON (orjson, depth check)"),
    (4, "hook request checks"),
    (4, "prefetch"),
    (4, "R4 screening of the input"),
    (4, "engine: $apply"),
    (5, "engine: facts (§0)"),
    (5, "engine: decision tables (§1-§9)"),
    (5, "engine: plan variables + conditions"),
    (5, "engine: CarePlan, RequestGroup, narrative"),
    (4, "cards"),
    (4, "answer JSON (orjson)"),
    (4, "audit: thread hop, loop side"),
)
WORKER_LAYOUT = (
    (0, "JWT: whole check"),
    (1, "JWT: ES384 signature (OpenSSL)"),
    (1, "JWT: replay-cache insert (SQLite)"),
    (0, "R4 screening of the input"),
    (0, "engine: $apply"),
    (1, "engine: facts (§0)"),
    (1, "engine: decision tables (§1-§9)"),
    (1, "engine: plan variables + conditions"),
    (1, "engine: CarePlan, RequestGroup, narrative"),
    (0, "audit + issued cards, one SQLite transaction"),
)


def thread_cpu(pid: int) -> tuple[float, float]:
    """(event-loop thread, all other threads) CPU seconds of process *pid* so far."""
    main = other = 0.0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:  # a thread that has just ended
            continue
        seconds = (int(fields[11]) + int(fields[12])) / TICK
        if int(tid) == pid:
            main += seconds
        else:
            other += seconds
    return main, other


def read_stages(path: Path) -> dict[str, list]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


class Measured:
    """One scenario's sums over its counted rounds."""

    def __init__(self) -> None:
        self.calls = 0
        self.process = self.loop = self.workers = 0.0
        self.stages: dict[str, float] = {}

    def add(self, calls: int, process: float, loop: float, workers: float, before: dict, after: dict) -> None:
        self.calls += calls
        self.process += process
        self.loop += loop
        self.workers += workers
        for stage, (_, seconds) in after.items():
            self.stages[stage] = self.stages.get(stage, 0.0) + seconds - before.get(stage, [0, 0.0])[1]

    def ms(self, seconds: float) -> float:
        return seconds * 1000 / self.calls if self.calls else 0.0

    def rows(self) -> list[tuple[str, float]]:
        """(label, CPU ms per call) in print order."""
        out = [("process (server CPU per call, /proc)", self.ms(self.process)),
               ("  event-loop thread", self.ms(self.loop))]
        asgi = self.stages.get(LOOP_LAYOUT[0][1], 0.0)
        out.append(("    outside the app (httptools, uvloop socket I/O, loop, GC between calls)",
                    self.ms(self.loop - asgi)))
        out += self._tree(LOOP_LAYOUT, "", 4)
        out.append(("  worker threads", self.ms(self.workers)))
        out += self._tree(WORKER_LAYOUT, WORKER, 4)
        timed = sum(self.stages.get(s + WORKER, 0.0) for d, s in WORKER_LAYOUT if d == 0)
        if self.workers:
            out.append(("    (rest: thread pool hand-over, the stage-timer's own writer)", self.ms(self.workers - timed)))
        return out

    def _tree(self, layout, suffix: str, indent: int) -> list[tuple[str, float]]:
        out = []
        present = [(d, s) for d, s in layout if self.stages.get(s + suffix, 0.0) > 0]
        for i, (depth, stage) in enumerate(present):
            value = self.stages[stage + suffix]
            out.append((" " * (indent + 2 * depth) + stage, self.ms(value)))
            children = []
            for d, s in present[i + 1:]:
                if d <= depth:
                    break
                if d == depth + 1:
                    children.append(s)
            if children:
                rest = value - sum(self.stages[s + suffix] for s in children)
                out.append((" " * (indent + 2 * depth + 2) + "rest", self.ms(rest)))
        # put each `rest` after the parent's last child (it was written right after the parent)
        return _rest_last(out)


def _rest_last(rows: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """Move each `rest` row below its siblings (same indentation), where it reads as a remainder."""
    result: list[tuple[str, float]] = []
    pending: list[tuple[int, tuple[str, float]]] = []  # (indentation, row)
    for label, value in rows:
        indent = len(label) - len(label.lstrip())
        while pending and indent < pending[-1][0]:
            result.append(pending.pop()[1])
        if label.strip() == "rest":
            pending.append((indent, (label, value)))
        else:
            result.append((label, value))
    while pending:
        result.append(pending.pop()[1])
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=6, help="counted rounds (default 6)")
    parser.add_argument("--requests", type=int, default=150, help="calls per scenario per round (default 150)")
    parser.add_argument("--only", default="", help="scenarios whose name contains this text")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    scenarios: list[Scenario] = [s for s in [FLOOR, *SCENARIOS] if args.only in s.name]
    payloads = bodies()
    measured = {s.name: Measured() for s in scenarios}
    with tempfile.TemporaryDirectory(prefix="nekpijn-breakdown-") as tmp:
        folder = Path(tmp)
        pem, issuers = generate_key(folder)
        pool = TokenPool(pem, AUDIENCE)
        jwt_calls = sum(args.requests * s.weight for s in scenarios if s.auth == "jwt")
        pool.fill(jwt_calls * (args.rounds + 1) + 10)
        servers: dict[str, Server] = {}
        files: dict[str, Path] = {}
        try:
            for auth in sorted({s.auth for s in scenarios}):
                server = Server(auth, folder, issuers, None, "info")
                server.module = "bench.stage_timer"
                files[auth] = folder / f"stages-{auth}.json"
                server.env["NEKPIJN_STAGE_FILE"] = str(files[auth])
                server.start()
                servers[auth] = server
            print(f"servers up; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
            for r in range(args.rounds + 1):  # round 0: warm-up
                for s in scenarios:
                    server, n = servers[s.auth], args.requests * s.weight
                    time.sleep(0.45)  # the stage file is rewritten every 0.2 s
                    before, cpu0, (loop0, other0) = read_stages(files[s.auth]), server.cpu(), thread_cpu(server.proc.pid)
                    asyncio.run(send_calls(server, s, payloads[s.body], n, pool.tokens, None))
                    cpu1, (loop1, other1) = server.cpu(), thread_cpu(server.proc.pid)
                    time.sleep(0.45)
                    if r:
                        measured[s.name].add(n, cpu1 - cpu0, loop1 - loop0, other1 - other0,
                                             before, read_stages(files[s.auth]))
                print(f"  round {r}/{args.rounds}{' (warm-up)' if r == 0 else ''} done", flush=True)
        finally:
            for server in servers.values():
                server.stop()
    report = {}
    for s in scenarios:
        m = measured[s.name]
        rows = m.rows()
        report[s.name] = {"calls": m.calls, "target_ms": s.target_ms,
                          "rows": [{"stage": label.strip(), "depth": (len(label) - len(label.lstrip())) // 2,
                                    "cpu_ms": round(v, 3)} for label, v in rows]}
        total = rows[0][1] or 1.0
        target = f"; target ≤ {s.target_ms}" if s.target_ms else ""
        print(f"\n== {s.name}: {m.calls} calls{target}")
        print(f"{'':78} {'CPU ms/call':>11} {'share':>6}")
        for label, value in rows:
            print(f"{label[:78]:78} {value:11.3f} {100 * value / total:5.1f}%")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
