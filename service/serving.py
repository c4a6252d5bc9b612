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
"""

from __future__ import annotations

import gc
import socket

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


class NoDelayHTTPProtocol(_HTTPProtocol):
    def connection_made(self, transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # pragma: no cover - not a TCP socket after all
                pass
        super().connection_made(transport)
