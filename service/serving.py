"""What ``nekpijn-cds serve`` hands to uvicorn: the app factory and the HTTP protocol class.

``create_served_app``: :func:`service.app.create_app`, then ``gc.freeze()``.
The knowledge (R4B models), the compiled plans and the libraries make
~165 000 objects the cyclic garbage collector would otherwise traverse on
every full collection: ~80-115 ms each, a few times per thousand hook calls,
stalling every request in flight (p99). Frozen, they are left out; they live
as long as the process anyway.

``NoDelayHTTPProtocol``: uvicorn's own HTTP protocol (httptools when
installed, else h11, as uvicorn's ``auto``) that switches Nagle's algorithm
off (``TCP_NODELAY``) on every connection. asyncio does that itself only for
sockets whose ``proto`` is ``IPPROTO_TCP``; with ``--workers`` > 1 uvicorn
binds the listening socket with ``socket.socket(family)`` (``proto`` 0), so
the accepted connections kept Nagle on. As uvicorn writes the response head
and body in two writes, the body then waited for the client's delayed ACK:
40 ms on every answer (measured: ``GET /health`` 44 ms with 2 workers, 3 ms
with one; see docs/performance.md).

It also closes a connection that takes longer than ``NEKPIJN_HEADER_TIMEOUT``
seconds (default 10) to send the request line and headers of a request (a
*header-read timeout*, against slow-header clients holding connections:
uvicorn's ``timeout_keep_alive`` only covers the idle time *between*
requests, nothing covered a request that is started and never finished).
The timer starts when the connection is made, and again when the first byte
of a next request arrives on a kept-alive connection; it stops once h11 has
the complete head. The body is not covered (the body limits and the client's
own timeout bound it). See docs/robustness.md.
"""

from __future__ import annotations

import gc
import logging
import socket

import h11

try:  # the protocol uvicorn's "auto" would choose
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _HTTPProtocol
except ImportError:  # httptools not installed
    from uvicorn.protocols.http.h11_impl import H11Protocol as _HTTPProtocol


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


class NoDelayHTTPProtocol(_HTTPProtocol):
    def connection_made(self, transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # pragma: no cover - not a TCP socket after all
                pass
        super().connection_made(transport)
        self._header_timer = None
        self._arm_header_timer()

    # -- header-read timeout (h11) ------------------------------------------------

    def _waiting_for_head(self) -> bool:
        conn = getattr(self, "conn", None)
        return isinstance(conn, h11.Connection) and conn.their_state is h11.IDLE

    def _arm_header_timer(self) -> None:
        if getattr(self, "_header_timer", None) is None and self._waiting_for_head():
            self._header_timer = self.loop.call_later(header_timeout(), self._header_timed_out)

    def _disarm_header_timer(self) -> None:
        timer = getattr(self, "_header_timer", None)
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
