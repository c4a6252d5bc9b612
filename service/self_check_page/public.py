"""What of the self-check must be reachable without a token: patients have no account.

Kept free of imports (plain data), so that the app can hand it to the
security layer without loading the page; ``service/app.py`` turns it into
the security layer's ``PublicRoute`` list (``self_check_public_routes``).

* the page, ``/zelfcheck/`` (a redirect to the page) and its static files;
* its ``$apply`` (the anonymous PlanDefinition): nothing about the call is
  stored (no audit row). Anonymous patients, public knowledge, a result only
  for the caller;
* its submissions (with consent).

The two POSTs take small bodies only (``MAX_BODY_BYTES``, enforced while the
body is read) and are rate limited per client address (``RATE_BUCKETS``).
"""

from __future__ import annotations

PAGE_PATH = "/zelfcheck"
PAGE_SLASH_PATH = "/zelfcheck/"  # redirected to PAGE_PATH
STATIC_PREFIX = "/zelfcheck/static/"
SUBMISSIONS_PATH = "/zelfcheck/submissions"
PLAN_ID = "nekklachten-zelfcheck"
#: PlanDefinitions whose $apply is public and anonymous (no token, no audit row)
ANONYMOUS_APPLY_PLANS = frozenset({PLAN_ID})
APPLY_PATHS = frozenset(f"/fhir/PlanDefinition/{plan}/$apply" for plan in ANONYMOUS_APPLY_PLANS)
#: body limit of the public POSTs: a filled-in self-check is 5-15 kB
MAX_BODY_BYTES = 64 * 1024
#: rate-limit bucket of each public POST (limits in Settings: rate_limit_apply, rate_limit_submissions)
APPLY_BUCKET = "self-check-apply"
SUBMISSIONS_BUCKET = "self-check-submissions"

#: (method, exact path)
PUBLIC_PATHS = frozenset({("GET", PAGE_PATH), ("HEAD", PAGE_PATH), ("GET", PAGE_SLASH_PATH),
                          ("HEAD", PAGE_SLASH_PATH), ("POST", SUBMISSIONS_PATH),
                          *(("POST", path) for path in APPLY_PATHS)})
#: (method, path prefix): the page's script and style sheet
PUBLIC_PREFIXES = frozenset({("GET", STATIC_PREFIX), ("HEAD", STATIC_PREFIX)})
#: (method, path) -> (body limit, rate bucket) of the public POSTs
LIMITED = {("POST", SUBMISSIONS_PATH): (MAX_BODY_BYTES, SUBMISSIONS_BUCKET),
           **{("POST", path): (MAX_BODY_BYTES, APPLY_BUCKET) for path in APPLY_PATHS}}


def is_public(method: str, path: str) -> bool:
    """Whether a request to the self-check needs no authentication."""
    if (method, path) in PUBLIC_PATHS:
        return True
    return any(method == m and path.startswith(prefix) and "/" not in path[len(prefix):]
               for m, prefix in PUBLIC_PREFIXES)
