"""A real FHIR server for the interoperability tests: HAPI FHIR JPA server (R4, H2 in memory).

    python -m tools.hapi_server            # start it, load the knowledge and the examples; Ctrl-C stops it
    python -m tools.hapi_server --bare     # start it empty

The server is HAPI FHIR's JPA server from Maven Central jars (interop/hapi/pom.xml) started by
a small launcher (interop/hapi/HapiServer.java) on 127.0.0.1 and a free port; its base URL is
``http://127.0.0.1:<port>/fhir``. Maven resolves the jars into ~/.m2 on first use (later runs
work offline); the class path is cached in build/hapi/classpath.txt (tools/maven.py). Java
stays out of the service's run-time path: this is for tests and for repeating the
interoperability checks by hand (docs/interop.md).

`hapi_server()` is a context manager: it starts the JVM, waits until ``GET /metadata``
answers 200, yields a :class:`HapiServer`, and stops the JVM when the block ends, also when
it ends with an exception. The JVM also stops by itself when this process dies (it exits
when its standard input, a pipe held by this process, closes).

`knowledge_parts()` writes the split transaction Bundles (≤ 50 entries each) from the
committed artifacts, with the function the knowledge build writes dist/fhir/ with.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx

from tools import maven
from tools.sources import ROOT

POM = ROOT / "interop" / "hapi" / "pom.xml"
LAUNCHER = ROOT / "interop" / "hapi" / "HapiServer.java"
WORK = ROOT / "build" / "hapi"
LOG = WORK / "server.log"
ARTIFACTS = ROOT / "service" / "knowledge" / "fhir"
EXAMPLES = ROOT / "examples"
#: a jar whose presence in ~/.m2 means Maven can try offline first
MARKER = maven.M2 / "ca" / "uhn" / "hapi" / "fhir" / "hapi-fhir-jpaserver-base"
#: JVM options: quick start-up matters more than peak speed for a test server; the heap is
#: bounded (the machine is shared); serial GC suits 2 cores; the log lines carry the time
JVM_OPTIONS = ("-Xmx1536m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
               "-Dorg.slf4j.simpleLogger.showDateTime=true", "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS")
FHIR_JSON = "application/fhir+json"


class HapiError(RuntimeError):
    """The HAPI server could not be resolved, started, or answered a request with an error."""


def ensure_classpath() -> str:
    """The server's class path (tools/maven.py: resolved on first use, again when the pom
    changes or a jar of it is gone from ~/.m2)."""
    try:
        return maven.classpath(POM, WORK, MARKER)
    except maven.MavenError as exc:
        raise HapiError(f"Maven could not resolve the HAPI FHIR server: {exc}") from exc


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class HapiServer:
    base_url: str  # http://127.0.0.1:<port>/fhir
    process: subprocess.Popen
    startup_seconds: float
    log: Path

    def client(self, timeout: float = 120.0) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=timeout,
                            headers={"Accept": FHIR_JSON, "Content-Type": FHIR_JSON})


@contextmanager
def hapi_server(startup_timeout: float = 420.0, log: Path = LOG,
                page_size: int | None = None) -> Iterator[HapiServer]:
    """Start HAPI, wait for /metadata, yield it; stop it however the block ends.

    `page_size`: the searches' default page size (HAPI's own: 20)."""
    classpath = ensure_classpath()
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(log, "wb") as out:
        options = [*JVM_OPTIONS, *([f"-Dnekpijn.hapi.pageSize={page_size}"] if page_size else [])]
        process = subprocess.Popen(["java", *options, "-cp", classpath, str(LAUNCHER), str(port)],
                                   stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                   env={**os.environ, "LC_ALL": "C.UTF-8"})
    try:
        _wait_for_metadata(process, base, started + startup_timeout, log)
        yield HapiServer(base, process, time.monotonic() - started, log)
    finally:
        _stop(process)


def _wait_for_metadata(process: subprocess.Popen, base: str, deadline: float, log: Path) -> None:
    while True:
        if process.poll() is not None:
            raise HapiError(f"the HAPI server exited ({process.returncode}) before it served:\n{_tail(log)}")
        try:
            if httpx.get(f"{base}/metadata", headers={"Accept": FHIR_JSON}, timeout=30).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise HapiError(f"the HAPI server did not answer /metadata in time:\n{_tail(log)}")
        time.sleep(1.0)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            process.stdin.close()  # the launcher exits when its input ends
            process.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _tail(log: Path, chars: int = 4000) -> str:
    try:
        return log.read_text(encoding="utf-8", errors="replace")[-chars:]
    except OSError:
        return "(no log)"


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def knowledge_parts(folder: Path = WORK / "fhir") -> list[Path]:
    """The split transaction Bundles of the committed artifacts (as dist/fhir/bundle-transaction-<n>.json)."""
    from tools.packaging import write_transaction_parts

    return write_transaction_parts(ARTIFACTS, folder)


def as_transaction(bundle: dict) -> dict:
    """A collection (or any) Bundle as a transaction that PUTs every entry by its id."""
    entries = []
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        rtype, rid = resource["resourceType"], resource["id"]
        entries.append({"fullUrl": entry.get("fullUrl") or f"{rtype}/{rid}", "resource": resource,
                        "request": {"method": "PUT", "url": f"{rtype}/{rid}"}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def post_transaction(client: httpx.Client, bundle: dict) -> dict:
    """POST a transaction Bundle to the server base; its transaction-response, or HapiError
    with the server's OperationOutcome."""
    response = client.post("", content=json.dumps(bundle))
    if response.status_code != 200:
        raise HapiError(f"transaction {bundle.get('id', '')} refused: HTTP {response.status_code}: "
                        f"{outcome_text(response)}")
    return response.json()


