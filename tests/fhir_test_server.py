"""A small FHIR R4 test server in a separate process, for the prefetch/fetch tests.

Started by :func:`fhir_server` (a context manager) as ``python fhir_test_server.py
CONFIG.json`` on 127.0.0.1 and a free port; it serves, under the base
``http://127.0.0.1:<port>/fhir``, from a list of resources:

* reads ``GET /fhir/{type}/{id}`` (404 OperationOutcome when unknown);
* searches ``GET /fhir/{type}?...`` → a searchset Bundle, with the parameters
  ``subject``/``patient`` (reference, ``Patient/x`` or ``x``), ``code``,
  ``category``, ``clinical-status`` (tokens, ``system|code`` or ``code``,
  comma = or), ``questionnaire`` (canonical, version ignored), ``status``,
  ``_id``, ``_count`` (page size), ``_sort`` (ignored) and ``_offset`` (the
  server's own paging cursor, used in its ``next`` links); any other
  parameter is a 400 (strict handling, so that template mistakes show);
* ``GET /fhir/metadata`` → a minimal CapabilityStatement (no auth).

With a ``token``, every request but metadata needs ``Authorization: Bearer
<token>`` (401 otherwise). ``page_size`` makes the server page searches even
without ``_count``. Fault modes (``mode``, for every request or only those on
the resource type ``fault_on``):

========== ===============================================================
normal     as above
slow       sleeps ``delay`` seconds, then answers normally
error      HTTP 500 with an OperationOutcome
garbage    HTTP 200 with a body that is not JSON
huge       HTTP 200 with a ~6 MB resource / Bundle page
endless    searches always have a ``next`` link (to ever further empty pages)
not-fhir   HTTP 200 with JSON that is no FHIR resource
collection searches answer a Bundle of type collection
outcome    HTTP 200 with an OperationOutcome
foreign    searches page (2 per page) with ``next`` links to another host
========== ===============================================================

The context manager yields a :class:`FhirTestServer`, which is the base URL
(a ``str``) with ``base_url``, ``port`` and the request log on top.

Every request (but metadata) is appended to a JSON-lines log that the test
reads with :meth:`FhirTestServer.requests` (method, path, params, auth =
ok | missing | wrong | not-required).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit

BASE_PATH = "/fhir"
MODES = ("normal", "slow", "error", "garbage", "huge", "endless", "not-fhir", "collection", "outcome", "foreign")
SEARCH_PARAMS = {"subject", "patient", "code", "category", "clinical-status", "questionnaire", "status", "_id",
                 "_count", "_sort", "_offset"}
HUGE_BYTES = 6_000_000


# ---------------------------------------------------------------------------
# Parent side: start/stop and the request log
# ---------------------------------------------------------------------------


class FhirTestServer(str):
    """The running server; the object *is* its base URL (a str), with the request log on top."""

    def __new__(cls, base_url: str, port: int, process: subprocess.Popen, log_path: Path) -> "FhirTestServer":
        self = super().__new__(cls, base_url)
        self.base_url, self.port, self.process, self.log_path = base_url, port, process, log_path
        return self

    def requests(self) -> list[dict]:
        """The requests the server has seen so far (metadata excluded), oldest first."""
        if not self.log_path.exists():
            return []
        lines = self.log_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def clear(self) -> None:
        self.log_path.write_text("", encoding="utf-8")


def _resources(resources: list[dict] | dict) -> list[dict]:
    if isinstance(resources, dict) and resources.get("resourceType") == "Bundle":
        return [e["resource"] for e in resources.get("entry", [])]
    return list(resources)


@contextmanager
def fhir_server(resources: list[dict] | dict, token: str | None = None, mode: str = "normal", *,
                delay: float = 10.0, page_size: int | None = None, fault_on: str | None = None,
                start_timeout: float = 10.0) -> Iterator[FhirTestServer]:
    """Run the test server (a child process) for the duration of the ``with`` block.

    `resources`: a list of resources or a Bundle (its entries' resources).
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
    folder = Path(tempfile.mkdtemp(prefix="fhir-test-server-"))
    config = folder / "config.json"
    log_path = folder / "requests.jsonl"
    config.write_text(json.dumps({
        "resources": _resources(resources), "token": token, "mode": mode, "delay": delay,
        "page_size": page_size, "fault_on": fault_on, "log": str(log_path),
    }), encoding="utf-8")
    stderr = open(folder / "stderr.txt", "wb")
    process = subprocess.Popen([sys.executable, "-u", str(Path(__file__).resolve()), str(config)],
                               stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL)
    try:
        port = _wait_ready(process, start_timeout, folder / "stderr.txt")
        yield FhirTestServer(f"http://127.0.0.1:{port}{BASE_PATH}", port, process, log_path)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if process.stdout:
            process.stdout.close()
        stderr.close()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_ready(process: subprocess.Popen, timeout: float, stderr_path: Path) -> int:
    """The port from the child's "READY <port>" line, within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    buffer = b""
    fd = process.stdout.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, min(0.1, deadline - time.monotonic())))
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                break  # the child closed stdout: it died
            buffer += chunk
            if b"\n" in buffer:
                line = buffer.split(b"\n", 1)[0].decode().strip()
                if line.startswith("READY "):
                    return int(line.split()[1])
                break
        elif process.poll() is not None:
            break
    process.kill()
    process.wait(timeout=5)
    detail = stderr_path.read_text(errors="replace")[-2000:] if stderr_path.exists() else ""
    raise RuntimeError(f"the FHIR test server did not start within {timeout:g} s: {detail}")


# ---------------------------------------------------------------------------
# Child side: the HTTP server
# ---------------------------------------------------------------------------


def _outcome(code: str, text: str) -> dict:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]}


def _codings(value: object) -> list[dict]:
    """Codings of a CodeableConcept or a list of them."""
    concepts = value if isinstance(value, list) else [value]
    return [c for cc in concepts if isinstance(cc, dict) for c in cc.get("coding", []) if isinstance(c, dict)]


def _token_match(codings: list[dict], tokens: str) -> bool:
    for token in tokens.split(","):
        system, bar, code = token.rpartition("|")
        for coding in codings:
            if coding.get("code") == code and (not bar or not system or coding.get("system") == system):
                return True
    return False


def _reference_match(resource: dict, value: str) -> bool:
    wanted = value if "/" in value else f"Patient/{value}"
    for name in ("subject", "patient"):
        ref = resource.get(name)
        if isinstance(ref, dict) and ref.get("reference") == wanted:
            return True
    return False


class Server:
    def __init__(self, config: dict):
        self.resources: list[dict] = config["resources"]
        self.token: str | None = config.get("token")
        self.mode: str = config.get("mode", "normal")
        self.delay: float = float(config.get("delay", 10.0))
        self.page_size: int | None = config.get("page_size")
        self.fault_on: str | None = config.get("fault_on")
        self.log_path = Path(config["log"])
        self.lock = threading.Lock()
        self.port = 0

    def log(self, record: dict) -> None:
        with self.lock, self.log_path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
            out.flush()

    def auth(self, header: str | None) -> str:
        if self.token is None:
            return "not-required"
        if not header:
            return "missing"
        scheme, _, value = header.partition(" ")
        return "ok" if scheme.lower() == "bearer" and value.strip() == self.token else "wrong"

    # -- FHIR interactions ---------------------------------------------------
    def read(self, rtype: str, rid: str) -> tuple[int, object]:
        for resource in self.resources:
            if resource.get("resourceType") == rtype and resource.get("id") == rid:
                return 200, resource
        return 404, _outcome("not-found", f"{rtype}/{rid} is not known")

    def search(self, rtype: str, params: list[tuple[str, str]], faulty: bool) -> tuple[int, object]:
        matches = [r for r in self.resources if r.get("resourceType") == rtype]
        count, offset = self.page_size, 0
        for name, value in params:
            if name not in SEARCH_PARAMS:
                return 400, _outcome("not-supported", f"unknown search parameter {name!r}")
            if name in ("subject", "patient"):
                matches = [r for r in matches if _reference_match(r, value)]
            elif name == "code":
                matches = [r for r in matches if _token_match(_codings(r.get("code")), value)]
            elif name == "category":
                matches = [r for r in matches if _token_match(_codings(r.get("category")), value)]
            elif name == "clinical-status":
                matches = [r for r in matches if _token_match(_codings(r.get("clinicalStatus")), value)]
            elif name == "questionnaire":
                wanted = {v.split("|")[0] for v in value.split(",")}
                matches = [r for r in matches if str(r.get("questionnaire", "")).split("|")[0] in wanted]
            elif name == "status":
                matches = [r for r in matches if r.get("status") in value.split(",")]
            elif name == "_id":
                matches = [r for r in matches if r.get("id") in value.split(",")]
            elif name == "_count":
                if not value.isdigit() or int(value) < 1:
                    return 400, _outcome("invalid", "_count must be a positive integer")
                count = int(value)
            elif name == "_offset":
                if not value.isdigit():
                    return 400, _outcome("invalid", "_offset must be a non-negative integer")
                offset = int(value)
        if faulty and self.mode == "foreign":
            count = 2
        page = matches[offset:offset + count] if count else matches[offset:]
        more = count is not None and offset + count < len(matches)
        bundle: dict = {
            "resourceType": "Bundle", "type": "collection" if faulty and self.mode == "collection" else "searchset",
            "total": len(matches),
            "link": [{"relation": "self", "url": self.url(rtype, params)}],
            "entry": [{"fullUrl": f"http://127.0.0.1:{self.port}{BASE_PATH}/{r['resourceType']}/{r['id']}",
                       "resource": r, "search": {"mode": "match"}} for r in page],
        }
        if faulty and self.mode == "endless":
            more, count = True, count or max(1, len(page))
        if more:
            rest = [(n, v) for n, v in params if n != "_offset"] + [("_offset", str(offset + count))]
            host = "other-host.invalid" if faulty and self.mode == "foreign" else None
            bundle["link"].append({"relation": "next", "url": self.url(rtype, rest, host)})
        return 200, bundle

    def url(self, rtype: str, params: list[tuple[str, str]], host: str | None = None) -> str:
        query = urlencode(params)
        return f"http://{host or f'127.0.0.1:{self.port}'}{BASE_PATH}/{rtype}" + (f"?{query}" if query else "")


def make_handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FhirTestServer/1.0"
        disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stalls

        def log_message(self, *args) -> None:  # quiet
            pass

        def send_body(self, status: int, body: object | bytes, content_type: str = "application/fhir+json") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Bearer realm="fhir-test-server"')
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            parts = urlsplit(self.path)
            params = parse_qsl(parts.query, keep_blank_values=True)
            if parts.path == f"{BASE_PATH}/metadata":
                return self.send_body(200, {"resourceType": "CapabilityStatement", "status": "active",
                                            "kind": "instance", "fhirVersion": "4.0.1", "format": ["json"]})
            auth = server.auth(self.headers.get("Authorization"))
            server.log({"method": "GET", "path": parts.path, "params": params, "auth": auth})
            if not parts.path.startswith(BASE_PATH + "/"):
                return self.send_body(404, _outcome("not-found", "not a FHIR endpoint"))
            segments = parts.path[len(BASE_PATH) + 1:].split("/")
            if auth in ("missing", "wrong"):
                return self.send_body(401, _outcome("login", "a valid bearer token is required"))
            rtype = segments[0]
            faulty = server.fault_on is None or server.fault_on == rtype
            if faulty and server.mode == "slow":
                time.sleep(server.delay)
            if faulty and server.mode == "error":
                return self.send_body(500, _outcome("exception", "internal error (fault mode)"))
            if faulty and server.mode == "garbage":
                return self.send_body(200, b"<html><body>Service Unavailable</body></html>\x00\xff")
            if faulty and server.mode == "not-fhir":
                return self.send_body(200, {"hello": "world", "entries": []})
            if faulty and server.mode == "outcome":
                return self.send_body(200, _outcome("processing", "could not search (fault mode)"))
            if faulty and server.mode == "huge":
                padding = "x" * HUGE_BYTES
                return self.send_body(200, {"resourceType": "Bundle", "type": "searchset",
                                            "entry": [{"resource": {"resourceType": rtype, "id": "huge",
                                                                    "text": {"status": "generated",
                                                                             "div": padding}}}]})
            if len(segments) == 2 and not params:
                status, body = server.read(rtype, segments[1])
            elif len(segments) == 1 and rtype:
                status, body = server.search(rtype, params, faulty)
            else:
                status, body = 400, _outcome("not-supported", "only reads and type searches are supported")
            return self.send_body(status, body)

    return Handler


def main(config_path: str) -> None:
    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    server = Server(config)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(server))
    httpd.daemon_threads = True
    server.port = httpd.server_address[1]
    sys.stdout.write(f"READY {server.port}\n")
    sys.stdout.flush()
    try:
        httpd.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    main(sys.argv[1])
