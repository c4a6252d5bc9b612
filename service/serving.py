"""What ``nekpijn-cds serve`` hands to uvicorn: the app factory and the HTTP protocol class.

``create_served_app``: :func:`service.app.create_app`, then ``gc.freeze()``.
The knowledge (R4B models), the compiled plans and the libraries make
~165 000 objects the cyclic garbage collector would otherwise traverse on
every full collection: ~80-115 ms each, a few times per thousand hook calls,
stalling every request in flight (p99). Frozen, they are left out; they live
as long as the process anyway.

``NoDelayHTTPProtocol``: uvicorn's own HTTP protocol, on httptools (the
llhttp parser, C) when it is installed (a dependency since issue 17: h11's
pure-Python parsing and response framing were ~0.2 ms of server CPU per call,
see docs/performance.md), else on h11 — the choice uvicorn's ``auto`` makes.
Both classes (:class:`HttpToolsNoDelayProtocol`, :class:`H11NoDelayProtocol`)
switch Nagle's algorithm off (``TCP_NODELAY``) on every connection. asyncio
does that itself only for sockets whose ``proto`` is ``IPPROTO_TCP``; with
``--workers`` > 1 uvicorn binds the listening socket with
``socket.socket(family)`` (``proto`` 0), so the accepted connections kept
Nagle on. As uvicorn writes the response head and body in two writes, the
body then waited for the client's delayed ACK: 40 ms on every answer
(measured: ``GET /health`` 44 ms with 2 workers, 3 ms with one; see
docs/performance.md).

Both also close a connection that takes longer than ``NEKPIJN_HEADER_TIMEOUT``
seconds (default 10) to send the request line and headers of a request (a
*header-read timeout*, against slow-header clients holding connections:
uvicorn's ``timeout_keep_alive`` only covers the idle time *between*
requests, nothing covered a request that is started and never finished).
The timer starts when the connection is made, and again when the first byte
of a next request arrives on a kept-alive connection; it stops once the
parser has the complete head (h11: the client's state leaves ``IDLE``;
httptools: ``on_headers_complete``). The body is not covered (the body limits
and the client's own timeout bound it). See docs/robustness.md.
"""

from __future__ import annotations

import gc
import logging
import socket

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools not installed: h11 only
    HttpToolsProtocol = None


def create_served_app():
    """The app for ``nekpijn-cds serve`` (uvicorn factory), start-up objects frozen."""
    from service.app import create_app

    app = create_app()
    gc.collect()
    gc.freeze()
    return app


log = logging.getLogger("nekpijn_cds.http")
_header_timeout: float | None = None


def header_timeout() -> float:
    """``NEKPIJN_HEADER_TIMEOUT`` (seconds), read once per process."""
    global _header_timeout
    if _header_timeout is None:
        from service.config import Settings

        _header_timeout = Settings.from_env().header_timeout
    return _header_timeout


class _NoDelayHeaderTimeout:
    """TCP_NODELAY and the header-read timeout, on top of one of uvicorn's HTTP protocols.

    The parser-specific part is :meth:`_waiting_for_head`: True while the head of a
    request is incomplete (or no byte of a first request has come yet)."""

    def connection_made(self, transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # pragma: no cover - not a TCP socket after all
                pass
        self._header_timer = None
        super().connection_made(transport)
        self._arm_header_timer()

    def _waiting_for_head(self) -> bool:  # pragma: no cover - each parser's class has its own
        raise NotImplementedError

    def _arm_header_timer(self) -> None:
        if self._header_timer is None and self._waiting_for_head():
            self._header_timer = self.loop.call_later(header_timeout(), self._header_timed_out)

    def _disarm_header_timer(self) -> None:
        timer = self._header_timer
        if timer is not None:
            timer.cancel()
            self._header_timer = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._waiting_for_head():  # part of a request head so far (a first or a next request)
            self._arm_header_timer()
        else:
            self._disarm_header_timer()

    def connection_lost(self, exc) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self._waiting_for_head() and not self.transport.is_closing():
            log.info("closed a connection that sent no complete request head within %.0f s", header_timeout())
            self.transport.close()


class H11NoDelayProtocol(_NoDelayHeaderTimeout, H11Protocol):
    """On h11 (pure Python): the head is incomplete while the client's state is ``IDLE``."""

    def _waiting_for_head(self) -> bool:
        conn = getattr(self, "conn", None)
        return isinstance(conn, h11.Connection) and conn.their_state is h11.IDLE


if HttpToolsProtocol is not None:
    class HttpToolsNoDelayProtocol(_NoDelayHeaderTimeout, HttpToolsProtocol):
        """On httptools (llhttp): the head is incomplete from the connection (or from the first byte
        of a next request, ``on_message_begin``) until ``on_headers_complete``."""

        _head_pending = True

        def _waiting_for_head(self) -> bool:
            return self._head_pending and self.parser is not None

        def on_message_begin(self) -> None:
            self._head_pending = True
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            self._head_pending = False
            super().on_headers_complete()

    #: what ``nekpijn-cds serve`` runs (service/cli.py): httptools when installed
    NoDelayHTTPProtocol: type = HttpToolsNoDelayProtocol
else:  # pragma: no cover - httptools is a dependency
    HttpToolsNoDelayProtocol = None
    NoDelayHTTPProtocol = H11NoDelayProtocol