def outcome_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:2000]
    issues = body.get("issue", []) if body.get("resourceType") == "OperationOutcome" else []
    return "; ".join(f"{i.get('severity')}: {i.get('diagnostics') or (i.get('details') or {}).get('text')}"
                     for i in issues) or json.dumps(body)[:2000]


def load_knowledge(client: httpx.Client, parts: list[Path] | None = None) -> list[dict]:
    """Post every part, in order; the transaction-responses."""
    return [post_transaction(client, json.loads(p.read_text(encoding="utf-8"))) for p in parts or knowledge_parts()]


def load_examples(client: httpx.Client, paths: list[Path] | None = None) -> list[str]:
    """Post every example Bundle (examples/*.json) as a transaction of PUTs, as it is; the
    names of the files loaded. (Every example holds the patient its resources refer to:
    HAPI checks references on write, HAPI-1094.)"""
    loaded = []
    for path in paths if paths is not None else sorted(EXAMPLES.glob("*.json")):
        post_transaction(client, as_transaction(json.loads(path.read_text(encoding="utf-8"))))
        loaded.append(path.name)
    return loaded


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bare", action="store_true", help="load nothing (default: the knowledge and the examples)")
    parser.add_argument("--page-size", type=int, help="default page size of searches (HAPI's own: 20)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a clean stop (the block below stops the JVM)
    with hapi_server(page_size=args.page_size) as server:
        print(f"HAPI FHIR JPA server at {server.base_url} (started in {server.startup_seconds:.0f} s; "
              f"log {server.log.relative_to(ROOT)})", flush=True)
        if not args.bare:
            with server.client() as client:
                started = time.monotonic()
                responses = load_knowledge(client)
                print(f"loaded {sum(len(r.get('entry', [])) for r in responses)} artifacts in {len(responses)} "
                      f"transactions ({time.monotonic() - started:.1f} s)", flush=True)
                started = time.monotonic()
                loaded = load_examples(client)
                print(f"loaded {len(loaded)} examples ({time.monotonic() - started:.1f} s)", flush=True)
        try:
            server.process.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
