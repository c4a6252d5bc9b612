"""Closed-loop HTTP load generator (asyncio, HTTP/1.1 keep-alive).

    .venv/bin/python -m bench.load URL BODY.json --key key.pem --aud AUD \
        [--concurrency 16] [--duration 10] [--warmup 1] [--client raw|httpx]

The client is a minimal HTTP/1.1 keep-alive client on asyncio streams
(:class:`RawConnection`, default) or httpx (``--client httpx``). httpx costs
2-5 ms of client CPU per request (measured against a trivial asyncio server
on the project machine: 200-400 requests/s at most, ~5 500 with the raw
client), which on two cores would make the client the bottleneck and add its
own milliseconds to every latency.

``concurrency`` workers each keep one keep-alive connection busy: send a
request, wait for the whole answer, send the next (closed loop: the offered
load adapts to the server). Latency is measured per request from just before
the request is written until the last byte of the answer has been
read. A warm-up period (not recorded) comes before the timed window; the
window has a fixed duration; requests still running at its end are not
counted (throughput = requests completed in the window / window length).

Every request carries a fresh ES384 JWT (unique ``jti``: the service keeps a
replay cache). Signing costs ~0.45 ms, so tokens are signed *before* the timed
window (:class:`TokenPool`, in a process pool) and only taken from a list
during it. A hook body's ``hookInstance`` is replaced by a fresh UUID per
request (a bytes replace of a marker, ~µs), so every call is a new hook
instance as in real use (issued cards are stored per instance).

The client's own CPU time per request is reported (``client_cpu_ms``): on a
machine with few cores the client competes with the service, and when it
nears the wall time per request the client is the bottleneck. Used as a
library by ``bench/service.py``; runs in a process of its own, never in the
service's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

#: hookInstance placeholder in hook bodies; replaced per request (same length as a UUID)
HOOK_INSTANCE_MARKER = "00000000-0000-4000-8000-0000b3nchm4k"
ISSUER = "https://ehr.bench.example.org"
KID = "bench-es384"
TOKEN_LIFETIME = 4 * 3600  # seconds: tokens are signed well before they are used


# -- tokens ---------------------------------------------------------------------

_signing_key = None


def _init_signer(pem: bytes) -> None:
    global _signing_key
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    _signing_key = load_pem_private_key(pem, password=None)


def _sign_batch(args: tuple[int, str, int]) -> list[str]:
    import jwt

    count, aud, now = args
    headers = {"kid": KID, "typ": "JWT"}
    return [jwt.encode({"iss": ISSUER, "sub": "bench-client", "aud": aud, "iat": now, "exp": now + TOKEN_LIFETIME,
                        "jti": str(uuid.uuid4())}, _signing_key, algorithm="ES384", headers=headers)
            for _ in range(count)]


class TokenPool:
    """Pre-signed bearer tokens, one per request. ``fill`` signs in a process pool
    (call it while no timed window runs); ``take`` is a list pop."""

    def __init__(self, key_pem: bytes, aud: str, processes: int | None = None):
        self.key_pem, self.aud = key_pem, aud
        self.processes = processes or os.cpu_count() or 1
        self.tokens: list[str] = []
        self.signed = 0
        self.sign_seconds = 0.0

    def __len__(self) -> int:
        return len(self.tokens)

    def fill(self, target: int) -> None:
        """Sign tokens until at least *target* are in the pool."""
        missing = target - len(self.tokens)
        if missing <= 0:
            return
        started = time.perf_counter()
        now = int(time.time())
        batch = 500
        jobs = [(min(batch, missing - i), self.aud, now) for i in range(0, missing, batch)]
        with ProcessPoolExecutor(self.processes, initializer=_init_signer, initargs=(self.key_pem,)) as pool:
            for tokens in pool.map(_sign_batch, jobs):
                self.tokens.extend(tokens)
        self.signed += missing
        self.sign_seconds += time.perf_counter() - started

    def take(self) -> str | None:
        return self.tokens.pop() if self.tokens else None


# -- load -------------------------------------------------------------------------


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of *samples*."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * (len(ordered) - 1)))))]


@dataclass
class LoadResult:
    url: str
    concurrency: int
    duration: float  # seconds of the timed window (shorter when tokens ran out)
    requests: int = 0  # completed in the window (any status)
    ok: int = 0  # HTTP 200
    errors: int = 0  # other status or transport error
    error_kinds: dict[str, int] = field(default_factory=dict)
    p50_ms: float = float("nan")
    p95_ms: float = float("nan")
    p99_ms: float = float("nan")
    mean_ms: float = float("nan")
    max_ms: float = float("nan")
    rps: float = 0.0  # completed requests per second in the window
    client_cpu_ms: float = float("nan")  # client process CPU time per request (window + warm-up)
    tokens_ran_out: bool = False

    def as_dict(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}


class RawConnection:
    """A minimal HTTP/1.1 keep-alive client connection on asyncio streams.

    Just enough for this benchmark (POST with Content-Length, answers with
    Content-Length or chunked): about 0.1 ms of client CPU per request, where
    httpx needs 2-5 ms (measured against a trivial asyncio server on the
    project machine) and would be the bottleneck on two cores.
    """

    def __init__(self, host: str, port: int, timeout: float):
        self.host, self.port, self.timeout = host, port, timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, head: bytes, payload: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        try:
            self.writer.write(head + payload)
            async with asyncio.timeout(self.timeout):
                return await self._response()
        except BaseException:
            self.close()
            raise

    async def _response(self) -> int:
        header = await self.reader.readuntil(b"\r\n\r\n")
        lines = header.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, chunked, close = None, False, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if chunked:
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        elif length is not None:
            await self.reader.readexactly(length)
        else:
            await self.reader.read()
            close = True
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def run_load(url: str, body: bytes, tokens: TokenPool, *, concurrency: int, duration: float,
                   warmup: float = 1.0, content_type: str = "application/json",
                   extra_headers: dict[str, str] | None = None, max_requests: int | None = None,
                   timeout: float = 30.0, client: str = "raw") -> LoadResult:
    """Drive *url* with *concurrency* closed-loop workers: *warmup* seconds unrecorded,
    then *duration* seconds recorded (or until *max_requests* have been recorded).

    *client*: ``raw`` (default, :class:`RawConnection`) or ``httpx``."""
    marker = HOOK_INSTANCE_MARKER.encode()
    vary_instance = marker in body
    base_headers = {"Content-Type": content_type, "Accept": "application/json", **(extra_headers or {})}
    target = httpx.URL(url)
    host, port = target.host, target.port or 80
    path = target.raw_path.decode()
    fixed_head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n"
                  + "".join(f"{k}: {v}\r\n" for k, v in base_headers.items())).encode()
    latencies: list[float] = []
    errors: dict[str, int] = {}
    state = {"recorded": 0, "stop": False, "ran_out": False}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    loop = asyncio.get_running_loop()
    started = loop.time()
    window_start = started + warmup
    window_end = window_start + duration
    cpu_start = time.process_time()
    sent = 0

    async with httpx.AsyncClient(http1=True, limits=limits, timeout=timeout) as http:
        async def worker() -> None:
            nonlocal sent
            raw = RawConnection(host, port, timeout) if client == "raw" else None
            try:
                while not state["stop"]:
                    token = tokens.take()
                    if token is None:
                        state["ran_out"] = state["stop"] = True
                        return
                    payload = body.replace(marker, str(uuid.uuid4()).encode()) if vary_instance else body
                    t0 = loop.time()
                    if t0 >= window_end:
                        state["stop"] = True
                        return
                    status: int | str
                    try:
                        if raw is not None:
                            status = await raw.post(fixed_head + b"Authorization: Bearer " + token.encode()
                                                    + b"\r\n\r\n", payload)
                        else:
                            response = await http.post(url, content=payload,
                                                       headers={**base_headers, "Authorization": f"Bearer {token}"})
                            status = response.status_code
                    except (httpx.HTTPError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                            TimeoutError, ValueError) as exc:
                        status = type(exc).__name__
                    t1 = loop.time()
                    sent += 1
                    if t0 < window_start or t1 > window_end:
                        continue  # warm-up, or finished after the window
                    latencies.append((t1 - t0) * 1000)
                    if status != 200:
                        errors[str(status)] = errors.get(str(status), 0) + 1
                    state["recorded"] += 1
                    if max_requests is not None and state["recorded"] >= max_requests:
                        state["stop"] = True
            finally:
                if raw is not None:
                    raw.close()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    ended = loop.time()
    cpu = time.process_time() - cpu_start
    window = max(1e-9, min(ended, window_end) - window_start)
    result = LoadResult(url=url, concurrency=concurrency, duration=window, tokens_ran_out=state["ran_out"])
    result.requests = len(latencies)
    result.errors = sum(errors.values())
    result.ok = result.requests - result.errors
    result.error_kinds = errors
    if latencies:
        result.p50_ms = percentile(latencies, 50)
        result.p95_ms = percentile(latencies, 95)
        result.p99_ms = percentile(latencies, 99)
        result.mean_ms = statistics.fmean(latencies)
        result.max_ms = max(latencies)
    result.rps = result.requests / window
    result.client_cpu_ms = cpu * 1000 / sent if sent else float("nan")
    return result


def generate_key(folder: Path) -> tuple[bytes, Path]:
    """A fresh ES384 key pair: the private key (PEM) and an issuers file trusting it."""
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": KID, "alg": "ES384", "use": "sig"})
    (folder / "jwks.json").write_text(json.dumps({"keys": [jwk]}), encoding="utf-8")
    issuers = folder / "issuers.json"
    issuers.write_text(json.dumps([{"iss": ISSUER, "jwks_file": str(folder / "jwks.json")}]), encoding="utf-8")
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    (folder / "key.pem").write_bytes(pem)
    return pem, issuers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("body", type=Path, help="request body file (JSON)")
    parser.add_argument("--key", type=Path, required=True, help="ES384 private key (PEM) of a trusted issuer")
    parser.add_argument("--aud", required=True, help="JWT audience the service accepts")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rate-guess", type=float, default=1000.0,
                        help="requests/s to sign tokens for (the run stops early when they run out)")
    parser.add_argument("--content-type", default="application/json")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw")
    args = parser.parse_args(argv)
    pool = TokenPool(args.key.read_bytes(), args.aud)
    pool.fill(int(args.rate_guess * (args.duration + args.warmup)) + 100)
    result = asyncio.run(run_load(args.url, args.body.read_bytes(), pool, concurrency=args.concurrency,
                                  duration=args.duration, warmup=args.warmup, content_type=args.content_type,
                                  client=args.client))
    json.dump(result.as_dict(), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
