"""What the app declares public (no token), and the limits of those routes.

The security layer knows no page or plan of its own: the app hands
:func:`~service.security.middleware.install_security` a list of
:class:`PublicRoute` (``public=``). Each says which requests need no token,
and may set a smaller body limit than the global ``NEKPIJN_MAX_BODY_BYTES``
(enforced while the body is read) and a rate-limit bucket (fixed window per
client address, see ``rate_limit.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class PublicRoute:
    """Requests with one of *methods* to *path* (or, with ``prefix``, to *path* + one more segment)."""

    methods: frozenset[str]
    path: str
    prefix: bool = False
    #: body limit in bytes for these requests (None: the global limit)
    max_body_bytes: int | None = None
    #: rate-limit bucket (None: not rate limited)
    rate_bucket: str | None = None

    @classmethod
    def of(cls, methods: Iterable[str], path: str, **kwargs) -> PublicRoute:
        return cls(frozenset(m.upper() for m in methods), path, **kwargs)

    def matches(self, method: str, path: str) -> bool:
        if method not in self.methods:
            return False
        if not self.prefix:
            return path == self.path
        rest = path[len(self.path):]
        return path.startswith(self.path) and bool(rest) and "/" not in rest


#: what is public when the app says nothing else: liveness only
DEFAULT_PUBLIC = (PublicRoute.of(("GET", "HEAD"), "/health"),)


def match(routes: Iterable[PublicRoute], method: str, path: str) -> PublicRoute | None:
    """The first route matching the request, or None."""
    return next((r for r in routes if r.matches(method, path)), None)


#: (method, path) answers a :class:`RouteTable` keeps; beyond it, it starts afresh (paths are client text)
MATCH_CACHE_SIZE = 1024
_NONE = object()


class RouteTable:
    """:func:`match` over fixed *routes*, remembered per (method, path): each middleware asks on every
    request, and the same few paths recur (a linear scan of ~25 routes was ~2 % of a discovery call)."""

    def __init__(self, routes: Iterable[PublicRoute]) -> None:
        self.routes = tuple(routes)
        self._seen: dict[tuple[str, str], object] = {}

    def __iter__(self):
        return iter(self.routes)

    def __len__(self) -> int:
        return len(self.routes)

    def match(self, method: str, path: str) -> PublicRoute | None:
        key = (method, path)
        found = self._seen.get(key)
        if found is None:
            found = match(self.routes, method, path)
            if len(self._seen) >= MATCH_CACHE_SIZE:
                self._seen.clear()
            self._seen[key] = _NONE if found is None else found
            return found
        return None if found is _NONE else found
