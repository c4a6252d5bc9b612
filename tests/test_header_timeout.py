"""Header-read timeout (issue 14, finding 5: "no header-read timeout, 800 slow connections held"):
the HTTP protocol `nekpijn-cds serve` uses closes a connection that does not complete a request
head in time; requests whose head is complete are not affected. A real uvicorn server on loopback,
with each of the two HTTP protocols (httptools, which `serve` runs, and h11, uvicorn's fallback).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
import uvicorn

import service.serving as serving
from service.config import Settings
from service.serving import H11NoDelayProtocol, HttpToolsNoDelayProtocol, NoDelayHTTPProtocol

TIMEOUT = 1.0


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(2 * TIMEOUT)  # longer than the header timeout: must still be answered
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module", params=[HttpToolsNoDelayProtocol, H11NoDelayProtocol], ids=["httptools", "h11"])
def server(request):
    old, serving._header_timeout = serving._header_timeout, TIMEOUT
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http=request.param, log_config=None,
                            lifespan="off", timeout_keep_alive=5)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started
    yield port
    srv.should_exit = True
    thread.join(10)
    serving._header_timeout = old


def closed_after(sock: socket.socket, limit: float) -> float | None:
    """Seconds until the server closes *sock* (None: still open after *limit*)."""
    start = time.monotonic()
    sock.settimeout(limit)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return time.monotonic() - start
    except (socket.timeout, TimeoutError):
        return None
    except ConnectionResetError:
        return time.monotonic() - start


def answer(sock: socket.socket) -> bytes:
    """One whole response (the app's bodies are b"ok")."""
    data = b""
    while not data.endswith(b"ok"):
        chunk = sock.recv(4096)
        assert chunk, data
        data += chunk
    return data


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def test_an_unfinished_request_head_is_closed(server):
    with connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # no blank line: the head never ends
        waited = closed_after(sock, 5 * TIMEOUT)
    assert waited is not None and waited < 3 * TIMEOUT, waited


def test_a_silent_connection_is_closed(server):
    with connect(server) as sock:
        waited = closed_after(sock, 5 * TIMEOUT)
    assert waited is not None and waited < 3 * TIMEOUT, waited


def test_dripping_header_bytes_does_not_extend_the_time(server):
    with connect(server) as sock:
        start = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\n")
        closed = False
        for _ in range(20):  # one header byte every 0.25 s: 5 s if it were allowed
            time.sleep(0.25)
            try:
                sock.sendall(b"X")
            except OSError:
                closed = True
                break
        waited = time.monotonic() - start if closed else closed_after(sock, 0.5)
    assert closed or waited is not None
    assert time.monotonic() - start < 5 * TIMEOUT


def test_complete_heads_are_answered_even_when_the_answer_takes_longer(server):
    with connect(server) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5 * TIMEOUT)
        assert answer(sock).startswith(b"HTTP/1.1 200")
        # kept alive: a next request within the keep-alive time is answered as well
        time.sleep(TIMEOUT * 1.5)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer(sock).startswith(b"HTTP/1.1 200")
        # and an unfinished next head is closed like a first one
        sock.sendall(b"GET / HTTP/1.1\r\n")
        waited = closed_after(sock, 5 * TIMEOUT)
    assert waited is not None and waited < 3 * TIMEOUT, waited


def test_serve_runs_httptools():
    assert HttpToolsNoDelayProtocol is not None  # a dependency (pyproject.toml)
    assert NoDelayHTTPProtocol is HttpToolsNoDelayProtocol


def test_the_timeout_is_a_setting():
    assert Settings().header_timeout == 10.0
    assert Settings.from_env({"NEKPIJN_HEADER_TIMEOUT": "2.5"}).header_timeout == 2.5
