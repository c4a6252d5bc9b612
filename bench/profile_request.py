"""Where the CPU of a request goes: the whole app path in process, profiled.

    .venv/bin/python -m bench.profile_request                      # CPU ms per call, every scenario
    .venv/bin/python -m bench.profile_request --profile pv-jwt     # + a pyinstrument tree of one scenario
    .venv/bin/python -m bench.profile_request --profile pv-off --cprofile   # cProfile, top functions

pyinstrument is not a dependency of the service: `.venv/bin/pip install pyinstrument` first
(or use `--cprofile`, from the standard library).

The app (``service.app.create_app``, a throw-away SQLite store, the access log
on at INFO into a null handler) is called as an ASGI application directly: no
socket, no uvicorn/httptools (those, the access log and the thread hops are 10-15 % of a served call; see
``bench/service.py`` for the served figures). The scenarios and bodies are
``bench/service.py``'s. Work the app sends to threads (JWT verification, store
writes, large-body parsing) runs inline here (``anyio.to_thread.run_sync`` and
``service.store.offload``'s thread pool replaced), so that one profiler sees the whole request and
``time.process_time`` counts exactly one request's work.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import logging
import os
import pstats
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import anyio.to_thread  # noqa: E402
from concurrent.futures import Executor, Future  # noqa: E402

import service.store.offload as offload  # noqa: E402

from bench.load import HOOK_INSTANCE_MARKER, TokenPool, generate_key  # noqa: E402
from bench.service import AUDIENCE, SCENARIOS, bodies  # noqa: E402

SHORT = {"pv-off": SCENARIOS[0], "pv-jwt": SCENARIOS[1], "discovery": SCENARIOS[2], "apply": SCENARIOS[3],
         "order-sign": SCENARIOS[4]}


async def _inline(fn, *args, abandon_on_cancel=False, cancellable=None, limiter=None):
    return fn(*args)


class InlineExecutor(Executor):
    """Runs each job at once, in the caller's thread (for run_blocking's ``run_in_executor``)."""

    def submit(self, fn, /, *args, **kwargs):
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting caller
            future.set_exception(exc)
        return future


def build_app(auth: str, folder: Path, issuers: Path):
    from service.app import create_app
    from service.config import Settings

    env = {**os.environ, "NEKPIJN_AUTH": auth, "NEKPIJN_TRUSTED_ISSUERS_FILE": str(issuers),
           "NEKPIJN_DATABASE_URL": f"sqlite:///{folder / f'profile-{auth}.db'}", "NEKPIJN_AUDIENCES": AUDIENCE,
           "NEKPIJN_MAX_BODY_BYTES": "5000000", "NEKPIJN_MAX_TOKEN_LIFETIME": str(4 * 3600)}
    return create_app(Settings.from_env(env))


async def call(app, scenario, body: bytes, token: str | None) -> int:
    headers = [(b"host", b"127.0.0.1:8080"), (b"accept", b"application/json")]
    if scenario.method == "POST":
        headers += [(b"content-type", scenario.content_type.encode()), (b"content-length", str(len(body)).encode())]
    if token:
        headers.append((b"authorization", b"Bearer " + token.encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": scenario.method,
             "scheme": "http", "path": scenario.path, "raw_path": scenario.path.encode(), "query_string": b"",
             "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080)}
    status = []
    done = False

    async def receive():
        nonlocal done
        if not done:
            done = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


async def drive(app, scenario, body: bytes, n: int, tokens: list[str]) -> float:
    """CPU ms per call over *n* calls."""
    marker = HOOK_INSTANCE_MARKER.encode()
    t0 = time.process_time()
    for _ in range(n):
        payload = body.replace(marker, str(uuid.uuid4()).encode()) if marker in body else body
        status = await call(app, scenario, payload, tokens.pop() if scenario.auth == "jwt" else None)
        if status != 200:
            raise RuntimeError(f"{scenario.name}: HTTP {status}")
    return (time.process_time() - t0) * 1000 / n


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300, help="calls per scenario (default 300)")
    parser.add_argument("--profile", choices=sorted(SHORT), help="profile this scenario")
    parser.add_argument("--cprofile", action="store_true", help="cProfile (top functions) instead of pyinstrument")
    parser.add_argument("--limit", type=int, default=40, help="cProfile rows (default 40)")
    parser.add_argument("--threads", action="store_true", help="keep the app's worker threads (no profile)")
    args = parser.parse_args(argv)
    if not args.threads:
        anyio.to_thread.run_sync = _inline  # one thread: one profiler sees everything
        inline = InlineExecutor()
        offload._blocking_pool = lambda: inline
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("nekpijn_cds").setLevel(logging.INFO)  # the access log is formatted, as in production
    logging.getLogger("nekpijn_cds").addHandler(logging.NullHandler())
    logging.getLogger("nekpijn_cds").propagate = False
    payloads = bodies()
    with tempfile.TemporaryDirectory(prefix="nekpijn-profile-") as tmp:
        folder = Path(tmp)
        pem, issuers = generate_key(folder)
        pool = TokenPool(pem, AUDIENCE)
        pool.fill(4 * args.calls + 200)
        apps = {"off": build_app("off", folder, issuers), "jwt": build_app("jwt", folder, issuers)}
        gc.collect()
        gc.freeze()  # as service/serving.py does for `nekpijn-cds serve`

        async def run() -> None:
            chosen = [SHORT[args.profile]] if args.profile else list(SHORT.values())
            for s in chosen:  # warm-up: lazy imports, caches
                await drive(apps[s.auth], s, payloads[s.body], 30, pool.tokens)
            if not args.profile:
                for s in chosen:
                    ms = await drive(apps[s.auth], s, payloads[s.body], args.calls, pool.tokens)
                    print(f"{s.name:<32} {ms:6.2f} CPU ms per call (in process, no HTTP server)")
                return
            s = chosen[0]
            if args.cprofile:
                profiler = cProfile.Profile()
                profiler.enable()
                await drive(apps[s.auth], s, payloads[s.body], args.calls, pool.tokens)
                profiler.disable()
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.limit)
                pstats.Stats(profiler).sort_stats("tottime").print_stats(args.limit)
                return
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0002, async_mode="disabled")
            profiler.start()
            ms = await drive(apps[s.auth], s, payloads[s.body], args.calls, pool.tokens)
            profiler.stop()
            print(profiler.output_text(unicode=True, color=False, show_all=False, time="percent_of_total"))
            print(f"{s.name}: {ms:.2f} CPU ms per call while profiled")

        asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
