"""What of the self-check must be reachable without a token: patients have no account.

Kept free of imports, so the security middleware can use it without loading
the page. Wire it into ``AuthMiddleware._public``::

    from service.self_check_page.public import is_public as self_check_public
    ... or self_check_public(scope["method"], scope["path"])

(The self-check's ``$apply`` is public through the middleware's own
``ANONYMOUS_APPLY_PLANS``.)
"""

from __future__ import annotations

PAGE_PATH = "/zelfcheck"
STATIC_PREFIX = "/zelfcheck/static/"
SUBMISSIONS_PATH = "/zelfcheck/submissions"

#: (method, exact path)
PUBLIC_PATHS = frozenset({("GET", PAGE_PATH), ("HEAD", PAGE_PATH), ("POST", SUBMISSIONS_PATH)})
#: (method, path prefix): the page's script and style sheet
PUBLIC_PREFIXES = frozenset({("GET", STATIC_PREFIX), ("HEAD", STATIC_PREFIX)})


def is_public(method: str, path: str) -> bool:
    """Whether a request to the self-check needs no authentication."""
    if (method, path) in PUBLIC_PATHS:
        return True
    return any(method == m and path.startswith(prefix) and "/" not in path[len(prefix):]
               for m, prefix in PUBLIC_PREFIXES)
